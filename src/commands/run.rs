//! `cargo protocrash run [TARGET | --all]`: build, fuzz, report. In CI mode the end of the run
//! is a summary table (and, if asked, GitHub's step summary and a JSON report), every
//! finding's reproducer is minimised, and the exit code says whether the job should fail.

use crate::campaign::{self, CampaignConfig, ReproCommand, Summary};
use crate::cli::{FailOn, RunArgs};
use crate::display::{clock, human};
use crate::project::Project;
use anyhow::{bail, Result};
use protocrash_proto::finding::{Finding, FindingKind};
use protocrash_proto::naming::sanitize_node;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Version of the `--report` JSON schema (README, "CI report").
pub const REPORT_VERSION: u32 = 1;

/// One finding in the summary and the report.
#[derive(Clone, Debug, Serialize)]
pub struct FindingRow {
    pub id: String,
    pub kind: FindingKind,
    pub message: String,
    pub location: String,
    /// Known before this run (sync dir or a reproducer in fuzz/artifacts).
    pub known: bool,
    /// Hit during this run.
    pub seen_this_run: bool,
    pub hits: u64,
    pub artifact: String,
    pub minimized: Option<String>,
    pub reproduce: String,
}

/// One target in the summary and the report.
#[derive(Clone, Debug, Serialize)]
pub struct TargetRow {
    pub name: String,
    /// `clean`, `findings` or `error`.
    pub status: String,
    pub error: Option<String>,
    pub execs: u64,
    pub execs_per_sec: f64,
    pub seconds: f64,
    pub edges: u64,
    pub corpus: u64,
    pub crashes: u64,
    pub hangs: u64,
    pub ooms: u64,
    /// Finding hits of any kind in this run (not unique).
    pub hits: u64,
    pub findings: Vec<FindingRow>,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let ci = args.ci || (std::env::var("CI").is_ok_and(|v| v == "true") && !console::Term::stdout().is_term());
    let targets = if args.all {
        for f in &project.foreign {
            println!("protocrash: skipping '{f}': its package uses neither the protocrash runtime nor libfuzzer-sys");
        }
        let t: Vec<String> = project.targets.iter().filter(|t| !project.foreign.contains(t)).cloned().collect();
        if t.is_empty() {
            bail!("no protocrash targets in {}", project.fuzz_dir.display());
        }
        t
    } else {
        vec![project.target(args.target.as_deref())?]
    };
    let bins = crate::builder::build(&project, &targets, &super::build_options(&args.build))?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    });
    let per_target = match (args.time_per_target, args.max_total_time) {
        (Some(t), _) => Some(t),
        (None, Some(total)) => Some(total / targets.len() as u32),
        (None, None) => None,
    };
    let dict = read_dictionaries(&args.dict)?;
    let mut rows = Vec::new();
    let mut interrupted = false;
    for target in &targets {
        if interrupted {
            break;
        }
        let cfg = CampaignConfig {
            harness: bins[target].clone(),
            sync_dir: match (&args.sync_dir, args.all) {
                (Some(d), false) => d.clone(),
                (Some(d), true) => d.join(target),
                (None, _) => project.sync_dir(target),
            },
            node: sanitize_node(&args.node.clone().unwrap_or_else(host_name)),
            seed_dirs: std::iter::once(project.corpus_dir(target)).chain(args.corpus.iter().cloned()).collect(),
            corpus_dir: project.corpus_dir(target),
            artifact_dir: project.artifact_dir(target),
            seed,
            timeout: args.timeout,
            rss_limit_mb: args.rss_limit_mb,
            max_len: args.max_len as usize,
            runs: args.runs,
            max_total_time: per_target,
            fail_fast: args.fail_fast,
            cmp: !args.no_cmp,
            dict: dict.clone(),
            plain: args.plain || ci,
            jobs: args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize),
            sync_interval: args.sync_interval,
            known: known_artifacts(&project.artifact_dir(target)),
            repro: ReproCommand {
                prefix: format!("cargo protocrash repro {target}"),
                options: super::repeated_options(&args.project, &args.build),
            },
            target: target.clone(),
        };
        println!(
            "protocrash: fuzzing '{}' with {} worker{} (seed {seed}, sync dir {}{})",
            cfg.target,
            cfg.jobs,
            if cfg.jobs == 1 { "" } else { "s" },
            campaign::display_path(&cfg.sync_dir),
            per_target.map(|t| format!(", {}", clock(t))).unwrap_or_default()
        );
        let row = match campaign::run(&cfg) {
            Ok(summary) => {
                interrupted = summary.interrupted;
                print_summary(&summary, &cfg);
                target_row(&cfg, &summary, ci, &args)
            }
            Err(e) if args.all => {
                eprintln!("error: target '{target}': {e:#}");
                TargetRow { status: "error".into(), error: Some(format!("{e:#}")), ..empty_row(target) }
            }
            Err(e) => return Err(e),
        };
        rows.push(row);
    }
    let failing = |r: &TargetRow| match args.fail_on {
        FailOn::Any => r.hits > 0 || r.findings.iter().any(|f| f.seen_this_run),
        FailOn::New => r.findings.iter().any(|f| f.seen_this_run && !f.known),
    };
    let code = if rows.iter().any(|r| r.status == "error") {
        2
    } else if rows.iter().any(failing) {
        super::EXIT_FINDING
    } else {
        super::EXIT_OK
    };
    if ci || args.all {
        println!("{}", summary_text(&rows));
    }
    for r in &rows {
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
        if !path.is_empty() && (ci || args.all) {
            append(Path::new(&path), &summary_markdown(&rows, code))?;
        }
    }
    if let Some(path) = &args.report {
        let doc = serde_json::json!({
            "schema": "protocrash-run-report",
            "version": REPORT_VERSION,
            "exit_code": code,
            "fail_on": args.fail_on,
            "seed": seed,
            "targets": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .map_err(|e| anyhow::anyhow!("cannot write the report {}: {e}", path.display()))?;
    }
    Ok(ExitCode::from(code))
}

fn empty_row(name: &str) -> TargetRow {
    TargetRow {
        name: name.into(),
        status: "clean".into(),
        error: None,
        execs: 0,
        execs_per_sec: 0.0,
        seconds: 0.0,
        edges: 0,
        corpus: 0,
        crashes: 0,
        hangs: 0,
        ooms: 0,
        hits: 0,
        findings: Vec::new(),
    }
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
        campaign::display_path(&cfg.corpus_dir),
    );
    if summary.findings.is_empty() {
        println!("protocrash: no crashes, hangs or out-of-memory inputs found");
    }
    for f in &summary.findings {
        let tag = if summary.new_ids.contains(&f.id) { "new" } else { "known" };
        let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
        println!("  [{tag}] {}: {}{at} (hit {} times)", f.kind.describe(), f.message, f.count);
        println!("      reproduce: {}", cfg.repro.for_finding(f, cfg));
    }
}

