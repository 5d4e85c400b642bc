//! The fuzzing loop that runs in the forked child: load the corpus (this worker's queue,
//! then the seeds), then pick → mutate → execute → read coverage → keep what is new, until
//! the execution budget or the master's stop flag. Nothing here allocates per execution.

use crate::cmp;
use crate::corpus::{Bytes, Corpus as Queue};
use crate::mutate::{havoc, length_field_target, put_token, repeat_block, replace_compare, replacement_forms, switch, ByteIndex};
use crate::penalty::Penalties;
use crate::rng::Rng;
use crate::sancov::CounterMap;
use crate::shared::SharedRegion;
use crate::signals;
use crate::statsfile::{CoverageFile, StatsFile};
use crate::sync::{Journal, Outbox, Peers};
use crate::warm::{Record, WarmState};
use crate::util::{coarse_us, hash64, now_ms, write_atomic};
use crate::{Corpus, TargetFn};
use protocrash_proto::config::WorkerConfig;
use protocrash_proto::coverage::BUCKET;
use protocrash_proto::naming::{content_id, parse_queue_name};
use protocrash_proto::stats::{StatField, WorkerState};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU8, Ordering};

/// Most executions between checks of the stop flag, stats publication and scheduling
/// upkeep; a slow target gets fewer (see `Upkeep`).
const PERIOD: u64 = 1024;
/// Time aimed at between two upkeeps: a stop request or a sync interval is seen within
/// about this (plus one execution), whatever the target's speed.
const UPKEEP_EVERY_MS: u64 = 20;

/// When the next upkeep is due: a countdown of executions, re-sized at each upkeep so that
/// upkeeps come about every `UPKEEP_EVERY_MS` (1,024 executions on a fast target, every
/// execution on one that takes seconds), without reading the clock per execution.
struct Upkeep {
    period: u64,
    left: u64,
    last_ms: u64,
    /// Upkeeps so far (the rarer chores run every 64th).
    count: u64,
}

impl Upkeep {
    fn new() -> Upkeep {
        Upkeep { period: 1, left: 1, last_ms: now_ms(), count: 0 }
    }

    /// Counts one execution; true when an upkeep is due.
    #[inline]
    fn tick(&mut self) -> bool {
        self.left -= 1;
        self.left == 0
    }

    /// Re-sizes the period from the time the last one took.
    fn rearm(&mut self, now: u64) {
        let took = now.saturating_sub(self.last_ms).max(1);
        let scaled = self.period.saturating_mul(UPKEEP_EVERY_MS) / took;
        // At most doubling per step: one quick execution after slow ones is not a trend.
        self.period = scaled.clamp(1, (self.period * 2).min(PERIOD));
        (self.left, self.last_ms, self.count) = (self.period, now, self.count + 1);
    }
}
/// Smallest starting length limit.
const MIN_LEN_LIMIT: usize = 8;
/// Executions per doubling of the length limit's floor: the limit reaches 4 KiB after
/// about 2.3 M executions and 64 KiB after 3.3 M (seconds on a fast target, minutes on a
/// slow one) even while coverage keeps trickling in, which a stall-only rule never does.
const LEN_RAMP_EXECS: u64 = 256 * 1024;
/// One mutation in this many may use the whole `--max-len` at once (a jump to long inputs:
/// deep nesting, long runs), whatever the current limit.
const LEN_JUMP_ONE_IN: usize = 64;
/// One mutation in this many is a block repeated in place (`mutate::repeat_block`).
const BLOCK_REPEAT_ONE_IN: usize = 64;

/// What the child shares with its fork server and the master.
pub struct Shared<'a> {
    /// The input buffer and crash record.
    pub region: &'a SharedRegion,
    /// The worker's stats file.
    pub stats: &'a StatsFile,
    /// The worker's cumulative coverage map.
    pub coverage: &'a CoverageFile,
    /// What killed earlier children: inputs never replayed, entries and tokens used less.
    pub penalties: &'a Penalties,
    /// What earlier children learned (a warm start), and the known panics.
    pub warm: &'static WarmState,
}

/// A worker's mix of strategies. Parallel workers get different ones (AFL++'s advice for
/// secondaries: vary the schedule, the mutation depth and the costly stages), so that N
/// workers explore N ways rather than one way N times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// Havoc stacks up to 2^(depth-1) edits.
    pub havoc_depth: u32,
    /// Weigh corpus entries by the rarity of their features.
    pub rarity: bool,
    /// Run the deterministic input-to-state stage on new entries.
    pub stage: bool,
}

impl Strategy {
    /// The strategy of worker variant `v` (variant 0 is the single-worker default).
    pub fn for_variant(v: u32) -> Strategy {
        match v % 3 {
            0 => Strategy { havoc_depth: 4, rarity: true, stage: true },
            // Shallow havoc, no stage: many cheap small steps around rare entries.
            1 => Strategy { havoc_depth: 2, rarity: true, stage: false },
            // Deep havoc, freshness and yield only: wanders further from the corpus.
            _ => Strategy { havoc_depth: 6, rarity: false, stage: true },
        }
    }
}

