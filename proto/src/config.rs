//! The worker configuration: the master serialises it into one environment variable, the
//! harness reads it back. Versioned so a harness from another protocrash is refused clearly.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Environment variable holding a JSON [`WorkerConfig`]; its presence puts a harness in
/// worker (fork server) mode.
pub const WORKER_ENV: &str = "PROTOCRASH_WORKER";
/// Environment variable holding a JSON [`ReplayConfig`] for `harness FILE…` replays.
pub const REPLAY_ENV: &str = "PROTOCRASH_REPLAY";

/// Everything a worker needs to fuzz, chosen by the master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub version: u32,
    /// Target name, for messages.
    pub target: String,
    /// This worker's directory in the sync dir (`<sync>/<node>-<i>`).
    pub worker_dir: PathBuf,
    /// The sync dir itself (other workers' queues are imported from its subdirectories).
    pub sync_dir: PathBuf,
    /// Read-only seed directories (`fuzz/corpus/<target>`, `--corpus`).
    pub seed_dirs: Vec<PathBuf>,
    /// Where crash reproducers are copied for cargo-fuzz users (`fuzz/artifacts/<target>`).
    pub artifact_dir: PathBuf,
    /// Seed of this worker's random number generator.
    pub seed: u64,
    /// Per-execution timeout in milliseconds.
    pub timeout_ms: u64,
    /// Resident memory limit of the fuzzing child, in MiB (0 = none).
    pub rss_limit_mb: u64,
    /// Largest input the mutator produces.
    pub max_len: usize,
    /// Total executions this worker may run (u64::MAX = no bound).
    pub max_execs: u64,
    /// Comparison feedback (value profile, input-to-state, compare tokens).
    pub cmp: bool,
    /// User dictionary tokens, hex-encoded (`dict::to_hex`).
    pub dict: Vec<String>,
    /// Milliseconds between imports of the other workers' queues.
    #[serde(default = "default_sync_interval_ms")]
    pub sync_interval_ms: u64,
    /// Which mix of strategies this worker uses (`Strategy::for_variant` in the runtime):
    /// parallel workers differ, as AFL++ recommends for its secondaries.
    #[serde(default)]
    pub variant: u32,
    /// Unix milliseconds when the campaign started (times in `plot_data` count from it, so a
    /// restarted worker's plot carries on); 0 = when this worker started.
    #[serde(default)]
    pub campaign_start_ms: u64,
    /// Started under libFuzzer's command line (`harness -flag=… DIR`): each finding is also
    /// printed as libFuzzer reports it, and the first one ends the worker, as in libFuzzer.
    #[serde(default)]
    pub libfuzzer: bool,
}

/// Default for [`WorkerConfig::sync_interval_ms`].
pub const fn default_sync_interval_ms() -> u64 {
    5000
}

impl WorkerConfig {
    /// This worker's directory.
    pub fn worker(&self) -> crate::layout::WorkerDir {
        crate::layout::WorkerDir::at(&self.worker_dir)
    }

    /// The campaign's sync dir.
    pub fn sync(&self) -> crate::layout::SyncDir {
        crate::layout::SyncDir::new(&self.sync_dir)
    }

    /// Encodes for the environment.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("WorkerConfig always serialises")
    }

    /// Decodes, refusing another protocol version with a message that says what to do.
    pub fn decode(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("malformed {WORKER_ENV}: {e}"))?;
        check_version(&value)?;
        serde_json::from_value(value).map_err(|e| format!("malformed {WORKER_ENV}: {e}"))
    }
}

