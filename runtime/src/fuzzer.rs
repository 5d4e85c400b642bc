//! The fuzzing loop that runs in the forked child: load the corpus (this worker's queue,
//! then the seeds), then pick → mutate → execute → read coverage → keep what is new, until
//! the execution budget or the master's stop flag. Nothing here allocates per execution.

use crate::corpus::Corpus as Queue;
use crate::mutate::havoc;
use crate::rng::Rng;
use crate::sancov::CounterMap;
use crate::shared::SharedRegion;
use crate::statsfile::{CoverageFile, StatsFile};
use crate::util::{now_ms, write_atomic};
use crate::{Corpus, TargetFn};
use protocrash_proto::config::WorkerConfig;
use protocrash_proto::coverage::BUCKET;
use protocrash_proto::naming::{content_id, parse_queue_name, queue_name};
use protocrash_proto::stats::{StatField, WorkerState};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Executions between checks of the stop flag, stats publication and scheduling upkeep.
const PERIOD: u64 = 1024;
/// Smallest starting length limit.
const MIN_LEN_LIMIT: usize = 8;

/// What the child shares with its fork server and the master.
pub struct Shared<'a> {
    /// The input buffer and crash record.
    pub region: &'a SharedRegion,
    /// The worker's stats file.
    pub stats: &'a StatsFile,
    /// The worker's cumulative coverage map.
    pub coverage: &'a CoverageFile,
    /// Content ids of inputs that already killed a child: never run again at start-up.
    pub known_bad: &'a HashSet<String>,
}

/// The fuzzing child's state.
pub struct Fuzzer<'a> {
    cfg: &'a WorkerConfig,
    target: TargetFn,
    shared: Shared<'a>,
    counters: CounterMap,
    /// Buckets this child has kept inputs for (novelty is judged against it).
    local: Vec<u8>,
    /// (edge << 8 | bucket) of the last execution, in edge order.
    hits: Vec<u64>,
    queue: Queue,
    rng: Rng,
    buf: Vec<u8>,
    exported: HashSet<u32>,
    queue_dir: PathBuf,
    execs: u64,
    budget_end: u64,
    len_limit: usize,
    last_progress: u64,
    verbose: bool,
}

impl<'a> Fuzzer<'a> {
    /// Prepares a child; `generation` counts the children this worker started before.
    pub fn new(
        cfg: &'a WorkerConfig,
        target: TargetFn,
        shared: Shared<'a>,
        generation: u64,
    ) -> Self {
        let counters = CounterMap::registered();
        let map_len = counters.len();
        let seq = shared.stats.get(StatField::ExecSeq);
        // A child that died inside the target left an odd sequence: that execution counts.
        let execs = seq.div_ceil(2);
        let prior = shared.stats.get(StatField::PriorExecs);
        let budget = shared.stats.get(StatField::MaxExecs);
        Fuzzer {
            cfg,
            target,
            counters,
            local: vec![0; map_len],
            hits: Vec::with_capacity(map_len),
            queue: Queue::new(map_len),
            rng: Rng::new(cfg.seed.wrapping_add(generation.wrapping_mul(0x9e37_79b9))),
            buf: Vec::with_capacity(cfg.max_len),
            exported: HashSet::new(),
            queue_dir: cfg.worker_dir.join("queue"),
            execs,
            budget_end: prior.saturating_add(budget),
            len_limit: MIN_LEN_LIMIT.min(cfg.max_len),
            last_progress: execs,
            verbose: generation == 0,
            shared,
        }
    }

    /// Loads the corpus, then fuzzes until told to stop.
    pub fn run(mut self) {
        self.counters.clear();
        self.load_corpus();
        self.len_limit = self
            .queue
            .max_input_len()
            .clamp(MIN_LEN_LIMIT, self.cfg.max_len.max(1));
        self.shared
            .stats
            .set(StatField::State, WorkerState::Running as u64);
        self.publish();
        while self.execs < self.budget_end {
            if self.execs.is_multiple_of(PERIOD) && self.upkeep() {
                break;
            }
            self.fuzz_one();
        }
        self.publish();
    }