/// The fuzzing child's state.
pub struct Fuzzer<'a> {
    cfg: &'a WorkerConfig,
    target: TargetFn,
    shared: Shared<'a>,
    counters: CounterMap,
    /// Buckets this worker's children have kept inputs for (novelty is judged against it);
    /// in the warm-restart mapping, so a successor child starts with it.
    local: &'static [AtomicU8],
    /// (edge << 8 | bucket) of the last execution, in edge order.
    hits: Vec<u64>,
    queue: Queue,
    rng: Rng,
    buf: Vec<u8>,
    /// This worker's queue directory, as other workers see it.
    outbox: Outbox,
    execs: u64,
    budget_end: u64,
    len_limit: usize,
    last_progress: u64,
    verbose: bool,
    /// Comparison feedback on.
    cmp_on: bool,
    /// Edges in the coverage map; value-profile features are numbered after them.
    map_len: usize,
    /// The user's dictionary.
    dict: Vec<Vec<u8>>,
    /// Tokens (from compares or the dictionary) that produced new corpus entries, with the
    /// number of entries each produced.
    learned: Vec<(Vec<u8>, u32)>,
    learned_index: std::collections::HashMap<Vec<u8>, usize>,
    learned_dirty: bool,
    /// The token the current mutation wrote, if any (credited when the input is kept).
    token: [u8; 32],
    token_len: usize,
    /// Corpus entries waiting for their input-to-state stage, newest last: those that grew
    /// the edges, and those that only brought a compare closer, which wait until no entry of
    /// the first kind does (a chain of closer compares floods the queue with entries whose
    /// stage costs as much and gives less: a stage's new-edge find waited 190 k executions
    /// behind them on `simple_asn1`).
    stage_queue: Vec<usize>,
    stage_queue_closer: Vec<usize>,
    /// New entries that grew the edges but found the stage queue full: they get the
    /// character probe alone (it is cheap; the whole stage is not).
    probe_queue: Vec<usize>,
    /// Record compare operands on the next execution whatever the sampling says.
    record_next: bool,
    strategy: Strategy,
    /// The other workers' queues.
    peers: Peers,
    last_sync_ms: u64,
    /// Measuring switch `PROTOCRASH_IMPORT_LOG=1`: every import is also appended to
    /// `<worker>/imports.log` (`unix-ms peer content-id kept`), which fixtures/bench/nodes.sh
    /// reads to time how finds travel between nodes.
    import_log: Option<PathBuf>,
    /// Milliseconds to the next import (see `next_sync_wait`).
    sync_wait_ms: u64,
    upkeep: Upkeep,
    /// Catch known panics and go on (see `recovered`).
    recover: bool,
    /// Typical execution time, in µs, from the upkeep periods (0: none measured yet).
    typical_cost: f64,
    /// The coarse clock after the last execution (see `fuzz_one`).
    clock_us: u64,
    /// Executions and time at the start of the current typical-time stretch.
    upkeep_execs: u64,
    typical_since: std::time::Instant,
    /// The slowest execution of the current stretch (coarse clock, µs).
    stretch_max_us: f64,
    /// Tokens whose mutants ran slow (over SLOW_FACTOR times the typical execution), and how
    /// often: used less, as tokens that killed children are.
    slow_tokens: std::collections::HashMap<u64, u32>,
    /// Whether this child starts from the fork server's replica.
    warm_start: bool,
}

/// The corpus a worker's children start from, kept up to date by the fork server between
/// children: it replays what each child appended to the warm-restart log (nothing is
/// executed, and inputs and features stay in the log, borrowed), so a restarted child is
/// forked with its corpus, scheduler and sync state already built — no reload at all, which
/// a warm reload in the child (a few ms for a few thousand entries) still was.
///
/// Soundness of the borrows: the fork server keeps a replica only while every child it forks
/// starts from it, and such a child only appends to the log; a child that starts cold (and
/// rewrites the log from its start) is forked only after the replica was dropped.
pub struct Replica {
    queue: Queue,
    peers: Peers,
    outbox: Outbox,
    slow_tokens: std::collections::HashMap<u64, u32>,
    /// Log bytes replayed so far.
    pos: usize,
}

impl Replica {
    /// An empty replica (what a cold child starts with).
    pub fn new(cfg: &WorkerConfig, map_len: usize) -> Replica {
        Replica {
            queue: Queue::new(map_len + cmp::VP_BITS),
            peers: Peers::new(&cfg.sync_dir, &cfg.worker_dir, cfg.max_len),
            outbox: Outbox::new(&cfg.worker()),
            slow_tokens: std::collections::HashMap::new(),
            pos: 0,
        }
    }

    /// Brings the replica up to date with the warm log (fork server, between children).
    /// False when the log cannot be started from (none yet, damaged): the next child starts
    /// cold, and this replica must be dropped before it is forked.
    pub fn catch_up(&mut self, cfg: &WorkerConfig, warm: &'static WarmState, penalties: &Penalties, execs: u64) -> bool {
        if !warm.is_warm() {
            return false;
        }
        let (records, end) = match warm.records_from(self.pos) {
            Ok(r) => r,
            Err(e) => {
                crate::log::warn(&format!("{e}; the next child starts cold (re-running the queue)"));
                return false;
            }
        };
        let features = self.queue.feature_space();
        let sane = records.iter().all(|r| match r {
            Record::Entry { features: f, data, .. } => {
                f.iter().all(|&i| (i as usize) < features) && data.len() <= cfg.max_len
            }
            _ => true,
        });
        if !sane {
            warm.spoil();
            crate::log::warn("warm-restart log holds impossible entries; the next child starts cold (re-running the queue)");
            return false;
        }
        for r in records {
            match r {
                Record::Entry { id, data, features, exported } => {
                    self.queue.add(Bytes::Shared(data), id, 0, features);
                    if let Some(cov) = exported {
                        self.outbox.note(cov);
                    }
                }
                Record::Cursor { peer, inode, offset } => self.peers.replay_cursor(peer, inode, offset),
                Record::Hold(content) => self.peers.replay_hold(content),
                Record::Note(cov) => self.outbox.note(cov),
                Record::Slow(token) => *self.slow_tokens.entry(token).or_default() += 1,
            }
        }
        self.pos = end;
        if self.queue.is_empty() {
            return false;
        }
        // The scheduler's figures, which children update in place, and the deaths the fork
        // server counted; re-weighed when the corpus grew a little or every few children.
        for i in 0..self.queue.len() {
            let e = self.queue.get_mut(i);
            if let Some(c) = warm.entry_counters(i) {
                (e.fuzzed, e.finds) = (c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed));
                e.cost = f64::from_bits(c[2].load(Ordering::Relaxed));
            }
            e.deaths = penalties.parent_excess(e.id, e.fuzzed, execs);
        }
        // Re-weighed every time: the deaths just counted must steer the next child away.
        self.queue.set_typical_cost(warm.typical_cost(), true);
        self.queue.refresh();
        true
    }
}

/// An execution this many times slower than the typical one is slow…
const SLOW_FACTOR: f64 = 64.0;
/// …if it also took at least this long (two ticks of the coarse clock, so that one fast
/// execution across a tick boundary is never taken for a slow one).
const SLOW_MIN_US: f64 = 8000.0;

/// Most executions one input-to-state stage may spend.
const STAGE_BUDGET: usize = 1024;

/// Fewest executions a stage gets however dear its entry (see `stage_share`).
const STAGE_MIN: usize = 16;