fn target_row(cfg: &CampaignConfig, summary: &Summary, ci: bool, args: &RunArgs) -> TargetRow {
    let seen = |f: &Finding| f.last_seen_ms >= summary.started_ms;
    let count =
        |kind: &[FindingKind]| summary.findings.iter().filter(|f| seen(f) && kind.contains(&f.kind)).count() as u64;
    let findings: Vec<FindingRow> = summary
        .findings
        .iter()
        .map(|f| {
            // In CI, the reproducer a developer downloads should be small: minimise it
            // (bounded), keeping the same crash.
            let minimized = if ci && seen(f) { minimize_reproducer(cfg, f, args) } else { None };
            FindingRow {
                id: f.id.clone(),
                kind: f.kind,
                message: f.message.clone(),
                location: f.location.clone(),
                known: !summary.new_ids.contains(&f.id),
                seen_this_run: seen(f),
                hits: f.count,
                artifact: campaign::display_path(Path::new(&f.artifact)),
                reproduce: match &minimized {
                    Some(m) => cfg.repro.for_finding(&Finding { artifact: m.clone(), ..f.clone() }, cfg),
                    None => cfg.repro.for_finding(f, cfg),
                },
                minimized: minimized.map(|m| campaign::display_path(Path::new(&m))),
            }
        })
        .collect();
    let failing = summary.hits > 0 || findings.iter().any(|f| f.seen_this_run);
    TargetRow {
        name: cfg.target.clone(),
        status: if failing { "findings".into() } else { "clean".into() },
        hits: summary.hits,
        error: None,
        execs: summary.execs,
        execs_per_sec: summary.execs as f64 / summary.elapsed.as_secs_f64().max(1e-3),
        seconds: summary.elapsed.as_secs_f64(),
        edges: summary.edges,
        corpus: summary.corpus,
        crashes: count(&[FindingKind::Panic, FindingKind::Signal, FindingKind::StackOverflow]),
        hangs: count(&[FindingKind::Hang]),
        ooms: count(&[FindingKind::Oom]),
        findings,
    }
}

