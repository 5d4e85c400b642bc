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

/// Builds the fixture's targets with `cargo protocrash build` and lays them out as a fleet
/// build dir ($OUT): binaries with their `.options` files (a fixed seed, a 2 s timeout).
fn protocrash_build(fx: &Fixture, out: &Path) {
    let build = fx.run(&["build"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    std::fs::create_dir_all(out).unwrap();
    for line in build.stdout.lines() {
        let Some((name, path)) = line.split_once(": ") else { continue };
        std::fs::copy(path, out.join(name)).unwrap();
        std::fs::write(out.join(format!("{name}.options")), "[libfuzzer]\nseed = 1\ntimeout = 2\n").unwrap();
    }
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

/// `vendor` + `cargo fuzz build -s none`: the target linked with the real libFuzzer.
fn libfuzzer_build(fx: &Fixture, target: &str) -> PathBuf {
    let vendor = fx.run(&["vendor"]);
    assert_eq!(vendor.code, Some(0), "{}", vendor.all());
    let ok = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "cargo-fuzz is needed by this test; run scripts/test-deps.sh");
    let build = Command::new("cargo")
        .args(["fuzz", "build", "-s", "none", "-O", "-a", target])
        .current_dir(fx.path())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(build.status.success(), "cargo fuzz build failed:\n{}", String::from_utf8_lossy(&build.stderr));
    std::fs::read_dir(fx.path().join("fuzz/target"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("release").join(target))
        .find(|p| p.is_file())
        .expect("cargo fuzz built the target")
}
