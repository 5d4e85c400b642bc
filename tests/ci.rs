//! End-to-end: fuzzing in CI. `run --all --ci` on a crate with a clean and a buggy target
//! (exit code, summary, step summary, JSON report, minimised reproducer), known findings
//! with `--fail-on new`, `crashes`, a build failure named, and the regression replay.

mod common;

use common::{one_campaign_at_a_time, Fixture};
use serde_json::Value;

fn ci_run(fx: &Fixture, extra: &[&str], summary: &std::path::Path) -> common::Out {
    let mut args = vec![
        "run",
        "--all",
        "--ci",
        "-j",
        "1",
        "--seed",
        "1",
        "--node",
        "t",
        "--runs",
        "300000",
        "--max-total-time",
        "120s",
    ];
    args.extend_from_slice(extra);
    let mut cmd = fx.cmd(&args);
    cmd.env("GITHUB_STEP_SUMMARY", summary);
    common::Out::from(cmd.output().unwrap())
}

#[test]
fn ci_run_fails_on_the_bug_reports_it_everywhere_and_passes_on_known_bugs_with_fail_on_new() {
    let fx = Fixture::new("ci");
    let summary = fx.path().join("step-summary.md");
    let report = fx.path().join("report.json");
    let _slot = one_campaign_at_a_time();
    let out = ci_run(&fx, &["--report", report.to_str().unwrap()], &summary);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let text = &out.stdout;
    assert!(text.contains("protocrash summary"), "{}", out.all());
    let row = |name: &str, status: &str| text.lines().any(|l| l.trim_start().starts_with(name) && l.ends_with(status));
    assert!(row("checksum", "CLEAN"), "{}", out.all());
    assert!(row("header", "FINDINGS"), "{}", out.all());
    assert!(text.contains("header [new] panic: header parser bug"), "{}", out.all());
    assert!(
        text.contains("reproduce:  cargo protocrash repro header fuzz/artifacts/header/minimized-crash-"),
        "{}",
        out.all()
    );

    // The reproducer was minimised to the bug's three bytes.
    let artifacts: Vec<String> = fx.artifacts("header");
    let min = artifacts.iter().find(|a| a.starts_with("minimized-crash-")).unwrap_or_else(|| panic!("{artifacts:?}"));
    assert_eq!(std::fs::read(fx.path().join("fuzz/artifacts/header").join(min)).unwrap(), b"ci!");

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## cargo protocrash: findings"), "{md}");
    assert!(md.contains("| `checksum` | clean |") && md.contains("| `header` | findings |"), "{md}");
    assert!(md.contains("cargo protocrash repro header"), "{md}");

    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["schema"], "protocrash-run-report");
    assert_eq!(v["version"], 1);
    assert_eq!(v["exit_code"], 1);
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{v}");
    for t in targets {
        for key in
            ["name", "status", "execs", "execs_per_sec", "edges", "corpus", "crashes", "hangs", "ooms", "findings"]
        {
            assert!(t.get(key).is_some(), "{key} missing in {t}");
        }
        assert!(t["execs"].as_u64().unwrap() > 0);
    }
    let header = targets.iter().find(|t| t["name"] == "header").unwrap();
    assert_eq!(header["status"], "findings");
    assert_eq!(header["crashes"], 1);
    let f = &header["findings"][0];
    assert_eq!(
        (f["kind"].as_str(), f["known"].as_bool(), f["seen_this_run"].as_bool()),
        (Some("panic"), Some(false), Some(true))
    );
    assert!(f["location"].as_str().unwrap().ends_with("src/lib.rs:11:9"), "{f}");
    assert_eq!(targets.iter().find(|t| t["name"] == "checksum").unwrap()["status"], "clean");

    // Triage lists it.
    let crashes = fx.run(&["crashes", "--json"]);
    assert_eq!(crashes.code, Some(0), "{}", crashes.all());
    let list: Value = serde_json::from_str(&crashes.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["target"], "header");
    assert!(list[0]["reproduce"].as_str().unwrap().starts_with("cargo protocrash repro header "));
    let human = fx.run(&["crashes", "header"]);
    assert!(human.stdout.contains("header parser bug") && human.stdout.contains("hit "), "{}", human.all());

    // A fresh CI machine: no sync dir, but the reproducer is kept under fuzz/artifacts. The
    // bug is known: with --fail-on new the job passes and says the known crash came back.
    std::fs::remove_dir_all(fx.path().join("fuzz/sync")).unwrap();
    let again = ci_run(&fx, &["--fail-on", "new"], &summary);
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert!(again.stdout.contains("header [known] panic: header parser bug"), "{}", again.all());
    assert!(again.stdout.contains("was seen again; not failing the run (--fail-on new)"), "{}", again.all());
}

#[test]
fn a_target_that_does_not_build_exits_2_and_is_named() {
    let fx = Fixture::new("broken");
    let out = fx.run(&["run", "--all", "--ci", "--runs", "10"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("building target does_not_build failed"), "{}", out.all());
}

#[test]
fn regression_replay_fails_on_a_crashing_input_and_passes_once_it_is_gone() {
    let fx = Fixture::new("ci");
    let corpus = fx.path().join("fuzz/corpus/header");
    std::fs::create_dir_all(&corpus).unwrap();
    for i in 0..200 {
        std::fs::write(corpus.join(format!("fine-{i}")), format!("input {i}")).unwrap();
    }
    std::fs::write(corpus.join("bad"), b"ci!...").unwrap();
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&["repro", "header", "--regression"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("FAIL fuzz/corpus/header/bad (panic): header parser bug"), "{}", out.all());
    assert!(out.stdout.contains("1 failing"), "{}", out.all());
    std::fs::remove_file(corpus.join("bad")).unwrap();
    let out = fx.run(&["repro", "header", "--regression"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("200 distinct inputs"), "{}", out.all());
    assert!(out.stdout.contains(": 200 ok, 0 failing"), "{}", out.all());
}
