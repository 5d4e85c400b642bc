//! `cargo protocrash repro [TARGET] FILE…`: build the harness and let it replay the files.

use crate::cli::ReproArgs;
use crate::project::Project;
use anyhow::{bail, Context, Result};
use protocrash_proto::config::{ReplayConfig, REPLAY_ENV};
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: ReproArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
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
    let cfg = ReplayConfig {
        version: protocrash_proto::PROTOCOL_VERSION,
        timeout_ms: args.timeout.as_millis().max(1) as u64,
        rss_limit_mb: args.rss_limit_mb,
        json: args.json,
        coverage: false,
        files_from: None,
        minimize: None,
    };
    let status = std::process::Command::new(&bins[&target])
        .args(files)
        .env(REPLAY_ENV, cfg.encode())
        .status()
        .with_context(|| format!("cannot run the harness {}", bins[&target].display()))?;
    Ok(ExitCode::from(status.code().unwrap_or(2).clamp(0, 255) as u8))
}
