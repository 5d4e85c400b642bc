//! Layout of a worker's `stats` file: a fixed array of little-endian `u64` words, mapped
//! shared by the worker (writer) and the master (reader). Word 0 is a magic, word 1 the
//! layout version; every other word is a [`StatField`]. Readers view it as `&[AtomicU64]`.

/// First word of a stats file ("PCSTATS1" as little-endian bytes).
pub const STATS_MAGIC: u64 = u64::from_le_bytes(*b"PCSTATS1");
/// Layout version, bumped whenever a field moves.
pub const STATS_VERSION: u64 = 1;
/// Number of `u64` words in the file.
pub const STATS_WORDS: usize = 32;
/// Size of the file in bytes.
pub const STATS_BYTES: usize = STATS_WORDS * 8;

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
        ];
        let mut seen = std::collections::HashSet::new();
        for f in all {
            assert!(f.index() >= 2 && f.index() < STATS_WORDS, "{f:?}");
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
}