/// Most places one entry's character probe tries (see `char_probe`).
const CHAR_PROBES: usize = 256;

/// Most tokens kept in the learned dictionary.
const LEARNED_MAX: usize = 512;

impl<'a> Fuzzer<'a> {
    /// Prepares a child; `generation` counts the children this worker started before.
    /// With a replica (caught up with the warm log by the fork server), the child starts
    /// from it; without, it starts cold.
    pub fn new(
        cfg: &'a WorkerConfig,
        target: TargetFn,
        shared: Shared<'a>,
        generation: u64,
        replica: Option<Replica>,
    ) -> Self {
        let mut counters = CounterMap::registered();
        counters.mask_allocator();
        let map_len = counters.len();
        let warm_start = replica.is_some();
        let replica = replica.unwrap_or_else(|| Replica::new(cfg, map_len));
        let seq = shared.stats.get(StatField::ExecSeq);
        // A child that died inside the target left an odd sequence: that execution counts.
        let execs = seq.div_ceil(2);
        let prior = shared.stats.get(StatField::PriorExecs);
        let budget = shared.stats.get(StatField::MaxExecs);
        Fuzzer {
            cfg,
            target,
            counters,
            local: shared.warm.local(),
            hits: Vec::with_capacity(map_len),
            queue: replica.queue,
            rng: Rng::new(cfg.seed.wrapping_add(generation.wrapping_mul(0x9e37_79b9))),
            buf: Vec::with_capacity(cfg.max_len),
            outbox: replica.outbox,
            execs,
            budget_end: prior.saturating_add(budget),
            len_limit: MIN_LEN_LIMIT.min(cfg.max_len),
            last_progress: execs,
            verbose: generation == 0,
            cmp_on: cfg.cmp,
            map_len,
            dict: cfg.dict.iter().filter_map(|h| protocrash_proto::dict::from_hex(h)).collect(),
            learned: Vec::new(),
            learned_index: std::collections::HashMap::new(),
            learned_dirty: false,
            token: [0; 32],
            token_len: 0,
            stage_queue: Vec::new(),
            stage_queue_closer: Vec::new(),
            probe_queue: Vec::new(),
            record_next: false,
            strategy: Strategy::for_variant(cfg.variant),
            peers: replica.peers,
            last_sync_ms: 0,
            import_log: std::env::var_os("PROTOCRASH_IMPORT_LOG").map(|_| cfg.worker_dir.join("imports.log")),
            sync_wait_ms: cfg.sync_interval_ms,
            upkeep: Upkeep::new(),
            recover: signals::CAN_RECOVER && shared.warm.recover(),
            typical_cost: shared.warm.typical_cost(),
            clock_us: 0,
            upkeep_execs: 0,
            typical_since: std::time::Instant::now(),
            stretch_max_us: 0.0,
            slow_tokens: replica.slow_tokens,
            warm_start,
            shared,
        }
    }

    /// Loads the corpus, then fuzzes until told to stop.
    pub fn run(mut self) {
        self.queue.set_rarity(self.strategy.rarity);
        cmp::init();
        self.load_learned();
        self.counters.clear();
        let warm = self.shared.warm;
        if self.warm_start {
            cmp::mirror_to(warm.cmp_state(), true);
            self.shared.stats.add(StatField::WarmStarts, 1);
        } else {
            warm.start_cold();
            cmp::mirror_to(warm.cmp_state(), false);
            self.load_corpus();
            warm.set_complete();
        }
        // Not `clamp`: a `--max-len` under the floor must win over it, not panic.
        self.len_limit = self.queue.max_input_len().max(MIN_LEN_LIMIT).max(warm.len_limit()).min(self.cfg.max_len.max(1));
        self.shared.stats.set(StatField::State, WorkerState::Running as u64);
        self.publish();
        (self.clock_us, self.upkeep, self.upkeep_execs) = (coarse_us(), Upkeep::new(), self.execs);
        self.typical_since = std::time::Instant::now();
        while self.execs < self.budget_end {
            if self.upkeep.tick() {
                if self.upkeep() {
                    break;
                }
                // The upkeep's own time is no execution's.
                self.clock_us = coarse_us();
            }
            self.fuzz_one();
        }
        self.publish();
        self.save_learned();
    }

