//! Layout of a worker's `stats` file: a fixed array of little-endian `u64` words, mapped
//! shared by the worker (writer) and the master (reader). Word 0 is a magic, word 1 the
//! layout version; words 2..32 are [`StatField`]s; words 32..64 hold the text of the first
//! write that failed in the sync dir ([`FAULT_TEXT_WORD`]), so that a worker on a full disk
//! can still tell the master why. Readers view it as `&[AtomicU64]`.

use std::time::Duration;

/// First word of a stats file ("PCSTATS1" as little-endian bytes).
pub const STATS_MAGIC: u64 = u64::from_le_bytes(*b"PCSTATS1");
/// Layout version, bumped whenever a field moves.
pub const STATS_VERSION: u64 = 2;
/// Number of `u64` words in the file.
pub const STATS_WORDS: usize = 64;
/// Size of the file in bytes.
pub const STATS_BYTES: usize = STATS_WORDS * 8;
/// First word of the fault text: UTF-8 bytes, [`StatField::FaultLen`] long, little-endian
/// within each word.
pub const FAULT_TEXT_WORD: usize = 32;
/// Most bytes of fault text kept.
pub const FAULT_TEXT_BYTES: usize = (STATS_WORDS - FAULT_TEXT_WORD) * 8;

/// One counter or control word of the stats file. The discriminant is its word index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum StatField {
    /// Executions of the target, as `2 * n` between runs and `2 * n + 1` while one runs: the
    /// fork server reads a hang from an odd value that does not move.
    ExecSeq = 2,
    /// Inputs in the worker's in-memory corpus.
    Corpus = 3,
    /// Edges in the worker's cumulative coverage map.
    Edges = 4,
    /// Crashes seen (every hit), unique crashes.
    Crashes = 5,
    /// Unique crash signatures.
    UniqueCrashes = 6,
    /// Hangs seen.
    Hangs = 7,
    /// Unique hang signatures.
    UniqueHangs = 8,
    /// Out-of-memory kills seen.
    Ooms = 9,
    /// Unique OOM signatures.
    UniqueOoms = 10,
    /// Unix time (ms) of the last new coverage.
    LastFindMs = 11,
    /// Unix time (ms) the worker started.
    StartMs = 12,
    /// Unix time (ms) of the fork server's last heartbeat.
    HeartbeatMs = 13,
    /// Fuzzing children started (1 + restarts after findings).
    Children = 14,
    /// Inputs imported from other workers.
    Imports = 15,
    /// Control (master → worker): executions this worker may run in total.
    MaxExecs = 16,
    /// Control (master → worker): non-zero asks the worker to stop.
    Stop = 17,
    /// Worker state, a [`WorkerState`] value.
    State = 18,
    /// Current length limit of the mutator (grows during the run).
    LenLimit = 19,
    /// Size of the coverage map (instrumented edges).
    MapSize = 20,
    /// Process id of the fork server.
    Pid = 21,
    /// Executions completed by earlier runs of this worker directory (resume base).
    PriorExecs = 22,
    /// Writes in the sync dir (queue entries, findings, reports, `fuzzer_stats`…) that
    /// failed: the master stops the campaign on the first.
    WriteFailures = 23,
    /// Length of the fault text (0 = none yet); stored with `Release` after the text.
    FaultLen = 24,
    /// Hits of known panics the fuzzing child caught and went on from (also counted in
    /// `Crashes`).
    Recovered = 25,
    /// Fuzzing children that started from their predecessor's corpus in memory instead of
    /// re-executing the queue.
    WarmStarts = 26,
    /// Entries in the worker's queue directory (its exported corpus): what the campaign's
    /// corpus figure counts and what `run` copies to `fuzz/corpus/<target>` at the end.
    QueueLen = 27,
}

impl StatField {
    /// Word index in the file.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Life cycle of a worker, as written to [`StatField::State`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Running `init` and loading the corpus.
    Starting = 0,
    /// Fuzzing.
    Running = 1,
    /// Stopped cleanly.
    Done = 2,
}

impl WorkerState {
    /// Decodes a state word; unknown values read as `Starting`.
    pub fn from_word(word: u64) -> Self {
        match word {
            1 => WorkerState::Running,
            2 => WorkerState::Done,
            _ => WorkerState::Starting,
        }
    }

    /// Lower-case name for displays and JSON.
    pub fn name(self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Running => "running",
            WorkerState::Done => "done",
        }
    }
}