/// Options for replaying files outside the fuzzer (`cargo protocrash repro`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayConfig {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub version: u32,
    /// Per-input timeout in milliseconds.
    pub timeout_ms: u64,
    /// Resident memory limit in MiB (0 = none).
    pub rss_limit_mb: u64,
    /// Print per-input outcomes as JSON lines instead of text.
    pub json: bool,
    /// Coverage replay (`minimize`): one JSON line per input with its features.
    #[serde(default)]
    pub coverage: bool,
    /// Read the input paths from this file (NUL-separated) instead of the command line.
    #[serde(default)]
    pub files_from: Option<PathBuf>,
    /// Shrink the one given crashing input instead of replaying.
    #[serde(default)]
    pub minimize: Option<MinimizeSpec>,
    /// Write the harness's PC table here instead of replaying (`cargo protocrash coverage`):
    /// for every counter, its block's file address and flags, two little-endian u64 each.
    #[serde(default)]
    pub pc_table: Option<PathBuf>,
}

/// Crash minimisation: shrink an input while it still produces the same finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimizeSpec {
    /// Most executions to spend.
    pub runs: u64,
    /// Most wall time to spend, in milliseconds.
    pub max_ms: u64,
    /// Where the smallest input found is written.
    pub out: PathBuf,
    /// Cleanse instead (libFuzzer's `-cleanse_crash`): keep the length, only replace the
    /// bytes the finding does not need.
    #[serde(default)]
    pub cleanse: bool,
}

impl ReplayConfig {
    /// A plain replay (text output, no coverage, no minimisation) under these limits.
    pub fn new(timeout_ms: u64, rss_limit_mb: u64) -> Self {
        ReplayConfig {
            version: crate::PROTOCOL_VERSION,
            timeout_ms,
            rss_limit_mb,
            json: false,
            coverage: false,
            files_from: None,
            minimize: None,
            pc_table: None,
        }
    }

    /// Encodes for the environment.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("ReplayConfig always serialises")
    }

    /// Decodes, refusing another protocol version.
    pub fn decode(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("malformed {REPLAY_ENV}: {e}"))?;
        check_version(&value)?;
        serde_json::from_value(value).map_err(|e| format!("malformed {REPLAY_ENV}: {e}"))
    }
}

fn check_version(value: &serde_json::Value) -> Result<(), String> {
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(crate::PROTOCOL_VERSION) => Ok(()),
        Some(v) => Err(format!(
            "this harness speaks protocrash protocol {}, the caller speaks {v}: rebuild the harness \
             with the installed cargo-protocrash (`cargo protocrash build`)",
            crate::PROTOCOL_VERSION
        )),
        None => Err("configuration has no protocol version".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WorkerConfig {
        WorkerConfig {
            version: crate::PROTOCOL_VERSION,
            target: "parse".into(),
            worker_dir: "/s/host-0".into(),
            sync_dir: "/s".into(),
            seed_dirs: vec!["/c".into()],
            artifact_dir: "/a".into(),
            seed: 7,
            timeout_ms: 1000,
            rss_limit_mb: 2048,
            max_len: 65536,
            max_execs: u64::MAX,
            cmp: true,
            dict: vec!["4b4559".into()],
            sync_interval_ms: 5000,
            variant: 1,
            campaign_start_ms: 1_700_000_000_000,
            libfuzzer: false,
        }
    }

    #[test]
    fn worker_config_round_trips() {
        let c = sample();
        assert_eq!(WorkerConfig::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn other_version_is_refused_with_advice() {
        let mut c = sample();
        c.version = 99;
        let err = WorkerConfig::decode(&c.encode()).unwrap_err();
        assert!(err.contains("rebuild the harness"), "{err}");
    }

    #[test]
    fn replay_config_round_trips() {
        let c = ReplayConfig {
            version: crate::PROTOCOL_VERSION,
            timeout_ms: 5,
            rss_limit_mb: 0,
            json: true,
            coverage: true,
            files_from: Some("/tmp/list".into()),
            minimize: Some(MinimizeSpec { runs: 10, max_ms: 1000, out: "/tmp/out".into(), cleanse: false }),
            pc_table: Some("/tmp/pcs".into()),
        };
        assert_eq!(ReplayConfig::decode(&c.encode()).unwrap(), c);
    }
}