/// Shrinks a finding's reproducer with the harness's crash minimiser (at most 2,000 runs or
/// 30 s); the minimised file's path, or None if it could not be shrunk.
fn minimize_reproducer(cfg: &CampaignConfig, f: &Finding, args: &RunArgs) -> Option<String> {
    let input = PathBuf::from(&f.artifact);
    let out = input.with_file_name(format!("minimized-{}", input.file_name()?.to_string_lossy()));
    let spec = protocrash_proto::config::MinimizeSpec { runs: 2000, max_ms: 30_000, out: out.clone() };
    let limits = protocrash_proto::config::ReplayConfig::new(args.timeout.as_millis().max(1) as u64, args.rss_limit_mb);
    let (_, succeeded) = crate::minimize::shrink_crash(&cfg.harness, &input, spec, &limits).ok()?;
    (succeeded && out.is_file()).then(|| out.display().to_string())
}

/// Ids of findings whose reproducers are kept in `fuzz/artifacts/<target>` (named
/// `<kind>-<id>`, as protocrash saves them).
fn known_artifacts(dir: &Path) -> HashSet<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return HashSet::new() };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (kind, id) = name.rsplit_once('-')?;
            (["crash", "hang", "oom"].contains(&kind) && id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| id.to_string())
        })
        .collect()
}

/// The plain-text summary table printed at the end of a CI run.
pub fn summary_text(rows: &[TargetRow]) -> String {
    let mut s = String::from("\nprotocrash summary\n");
    s += &format!(
        "  {:<20} {:>9} {:>10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>5}  {}\n",
        "target", "execs", "exec/s", "time", "edges", "corpus", "crashes", "hangs", "ooms", "status"
    );
    for r in rows {
        s += &format!(
            "  {:<20} {:>9} {:>10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>5}  {}\n",
            r.name,
            human(r.execs as f64),
            human(r.execs_per_sec),
            clock(Duration::from_secs_f64(r.seconds)),
            r.edges,
            r.corpus,
            r.crashes,
            r.hangs,
            r.ooms,
            r.error.as_deref().map(|_| "ERROR".to_string()).unwrap_or_else(|| r.status.to_uppercase()),
        );
    }
    for r in rows {
        if let Some(e) = &r.error {
            s += &format!("\n{}: {}\n", r.name, e.lines().next().unwrap_or_default());
        }
        for f in r.findings.iter().filter(|f| f.seen_this_run) {
            let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
            s += &format!(
                "\n{} [{}] {}: {}{at}\n  reproducer: {}\n",
                r.name,
                if f.known { "known" } else { "new" },
                f.kind.describe(),
                f.message,
                f.minimized.as_deref().unwrap_or(&f.artifact)
            );
            s += &format!("  reproduce:  {}\n", f.reproduce);
        }
    }
    s
}

