//! End-to-end: the GitHub Action's step (`scripts/action.sh`, what `action.yml` runs) on the
//! bundled example, with its inputs as GitHub passes them: the job fails (exit 1) on the
//! planted bug, the job summary and the JSON report say so, and how to reproduce it is printed.

mod common;

use common::{one_campaign_at_a_time, Fixture};
use std::path::Path;

#[test]
fn the_action_step_fails_the_job_on_a_finding_with_summary_report_and_reproduction() {
    let fx = Fixture::new("example");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cargo-protocrash")).parent().unwrap().to_path_buf();
    let summary = fx.path().join("step-summary.md");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let _slot = one_campaign_at_a_time();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(repo.join("scripts/action.sh"))
        .current_dir(fx.path())
        .env("PATH", path)
        .env("GITHUB_ACTION_PATH", repo)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_MAX_TOTAL_TIME", "5s")
        .env("INPUT_FAIL_ON", "any")
        .env("INPUT_TARGETS", "")
        .env("INPUT_WORKING_DIRECTORY", ".")
        .env("INPUT_REPORT", "fuzz-report.json");
    common::configure(&mut cmd);
    let out = common::Out::from(cmd.output().unwrap());
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(!out.all().contains("installing cargo-protocrash"), "the runner's CLI is used: {}", out.all());
    assert!(out.stdout.contains("cargo protocrash repro parse"), "how to reproduce: {}", out.all());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.path().join("fuzz-report.json")).unwrap()).unwrap();
    assert_eq!(report["exit_code"], 1, "{report}");
    assert_eq!(report["targets"][0]["name"], "parse", "{report}");
    assert_eq!(report["targets"][0]["status"], "findings", "{report}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("parse"), "the job summary names the target: {md}");
}