    #[inline]
    fn fuzz_one(&mut self) {
        if let Some(entry) = self.stage_queue.pop().or_else(|| self.stage_queue_closer.pop()) {
            self.input_to_state_stage(entry);
            return;
        }
        if let Some(entry) = self.probe_queue.pop() {
            // Not on a slow entry (the stage's rule): up to 256 slow executions for a probe.
            let e = self.queue.get(entry);
            if !self.is_slow(e.cost) {
                let (base, parent) = (e.data.to_vec(), e.id);
                let took = self.timed_execute(&base, parent);
                self.char_probe(&base, parent, took);
                return;
            }
        }
        let pick = self.queue.pick(&mut self.rng);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&self.queue.get(pick).data);
        self.mutate(&mut buf, pick);
        let mut token_id = 0;
        if self.token_len > 0 {
            token_id = hash64(&self.token[..self.token_len]);
            if !self.token_allowed(token_id) {
                // This token killed children before: plain havoc instead, this time.
                (self.token_len, token_id) = (0, 0);
                buf.clear();
                buf.extend_from_slice(&self.queue.get(pick).data);
                let other = self.queue.pick(&mut self.rng);
                havoc(&mut buf, &mut self.rng, self.len_limit, &self.queue.get(other).data, self.strategy.havoc_depth);
            }
        }
        self.shared.region.record().set_origin(self.queue.get(pick).id, token_id);
        let (verdict, novel) = self.execute(&buf);
        // One read of the coarse clock per execution: what passed since the last one is this
        // execution (upkeeps re-read it), at the clock's resolution.
        let now = coarse_us();
        let took = now.saturating_sub(self.clock_us) as f64;
        self.clock_us = now;
        self.stretch_max_us = self.stretch_max_us.max(took);
        let entry = self.queue.get_mut(pick);
        entry.fuzzed += 1;
        entry.cost += (took - entry.cost) / 8.0;
        if self.is_slow(took) {
            // A slow execution: weigh its entry down now, not at the next periodic refresh,
            // and use the token that made it (a size, a prefix) less, like one that kills.
            self.queue.set_typical_cost(self.typical_cost, true);
            self.upkeep.left = 1;
            if token_id != 0 {
                *self.slow_tokens.entry(token_id).or_default() += 1;
                self.shared.warm.log_slow(token_id);
            }
        }
        let entry = self.queue.get_mut(pick);
        // Kept for the next child every 16th pick, or when the time moved (a restart loses at
        // most 15 picks of an entry's count; two stores per execution were measurable).
        let counters = self.shared.warm.entry_counters(pick);
        if let Some(c) = counters.filter(|_| took > 0.0 || entry.fuzzed.is_multiple_of(16)) {
            c[0].store(entry.fuzzed, Ordering::Relaxed);
            c[2].store(entry.cost.to_bits(), Ordering::Relaxed);
        }
        if novel && verdict == Corpus::Keep {
            entry.finds += 1;
            if let Some(c) = counters {
                c[1].store(entry.finds, Ordering::Relaxed);
            }
            if self.token_len > 0 {
                self.credit_token();
            }
            self.keep(&buf, true, took);
        } else {
            cmp::discard();
        }
        self.buf = buf;
    }

    /// Whether an entry whose mutants take `cost` µs on average is costly (for splicing).
    #[inline]
    fn is_costly(&self, cost: f64) -> bool {
        cost > 1000.0 && cost > 16.0 * self.typical_cost
    }

    /// A stage's executions for an entry whose execution takes `us` µs: all `full` of them
    /// for an entry about as fast as the typical execution, proportionally fewer for a dearer
    /// one (at least STAGE_MIN), so that a stage costs about the same time whatever the
    /// entry. A 40 KB input kept for its loop counts, fed to a full stage of a thousand
    /// executions, took seconds; a parser's corpus can hold dozens of them.
    fn stage_share(&self, full: usize, us: f64) -> usize {
        if self.typical_cost > 0.0 && us > self.typical_cost {
            ((full as f64 * self.typical_cost / us) as usize).clamp(STAGE_MIN.min(full), full)
        } else {
            full
        }
    }

    /// Runs corpus entry `parent`'s `input` once for a stage's measure (nothing kept): how
    /// long it took, in µs.
    fn timed_execute(&mut self, input: &[u8], parent: u64) -> f64 {
        self.shared.region.record().set_origin(parent, 0);
        let started = std::time::Instant::now();
        self.execute(input);
        cmp::discard();
        started.elapsed().as_secs_f64() * 1e6
    }

    /// Whether an execution that took `us` microseconds is slow.
    #[inline]
    fn is_slow(&self, us: f64) -> bool {
        us >= SLOW_MIN_US && us > SLOW_FACTOR * self.typical_cost
    }

    /// Whether to use a token now: always if it killed no more children than chance explains
    /// (see `penalty`) and never ran slow, ever more rarely the more it did (never quite
    /// never: it may lead to a second bug).
    #[inline]
    fn token_allowed(&mut self, token_id: u64) -> bool {
        let slow = if self.slow_tokens.is_empty() { 0 } else { self.slow_tokens.get(&token_id).copied().unwrap_or(0) };
        let (blame, slot) = self.token_blame(token_id);
        let allowed = match blame + slow {
            0 => true,
            d => self.rng.below(1 << (2 * d).min(12)) == 0,
        };
        if allowed {
            self.shared.warm.use_token(slot);
        }
        allowed
    }

    /// A token's deaths beyond chance for the uses counted so far, and its use-count slot
    /// (0: none, the token never killed). Only a use that runs is counted (`use_token`): a
    /// refused pick counted as a use would dilute the token's death rate until it is let
    /// back in, and the penalty would come and go.
    #[inline]
    fn token_blame(&self, token_id: u64) -> (u32, u32) {
        match self.shared.penalties.token(token_id) {
            None => (0, 0),
            Some(tally) => {
                let uses = self.shared.warm.token_uses(tally.slot);
                (tally.blame(uses, self.shared.penalties.rate(self.execs)), tally.slot)
            }
        }
    }

    /// The input-to-state stage (as in AFL++'s CmpLog): re-run a new corpus entry, then try
    /// every compare operand it met at every place the other operand occurs in it, in every
    /// form. Deterministic, and a gate whose operand comes straight from the input falls in
    /// a few executions instead of waiting for a lucky random pick.
    fn input_to_state_stage(&mut self, entry: usize) {
        let base = self.queue.get(entry).data.to_vec();
        let parent = self.queue.get(entry).id;
        self.record_next = true;
        let took = self.timed_execute(&base, parent);
        self.record_next = false;
        // A stage spends up to STAGE_BUDGET executions of about the base's cost: not on a slow
        // entry (a header-sized allocation would make it a thousand slow executions).
        if self.is_slow(took) {
            return;
        }
        let mut pairs = Vec::new();
        cmp::snapshot(&mut pairs);
        if switch::on(switch::CHAR_PROBE) {
            self.char_probe(&base, parent, took);
        }
        let (mut forms, mut places) = (Vec::new(), Vec::new());
        let mut cand = Vec::with_capacity(base.len());
        let mut budget = self.stage_share(STAGE_BUDGET, took);
        let index = ByteIndex::new(&base);
        for pair in &pairs {
            replacement_forms(pair, &mut forms);
            for form in &forms {
                let w = form.width;
                index.occurrences(&base, &form.from[..w], 8, &mut places);
                for &at in &places {
                    if budget == 0 || self.execs >= self.budget_end {
                        return;
                    }
                    let token_id = hash64(&form.to[..w]);
                    let (blame, slot) = self.token_blame(token_id);
                    if blame > 0 {
                        continue;
                    }
                    cand.clear();
                    cand.extend_from_slice(&base);
                    cand[at..at + w].copy_from_slice(&form.to[..w]);
                    self.stage_try(&cand, parent, token_id, slot, &form.to[..w], &mut budget);
                    // A length field: the same replacement with the input grown to hold what
                    // the new length says follows (zeros), or the check it feeds stays out of
                    // reach (the parser stops short of it with "incomplete").
                    if budget == 0 || !form.int || !switch::on(switch::LENGTH_FIELD) {
                        continue;
                    }
                    if let Some(need) = length_field_target(&base, at, w, &form.from, &form.to, self.cfg.max_len) {
                        cand.resize(need, 0);
                        self.stage_try(&cand, parent, token_id, slot, &form.to[..w], &mut budget);
                    }
                }
            }
        }
    }

    /// Runs one candidate of the input-to-state stage (`to` written into it, token `token_id`
    /// in blame slot `slot`) and keeps it if new; counts it against `budget`, which it empties
    /// when the candidate was slow (a size field).
    fn stage_try(&mut self, cand: &[u8], parent: u64, token_id: u64, slot: u32, to: &[u8], budget: &mut usize) {
        self.shared.warm.use_token(slot);
        self.shared.region.record().set_origin(parent, token_id);
        *budget -= 1;
        let started = coarse_us();
        let (verdict, novel) = self.execute(cand);
        if self.is_slow(coarse_us().saturating_sub(started) as f64) {
            // This replacement made it slow (a size field): the stage stops here.
            *budget = 0;
        }
        if novel && verdict == Corpus::Keep {
            self.token_len = to.len();
            self.token[..to.len()].copy_from_slice(to);
            self.credit_token();
            self.keep(cand, true, 0.0);
        } else {
            cmp::discard();
        }
    }

    /// Part of a new entry's stage: two ASCII bytes at a time replaced by one two-byte
    /// character (`é`, valid UTF-8, same length), at up to CHAR_PROBES places. Rust text code
    /// that slices by byte index panics when the index falls inside a character — the most
    /// common panic fuzzers find in Rust parsers — and no compare ever asks for a non-ASCII
    /// byte, so havoc only stumbles on one at the right place by luck.
    /// `base_us`: what one execution of `base` took (the probe's share scales with it).
    fn char_probe(&mut self, base: &[u8], parent: u64, base_us: f64) {
        let places: Vec<usize> =
            (0..base.len().saturating_sub(1)).filter(|&i| base[i].is_ascii() && base[i + 1].is_ascii()).collect();
        let step = places.len().div_ceil(self.stage_share(CHAR_PROBES, base_us)).max(1);
        let offset = if step > 1 { self.rng.below(step) } else { 0 };
        let mut cand = base.to_vec();
        self.shared.region.record().set_origin(parent, 0);
        for &i in places.iter().skip(offset).step_by(step) {
            if self.execs >= self.budget_end {
                return;
            }
            cand[i..i + 2].copy_from_slice("é".as_bytes());
            let (verdict, novel) = self.execute(&cand);
            if novel && verdict == Corpus::Keep {
                self.keep(&cand, true, 0.0);
            } else {
                cmp::discard();
            }
            cand[i..i + 2].copy_from_slice(&base[i..i + 2]);
        }
    }

    /// One mutation: mostly havoc; with comparison feedback, often an input-to-state
    /// replacement or a compare operand as a token; sometimes a dictionary token.
    #[inline]
    fn mutate(&mut self, buf: &mut Vec<u8>, pick: usize) {
        self.token_len = 0;
        let choice = self.rng.below(16);
        if self.cmp_on && choice < 4 {
            if let Some(pair) = cmp::pick(self.rng.next()) {
                let mut scratch = [0u8; 32];
                if let Some(written) = replace_compare(buf, &mut self.rng, &pair, &mut scratch) {
                    self.token_len = written.len();
                    self.token[..written.len()].copy_from_slice(written);
                    return;
                }
                // Not in the input: sometimes use the wanted operand as a token.
                let (bytes, len) = match &pair {
                    cmp::Pair::Int { b, width, .. } => {
                        let mut v = [0u8; 32];
                        v[..8].copy_from_slice(&b.to_le_bytes());
                        (v, usize::from(*width))
                    }
                    cmp::Pair::Mem { b, len, .. } => (*b, *len),
                };
                if self.rng.one_in(2) {
                    put_token(buf, &mut self.rng, self.len_limit.max(len).min(self.cfg.max_len), &bytes[..len]);
                    self.token_len = len;
                    self.token[..len].copy_from_slice(&bytes[..len]);
                    return;
                }
            }
        } else if choice < 6 && !(self.dict.is_empty() && self.learned.is_empty()) {
            let i = self.rng.below(self.dict.len() + self.learned.len());
            let token = if i < self.dict.len() { &self.dict[i] } else { &self.learned[i - self.dict.len()].0 };
            let len = token.len().min(32);
            self.token[..len].copy_from_slice(&token[..len]);
            // A token may take an input past the current limit, never past --max-len.
            put_token(buf, &mut self.rng, self.len_limit.max(token.len()).min(self.cfg.max_len), token);
            self.token_len = len;
            return;
        }
        // The splice partner: any entry, but a costly one's bytes (a size field) no more often
        // than it is fuzzed itself (a draw by weight instead; not always one: it costs a
        // search per execution).
        let mut other = self.rng.below(self.queue.len());
        if self.is_costly(self.queue.get(other).cost) {
            other = self.queue.pick(&mut self.rng);
        }
        if self.rng.one_in(BLOCK_REPEAT_ONE_IN) {
            // Depth wants length: an eighth of these may use the whole --max-len.
            let limit = if self.rng.one_in(8) { self.cfg.max_len } else { self.len_limit.max(2 * buf.len()) };
            repeat_block(buf, &mut self.rng, limit.min(self.cfg.max_len));
            return;
        }
        let limit = if self.rng.one_in(LEN_JUMP_ONE_IN) {
            self.cfg.max_len
        } else if self.queue.get(pick).favored() {
            // The smallest holder of an edge may grow to twice its length past the limit: an
            // input that got deeper (nesting, a longer record) goes on growing from there
            // without waiting for the limit's ramp.
            self.len_limit.max(2 * buf.len()).min(self.cfg.max_len)
        } else {
            self.len_limit
        };
        havoc(buf, &mut self.rng, limit, &self.queue.get(other).data, self.strategy.havoc_depth);
    }

    fn credit_token(&mut self) {
        let token = &self.token[..self.token_len];
        if let Some(&i) = self.learned_index.get(token) {
            self.learned[i].1 += 1;
        } else if self.learned.len() < LEARNED_MAX {
            self.learned_index.insert(token.to_vec(), self.learned.len());
            self.learned.push((token.to_vec(), 1));
            // A new token is rare and precious: save it now, before a finding kills us.
            self.learned_dirty = true;
            self.save_learned();
        }
        self.learned_dirty = true;
    }

    /// Carries on with what earlier children of this worker learned.
    fn load_learned(&mut self) {
        let Ok(bytes) = protocrash_proto::files::read_regular(&self.cfg.worker().learned_dict(), 16 << 20) else { return };
        let text = String::from_utf8_lossy(&bytes);
        let Ok(tokens) = protocrash_proto::dict::parse(&text) else { return };
        // Counts are in the comment above each token.
        let counts = text.lines().filter_map(|l| l.strip_prefix("# ")?.strip_suffix(" new inputs")?.parse().ok());
        for (token, n) in tokens.into_iter().zip(counts).take(LEARNED_MAX) {
            self.learned_index.insert(token.clone(), self.learned.len());
            self.learned.push((token, n));
        }
    }

    /// Writes the learned dictionary (most productive first) to `<worker>/learned.dict`.
    fn save_learned(&mut self) {
        if !self.learned_dirty {
            return;
        }
        let mut tokens: Vec<&(Vec<u8>, u32)> = self.learned.iter().collect();
        tokens.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut text = String::from(
            "# Tokens protocrash learned from compares and dictionaries, most productive first.\n# Reuse with --dict.\n",
        );
        for (i, (t, n)) in tokens.iter().enumerate() {
            text += &format!("# {n} new inputs\n");
            text += &protocrash_proto::dict::format_token(&format!("learned_{i}"), t);
            text.push('\n');
        }
        let path = self.cfg.worker().learned_dict();
        match write_atomic(&path, text.as_bytes()) {
            Ok(()) => self.learned_dirty = false,
            Err(e) => crate::statsfile::write_failed(&e.to_string()),
        }
    }

    /// Runs the target once and drains the counters into `hits`; true if anything is new
    /// against what this child keeps.
    #[inline]
    fn execute(&mut self, input: &[u8]) -> (Corpus, bool) {
        self.shared.region.set_input(input);
        crate::alloc::set_input_len(input.len());
        let seq = self.shared.stats.field(StatField::ExecSeq);
        seq.store(2 * self.execs + 1, Ordering::Relaxed);
        if self.cmp_on {
            cmp::set_active(true, self.record_next || self.execs.is_multiple_of(16));
        }
        let verdict = if self.recover {
            let target = self.target;
            signals::set_recovering(true);
            let outcome = std::panic::catch_unwind(|| target(input));
            signals::set_recovering(false);
            outcome.unwrap_or_else(|payload| self.recovered(payload))
        } else {
            (self.target)(input)
        };
        if self.cmp_on {
            cmp::set_active(false, false);
            cmp::end_exec();
        }
        self.execs += 1;
        seq.store(2 * self.execs, Ordering::Relaxed);
        let local = &self.local;
        let hits = &mut self.hits;
        hits.clear();
        let mut novel = false;
        self.counters.drain(|i, count| {
            let b = BUCKET[count as usize];
            hits.push(((i as u64) << 8) | u64::from(b));
            novel |= b & !local[i].load(Ordering::Relaxed) != 0;
        });
        (verdict, novel || cmp::progressed())
    }

    /// The target panicked, the hook found the panic known and let it unwind to here: the
    /// hit is counted, the input is not kept, and fuzzing goes on in this child. The state
    /// the panic may have left half-updated is the target's own; this child's later findings
    /// are re-run in a fresh child before they count (see `forkserver`).
    #[cold]
    fn recovered(&mut self, payload: Box<dyn std::any::Any + Send>) -> Corpus {
        if !signals::take_recovered() {
            // Not through our hook (the target installed its own): a panic we know nothing
            // about ends the child, as every panic did.
            signals::report_foreign_panic();
        }
        // A payload whose destructor panics must not take the child down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
        self.shared.stats.add(StatField::Crashes, 1);
        self.shared.stats.add(StatField::Recovered, 1);
        self.shared.region.record().set_tainted();
        Corpus::Reject
    }

    /// Logs what the peers' scans and holds added (a successor child must not re-execute
    /// what this one looked at).
    fn flush_journal(&mut self) {
        for j in self.peers.take_journal() {
            match j {
                Journal::Cursor(peer, inode, offset) => {
                    self.shared.warm.log_cursor(peer.as_bytes(), inode, offset)
                }
                Journal::Hold(content) => self.shared.warm.log_hold(content.as_bytes()),
            }
        }
    }

    /// Adds the last executed input to the corpus and the shared map; exports it to the
    /// queue unless it came from there.
    /// `cost` is the time its own execution took (0 if not measured): its mutants are
    /// likely as slow, so a slow new entry starts with its cost known instead of with the
    /// weight of a fresh entry (compare feedback pulling a size field ever closer to a
    /// limit would otherwise keep ever slower inputs and fuzz each one first).
    fn keep(&mut self, input: &[u8], export: bool, cost: f64) {
        let map = self.shared.coverage.buckets();
        let mut edges = Vec::with_capacity(self.hits.len());
        let mut cov_hash: u32 = 0x811c_9dc5;
        let mut grew = false;
        for &h in &self.hits {
            let (i, b) = ((h >> 8) as usize, h as u8);
            self.local[i].fetch_or(b, Ordering::Relaxed);
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
        let vp_start = edges.len();
        cmp::commit(&mut edges);
        // One compare site can report the same feature twice in one execution.
        let mut vp = edges.split_off(vp_start);
        vp.sort_unstable();
        vp.dedup();
        edges.extend(vp);
        for f in &mut edges[vp_start..] {
            cov_hash = (cov_hash ^ *f).wrapping_mul(0x0100_0193);
            *f += self.map_len as u32;
        }
        // "Last new edge" is about edges; compare progress is exported like new edges, though
        // (other workers and restarted children need those inputs too).
        let new_edges = grew;
        grew |= edges.len() > vp_start;
        let input_id = hash64(input);
        let deaths = self.shared.penalties.parent_excess(input_id, 0, self.execs);
        let exported = (export && grew).then_some(cov_hash);
        // The corpus uses the log's copy (a successor reloads it without copying); its own
        // only when the log is full or unusable.
        let id = match self.shared.warm.log_entry(input_id, input, &edges, exported) {
            Some((data, features)) => self.queue.add(Bytes::Shared(data), input_id, deaths, features),
            None => self.queue.add(input.to_vec(), input_id, deaths, edges),
        };
        self.queue.get_mut(id).cost = cost;
        if self.is_slow(cost) {
            // Re-weigh at the next execution: until then a new entry has a fresh one's weight.
            self.upkeep.left = 1;
        }
        if let Some(c) = self.shared.warm.entry_counters(id) {
            c[2].store(cost.to_bits(), Ordering::Relaxed);
        }
        // Entries reloaded from this worker's queue had their stage in an earlier child (and
        // a stage candidate that crashed would otherwise crash every restarted child again).
        let stage_queue = if new_edges || !switch::on(switch::EDGES_FIRST) { &mut self.stage_queue } else { &mut self.stage_queue_closer };
        if self.cmp_on && self.strategy.stage && export && stage_queue.len() < 64 {
            stage_queue.push(id);
        } else if export
            && new_edges
            && self.probe_queue.len() < 1024
            && switch::on(switch::CHAR_PROBE)
        {
            self.probe_queue.push(id);
        }
        self.shared.stats.set(StatField::Corpus, self.queue.len() as u64);
        self.last_progress = self.execs;
        if new_edges {
            self.shared.stats.set(StatField::LastFindMs, now_ms());
        }
        // Only what grew this worker's cumulative map is worth a queue file (and an import
        // by other workers); a restarted child re-finding old coverage exports nothing.
        if export && grew {
            match self.outbox.export(input, cov_hash) {
                Ok(true) => self.shared.stats.add(StatField::QueueLen, 1),
                Ok(false) => {}
                Err(e) => crate::statsfile::write_failed(&format!(
                    "could not save a corpus entry ({} bytes): {e}",
                    input.len()
                )),
            }
        }
    }

    /// Periodic work; returns true when the child should stop.
    fn upkeep(&mut self) -> bool {
        let now = now_ms();
        self.upkeep.rearm(now);
        // The typical execution, from stretches of at least 10 ms and 16 executions (one clock
        // read per upkeep). A stretch with a slow execution in it (as the coarse clock saw it)
        // says nothing about the typical one and is left out.
        let (elapsed, execs) = (self.typical_since.elapsed(), self.execs - self.upkeep_execs);
        if elapsed >= std::time::Duration::from_millis(10) && execs >= 16 {
            if self.stretch_max_us < SLOW_MIN_US {
                let per_exec_us = elapsed.as_secs_f64() * 1e6 / execs as f64;
                let t = self.typical_cost;
                self.typical_cost = if t == 0.0 { per_exec_us } else { t + (per_exec_us - t) / 8.0 };
            }
            (self.typical_since, self.upkeep_execs, self.stretch_max_us) = (std::time::Instant::now(), self.execs, 0.0);
        }
        if self.shared.stats.get(StatField::Stop) != 0 {
            return true;
        }
        let chores = self.upkeep.count.is_multiple_of(64);
        if self.queue.is_dirty() || chores {
            self.queue.set_typical_cost(self.typical_cost, false);
            self.queue.refresh();
        }
        if self.cfg.sync_interval_ms > 0 && now.saturating_sub(self.last_sync_ms) >= self.sync_wait_ms {
            let (seen, kept) = self.import(false);
            self.sync_wait_ms = next_sync_wait(self.sync_wait_ms, self.cfg.sync_interval_ms, seen, kept);
        }
        // Often enough that a child killed by a finding loses little of what it learned.
        if chores {
            self.save_learned();
        }
        // Length control: when a while passes without new coverage, allow longer inputs;
        // and whatever coverage does, the limit's floor doubles every LEN_RAMP_EXECS.
        let patience = 4000 * (u64::from(usize::BITS - self.len_limit.leading_zeros()) + 1);
        if self.len_limit < self.cfg.max_len && self.execs - self.last_progress > patience {
            self.len_limit = (self.len_limit + self.len_limit / 8 + 1).min(self.cfg.max_len);
            self.last_progress = self.execs;
        }
        if switch::on(switch::LEN_RAMP) {
            self.len_limit = self.len_limit.max(len_ramp(self.execs, self.cfg.max_len));
        }
        self.shared.warm.set_len_limit(self.len_limit);
        self.shared.warm.set_typical_cost(self.typical_cost);
        self.publish();
        false
    }

    fn publish(&self) {
        let s = self.shared.stats;
        s.set(StatField::Corpus, self.queue.len() as u64);
        s.set(StatField::LenLimit, self.len_limit as u64);
    }

    fn load_corpus(&mut self) {
        let mut sources: Vec<(PathBuf, bool)> = list_files(self.outbox.dir(), false, self.verbose)
            .into_iter()
            .filter(|p| p.file_name().and_then(|n| n.to_str()).and_then(parse_queue_name).is_some())
            .map(|p| (p, true))
            .collect();
        let mut queued = 0;
        for name in sources.iter().filter_map(|(p, _)| p.file_name()?.to_str().and_then(parse_queue_name)) {
            self.outbox.note(name.cov_hash);
            self.shared.warm.log_note(name.cov_hash);
            self.peers.hold(name.content);
            queued += 1;
        }
        self.shared.stats.set(StatField::QueueLen, queued);
        for dir in &self.cfg.seed_dirs {
            sources.extend(list_files(dir, true, self.verbose).into_iter().map(|p| (p, false)));
        }
        for (path, from_queue) in sources {
            let Some(data) = read_capped(&path, self.cfg.max_len, self.verbose) else {
                continue;
            };
            if self.shared.penalties.is_known_bad(&data) {
                continue;
            }
            if !from_queue {
                self.peers.hold(content_id(&data));
            }
            let (verdict, novel) = self.execute(&data);
            if novel && verdict == Corpus::Keep {
                self.keep(&data, !from_queue, 0.0);
            } else {
                cmp::discard();
            }
        }
        if self.cfg.sync_interval_ms > 0 {
            self.import(true);
        }
        // The empty input is never a queue file (empty files are junk in the sync dir), so
        // every child runs it itself: its coverage (often an edge no other input reaches)
        // is then in every worker's map. It seeds an empty corpus.
        // (If the empty input killed a child, an empty corpus starts from one byte instead.)
        let start: &[&[u8]] = &[b"", b"\0", b"a", b"\xff"];
        for input in start.iter().filter(|i| !self.shared.penalties.is_known_bad(i)).take(1) {
            let (verdict, novel) = self.execute(input);
            if self.queue.is_empty() || (novel && verdict == Corpus::Keep) {
                self.keep(input, false, 0.0);
            } else {
                cmp::discard();
            }
        }
        if self.queue.is_empty() {
            crate::log::error("every input tried at start-up killed the target; nothing to mutate");
            crate::process::exit_now(protocrash_proto::EXIT_SETUP_ERROR);
        }
        self.flush_journal();
        self.queue.refresh();
    }

    /// Imports the other workers' new queue entries: each is executed once and kept if it
    /// adds coverage here. Junk in the sync dir is reported once (by the first child at
    /// start-up, or by whichever child meets it later) and skipped.
    /// Imports what the peers wrote since the last scan; returns (entries read, entries kept).
    fn import(&mut self, at_start: bool) -> (usize, usize) {
        self.last_sync_ms = now_ms();
        let scan = self.peers.scan();
        // Logged before any of it runs: an entry that kills this child is not re-run by the next.
        self.flush_journal();
        if self.verbose || !at_start {
            for why in &scan.skipped {
                crate::log::warn(&format!("skipping {why}"));
            }
        }
        let (seen, mut kept) = (scan.entries.len(), 0);
        let mut log = String::new();
        for (path, data) in scan.entries {
            if self.execs >= self.budget_end {
                break;
            }
            if self.import_log.is_some() {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let peer = path.parent().and_then(Path::parent).and_then(Path::file_name).unwrap_or_default();
                let content = parse_queue_name(&name).map_or(String::new(), |q| q.content.to_string());
                log += &format!("{} {} {content} ", now_ms(), peer.to_string_lossy());
            }
            let before = kept;
            if self.shared.penalties.is_known_bad(&data) {
                continue;
            }
            self.shared.region.record().set_origin(0, 0);
            let (verdict, novel) = self.execute(&data);
            if novel && verdict == Corpus::Keep {
                // A node's leader passes on what it keeps (its node's workers and the other
                // nodes read only it); other workers do not export it again: it is in its
                // finder's queue already. A restarted child re-importing what its
                // predecessor imported is not a new import.
                self.keep(&data, self.peers.is_leader(), 0.0);
                kept += 1;
                if !at_start || self.verbose {
                    self.shared.stats.add(StatField::Imports, 1);
                }
            } else {
                cmp::discard();
            }
            if self.import_log.is_some() {
                log += if kept > before { "1\n" } else { "0\n" };
            }
        }
        if let (Some(path), false) = (&self.import_log, log.is_empty()) {
            use std::io::Write;
            let written = protocrash_proto::files::open_regular(path, protocrash_proto::files::Access::Append)
                .and_then(|mut f| f.write_all(log.as_bytes()));
            if let Err(e) = written {
                crate::statsfile::write_failed(&format!("could not append to {}: {e}", path.display()));
            }
        }
        (seen, kept)
    }
}

