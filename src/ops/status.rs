//! `status`: a campaign's figures read from its sync dir alone (mapped stats and coverage
//! files, findings indexes), during or after a run, judged by the master's rules.

use crate::aggregate::{self, WorkerFigures, WorkerStatus};
use crate::campaign::nodelock;
use anyhow::{bail, Result};
use protocrash_proto::campaign::CampaignFile;
use protocrash_proto::coverage::count_edges;
use protocrash_proto::finding::Finding;
use protocrash_proto::layout::SyncDir;
use protocrash_proto::naming::parse_worker_dir_name;
use protocrash_proto::stats::heartbeat_grace;
use protocrash_proto::time::now_ms;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// A campaign as its sync dir describes it (`status --json` prints this).
#[derive(Debug, Serialize)]
pub struct CampaignStatus {
    /// The sync dir.
    pub sync_dir: PathBuf,
    /// Executions over every worker's life.
    pub execs: u64,
    /// Edges: the union of the current build's maps.
    pub edges: u64,
    /// Instrumented edges.
    pub map_size: u64,
    /// Entries in the workers' queues (the campaign's exported corpus).
    pub corpus: u64,
    /// Workers running now.
    pub running_workers: usize,
    /// Executions per second of the running workers (each averaged since it started).
    pub execs_per_sec: f64,
    /// Unix ms of the last new edge (0 = never).
    pub last_find_ms: u64,
    /// Per worker.
    pub workers: Vec<WorkerFigures>,
    /// Unique findings, merged over workers.
    pub findings: Vec<Finding>,
}

/// Reads the campaign in `sync`; an error when it has no worker yet. Workers count as
/// inactive by the master's rule (`heartbeat_grace` of the campaign's timeout).
pub fn read(sync: &SyncDir) -> Result<CampaignStatus> {
    let now = now_ms();
    let dirs = aggregate::worker_dirs(sync);
    if dirs.is_empty() {
        bail!(
            "no campaign in {}: it has no worker directories yet (start one with `cargo protocrash run`)",
            sync.root().display()
        );
    }
    let timeout = protocrash_proto::files::read_regular(&sync.campaign_file(), 1 << 20)
        .ok()
        .and_then(|b| CampaignFile::decode(&String::from_utf8_lossy(&b)).ok())
        .map_or(Duration::from_secs(1), |c| Duration::from_millis(c.timeout_ms));
    let grace = heartbeat_grace(timeout);
    let mut workers = Vec::new();
    let mut live = std::collections::HashMap::new();
    for d in &dirs {
        match aggregate::read_worker(d, now, grace) {
            Ok(Some(mut w)) => {
                let name = d.name();
                let node = parse_worker_dir_name(&name).map_or("", |(n, _)| n).to_string();
                let held = *live.entry(node.clone()).or_insert_with(|| nodelock::is_held(sync, &node));
                let says_alive =
                    matches!(w.state, WorkerStatus::Running | WorkerStatus::Starting | WorkerStatus::Inactive);
                if says_alive && held == Some(false) {
                    w.state = WorkerStatus::Orphaned;
                }
                workers.push(w)
            }
            Ok(None) => {}
            // One peer's garbage stats file must not hide the rest of the campaign.
            Err(e) => eprintln!("protocrash: warning: skipping worker {}: {e:#}", d.name()),
        }
    }
    // Maps of the newest build are the campaign's; an older build's are stale.
    let build = workers.iter().max_by_key(|w| w.start_ms).and_then(|w| aggregate::build_of(&w.dir));
    let running: Vec<&WorkerFigures> = workers.iter().filter(|w| w.state == WorkerStatus::Running).collect();
    Ok(CampaignStatus {
        sync_dir: sync.root().to_path_buf(),
        execs: workers.iter().map(|w| w.execs).sum(),
        edges: count_edges(&aggregate::union_of(&dirs, build)),
        map_size: workers.iter().map(|w| w.map_size).max().unwrap_or(0),
        corpus: workers.iter().map(|w| w.corpus).sum(),
        running_workers: running.len(),
        execs_per_sec: running
            .iter()
            .map(|w| aggregate::rate(w.execs, Duration::from_millis(now.saturating_sub(w.start_ms))))
            .sum(),
        last_find_ms: workers.iter().map(|w| w.last_find_ms).max().unwrap_or(0),
        findings: aggregate::merged_findings(&dirs),
        workers,
    })
}
