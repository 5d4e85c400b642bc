//! Campaign figures from the sync dir alone: every worker's mapped `stats` and `coverage`
//! files and findings indexes, read without talking to any process. The master's live
//! display and `cargo protocrash status` both read the campaign through here, by one rule.

use crate::shm::{coverage_build_id, union_coverage, StatsMap};
use anyhow::Result;
use protocrash_proto::coverage::count_edges;
use protocrash_proto::finding::{Finding, FindingIndex};
use protocrash_proto::layout::{SyncDir, WorkerDir};
use protocrash_proto::stats::{StatField, WorkerState};
use serde::Serialize;
use std::time::Duration;

/// What a worker is doing, as shown on the live screen and by `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    /// Running `init` and loading its corpus.
    #[default]
    Starting,
    /// Fuzzing.
    Running,
    /// Stopped cleanly (or its budget is spent).
    Done,
    /// Says it runs, but its heartbeat stopped for longer than the grace.
    Inactive,
    /// Died; the master restarts it shortly.
    Restarting,
    /// Died too often right after start; left stopped.
    Dead,
    /// Its file says it runs, but no master holds its node's lock: the run that drove it was
    /// killed without a clean stop.
    Orphaned,
}

impl WorkerStatus {
    /// What the stats file says, judged against the heartbeat grace.
    pub fn of(view: &protocrash_proto::stats::StatsView, now_ms: u64, grace: Duration) -> WorkerStatus {
        if view.is_inactive(now_ms, grace) {
            return WorkerStatus::Inactive;
        }
        match view.state() {
            WorkerState::Starting => WorkerStatus::Starting,
            WorkerState::Running => WorkerStatus::Running,
            WorkerState::Done => WorkerStatus::Done,
        }
    }

    /// Lower-case name for the screen.
    pub fn name(self) -> &'static str {
        match self {
            WorkerStatus::Starting => "starting",
            WorkerStatus::Running => "running",
            WorkerStatus::Done => "done",
            WorkerStatus::Inactive => "inactive",
            WorkerStatus::Restarting => "restarting",
            WorkerStatus::Dead => "dead",
            WorkerStatus::Orphaned => "orphaned",
        }
    }
}

/// One worker as its files describe it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerFigures {
    /// `<node>-<i>`.
    pub name: String,
    /// What it is doing.
    pub state: WorkerStatus,
    /// Executions over the worker's whole life (all runs in this sync dir).
    pub execs: u64,
    /// Edges in its own cumulative map.
    pub edges: u64,
    /// Entries in its queue directory (its exported corpus).
    pub corpus: u64,
    /// Entries imported from other workers.
    pub imports: u64,
    /// Unique crashes.
    pub crashes: u64,
    /// Unique hangs.
    pub hangs: u64,
    /// Unique out-of-memory findings.
    pub ooms: u64,
    /// Finding hits of any kind (not unique).
    pub hits: u64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
    /// Unix milliseconds of its last new edge (0 = none yet).
    pub last_find_ms: u64,
    /// Unix milliseconds when it (last) started.
    pub start_ms: u64,
    /// Coverage map size.
    pub map_size: u64,
    /// Its directory.
    #[serde(skip)]
    pub dir: WorkerDir,
}

/// Executions per second; 0 when no time has passed (never a division by zero).
pub fn rate(execs: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        execs as f64 / s
    }
}

/// The worker directories of a sync dir (all nodes) that hold a stats file, sorted.
pub fn worker_dirs(sync: &SyncDir) -> Vec<WorkerDir> {
    sync.workers().into_iter().filter(|w| std::fs::symlink_metadata(w.stats()).is_ok_and(|m| m.is_file())).collect()
}

/// Edges in a worker's own cumulative map (0 while it has none).
pub fn own_edges(dir: &WorkerDir) -> u64 {
    let mut own = Vec::new();
    let _ = union_coverage(&dir.coverage(), &mut own, None);
    count_edges(&own)
}