/// The same summary as Markdown, for `$GITHUB_STEP_SUMMARY`.
pub fn summary_markdown(rows: &[TargetRow], code: u8) -> String {
    let verdict = match code {
        0 => "no findings",
        1 => "findings",
        _ => "errors",
    };
    let mut s = format!("## cargo protocrash: {verdict}\n\n");
    s += "| target | status | execs | exec/s | edges | corpus | crashes | hangs | ooms |\n";
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        s += &format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.status,
            human(r.execs as f64),
            human(r.execs_per_sec),
            r.edges,
            r.corpus,
            r.crashes,
            r.hangs,
            r.ooms
        );
    }
    for r in rows {
        if let Some(e) = &r.error {
            s += &format!("\n**{}**: {}\n", r.name, md_escape(e.lines().next().unwrap_or_default()));
        }
        for f in r.findings.iter().filter(|f| f.seen_this_run) {
            let at = if f.location.is_empty() { String::new() } else { format!(" at `{}`", f.location) };
            s += &format!(
                "\n**{}** ({}): {} — {}{at}\n\n```sh\n{}\n```\n",
                r.name,
                if f.known { "known" } else { "new" },
                f.kind.describe(),
                md_escape(&f.message),
                f.reproduce
            );
        }
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write the step summary {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn read_dictionaries(files: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>> {
    let mut tokens = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read the dictionary {}: {e}", f.display()))?;
        let parsed = protocrash_proto::dict::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}; fix the line or drop the file", f.display()))?;
        tokens.extend(parsed);
    }
    tokens.sort();
    tokens.dedup();
    Ok(tokens)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: &str) -> TargetRow {
        TargetRow { status: status.into(), execs: 1000, execs_per_sec: 500.0, seconds: 2.0, ..empty_row(name) }
    }

    #[test]
    fn summaries_name_every_target_and_every_finding() {
        let mut buggy = row("parse", "findings");
        buggy.crashes = 1;
        buggy.findings.push(FindingRow {
            id: "00112233aabbccdd".into(),
            kind: FindingKind::Panic,
            message: "a | b".into(),
            location: "src/lib.rs:3:5".into(),
            known: false,
            seen_this_run: true,
            hits: 4,
            artifact: "fuzz/artifacts/parse/crash-00112233aabbccdd".into(),
            minimized: Some("fuzz/artifacts/parse/minimized-crash-00112233aabbccdd".into()),
            reproduce: "cargo protocrash repro parse fuzz/artifacts/parse/minimized-crash-00112233aabbccdd".into(),
        });
        let rows = vec![row("clean_one", "clean"), buggy];
        let text = summary_text(&rows);
        assert!(text.contains("clean_one") && text.contains("CLEAN"), "{text}");
        assert!(text.contains("parse [new] panic: a | b at src/lib.rs:3:5"), "{text}");
        assert!(
            text.contains("reproduce:  cargo protocrash repro parse fuzz/artifacts/parse/minimized-crash-"),
            "{text}"
        );
        let md = summary_markdown(&rows, 1);
        assert!(md.starts_with("## cargo protocrash: findings"), "{md}");
        assert!(md.contains("| `clean_one` | clean |"), "{md}");
        assert!(md.contains("a \\| b"), "table-breaking characters are escaped: {md}");
    }

    #[test]
    fn known_reproducers_are_recognised_by_name() {
        let d = tempfile::tempdir().unwrap();
        for name in [
            "crash-00112233aabbccdd",
            "hang-0011223344556677",
            "minimized-crash-00112233aabbccdd",
            "notes.txt",
            "crash-xyz",
        ] {
            std::fs::write(d.path().join(name), b"x").unwrap();
        }
        let known = known_artifacts(d.path());
        let mut k: Vec<&str> = known.iter().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, vec!["0011223344556677", "00112233aabbccdd"]);
    }
}
