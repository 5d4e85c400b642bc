//! A protocrash harness under ClusterFuzz's own libFuzzer engine (PyPI `clusterfuzz`, what
//! ClusterFuzzLite runs; driven by tests/clusterfuzz/drive.py): fuzz, reproduce, minimise,
//! merge, and the crash state of its stack analyzer. The control is the same target built
//! with the real libFuzzer (`vendor` + `cargo fuzz build -s none`).

mod common;

use common::Fixture;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python with `clusterfuzz` installed (scripts/test-deps.sh makes it).
fn python() -> PathBuf {
    let py = std::env::var_os("PROTOCRASH_CLUSTERFUZZ_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clusterfuzz-venv/bin/python"));
    let ok = Command::new(&py).args(["-c", "import clusterfuzz.fuzz"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "{} cannot import clusterfuzz: run scripts/test-deps.sh", py.display());
    py
}

/// Runs drive.py; its JSON answer.
fn drive(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clusterfuzz/drive.py");
    let out = Command::new(python()).arg(script).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "drive.py {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("drive.py {args:?}: {e}\n{stdout}"))
}

/// Builds the fixture's targets into a fleet build dir ($OUT) as an OSS-Fuzz build.sh does
/// (`cargo protocrash build --out-dir $OUT`), with `.options` files (a fixed seed, a 2 s
/// timeout).
fn protocrash_build(fx: &Fixture, out: &Path) {
    let build = fx.run(&["build", "--out-dir", out.to_str().unwrap()]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let mut names = Vec::new();
    for line in build.stdout.lines() {
        let (name, path) = line.split_once(": ").unwrap_or_else(|| panic!("{}", build.all()));
        assert_eq!(Path::new(path), out.join(name), "{}", build.all());
        std::fs::write(out.join(format!("{name}.options")), "[libfuzzer]\nseed = 1\ntimeout = 2\n").unwrap();
        names.push(name.to_string());
    }
    names.sort();
    assert_eq!(names, ["alloc", "record", "wait"], "{}", build.all());
}

fn stat(result: &Value, name: &str) -> i64 {
    result["stats"][name].as_i64().unwrap_or_else(|| panic!("no stat {name}: {}", result["stats"]))
}

/// The frames of a crash state (its first line is a panic message when the type is ASSERT).
fn frames(state: &str) -> &str {
    state.split_once('\n').map_or(state, |(_, rest)| rest)
}

#[test]
fn clusterfuzz_engine_fuzzes_reproduces_minimises_and_merges_a_protocrash_harness() {
    let fx = Fixture::new("cluster");
    let out = fx.path().join("out");
    protocrash_build(&fx, &out);
    let work = fx.path().join("work");
    let record = out.join("record");

    // Fuzz: the panic is found, figures come back, the crash state names the function.
    let _slot = common::one_campaign_at_a_time();
    let r = drive(&["fuzz", record.to_str().unwrap(), work.join("record").to_str().unwrap(), "20"]);
    let logs = r["logs"].as_str().unwrap();
    assert!(stat(&r, "number_of_executed_units") > 0, "{logs}");
    assert!(stat(&r, "edge_coverage") > 0, "{}", r["stats"]);
    assert!(stat(&r, "new_units_added") > 0, "{}", r["stats"]);
    assert!(stat(&r, "edges_total") > 0, "{}", r["stats"]);
    let crashes = r["crashes"].as_array().unwrap();
    assert_eq!(crashes.len(), 1, "{logs}");
    let crash = &crashes[0];
    let state = crash["crash_state"].as_str().unwrap();
    assert_eq!(crash["crash_type"], "ASSERT", "{logs}");
    assert!(state.starts_with("index out of bounds"), "{state}");
    assert!(frames(state).starts_with("parse_record\n"), "{state}");
    assert!(logs.contains("Test unit written to"), "{logs}");
    assert!(crash["input_path"].as_str().unwrap().contains("/reproducers/crash-"), "{crash}");

    // Reproduce: fails with the same crash.
    let rep = &crash["reproduce"];
    assert_eq!(rep["return_code"], 77, "{}", rep["output"]);
    assert_eq!(rep["crash_type"], "ASSERT");
    assert_eq!(frames(rep["crash_state"].as_str().unwrap()), frames(state));

    // Minimise: no larger, and still the same crash.
    let min = &crash["minimize"];
    assert_eq!(min["return_code"], 0, "{}", min["output"]);
    assert!(min["size_after"].as_i64().unwrap() <= min["size_before"].as_i64().unwrap(), "{min}");
    let again = &crash["minimized_reproduce"];
    assert_eq!(again["crash_type"], "ASSERT", "{again}");
    assert_eq!(frames(again["crash_state"].as_str().unwrap()), frames(state));

    // Cleanse: the same length, still the same crash.
    let cleanse = &crash["cleanse"];
    assert_eq!(cleanse["return_code"], 0, "{}", cleanse["output"]);
    assert_eq!(cleanse["size_after"], min["size_before"], "{cleanse}");
    assert_eq!(frames(crash["cleansed_reproduce"]["crash_state"].as_str().unwrap()), frames(state));

    // Hangs come back as timeouts, allocations over the limit as out-of-memory.
    for (target, kind, code) in [("wait", "Timeout", 70), ("alloc", "Out-of-memory", 71)] {
        let r = drive(&["fuzz", out.join(target).to_str().unwrap(), work.join(target).to_str().unwrap(), "30"]);
        let logs = r["logs"].as_str().unwrap();
        let crash = r["crashes"].get(0).unwrap_or_else(|| panic!("{target}: nothing found\n{logs}"));
        assert_eq!(crash["crash_type"], kind, "{target}: {logs}");
        assert_eq!(crash["reproduce"]["crash_type"], kind, "{target}: {}", crash["reproduce"]["output"]);
        assert_eq!(crash["reproduce"]["return_code"], code, "{target}");
        let fname = if target == "wait" { "wait_for_peer" } else { "allocate_frame" };
        assert!(
            crash["reproduce"]["output"].as_str().unwrap().contains(&format!(" in {fname} ")),
            "{}",
            crash["reproduce"]["output"]
        );
    }

    // Merge: a corpus with many inputs of the same coverage keeps every edge in fewer files.
    let big = fx.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    for (i, input) in [&b""[..], b"R", b"RE", b"REC", b"RECORD", b"REC\x00x", b"REC\x00y", b"REC\x00z", b"Q", b"RX"]
        .iter()
        .enumerate()
    {
        std::fs::write(big.join(format!("in{i}")), input).unwrap();
    }
    let merged =
        drive(&["merge", record.to_str().unwrap(), work.join("merge").to_str().unwrap(), big.to_str().unwrap()]);
    let kept = merged["files"].as_array().unwrap().len();
    let edges = merged["stats"]["edge_coverage"].as_i64().unwrap();
    assert!(kept > 0 && kept < 10, "{merged}");
    assert!(edges > 0, "{merged}");
    let merged_dir = work.join("merge/merged");
    let copy = fx.path().join("merged-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&merged_dir).unwrap().flatten() {
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let remerged =
        drive(&["merge", record.to_str().unwrap(), work.join("merge2").to_str().unwrap(), copy.to_str().unwrap()]);
    assert_eq!(remerged["stats"]["edge_coverage"].as_i64().unwrap(), edges, "the merged corpus lost edges: {remerged}");
    drop(_slot);

    // The control: the same target built with the real libFuzzer reproduces the same input
    // with a crash state ClusterFuzz cannot name (`NULL`: no frames, no panic message).
    let control = libfuzzer_build(&fx, "record");
    let input = crash["input_path"].as_str().unwrap();
    let c = drive(&["reproduce", control.to_str().unwrap(), input]);
    assert_eq!(c["return_code"], 77, "{}", c["output"]);
    assert_eq!(c["crash_type"], "Fatal-signal", "{}", c["output"]);
    assert_eq!(c["crash_state"], "NULL", "{}", c["output"]);
}

/// The binary alone, as a user or a script runs it.
#[test]
fn a_harness_takes_libfuzzers_flags_directly() {
    let fx = Fixture::new("cluster");
    let out = fx.path().join("out");
    protocrash_build(&fx, &out);
    let record = out.join("record");
    let help = Command::new(&record).arg("-help=1").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("-merge=1 OUT_DIR IN_DIR"));

    // -fork=2: two protocrash workers; unknown flags are warnings; the artifact goes where
    // -exact_artifact_path says; new inputs land in the first corpus directory.
    let corpus = fx.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let artifact = fx.path().join("found/the-crash");
    let _slot = common::one_campaign_at_a_time();
    let run = Command::new(&record)
        .args(["-fork=2", "-seed=3", "-max_total_time=60", "-entropic=1", "-frobnicate=7"])
        .arg(format!("-exact_artifact_path={}", artifact.display()))
        .arg(&corpus)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(77), "{err}");
    assert!(err.contains("INFO: protocrash: 2 worker(s)"), "{err}");
    assert!(err.contains("WARNING: protocrash: -frobnicate=7: not a flag protocrash knows; ignored"), "{err}");
    assert!(err.contains("WARNING: protocrash: -entropic=1"), "{err}");
    assert!(err.contains(&format!("Test unit written to {}", artifact.display())), "{err}");
    let data = std::fs::read(&artifact).unwrap();
    assert!(data.starts_with(b"REC") && usize::from(data[3]) >= data.len() - 4, "{data:?}");
    for e in std::fs::read_dir(&corpus).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    }
    // A dictionary is read (and a broken one named the way ClusterFuzz looks for).
    let dict = fx.path().join("tokens.dict");
    std::fs::write(&dict, "magic=\"REC\"\n").unwrap();
    let with_dict = Command::new(&record)
        .args(["-seed=1", "-max_total_time=60"])
        .arg(format!("-dict={}", dict.display()))
        .arg(format!("-artifact_prefix={}/", fx.path().display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&with_dict.stderr);
    assert_eq!(with_dict.status.code(), Some(77), "{err}");
    assert!(err.contains("Dictionary: 1 entries"), "{err}");
    std::fs::write(&dict, "magic=\"REC\"\nbroken\n").unwrap();
    let broken = Command::new(&record).arg(format!("-dict={}", dict.display())).arg(&corpus).output().unwrap();
    let err = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(1), "{err}");
    assert!(err.contains("ParseDictionaryFile: error in line 2"), "{err}");
    drop(_slot);

    // Files only: run them; a clean one exits 0 with libFuzzer's note.
    let clean = fx.path().join("clean");
    std::fs::write(&clean, b"REC\x00z").unwrap();
    let ok = Command::new(&record).args(["-runs=3"]).arg(&clean).output().unwrap();
    let err = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{err}");
    assert!(err.contains("Executed ") && err.contains("NOTE: fuzzing was not performed"), "{err}");
    let bad = Command::new(&record).arg("-runs=lots").arg(&clean).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("-runs takes a number"));
}

/// `vendor` + `cargo fuzz build -s none`: the target linked with the real libFuzzer.
fn libfuzzer_build(fx: &Fixture, target: &str) -> PathBuf {
    let vendor = fx.run(&["vendor"]);
    assert_eq!(vendor.code, Some(0), "{}", vendor.all());
    common::cargo_fuzz_build(fx, &["-s", "none", "-O", "-a"], target)
}