/// The wait before the next import, adapted to what the last one brought: halved (down to a
/// quarter of `--sync-interval`) when an import added coverage, since peers are finding what
/// this worker lacks; doubled (up to 8× `--sync-interval`) when the peers wrote nothing new; unchanged when they wrote entries that added nothing here (those are
/// known by content id from then on, so they cost nothing again).
fn next_sync_wait(wait: u64, base: u64, seen: usize, kept: usize) -> u64 {
    let (floor, ceiling) = ((base / 4).max(1), base.saturating_mul(8));
    if kept > 0 {
        (wait / 2).max(floor)
    } else if seen == 0 {
        wait.saturating_mul(2).min(ceiling)
    } else {
        wait
    }
    .clamp(floor, ceiling)
}

/// The length limit's floor after `execs` executions of this worker: MIN_LEN_LIMIT doubled
/// every LEN_RAMP_EXECS, at most `max_len`.
fn len_ramp(execs: u64, max_len: usize) -> usize {
    let doublings = (execs / LEN_RAMP_EXECS).min(40) as u32;
    MIN_LEN_LIMIT.saturating_mul(1usize.checked_shl(doublings).unwrap_or(usize::MAX)).min(max_len)
}

/// The inputs of `dir` (see `files::corpus_files`); a directory that cannot be read is
/// skipped with a warning.
fn list_files(dir: &Path, follow_symlinks: bool, verbose: bool) -> Vec<PathBuf> {
    protocrash_proto::files::corpus_files(dir, follow_symlinks).unwrap_or_else(|e| {
        if verbose {
            crate::log::warn(&format!("cannot read corpus directory {}: {e}; skipping it", dir.display()));
        }
        Vec::new()
    })
}