/// The prefix of the `plot_data` comment a worker writes when it starts again (after a
/// restart, or on a resumed campaign), followed by seconds since the campaign started.
pub const PLOT_RESTART_MARK: &str = "# protocrash: worker started again at ";

/// Checks the header words of a stats file.
pub fn check_header(magic: u64, version: u64) -> Result<(), String> {
    if magic != STATS_MAGIC {
        return Err("not a protocrash stats file".into());
    }
    if version != STATS_VERSION {
        return Err(format!("stats layout {version}, this protocrash reads {STATS_VERSION}"));
    }
    Ok(())
}

/// A worker's counters read at one instant, and every figure derived from them — each by
/// one rule, so the master, `status` and the tests count alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsView {
    words: [u64; STATS_WORDS],
}

impl StatsView {
    /// A view of words read from a stats file (header words included).
    pub fn from_words(words: [u64; STATS_WORDS]) -> StatsView {
        StatsView { words }
    }

    /// Decodes the bytes of a stats file (None if it is not one: size, magic or version).
    pub fn decode(bytes: &[u8]) -> Option<StatsView> {
        if bytes.len() != STATS_BYTES {
            return None;
        }
        let mut words = [0u64; STATS_WORDS];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().expect("8-byte chunks"));
        }
        check_header(words[0], words[1]).ok()?;
        Some(StatsView { words })
    }

    /// One raw word.
    pub fn get(&self, f: StatField) -> u64 {
        self.words[f.index()]
    }

    /// Executions started over the worker directory's whole life: one interrupted by a crash
    /// counts (the fork server rounds the sequence up when a child dies mid-run).
    pub fn execs(&self) -> u64 {
        self.get(StatField::ExecSeq).div_ceil(2)
    }

    /// The worker's life-cycle state.
    pub fn state(&self) -> WorkerState {
        WorkerState::from_word(self.get(StatField::State))
    }

    /// Finding hits of every kind (not unique).
    pub fn hits(&self) -> u64 {
        self.get(StatField::Crashes) + self.get(StatField::Hangs) + self.get(StatField::Ooms)
    }

    /// Unique findings of every kind this worker recorded.
    pub fn unique_findings(&self) -> u64 {
        self.get(StatField::UniqueCrashes) + self.get(StatField::UniqueHangs) + self.get(StatField::UniqueOoms)
    }

    /// Milliseconds since the fork server's last heartbeat (0 for a clock ahead of ours).
    pub fn heartbeat_age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.get(StatField::HeartbeatMs))
    }

    /// Writes that failed, and the text of the first one (what, where, why).
    pub fn write_failure(&self) -> Option<(u64, String)> {
        let count = self.get(StatField::WriteFailures);
        if count == 0 {
            return None;
        }
        let len = (self.get(StatField::FaultLen) as usize).min(FAULT_TEXT_BYTES);
        let bytes: Vec<u8> = self.words[FAULT_TEXT_WORD..].iter().flat_map(|w| w.to_le_bytes()).take(len).collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Some((count, if text.is_empty() { "a write in the sync dir failed".into() } else { text }))
    }

    /// Whether the worker says it runs but has not beaten for longer than `grace`.
    pub fn is_inactive(&self, now_ms: u64, grace: Duration) -> bool {
        self.state() == WorkerState::Running && self.heartbeat_age_ms(now_ms) > grace.as_millis() as u64
    }
}

