//! `cargo protocrash run [TARGET]`.

use crate::campaign::{self, CampaignConfig, ReproCommand};
use crate::cli::RunArgs;
use crate::display::{clock, human};
use crate::project::Project;
use anyhow::Result;
use protocrash_proto::naming::sanitize_node;
use std::process::ExitCode;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let target = project.target(args.target.as_deref())?;
    let bins = crate::builder::build(&project, std::slice::from_ref(&target), &super::build_options(&args.build))?;
    let mut seed_dirs = vec![project.corpus_dir(&target)];
    seed_dirs.extend(args.corpus.iter().cloned());
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    });
    let cfg = CampaignConfig {
        harness: bins[&target].clone(),
        sync_dir: args.sync_dir.clone().unwrap_or_else(|| project.sync_dir(&target)),
        node: sanitize_node(&args.node.clone().unwrap_or_else(host_name)),
        seed_dirs,
        corpus_dir: project.corpus_dir(&target),
        artifact_dir: project.artifact_dir(&target),
        seed,
        timeout: args.timeout,
        rss_limit_mb: args.rss_limit_mb,
        max_len: args.max_len as usize,
        runs: args.runs,
        max_total_time: args.max_total_time,
        fail_fast: args.fail_fast,
        cmp: !args.no_cmp,
        dict: read_dictionaries(&args.dict)?,
        plain: args.plain,
        jobs: args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize),
        sync_interval: args.sync_interval,
        repro: ReproCommand {
            prefix: format!("cargo protocrash repro {target}"),
            options: super::repeated_options(&args.project, &args.build),
        },
        target,
    };
    println!(
        "protocrash: fuzzing '{}' with {} worker{} (seed {seed}, sync dir {})",
        cfg.target,
        cfg.jobs,
        if cfg.jobs == 1 { "" } else { "s" },
        campaign::display_path(&cfg.sync_dir)
    );
    let summary = campaign::run(&cfg)?;
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
        println!("      reproduce: {}", cfg.repro.for_finding(f, &cfg));
    }
    Ok(ExitCode::from(if summary.hits > 0 { super::EXIT_FINDING } else { super::EXIT_OK }))
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
