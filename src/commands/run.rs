//! `cargo protocrash run [TARGET | --all]`: build, fuzz, report. In CI mode the end of the run
//! is a summary table (and, if asked, GitHub's step summary and a JSON report), every
//! finding's reproducer is minimised, and the exit code says whether the job should fail.

use crate::campaign::{CampaignConfig, Summary};
use crate::cli::{FailOn, RunArgs};
use crate::display::{clock, human};
use crate::report::{self, RunReport, REPORT_VERSION};
use crate::shell::display_path;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let outcome = crate::ops::run::run(&args, print_summary)?;
    let rows = &outcome.rows;
    let code = report::exit_code(rows, args.fail_on);
    if outcome.ci || args.all {
        println!("{}", report::summary_text(rows));
    }
    for r in rows {
        for f in r.findings.iter().filter(|f| f.seen_this_run && f.known) {
            println!(
                "protocrash: the known {} in '{}' ({}) was seen again{}",
                f.kind.describe(),
                r.name,
                f.id,
                if args.fail_on == FailOn::New { "; not failing the run (--fail-on new)" } else { "" }
            );
        }
    }
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
        if !path.is_empty() && (outcome.ci || args.all) {
            report::append_step_summary(Path::new(&path), &report::summary_markdown(rows, code))?;
        }
    }
    if let Some(path) = &args.report {
        let doc = RunReport {
            schema: "protocrash-run-report",
            version: REPORT_VERSION,
            exit_code: code,
            fail_on: args.fail_on,
            seed: outcome.seed,
            targets: rows,
        };
        doc.write(path)?;
    }
    Ok(ExitCode::from(code))
}

fn print_summary(summary: &Summary, cfg: &CampaignConfig) {
    let how = if summary.interrupted { "stopped" } else { "done" };
    println!(
        "protocrash: {how} after {}: {} execs ({}/s), {} edges, corpus {} ({} new in {})",
        clock(summary.elapsed),
        human(summary.execs as f64),
        human(summary.execs as f64 / summary.elapsed.as_secs_f64().max(1e-3)),
        summary.edges,
        summary.corpus,
        summary.exported,
        display_path(&cfg.corpus_dir),
    );
    if summary.findings.is_empty() {
        println!("protocrash: no crashes, hangs or out-of-memory inputs found");
    }
    for f in &summary.findings {
        let tag = if summary.new_ids.contains(&f.id) { "new" } else { "known" };
        let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
        println!("  [{tag}] {}: {}{at} (hit {} times)", f.kind.describe(), f.message, f.count);
        println!("      reproduce: {}", cfg.repro.for_finding(f));
    }
}