/// How long a running worker may go without a heartbeat before it counts as inactive (the
/// master kills and restarts it after twice this). The fork server beats several times per
/// timeout period whatever the target does, so silence means the worker itself is stuck.
pub fn heartbeat_grace(timeout: Duration) -> Duration {
    (timeout * 3).max(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_fit_and_do_not_overlap_the_header() {
        let all = [
            StatField::ExecSeq,
            StatField::Corpus,
            StatField::Edges,
            StatField::Crashes,
            StatField::UniqueCrashes,
            StatField::Hangs,
            StatField::UniqueHangs,
            StatField::Ooms,
            StatField::UniqueOoms,
            StatField::LastFindMs,
            StatField::StartMs,
            StatField::HeartbeatMs,
            StatField::Children,
            StatField::Imports,
            StatField::MaxExecs,
            StatField::Stop,
            StatField::State,
            StatField::LenLimit,
            StatField::MapSize,
            StatField::Pid,
            StatField::PriorExecs,
            StatField::WriteFailures,
            StatField::FaultLen,
            StatField::Recovered,
            StatField::WarmStarts,
            StatField::QueueLen,
        ];
        let mut seen = std::collections::HashSet::new();
        for f in all {
            assert!(f.index() >= 2 && f.index() < FAULT_TEXT_WORD, "{f:?}");
            assert!(seen.insert(f.index()), "{f:?} reuses a word");
        }
    }

    #[test]
    fn header_check_names_the_problem() {
        assert!(check_header(STATS_MAGIC, STATS_VERSION).is_ok());
        assert!(check_header(0, STATS_VERSION).unwrap_err().contains("not a protocrash"));
        assert!(check_header(STATS_MAGIC, 9).unwrap_err().contains("layout 9"));
    }

    #[test]
    fn state_words_round_trip() {
        for s in [WorkerState::Starting, WorkerState::Running, WorkerState::Done] {
            assert_eq!(WorkerState::from_word(s as u64), s);
        }
    }

    fn view(fields: &[(StatField, u64)]) -> StatsView {
        let mut w = [0u64; STATS_WORDS];
        (w[0], w[1]) = (STATS_MAGIC, STATS_VERSION);
        for &(f, v) in fields {
            w[f.index()] = v;
        }
        StatsView::from_words(w)
    }

    #[test]
    fn an_execution_cut_short_counts_once() {
        assert_eq!(view(&[(StatField::ExecSeq, 10)]).execs(), 5);
        assert_eq!(view(&[(StatField::ExecSeq, 11)]).execs(), 6, "the one running when the child died counts");
    }

    #[test]
    fn inactive_only_when_running_and_silent_past_the_grace() {
        let grace = Duration::from_secs(10);
        let running = |hb| view(&[(StatField::State, WorkerState::Running as u64), (StatField::HeartbeatMs, hb)]);
        assert!(!running(1_000).is_inactive(11_000, grace));
        assert!(running(1_000).is_inactive(11_001, grace));
        assert!(!running(5_000).is_inactive(4_000, grace), "a clock slightly ahead is not a negative age");
        let done = view(&[(StatField::State, WorkerState::Done as u64), (StatField::HeartbeatMs, 1)]);
        assert!(!done.is_inactive(99_000, grace), "a finished worker is not inactive");
        assert!(!view(&[(StatField::HeartbeatMs, 1)]).is_inactive(99_000, grace), "init may take long");
    }

    /// Packs `text` into fault words as a writer does.
    fn with_fault(mut v: StatsView, count: u64, text: &str) -> StatsView {
        v.words[StatField::WriteFailures.index()] = count;
        v.words[StatField::FaultLen.index()] = text.len() as u64;
        for (i, chunk) in text.as_bytes().chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            v.words[FAULT_TEXT_WORD + i] = u64::from_le_bytes(b);
        }
        v
    }

    #[test]
    fn the_first_write_failure_reads_back_with_its_count() {
        assert_eq!(view(&[]).write_failure(), None);
        let v = with_fault(view(&[]), 3, "could not write /s/vm-0/queue/x: No space left on device");
        assert_eq!(v.write_failure(), Some((3, "could not write /s/vm-0/queue/x: No space left on device".into())));
        let lying = with_fault(view(&[]), 1, "");
        assert!(lying.write_failure().unwrap().1.contains("failed"), "a count without text still says something");
    }

    #[test]
    fn grace_is_three_timeouts_and_at_least_ten_seconds() {
        assert_eq!(heartbeat_grace(Duration::from_secs(1)), Duration::from_secs(10));
        assert_eq!(heartbeat_grace(Duration::from_secs(5)), Duration::from_secs(15));
    }

    #[test]
    fn view_decodes_a_file_and_refuses_others() {
        let v = view(&[(StatField::Crashes, 2), (StatField::Hangs, 1), (StatField::UniqueOoms, 4)]);
        let bytes: Vec<u8> = (0..STATS_WORDS)
            .flat_map(|i| {
                let w = if i == 0 {
                    STATS_MAGIC
                } else if i == 1 {
                    STATS_VERSION
                } else {
                    v.words[i]
                };
                w.to_le_bytes()
            })
            .collect();
        let back = StatsView::decode(&bytes).unwrap();
        assert_eq!((back.hits(), back.unique_findings()), (3, 4));
        assert!(StatsView::decode(&bytes[..8]).is_none());
        assert!(StatsView::decode(&vec![0; STATS_BYTES]).is_none());
    }
}
