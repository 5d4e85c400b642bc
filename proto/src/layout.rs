//! The on-disk layout of a sync dir: `campaign.json` and one `<node>-<i>/` folder per worker
//! holding its queue, findings, mapped `stats` and `coverage` files, log and AFL++-format
//! stats. These two types are the only place a path segment of the layout is spelled.

use crate::finding::FindingKind;
use crate::naming::{parse_worker_dir_name, worker_dir_name};
use std::path::{Path, PathBuf};

/// A campaign's sync dir (`fuzz/sync/<target>` unless `--sync-dir` says otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncDir {
    root: PathBuf,
}

impl SyncDir {
    /// The sync dir at `root` (nothing is touched on disk). From now on this process treats
    /// everything below `root` as hostile ground ([`crate::files::guard`]).
    pub fn new(root: impl Into<PathBuf>) -> SyncDir {
        let root = root.into();
        crate::files::guard(&root);
        SyncDir { root }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `campaign.json`: target, options and start time of the last `run` here.
    pub fn campaign_file(&self) -> PathBuf {
        self.root.join("campaign.json")
    }

    /// The directory of worker `index` on `node`.
    pub fn worker(&self, node: &str, index: usize) -> WorkerDir {
        WorkerDir { path: self.root.join(worker_dir_name(node, index)) }
    }

    /// Where `cargo protocrash plot` draws the campaign by default.
    pub fn plot_svg(&self) -> PathBuf {
        self.root.join("plot.svg")
    }

    /// The lock file a node's master holds for the whole campaign (`.lock-<node>`), so that
    /// two `run`s with the same `--node` cannot drive the same worker directories.
    pub fn node_lock(&self, node: &str) -> PathBuf {
        self.root.join(format!(".lock-{node}"))
    }

    /// Every worker directory of every node, sorted by name: real directories (never a
    /// symlink) whose name parses as `<node>-<i>`. An unreadable sync dir has none.
    pub fn workers(&self) -> Vec<WorkerDir> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut dirs: Vec<WorkerDir> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| e.file_name().to_str().is_some_and(|n| parse_worker_dir_name(n).is_some()))
            .map(|e| WorkerDir { path: e.path() })
            .collect();
        dirs.sort_by(|a, b| a.path.cmp(&b.path));
        dirs
    }
}

/// One worker's directory, `<sync>/<node>-<i>/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkerDir {
    path: PathBuf,
}

/// The file names inside a worker directory, for code that must open them relative to the
/// directory's descriptor (`openat`) rather than by path.
pub mod names {
    /// Queue entries (`id_…`).
    pub const QUEUE: &str = "queue";
    /// The queue's index: one entry name a line, in the order they were written.
    pub const QUEUE_INDEX: &str = "queue.idx";
    /// The mapped counters.
    pub const STATS: &str = "stats";
    /// The mapped cumulative coverage map.
    pub const COVERAGE: &str = "coverage";
    /// The findings index.
    pub const FINDINGS: &str = "findings.json";
    /// The worker's stdout and stderr.
    pub const LOG: &str = "worker.log";
    /// AFL++'s `fuzzer_stats`.
    pub const FUZZER_STATS: &str = "fuzzer_stats";
    /// AFL++'s `plot_data`.
    pub const PLOT_DATA: &str = "plot_data";
    /// Tokens learned from compares, in AFL++ dictionary syntax.
    pub const LEARNED_DICT: &str = "learned.dict";
}

impl WorkerDir {
    /// A worker directory at `path` (for tests and tools that were handed one).
    pub fn at(path: impl Into<PathBuf>) -> WorkerDir {
        WorkerDir { path: path.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its name, `<node>-<i>`.
    pub fn name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// `queue/`: the inputs this worker kept, one file each, named by [`crate::naming::queue_name`].
    pub fn queue(&self) -> PathBuf {
        self.path.join(names::QUEUE)
    }

    /// `queue.idx`: the names of the queue's entries, one a line, appended as each entry is
    /// written (after it is complete), so that peers read only what is new since they last
    /// looked instead of listing the queue.
    pub fn queue_index(&self) -> PathBuf {
        self.path.join(names::QUEUE_INDEX)
    }

    /// `stats`: the mapped counters ([`crate::stats`]).
    pub fn stats(&self) -> PathBuf {
        self.path.join(names::STATS)
    }

    /// `coverage`: the mapped cumulative edge map ([`crate::coverage`]).
    pub fn coverage(&self) -> PathBuf {
        self.path.join(names::COVERAGE)
    }

    /// `findings.json`: the index of unique findings ([`crate::finding::FindingIndex`]).
    pub fn findings_index(&self) -> PathBuf {
        self.path.join(names::FINDINGS)
    }

    /// The folder holding reproducers of `kind` (`crashes/`, `hangs/`, `ooms/`).
    pub fn findings(&self, kind: FindingKind) -> PathBuf {
        self.path.join(kind.folder())
    }

    /// `worker.log`: the worker's output.
    pub fn log(&self) -> PathBuf {
        self.path.join(names::LOG)
    }

    /// `fuzzer_stats` (AFL++ format).
    pub fn fuzzer_stats(&self) -> PathBuf {
        self.path.join(names::FUZZER_STATS)
    }

    /// `plot_data` (AFL++ format).
    pub fn plot_data(&self) -> PathBuf {
        self.path.join(names::PLOT_DATA)
    }

    /// `learned.dict`.
    pub fn learned_dict(&self) -> PathBuf {
        self.path.join(names::LEARNED_DICT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_paths_sit_in_the_worker_dir() {
        let s = SyncDir::new("/s");
        let w = s.worker("host-a", 3);
        assert_eq!(w.path(), Path::new("/s/host-a-3"));
        assert_eq!(w.name(), "host-a-3");
        assert_eq!(w.queue(), Path::new("/s/host-a-3/queue"));
        assert_eq!(w.findings(FindingKind::StackOverflow), Path::new("/s/host-a-3/crashes"));
        assert_eq!(w.findings(FindingKind::Oom), Path::new("/s/host-a-3/ooms"));
        for p in [w.stats(), w.coverage(), w.findings_index(), w.log(), w.fuzzer_stats(), w.plot_data()] {
            assert_eq!(p.parent(), Some(w.path()));
        }
        assert_eq!(s.campaign_file(), Path::new("/s/campaign.json"));
        assert_eq!(s.node_lock("n"), Path::new("/s/.lock-n"));
    }

    #[test]
    fn listing_keeps_real_worker_dirs_only() {
        let root = std::env::temp_dir().join(format!("protocrash-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["b-1", "a-0", "queue", "x-"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("c-2"), b"a file").unwrap();
        std::os::unix::fs::symlink(root.join("a-0"), root.join("d-3")).unwrap();
        let names: Vec<String> = SyncDir::new(&root).workers().iter().map(WorkerDir::name).collect();
        assert_eq!(names, ["a-0", "b-1"]);
        std::fs::remove_dir_all(&root).unwrap();
        assert!(SyncDir::new(&root).workers().is_empty(), "a missing sync dir has no workers");
    }
}
