//! `cargo protocrash minimize [TARGET]`: shrink the corpus (every edge kept) or, with
//! `--crash FILE`, one crashing input (the same crash kept).

use crate::cli::MinimizeArgs;
use crate::ops::minimize::CorpusJob;
use crate::project::Project;
use crate::shell::display_path;
use anyhow::{bail, Result};
use protocrash_proto::config::{MinimizeSpec, ReplayConfig};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn run(args: MinimizeArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let target = project.target(args.target.as_deref())?;
    if let Some(crash) = &args.crash {
        if !crash.is_file() {
            bail!("no such input file: {}", crash.display());
        }
    }
    let bins = crate::builder::build(&project, std::slice::from_ref(&target), &super::build_options(&args.build))?;
    let harness = &bins[&target];
    match args.crash.clone() {
        Some(crash) => minimize_crash(&args, &target, harness, &crash),
        None => minimize_corpus(&args, &project, &target, harness),
    }
}

fn replay_config(args: &MinimizeArgs) -> ReplayConfig {
    ReplayConfig { json: true, ..ReplayConfig::new(args.timeout.as_millis().max(1) as u64, args.rss_limit_mb) }
}

fn minimize_crash(args: &MinimizeArgs, target: &str, harness: &Path, crash: &Path) -> Result<ExitCode> {
    let out = args.out.clone().unwrap_or_else(|| {
        let name = crash.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        crash.with_file_name(format!("{name}.min"))
    });
    let spec = MinimizeSpec {
        runs: args.runs.unwrap_or(10_000),
        max_ms: args.max_total_time.map_or(u64::MAX, |d| d.as_millis() as u64),
        out: std::path::absolute(&out)?,
        cleanse: false,
    };
    let (r, succeeded) = crate::minimize::shrink_crash(harness, crash, spec, &replay_config(args))?;
    if args.json {
        println!("{}", r.encode());
        return Ok(ExitCode::from(if succeeded { super::EXIT_OK } else { 2 }));
    }
    let at = if r.location.is_empty() { String::new() } else { format!(" at {}", r.location) };
    println!(
        "protocrash: minimised {}: {} -> {} bytes in {} runs, still the same {}{at}",
        display_path(crash),
        r.before,
        r.after,
        r.runs,
        r.kind.describe(),
    );
    if !r.complete {
        println!("  the budget ran out first (--runs / --max-total-time): a longer run may shrink it further");
    }
    if !r.other_findings.is_empty() {
        println!(
            "  {} other finding(s) met on the way were not accepted (different signature)",
            r.other_findings.len()
        );
    }
    let mut repro = format!("cargo protocrash repro {target} {}", display_path(&out));
    for o in super::repeated_options(&args.project, &args.build) {
        repro += &format!(" {o}");
    }
    println!("  saved: {}\n  reproduce: {repro}", display_path(&out));
    Ok(ExitCode::from(if succeeded { super::EXIT_OK } else { 2 }))
}

fn minimize_corpus(args: &MinimizeArgs, project: &Project, target: &str, harness: &Path) -> Result<ExitCode> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    let job = CorpusJob {
        target,
        harness,
        corpus_dir: project.corpus_dir(target),
        extra: &args.corpus,
        sync: args.sync_dir.clone().map_or_else(|| project.sync_dir(target), protocrash_proto::layout::SyncDir::new),
        out: args.out.clone(),
        max_len: args.max_len,
        jobs: args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize),
        replay: replay_config(args),
    };
    let Some(m) = crate::ops::minimize::minimize_corpus(&job, &interrupted)? else {
        println!("protocrash: interrupted; nothing was changed");
        return Ok(ExitCode::from(130));
    };
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    println!(
        "protocrash: minimised '{target}' in {:.1}s: {} files ({} distinct, {}) -> {} files ({}), \
         every one of {} edges ({} features) kept",
        m.seconds,
        m.files_before,
        m.distinct_before,
        bytes(m.bytes_before),
        m.files_after,
        bytes(m.bytes_after),
        m.edges,
        m.features
    );
    println!("  written to {}", display_path(&m.out));
    for a in &m.set_aside {
        let at = if a.location.is_empty() { String::new() } else { format!(" at {}", a.location) };
        println!("  set aside ({}): {}: {}{at}", a.kind, a.file.display(), a.message);
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}
