//! Campaign figures from the sync dir alone: every worker's mapped `stats` and `coverage`
//! files, read without talking to any process. The master's live display and
//! `cargo protocrash status` both read the campaign through here.

use crate::shm::{union_coverage, StatsMap};
use anyhow::Result;
use protocrash_proto::coverage::count_edges;
use protocrash_proto::naming::parse_worker_dir_name;
use protocrash_proto::stats::{StatField, WorkerState};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One worker as its files describe it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerFigures {
    /// `<node>-<i>`.
    pub name: String,
    /// `starting`, `running`, `done`, or `inactive` (running, but no heartbeat for a while).
    pub state: String,
    /// Executions over the worker's whole life (all runs in this sync dir).
    pub execs: u64,
    /// Edges in its own cumulative map.
    pub edges: u64,
    /// Corpus entries its fuzzing child holds.
    pub corpus: u64,
    /// Entries imported from other workers.
    pub imports: u64,
    /// Unique crashes, hangs, OOMs.
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
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Whether a worker counts as inactive: it says it is running but its fork server has not
/// written a heartbeat for longer than `grace`.
pub fn is_inactive(state: WorkerState, heartbeat_ms: u64, now_ms: u64, grace: Duration) -> bool {
    state == WorkerState::Running && now_ms.saturating_sub(heartbeat_ms) > grace.as_millis() as u64
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

/// ORs `map` into `union`, growing it to fit (maps of one build have one length; a union
/// over builds is never taken, but a shorter map must not truncate the union).
pub fn or_into(union: &mut Vec<u8>, map: &[u8]) {
    if union.len() < map.len() {
        union.resize(map.len(), 0);
    }
    for (u, &b) in union.iter_mut().zip(map) {
        *u |= b;
    }
}

/// The worker directories of a sync dir (all nodes), sorted; symlinks are not followed.
pub fn worker_dirs(sync_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(sync_dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| parse_worker_dir_name(&e.file_name().to_string_lossy()).is_some())
        .filter(|e| e.path().join("stats").is_file())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Reads one worker's figures (None if it has no valid stats file yet).
pub fn read_worker(dir: &Path, now_ms: u64, grace: Duration) -> Result<Option<WorkerFigures>> {
    let Some(s) = StatsMap::open_read_only(&dir.join("stats"))? else {
        return Ok(None);
    };
    let state = WorkerState::from_word(s.get(StatField::State));
    let heartbeat = s.get(StatField::HeartbeatMs);
    let mut own = Vec::new();
    let _ = union_coverage(&dir.join("coverage"), &mut own, None);
    Ok(Some(WorkerFigures {
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        state: if is_inactive(state, heartbeat, now_ms, grace) { "inactive".into() } else { state.name().into() },
        execs: s.get(StatField::ExecSeq) / 2,
        edges: count_edges(&own),
        corpus: s.get(StatField::Corpus),
        imports: s.get(StatField::Imports),
        crashes: s.get(StatField::UniqueCrashes),
        hangs: s.get(StatField::UniqueHangs),
        ooms: s.get(StatField::UniqueOoms),
        hits: s.get(StatField::Crashes) + s.get(StatField::Hangs) + s.get(StatField::Ooms),
        heartbeat_age_ms: now_ms.saturating_sub(heartbeat),
        last_find_ms: s.get(StatField::LastFindMs),
        start_ms: s.get(StatField::StartMs),
        map_size: s.get(StatField::MapSize),
        dir: dir.to_path_buf(),
    }))
}

/// The union of the coverage maps in `dirs` written by the harness build `build_id` (maps of
/// another build number other edges and are left out); with no build id, of every map.
pub fn union_of(dirs: &[PathBuf], build_id: Option<u64>) -> Vec<u8> {
    let mut union = Vec::new();
    for d in dirs {
        let _ = union_coverage(&d.join("coverage"), &mut union, build_id);
    }
    union
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_is_an_or_not_a_sum() {
        let a = [1u8, 0, 4, 0];
        let b = [1u8, 2, 0];
        let mut u = Vec::new();
        or_into(&mut u, &a);
        or_into(&mut u, &b);
        assert_eq!(u, vec![1, 2, 4, 0]);
        assert_eq!(count_edges(&u), 3, "two workers sharing an edge count it once");
        assert!(count_edges(&u) >= count_edges(&a) && count_edges(&u) >= count_edges(&b));
        let mut shorter = vec![0u8; 1];
        or_into(&mut shorter, &a);
        assert_eq!(shorter, a, "grows to the longer map");
    }

    #[test]
    fn inactive_only_when_running_and_silent_past_the_grace() {
        let grace = Duration::from_secs(10);
        assert!(!is_inactive(WorkerState::Running, 1_000, 10_999, grace));
        assert!(!is_inactive(WorkerState::Running, 1_000, 11_000, grace));
        assert!(is_inactive(WorkerState::Running, 1_000, 11_001, grace));
        assert!(!is_inactive(WorkerState::Done, 1_000, 99_000, grace), "a finished worker is not inactive");
        assert!(!is_inactive(WorkerState::Starting, 1_000, 99_000, grace), "init may take long");
        // A heartbeat from a clock slightly ahead is not "negative age".
        assert!(!is_inactive(WorkerState::Running, 5_000, 4_000, grace));
    }

    #[test]
    fn rate_with_zero_elapsed_time_is_zero() {
        assert_eq!(rate(1000, Duration::ZERO), 0.0);
        assert_eq!(rate(0, Duration::ZERO), 0.0);
        assert_eq!(rate(3000, Duration::from_secs(2)), 1500.0);
    }
}
