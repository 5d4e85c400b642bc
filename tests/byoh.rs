//! End-to-end: bringing your own harness. A project laid out by `cargo fuzz init` is fuzzed,
//! replayed and minimised by `cargo protocrash` without a file changing; a protocrash project
//! builds with `cargo fuzz build` (libFuzzer) once vendored; `coverage` writes an LCOV file
//! that lcov accepts and an HTML report that Chromium renders.
//!
//! Needs `cargo fuzz`, `lcov` and `chromium` on PATH: `scripts/test-deps.sh` (which the
//! README's test command runs first) installs them.

mod common;

use common::{browser_dom, cargo_fuzz_build, one_campaign_at_a_time, tool, Fixture};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file of the project but what the tools write on purpose (build output, campaign
/// state, the corpus and artifacts shared with cargo-fuzz, reports).
fn project_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            if ["fuzz/target", "fuzz/corpus", "fuzz/artifacts", "fuzz/sync", "fuzz/coverage"]
                .iter()
                .any(|skip| rel == Path::new(skip))
            {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn line_of(file: &Path, needle: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} not in {}", file.display())) as u32
        + 1
}

#[test]
fn a_cargo_fuzz_project_is_fuzzed_unchanged() {
    let fx = Fixture::new("cargofuzz");
    // As such projects are committed: with a Cargo.lock that pins crates.io's libfuzzer-sys
    // (which would keep cargo from using protocrash's stand-in if it were left in place).
    let lock = Command::new("cargo")
        .args(["generate-lockfile", "--manifest-path", "fuzz/Cargo.toml"])
        .current_dir(fx.path())
        .output()
        .unwrap();
    assert!(lock.status.success(), "{}", String::from_utf8_lossy(&lock.stderr));
    let pinned = std::fs::read_to_string(fx.path().join("fuzz/Cargo.lock")).unwrap();
    assert!(pinned.contains("name = \"libfuzzer-sys\"\nversion = \"0.4."), "{pinned}");
    let before = project_files(fx.path());
    assert!(before.contains_key(Path::new("fuzz/fuzz_targets/header.rs")));

    let list = fx.run(&["list"]);
    assert_eq!(list.stdout, "header\nstructured\n", "{}", list.all());

    let _slot = one_campaign_at_a_time();
    // A bytes target and an `arbitrary` target (derive through libfuzzer-sys's re-export,
    // `-> Corpus` body): both planted bugs are found.
    for (target, bug) in [("header", "out of range for slice"), ("structured", "attempt to divide by zero")] {
        let out = fx.run(&[
            "run",
            target,
            "-j",
            "1",
            "--seed",
            "1",
            "--plain",
            "--runs",
            "3000000",
            "--max-total-time",
            "120s",
        ]);
        assert_eq!(out.code, Some(1), "{target}: {}", out.all());
        assert!(out.stdout.contains(bug), "{target}: {}", out.all());
        // Reproducers go where cargo-fuzz puts its own.
        let artifacts = fx.artifacts(target);
        assert!(!artifacts.is_empty(), "{target}: no artifact in fuzz/artifacts/{target}");
        let artifact = format!("fuzz/artifacts/{target}/{}", artifacts[0]);
        let repro = fx.run(&["repro", target, &artifact]);
        assert_eq!(repro.code, Some(1), "{}", repro.all());
        assert!(repro.stdout.contains(bug), "{}", repro.all());
    }
    let corpus = fx.path().join("fuzz/corpus/header");
    assert!(std::fs::read_dir(&corpus).unwrap().count() > 0, "finds are exported to fuzz/corpus/header");
    let min = fx.run(&["minimize", "header"]);
    assert_eq!(min.code, Some(0), "{}", min.all());

    // Nothing the user wrote changed, the lock included.
    let after = project_files(fx.path());
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    assert!(before == after, "a project file changed");
}

#[test]
fn libfuzzer_only_macros_are_refused_with_a_message() {
    let fx = Fixture::new("cargofuzz");
    let manifest = fx.path().join("fuzz/Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text += "\n[[bin]]\nname = \"mutating\"\npath = \"fuzz_targets/mutating.rs\"\ntest = false\ndoc = false\n";
    std::fs::write(&manifest, text).unwrap();
    std::fs::write(
        fx.path().join("fuzz/fuzz_targets/mutating.rs"),
        "#![no_main]\nuse libfuzzer_sys::{fuzz_mutator, fuzz_target};\n\
         fuzz_target!(|data: &[u8]| { let _ = tinyhdr::parse_header(data); });\n\
         fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, _seed: u32| {\n\
         libfuzzer_sys::fuzzer_mutate(data, size, max_size) });\n",
    )
    .unwrap();
    let out = fx.run(&["build", "mutating"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("fuzz_mutator! (a custom libFuzzer mutator) is not supported"), "{}", out.all());
    assert!(out.stderr.contains("building target mutating failed"), "{}", out.all());
    // The other targets still build.
    let ok = fx.run(&["build", "header"]);
    assert_eq!(ok.code, Some(0), "{}", ok.all());
}

#[test]
fn a_protocrash_harness_builds_and_runs_with_cargo_fuzz() {
    let fx = Fixture::new("example");
    // As `cargo protocrash init` wrote manifests before they carried cargo-fuzz's mark:
    // vendoring adds it, or `cargo fuzz` would not take the project.
    let manifest_path = fx.path().join("fuzz/Cargo.toml");
    let old = std::fs::read_to_string(&manifest_path).unwrap().replace("cargo-fuzz = true\n", "");
    std::fs::write(&manifest_path, &old).unwrap();
    let vendor = fx.run(&["vendor"]);
    assert_eq!(vendor.code, Some(0), "{}", vendor.all());
    assert!(std::fs::read_to_string(&manifest_path).unwrap().contains("[package.metadata]\ncargo-fuzz = true\n"));
    assert!(fx.path().join("fuzz/protocrash/runtime/src/lib.rs").is_file());
    let manifest = std::fs::read_to_string(fx.path().join("fuzz/Cargo.toml")).unwrap();
    assert!(manifest.contains("[patch.crates-io]\nprotocrash = { path = \"protocrash/runtime\" }"), "{manifest}");
    // Vendoring again replaces the copy and leaves the manifest alone.
    assert_eq!(fx.run(&["vendor"]).code, Some(0));
    assert_eq!(std::fs::read_to_string(fx.path().join("fuzz/Cargo.toml")).unwrap(), manifest);

    // `cargo fuzz build` on stable (`-s none`: no sanitizer flags that need nightly).
    let exe = cargo_fuzz_build(&fx, &["-s", "none"], "parse");

    // It is a libFuzzer binary running the protocrash target: the planted bug is a crash
    // libFuzzer reports, and a clean input runs through.
    let crash = fx.path().join("crash");
    std::fs::write(&crash, b"R!\x40ab").unwrap();
    let out = Command::new(&exe).arg(&crash).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("libFuzzer: deadly signal") && text.contains("out of range for slice"), "{text}");
    let clean = fx.path().join("clean");
    std::fs::write(&clean, b"Rx\x01a").unwrap();
    let out = Command::new(&exe).arg(&clean).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("Executed"), "{text}");

    // And `cargo protocrash` still builds the same project with its own runtime, quietly.
    let _slot = one_campaign_at_a_time();
    let run = fx.run(&["run", "parse", "-j", "1", "--seed", "1", "--plain", "--runs", "2000000"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(!run.stderr.contains("was not used in the crate graph"), "{}", run.all());
}

#[test]
fn coverage_writes_lcov_and_html() {
    let fx = Fixture::new("cargofuzz");
    let seeds = fx.path().join("seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    // Reaches the well-formed path, and the short-input exit; never version 7.
    std::fs::write(seeds.join("ok"), b"TH\x01\x02ab").unwrap();
    std::fs::write(seeds.join("short"), b"XX").unwrap();
    let out_dir = fx.path().join("report");
    let out = fx.run(&["coverage", "header", "--corpus", "seeds", "-o", "report"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("2 input(s) replayed"), "{}", out.all());

    let lcov_path = out_dir.join("lcov.info");
    let lcov = std::fs::read_to_string(&lcov_path).unwrap();
    let lib = fx.path().canonicalize().unwrap().join("src/lib.rs");
    let record = lcov
        .split("end_of_record\n")
        .find(|r| r.contains(&format!("SF:{}\n", lib.display())))
        .unwrap_or_else(|| panic!("no record for {}:\n{lcov}", lib.display()));
    let count = |line: u32| -> Option<u64> {
        record.lines().find_map(|l| l.strip_prefix(&format!("DA:{line},"))).map(|c| c.parse().unwrap())
    };
    let reached = line_of(&lib, "data.get(4..4 + len)");
    let unreachable = line_of(&lib, "return Some(&data[4..4 + len]);");
    assert_eq!(count(reached), Some(1), "line {reached} is run by one seed:\n{record}");
    assert_eq!(count(unreachable), Some(0), "line {unreachable} is instrumented and never run:\n{record}");
    assert_eq!(count(line_of(&lib, "//! A fixture")), None, "a comment is not instrumented");
    // Every line of the parser that has machine code is marked, not only the lines where a
    // block starts: the loads of `let version`/`let len` ride in the entry's block.
    for (code, runs) in [
        ("pub fn parse_header", Some(2)),
        ("let version = data[2];", Some(1)),
        ("let len = data[3] as usize;", Some(1)),
        ("if version == 7 {", Some(1)),
        ("return Some(&data[4..4 + len]);", Some(0)),
        ("data.get(4..4 + len)", Some(1)),
    ] {
        assert_eq!(count(line_of(&lib, code)), runs, "`{code}`:\n{record}");
    }

    // lcov reads the tracefile and agrees on the totals we print.
    let found: usize = lcov.lines().filter_map(|l| l.strip_prefix("LF:")).map(|n| n.parse::<usize>().unwrap()).sum();
    let hit: usize = lcov.lines().filter_map(|l| l.strip_prefix("LH:")).map(|n| n.parse::<usize>().unwrap()).sum();
    let summary = tool("lcov", &["--version"]).arg("--summary").arg(&lcov_path).output().unwrap();
    let text = String::from_utf8_lossy(&summary.stdout).into_owned() + &String::from_utf8_lossy(&summary.stderr);
    assert!(summary.status.success(), "{text}");
    assert!(text.contains(&format!("({hit} of {found} lines)")), "{text}");
    // Functions too: the parser is entered by both seeds, and lcov counts it.
    assert!(
        record.contains("FN:7,tinyhdr::parse_header\n") && record.contains("FNDA:2,tinyhdr::parse_header\n"),
        "{record}"
    );
    let fn_found: usize =
        lcov.lines().filter_map(|l| l.strip_prefix("FNF:")).map(|n| n.parse::<usize>().unwrap()).sum();
    let fn_hit: usize = lcov.lines().filter_map(|l| l.strip_prefix("FNH:")).map(|n| n.parse::<usize>().unwrap()).sum();
    assert!(text.contains(&format!("({fn_hit} of {fn_found} functions)")), "{text}");
    let gen =
        tool("genhtml", &["--version"]).arg("-q").arg("-o").arg(fx.path().join("genhtml")).arg(&lcov_path).output();
    assert!(gen.unwrap().status.success());

    // The HTML report, rendered by a real browser from disk: totals on the index, the two
    // lines marked on the file's page.
    let index = out_dir.join("index.html");
    let dom = browser_dom(&index);
    let pct = 100.0 * hit as f64 / found as f64;
    assert!(dom.contains("Total (2 files)"), "{dom}");
    assert!(dom.contains(&format!("{pct:.1}%")), "{dom}");
    // The file's page as the browser built it: the reached and the unreachable line are
    // there, marked, with their numbers.
    let file_dom = browser_dom(&out_dir.join("files/1.html"));
    assert!(file_dom.contains(&format!("<tr class=\"miss\" id=\"L{unreachable}\">")), "{file_dom}");
    assert!(file_dom.contains(&format!("<tr class=\"hit\" id=\"L{reached}\">")), "{file_dom}");
}