/// Reads at most `max_len` bytes: a huge file is truncated (as libFuzzer does), not loaded.
fn read_capped(path: &Path, max_len: usize, verbose: bool) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let result = std::fs::File::open(path).and_then(|f| f.take(max_len as u64 + 1).read_to_end(&mut data));
    if let Err(e) = result {
        if verbose {
            crate::log::warn(&format!("cannot read corpus file {}: {e}; skipping it", path.display()));
        }
        return None;
    }
    if data.len() > max_len {
        if verbose {
            crate::log::warn(&format!(
                "{} is longer than --max-len {max_len}; using its first {max_len} bytes",
                path.display()
            ));
        }
        data.truncate(max_len);
    }
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::next_sync_wait;

    #[test]
    fn sync_waits_shorter_while_imports_help_and_longer_while_nothing_comes() {
        let base = 5000;
        assert_eq!(next_sync_wait(base, base, 10, 3), 2500);
        assert_eq!(next_sync_wait(2500, base, 1, 1), 1250);
        assert_eq!(next_sync_wait(1250, base, 1, 1), 1250, "at most 4x as often");
        assert_eq!(next_sync_wait(base, base, 0, 0), 10_000);
        assert_eq!(next_sync_wait(40_000, base, 0, 0), 40_000, "at most 8x as rarely");
        assert_eq!(next_sync_wait(10_000, base, 7, 0), 10_000, "entries that add nothing change nothing");
        assert_eq!(next_sync_wait(u64::MAX, u64::MAX, 0, 0), u64::MAX);
    }
}