    #[inline]
    fn fuzz_one(&mut self) {
        let pick = self.queue.pick(&mut self.rng);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&self.queue.get(pick).data);
        let other = self.rng.below(self.queue.len());
        havoc(
            &mut buf,
            &mut self.rng,
            self.len_limit,
            &self.queue.get(other).data,
        );
        let (verdict, novel) = self.execute(&buf);
        self.queue.get_mut(pick).fuzzed += 1;
        if novel && verdict == Corpus::Keep {
            self.queue.get_mut(pick).finds += 1;
            self.keep(&buf, true);
        }
        self.buf = buf;
    }

    /// Runs the target once and drains the counters into `hits`; true if anything is new
    /// against what this child keeps.
    #[inline]
    fn execute(&mut self, input: &[u8]) -> (Corpus, bool) {
        self.shared.region.set_input(input);
        let seq = self.shared.stats.field(StatField::ExecSeq);
        seq.store(2 * self.execs + 1, Ordering::Relaxed);
        let verdict = (self.target)(input);
        self.execs += 1;
        seq.store(2 * self.execs, Ordering::Relaxed);
        let local = &self.local;
        let hits = &mut self.hits;
        hits.clear();
        let mut novel = false;
        self.counters.drain(|i, count| {
            let b = BUCKET[count as usize];
            hits.push(((i as u64) << 8) | u64::from(b));
            novel |= b & !local[i] != 0;
        });
        (verdict, novel)
    }

    /// Adds the last executed input to the corpus and the shared map; exports it to the
    /// queue unless it came from there.
    fn keep(&mut self, input: &[u8], export: bool) {
        let map = self.shared.coverage.buckets();
        let mut edges = Vec::with_capacity(self.hits.len());
        let mut cov_hash: u32 = 0x811c_9dc5;
        let mut grew = false;
        for &h in &self.hits {
            let (i, b) = ((h >> 8) as usize, h as u8);
            self.local[i] |= b;
            let old = map[i].fetch_or(b, Ordering::Relaxed);
            grew |= old & b == 0;
            if old == 0 {
                self.shared.stats.add(StatField::Edges, 1);
            }
            edges.push(i as u32);
            for byte in h.to_le_bytes() {
                cov_hash = (cov_hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
            }
        }
        self.queue.add(input.to_vec(), edges.into_boxed_slice());
        self.shared
            .stats
            .set(StatField::Corpus, self.queue.len() as u64);
        self.last_progress = self.execs;
        if grew {
            self.shared.stats.set(StatField::LastFindMs, now_ms());
        }
        // Only what grew this worker's cumulative map is worth a queue file (and an import
        // by other workers); a restarted child re-finding old coverage exports nothing.
        if export && grew && self.exported.insert(cov_hash) {
            let name = queue_name(input, cov_hash);
            if !self.queue_dir.join(&name).exists() {
                if let Err(e) = write_atomic(&self.queue_dir, &name, input) {
                    crate::entry::warn(&format!(
                        "could not write {}: {e}; the input stays in memory only",
                        self.queue_dir.join(&name).display()
                    ));
                }
            }
        }
    }

    /// Periodic work; returns true when the child should stop.
    fn upkeep(&mut self) -> bool {
        if self.shared.stats.get(StatField::Stop) != 0 {
            return true;
        }
        if self.queue.is_dirty() || self.execs.is_multiple_of(PERIOD * 64) {
            self.queue.refresh();
        }
        // Length control: when a while passes without new coverage, allow longer inputs.
        let patience = 4000 * (u64::from(usize::BITS - self.len_limit.leading_zeros()) + 1);
        if self.len_limit < self.cfg.max_len && self.execs - self.last_progress > patience {
            self.len_limit = (self.len_limit + self.len_limit / 8 + 1).min(self.cfg.max_len);
            self.last_progress = self.execs;
        }
        self.publish();
        false
    }

    fn publish(&self) {
        let s = self.shared.stats;
        s.set(StatField::Corpus, self.queue.len() as u64);
        s.set(StatField::LenLimit, self.len_limit as u64);
    }

    fn load_corpus(&mut self) {
        let mut sources: Vec<(PathBuf, bool)> = list_files(&self.queue_dir, false, self.verbose)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_queue_name)
                    .is_some()
            })
            .map(|p| (p, true))
            .collect();
        for name in sources
            .iter()
            .filter_map(|(p, _)| p.file_name()?.to_str().and_then(parse_queue_name))
        {
            self.exported.insert(name.cov_hash);
        }
        for dir in &self.cfg.seed_dirs {
            sources.extend(
                list_files(dir, true, self.verbose)
                    .into_iter()
                    .map(|p| (p, false)),
            );
        }
        for (path, from_queue) in sources {
            let Some(data) = read_capped(&path, self.cfg.max_len, self.verbose) else {
                continue;
            };
            if self.shared.known_bad.contains(&content_id(&data)) {
                continue;
            }
            let (verdict, novel) = self.execute(&data);
            if novel && verdict == Corpus::Keep {
                self.keep(&data, !from_queue);
            }
        }
        if self.queue.is_empty() {
            self.execute(&[]);
            self.keep(&[], false);
        }
        self.queue.refresh();
    }
}

/// Regular files of `dir`, sorted by name. Symlinks are followed only in the user's seed
/// directories, never in the sync dir.
fn list_files(dir: &Path, follow_symlinks: bool, verbose: bool) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            if verbose {
                crate::entry::warn(&format!(
                    "cannot read corpus directory {}: {e}; skipping it",
                    dir.display()
                ));
            }
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                return false;
            }
            let meta = if follow_symlinks {
                std::fs::metadata(e.path())
            } else {
                std::fs::symlink_metadata(e.path())
            };
            matches!(meta, Ok(m) if m.is_file())
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// Reads at most `max_len` bytes: a huge file is truncated (as libFuzzer does), not loaded.
fn read_capped(path: &Path, max_len: usize, verbose: bool) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let result =
        std::fs::File::open(path).and_then(|f| f.take(max_len as u64 + 1).read_to_end(&mut data));
    if let Err(e) = result {
        if verbose {
            crate::entry::warn(&format!(
                "cannot read corpus file {}: {e}; skipping it",
                path.display()
            ));
        }
        return None;
    }
    if data.len() > max_len {
        if verbose {
            crate::entry::warn(&format!(
                "{} is longer than --max-len {max_len}; using its first {max_len} bytes",
                path.display()
            ));
        }
        data.truncate(max_len);
    }
    Some(data)
}
