//! `cargo protocrash coverage [TARGET]`: replays the corpus (fuzz/corpus/<target>, the
//! campaign's queues, `--corpus` dirs) through the harness and writes `lcov.info` and a static
//! HTML report (see `crate::coverage`).

use crate::cli::CoverageArgs;
use crate::coverage::{self, ReportInfo};
use crate::project::Project;
use anyhow::{bail, Context, Result};
use protocrash_proto::config::{ReplayConfig, REPLAY_ENV};
use protocrash_proto::replay::ReplayOutcome;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub fn run(args: CoverageArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let target = project.target(args.target.as_deref())?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    let corpus_dir = project.corpus_dir(&target);
    let sync_dir = project.sync_dir(&target);
    let paths = crate::batch::gather_corpus(&corpus_dir, &args.corpus, &sync_dir)?;
    let (inputs, unreadable) = crate::minimize::dedup(paths);
    for (p, e) in &unreadable {
        eprintln!("warning: skipping {}: {e}", p.display());
    }
    if inputs.is_empty() {
        bail!(
            "no corpus to replay for '{target}': {} and the sync dir {} hold no inputs; run a campaign first \
             (`cargo protocrash run {target}`) or pass --corpus DIR",
            crate::shell::display_path(&corpus_dir),
            crate::shell::display_path(sync_dir.root())
        );
    }
    let bins = crate::builder::build(&project, std::slice::from_ref(&target), &super::build_options(&args.build))?;
    let harness = &bins[&target];

    // Which source line each counter's block starts on.
    let tmp = tempfile::Builder::new().prefix("protocrash-coverage-").tempdir()?;
    let table_path = tmp.path().join("pcs");
    let cfg = ReplayConfig { pc_table: Some(table_path.clone()), ..ReplayConfig::new(10_000, 0) };
    let out = std::process::Command::new(harness)
        .env(REPLAY_ENV, cfg.encode())
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run the harness {}", harness.display()))?;
    if !out.status.success() {
        bail!(
            "the harness could not report its PC table ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let pcs = coverage::parse_pc_table(&std::fs::read(&table_path)?)?;
    let root = project.fuzz_dir.parent().unwrap_or(&project.fuzz_dir).to_path_buf();
    // The runtime's macros expand into the harness, with the runtime's lines: glue, not code
    // under test.
    let runtime = crate::runtime_src::ensure()?.root;
    let locations = coverage::locate_counters(harness, &pcs, |p| {
        !p.starts_with(&runtime) && (args.all_files || p.starts_with(&root))
    })?;
    if locations.iter().all(Option::is_none) {
        bail!(
            "none of the harness's {} instrumented blocks has a source line under {}; was it built without debug \
             info? (pass --all-files to report dependencies too)",
            pcs.len(),
            root.display()
        );
    }

    let replay =
        ReplayConfig { json: true, ..ReplayConfig::new(args.timeout.as_millis().max(1) as u64, args.rss_limit_mb) };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runs = crate::batch::replay_all(&replay, harness, &inputs, jobs, &interrupted)?;
    if interrupted.load(Ordering::Relaxed) {
        println!("protocrash: interrupted; no report written");
        return Ok(ExitCode::from(130));
    }
    let edges: Vec<Vec<u32>> = runs
        .iter()
        .filter_map(|r| match r {
            ReplayOutcome::Ok { features, .. } => Some(features.iter().map(|f| f >> 3).collect()),
            _ => None,
        })
        .collect();
    let findings = runs.iter().filter(|r| matches!(r, ReplayOutcome::Finding(_))).count();
    let cov = coverage::line_coverage(&locations, edges.iter().map(|v| v.as_slice()));

    let dir = args.out.clone().unwrap_or_else(|| project.coverage_dir(&target));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lcov_path = dir.join("lcov.info");
    std::fs::write(&lcov_path, coverage::lcov(&cov, &target))
        .with_context(|| format!("cannot write {}", lcov_path.display()))?;
    let info = ReportInfo { target: &target, inputs: inputs.len(), findings, root: &root };
    let index = coverage::write_html(&cov, &info, &dir)?;
    let sum = |v: Vec<(usize, usize)>| v.into_iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let (hit, found) = sum(cov.files.values().map(coverage::totals).collect());
    let (fn_hit, fn_found) = sum(cov.files.keys().map(|f| coverage::function_totals(&cov, f)).collect());
    println!(
        "protocrash: {} input(s) replayed: {hit} of {found} instrumented lines covered ({:.1}%), {fn_hit} of \
         {fn_found} functions entered, in {} file(s)",
        inputs.len(),
        if found == 0 { 0.0 } else { 100.0 * hit as f64 / found as f64 },
        cov.files.len()
    );
    if findings > 0 {
        println!("  {findings} input(s) crashed, hung or ran out of memory; their coverage is not counted");
    }
    println!("  lcov: {}\n  html: {}", crate::shell::display_path(&lcov_path), crate::shell::display_path(&index));
    Ok(ExitCode::from(super::EXIT_OK))
}