/// Reads one worker's figures (None if it has no valid stats file yet).
pub fn read_worker(dir: &WorkerDir, now_ms: u64, grace: Duration) -> Result<Option<WorkerFigures>> {
    let Some(map) = StatsMap::open_read_only(&dir.stats())? else {
        return Ok(None);
    };
    let s = map.view();
    Ok(Some(WorkerFigures {
        name: dir.name(),
        state: WorkerStatus::of(&s, now_ms, grace),
        execs: s.execs(),
        edges: own_edges(dir),
        corpus: s.get(StatField::QueueLen),
        imports: s.get(StatField::Imports),
        crashes: s.get(StatField::UniqueCrashes),
        hangs: s.get(StatField::UniqueHangs),
        ooms: s.get(StatField::UniqueOoms),
        hits: s.hits(),
        heartbeat_age_ms: s.heartbeat_age_ms(now_ms),
        last_find_ms: s.get(StatField::LastFindMs),
        start_ms: s.get(StatField::StartMs),
        map_size: s.get(StatField::MapSize),
        dir: dir.clone(),
    }))
}

/// The union of the coverage maps in `dirs` written by the harness build `build_id` (maps of
/// another build number other edges and are left out); with no build id, of every map.
pub fn union_of(dirs: &[WorkerDir], build_id: Option<u64>) -> Vec<u8> {
    let mut union = Vec::new();
    for d in dirs {
        let _ = union_coverage(&d.coverage(), &mut union, build_id);
    }
    union
}

/// The build id of a worker's coverage map (None while it has none).
pub fn build_of(dir: &WorkerDir) -> Option<u64> {
    coverage_build_id(&dir.coverage()).ok().flatten()
}

/// The findings of every worker directory in `dirs`, one per signature (counts added up:
/// two workers hitting the same bug found one bug).
pub fn merged_findings(dirs: &[WorkerDir]) -> Vec<Finding> {
    let mut by_id: Vec<Finding> = Vec::new();
    for d in dirs {
        for f in read_findings(d) {
            match by_id.iter_mut().find(|g| g.id == f.id) {
                Some(g) => g.count += f.count,
                None => by_id.push(f),
            }
        }
    }
    by_id
}

/// The findings a worker recorded (empty if none or unreadable).
pub fn read_findings(dir: &WorkerDir) -> Vec<Finding> {
    protocrash_proto::files::read_regular(&dir.findings_index(), 64 << 20)
        .ok()
        .and_then(|b| FindingIndex::decode(&String::from_utf8_lossy(&b)).ok())
        .map(|i| i.findings)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_with_zero_elapsed_time_is_zero() {
        assert_eq!(rate(1000, Duration::ZERO), 0.0);
        assert_eq!(rate(0, Duration::ZERO), 0.0);
        assert_eq!(rate(3000, Duration::from_secs(2)), 1500.0);
    }

    #[test]
    fn findings_of_two_workers_merge_by_signature() {
        use protocrash_proto::finding::{FindingKind, FINDINGS_VERSION};
        let root = tempfile::tempdir().unwrap();
        let sync = SyncDir::new(root.path());
        let finding = |id: &str, count| Finding {
            signature: format!("panic|{id}"),
            id: id.into(),
            kind: FindingKind::Panic,
            signal: 0,
            message: String::new(),
            location: String::new(),
            frames: Vec::new(),
            count,
            first_seen_ms: 0,
            last_seen_ms: 0,
            file: String::new(),
            artifact: String::new(),
            size: 1,
        };
        let (a, b) = (sync.worker("n", 0), sync.worker("n", 1));
        for (w, findings) in [(&a, vec![finding("x", 2), finding("y", 1)]), (&b, vec![finding("x", 3)])] {
            std::fs::create_dir_all(w.path()).unwrap();
            let idx = FindingIndex { version: FINDINGS_VERSION, findings };
            std::fs::write(w.findings_index(), idx.encode()).unwrap();
        }
        let merged = merged_findings(&[a, b]);
        let counts: Vec<(&str, u64)> = merged.iter().map(|f| (f.id.as_str(), f.count)).collect();
        assert_eq!(counts, [("x", 5), ("y", 1)]);
    }
}
