//! `cargo protocrash status [TARGET]`: a campaign's figures read from its sync dir alone
//! (mapped stats and coverage files, findings indexes), during or after a run.

use crate::aggregate::{self, WorkerFigures};
use crate::cli::StatusArgs;
use crate::display::{clock, human};
use anyhow::{bail, Result};
use protocrash_proto::coverage::count_edges;
use std::process::ExitCode;
use std::time::Duration;

/// A worker is shown inactive after this long without a heartbeat.
const GRACE: Duration = Duration::from_secs(10);

pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let sync_dir = super::sync_dir_of(args.sync_dir, &args.project, args.target.as_deref())?;
    let now = now_ms();
    let dirs = aggregate::worker_dirs(&sync_dir);
    if dirs.is_empty() {
        bail!(
            "no campaign in {}: it has no worker directories yet (start one with `cargo protocrash run`)",
            sync_dir.display()
        );
    }
    let mut workers: Vec<WorkerFigures> = Vec::new();
    for d in &dirs {
        if let Some(w) = aggregate::read_worker(d, now, GRACE)? {
            workers.push(w);
        }
    }
    // Maps of the build most workers ran are the campaign's; an older build's are stale.
    let build = newest_build(&workers);
    let edges = count_edges(&aggregate::union_of(&dirs, build));
    let findings = crate::campaign::merged_findings(&dirs);
    let execs: u64 = workers.iter().map(|w| w.execs).sum();
    let alive: Vec<&WorkerFigures> = workers.iter().filter(|w| w.state == "running").collect();
    let rate: f64 =
        alive.iter().map(|w| aggregate::rate(w.execs, Duration::from_millis(now.saturating_sub(w.start_ms)))).sum();
    let last_find = workers.iter().map(|w| w.last_find_ms).max().unwrap_or(0);
    if args.json {
        let doc = serde_json::json!({
            "sync_dir": sync_dir,
            "execs": execs,
            "edges": edges,
            "map_size": workers.iter().map(|w| w.map_size).max().unwrap_or(0),
            "corpus": workers.iter().map(|w| w.corpus).max().unwrap_or(0),
            "running_workers": alive.len(),
            "last_find_ms": last_find,
            "workers": workers,
            "findings": findings,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    println!("campaign in {}", crate::campaign::display_path(&sync_dir));
    println!(
        "  execs {}   edges {} / {}   corpus {}   workers {} running of {}   last new edge {}",
        human(execs as f64),
        edges,
        workers.iter().map(|w| w.map_size).max().unwrap_or(0),
        workers.iter().map(|w| w.corpus).max().unwrap_or(0),
        alive.len(),
        workers.len(),
        if last_find == 0 {
            "never".into()
        } else {
            format!("{} ago", clock(Duration::from_millis(now.saturating_sub(last_find))))
        }
    );
    if !alive.is_empty() {
        println!("  {}/s now (running workers, averaged since each started)", human(rate));
    }
    println!(
        "  {:<16} {:>9} {:>9} {:>7} {:>7} {:>8} {:>6}",
        "worker", "state", "execs", "edges", "corpus", "imports", "finds"
    );
    for w in &workers {
        println!(
            "  {:<16} {:>9} {:>9} {:>7} {:>7} {:>8} {:>6}",
            w.name,
            w.state,
            human(w.execs as f64),
            w.edges,
            w.corpus,
            w.imports,
            w.crashes + w.hangs + w.ooms
        );
    }
    if findings.is_empty() {
        println!("no crashes, hangs or out-of-memory inputs found");
    }
    for f in &findings {
        let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
        println!("  {}: {}{at} (hit {} times)\n      {}", f.kind.describe(), f.message, f.count, f.artifact);
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

fn newest_build(workers: &[WorkerFigures]) -> Option<u64> {
    let newest = workers.iter().max_by_key(|w| w.start_ms)?;
    crate::shm::coverage_build_id(&newest.dir.join("coverage")).ok().flatten()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
