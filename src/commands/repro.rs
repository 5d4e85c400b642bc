//! `cargo protocrash repro [TARGET] FILE…`: build the harness and let it replay the files.

use crate::cli::ReproArgs;
use crate::project::Project;
use crate::shell::display_path;
use anyhow::{bail, Context, Result};
use protocrash_proto::config::{ReplayConfig, REPLAY_ENV};
use protocrash_proto::replay::ReplayOutcome;
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: ReproArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    if args.regression {
        if args.items.len() > 1 {
            bail!("--regression replays the corpus and the artifacts; give at most a target, no files");
        }
        let target = project.target(args.items.first().map(String::as_str))?;
        return regression(&args, &project, &target);
    }
    // The first item is the target when it names one and is not a file.
    let first = &args.items[0];
    let (target, files) = if project.targets.contains(first) && !Path::new(first).exists() {
        (project.target(Some(first))?, &args.items[1..])
    } else {
        (project.target(None)?, &args.items[..])
    };
    if files.is_empty() {
        bail!("no input files given; usage: cargo protocrash repro {target} FILE...");
    }
    for f in files {
        if !Path::new(f).is_file() {
            bail!("no such input file: {f}");
        }
    }
    let bins = crate::builder::build(&project, std::slice::from_ref(&target), &super::build_options(&args.build))?;
    let cfg = ReplayConfig { json: args.json, ..replay_limits(&args) };
    let status = std::process::Command::new(&bins[&target])
        .args(files)
        .env(REPLAY_ENV, cfg.encode())
        .status()
        .with_context(|| format!("cannot run the harness {}", bins[&target].display()))?;
    Ok(ExitCode::from(status.code().unwrap_or(2).clamp(0, 255) as u8))
}

/// Replays the whole corpus and every kept reproducer, fast, and fails if any input fails
/// now: the cheap check for every pull request.
fn regression(args: &ReproArgs, project: &Project, target: &str) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut paths = crate::batch::corpus_files(&project.corpus_dir(target), true)?;
    let artifacts = crate::batch::corpus_files(&project.artifact_dir(target), true)?;
    paths.extend(artifacts.iter().filter(|p| p.extension().is_none_or(|e| e != "txt")).cloned());
    paths.extend(crate::batch::queue_entries(&project.sync_dir(target))?);
    let (inputs, unreadable) = crate::minimize::dedup(paths);
    if inputs.is_empty() {
        println!("protocrash: nothing to replay for '{target}': no corpus and no artifacts");
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    let bins = crate::builder::build(project, &[target.to_string()], &super::build_options(&args.build))?;
    let cfg = ReplayConfig { json: true, ..replay_limits(args) };
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let runs = crate::batch::replay_all(&cfg, &bins[target], &inputs, jobs, &stop)?;
    let mut failing = 0;
    for (input, r) in inputs.iter().zip(&runs) {
        match r {
            ReplayOutcome::Ok { .. } => {}
            ReplayOutcome::Finding(f) => {
                failing += 1;
                let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
                println!("FAIL {} ({}): {}{at}", display_path(&input.path), f.kind.describe(), f.message);
                println!("     reproduce: cargo protocrash repro {target} {}", display_path(&input.path));
            }
            ReplayOutcome::Unreadable { message } => {
                failing += 1;
                println!("FAIL {}: unreadable: {message}", input.path.display());
            }
        }
    }
    for (p, e) in &unreadable {
        failing += 1;
        println!("FAIL {}: unreadable: {e}", p.display());
    }
    println!(
        "protocrash: replayed {} distinct inputs of '{target}' in {:.1}s: {} ok, {failing} failing",
        inputs.len(),
        started.elapsed().as_secs_f64(),
        inputs.len() + unreadable.len() - failing
    );
    Ok(ExitCode::from(if failing > 0 { super::EXIT_FINDING } else { super::EXIT_OK }))
}

/// A replay under the command's `--timeout` and `--rss-limit-mb`.
fn replay_limits(args: &ReproArgs) -> ReplayConfig {
    ReplayConfig::new(args.timeout.as_millis().max(1) as u64, args.rss_limit_mb)
}
