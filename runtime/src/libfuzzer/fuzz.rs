//! Fuzzing under libFuzzer's command line: this process is a small master. It starts
//! `-fork`/`-workers`/`-jobs` protocrash workers (this same binary as a fork server, in a
//! private sync dir), copies their new inputs into the first corpus directory as they come,
//! prints libFuzzer's status lines from their shared stats and coverage files, and ends as
//! libFuzzer does: at the first finding (artifact written, libFuzzer's exit code), at
//! `-runs` or `-max_total_time` (exit 0), or on SIGINT/SIGTERM (exit 72).

use super::flags::{Flags, INTERRUPT_EXIT, USAGE_EXIT};
use super::output::{artifact_kind, sha1_hex};
use super::FILE_LIMIT;
use crate::statsfile::StatsFile;
use crate::sync::Peers;
use protocrash_proto::config::{WorkerConfig, WORKER_ENV};
use protocrash_proto::coverage::COVERAGE_HEADER;
use protocrash_proto::finding::{Finding, FindingIndex};
use protocrash_proto::layout::{SyncDir, WorkerDir};
use protocrash_proto::stats::{StatField, WorkerState};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// protocrash's default `-max_len`: inputs this long reach the deep-nesting and long-number
/// bugs libFuzzer's 4,096 misses, and the length ramp keeps early inputs short.
pub const DEFAULT_MAX_LEN: usize = 65536;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe); the sigaction is
        // fully initialised (zeroed, then the handler and an empty mask set).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_interrupt as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// One worker process and what the master has taken from it.
struct Worker {
    dir: WorkerDir,
    child: std::process::Child,
    stats: Option<StatsFile>,
    exit: Option<std::process::ExitStatus>,
}

/// A private sync dir, removed when the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_scratch() -> std::io::Result<Scratch> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("protocrash-libfuzzer-{}-{attempt}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(Scratch(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name for a scratch sync dir"))
}

/// The figures of one status line.
#[derive(Default, Clone, Copy)]
struct Figures {
    execs: u64,
    corpus: u64,
    edges: u64,
    features: u64,
    rss_mb: u64,
}

/// Fuzzes as `flags` say; returns libFuzzer's exit code.
pub fn fuzz(flags: &Flags, map_len: usize) -> i32 {
    catch_interrupts();
    let start = Instant::now();
    let seed = flags.seed.filter(|&s| s != 0).unwrap_or_else(|| crate::util::hash64(&crate::util::coarse_us().to_le_bytes()) | 1);
    eprintln!("INFO: protocrash engine behind libFuzzer's command line");
    eprintln!("INFO: Seed: {seed}");
    eprintln!("INFO: Loaded 1 modules   ({map_len} inline 8-bit counters): protocrash");
    eprintln!("INFO: Loaded 1 PC tables ({map_len} PCs): protocrash");
    let max_len = flags.max_len.unwrap_or(DEFAULT_MAX_LEN);
    if flags.max_len.is_none() {
        eprintln!("INFO: -max_len is not provided; protocrash will not generate inputs larger than {max_len} bytes");
    }
    let dict = match &flags.dict {
        None => Vec::new(),
        Some(path) => match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| protocrash_proto::dict::parse(&t)) {
            Ok(tokens) => {
                eprintln!("Dictionary: {} entries", tokens.len());
                tokens.iter().map(|t| protocrash_proto::dict::to_hex(t)).collect()
            }
            Err(e) => {
                let line = e.strip_prefix("line ").and_then(|r| r.split(':').next()).unwrap_or("0");
                eprintln!("ParseDictionaryFile: error in line {line}");
                eprintln!("protocrash: cannot use the dictionary {}: {e}", path.display());
                return USAGE_EXIT;
            }
        },
    };
    for dir in &flags.inputs {
        if !dir.is_dir() {
            eprintln!("ERROR: {} is not a directory: give corpus directories to fuzz, or only files to run", dir.display());
            return USAGE_EXIT;
        }
    }
    let output = flags.inputs.first().cloned();
    // Seeds already in a corpus are not new units: only what the workers find is copied out.
    let mut known: HashSet<String> = HashSet::new();
    let mut seed_files = 0;
    for dir in &flags.inputs {
        for path in protocrash_proto::files::corpus_files(dir, true).unwrap_or_default() {
            if let Ok(data) = protocrash_proto::files::read_regular(&path, FILE_LIMIT) {
                known.insert(sha1_hex(&data));
                seed_files += 1;
            }
        }
    }
    if flags.inputs.is_empty() {
        eprintln!("INFO: A corpus is not provided, starting from an empty corpus");
    } else {
        eprintln!("INFO: seed corpus: files: {seed_files}");
    }
    let scratch = match make_scratch() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: protocrash: cannot make a scratch sync dir in {}: {e}", std::env::temp_dir().display());
            return USAGE_EXIT;
        }
    };
    let sync = SyncDir::new(&scratch.0);
    let exe = match super::self_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("ERROR: protocrash: cannot find this executable to start workers: {e}");
            return USAGE_EXIT;
        }
    };
    let per_worker = flags.runs.map(|r| r.div_ceil(flags.workers as u64));
    eprintln!("INFO: protocrash: {} worker(s), sync dir {}", flags.workers, scratch.0.display());
    let mut workers = Vec::new();
    for i in 0..flags.workers {
        let dir = sync.worker("libfuzzer", i);
        let cfg = WorkerConfig {
            version: protocrash_proto::PROTOCOL_VERSION,
            target: "libfuzzer".into(),
            worker_dir: dir.path().to_path_buf(),
            sync_dir: scratch.0.clone(),
            seed_dirs: flags.inputs.clone(),
            artifact_dir: scratch.0.join("artifacts"),
            seed: seed.wrapping_add((i as u64) << 32),
            timeout_ms: flags.timeout.saturating_mul(1000),
            rss_limit_mb: flags.memory_limit_mb(),
            max_len,
            max_execs: per_worker.unwrap_or(u64::MAX),
            cmp: true,
            dict: dict.clone(),
            sync_interval_ms: protocrash_proto::config::default_sync_interval_ms(),
            variant: i as u32,
            campaign_start_ms: crate::util::now_ms(),
            libfuzzer: true,
        };
        match std::process::Command::new(&exe).env(WORKER_ENV, cfg.encode()).stdin(std::process::Stdio::null()).spawn() {
            Ok(child) => workers.push(Worker { dir, child, stats: None, exit: None }),
            Err(e) => {
                eprintln!("ERROR: protocrash: cannot start a worker: {e}");
                stop(&mut workers);
                return USAGE_EXIT;
            }
        }
    }
    // The workers' queues are read as a worker reads its peers': following their indexes.
    let queues = Peers::new(&scratch.0, &scratch.0.join("master"), max_len);
    let mut run = Run { output, known, queues, new_units: 0, inited: false, next_pulse: 1 << 10, peak_rss_mb: 0 };
    let deadline = (flags.max_total_time > 0).then(|| start + Duration::from_secs(flags.max_total_time));
    let mut last_copy = Instant::now();
    let outcome = loop {
        // The master's own cadence: status lines and finding checks 20 times a second.
        std::thread::sleep(Duration::from_millis(50));
        let execs = counters(&mut workers).0;
        if !run.inited && workers.iter().all(|w| w.state() != WorkerState::Starting) {
            run.inited = true;
            eprintln!("#{execs}\tINITED {}", line(&run.figures(&mut workers), start));
        }
        if run.inited && execs >= run.next_pulse {
            while run.next_pulse <= execs {
                run.next_pulse *= 2;
            }
            eprintln!("#{execs}\tpulse  {}", line(&run.figures(&mut workers), start));
        }
        if let Some(found) = workers.iter().position(|w| w.unique_findings() > 0) {
            break Outcome::Finding(found);
        }
        if last_copy.elapsed() >= Duration::from_millis(500) {
            last_copy = Instant::now();
            if let Err(e) = run.copy_new_units(&mut workers, start) {
                break Outcome::Failed(e);
            }
        }
        if INTERRUPTED.load(Ordering::Relaxed) {
            break Outcome::Interrupted;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Outcome::Done;
        }
        for w in workers.iter_mut().filter(|w| w.exit.is_none()) {
            if let Ok(Some(status)) = w.child.try_wait() {
                w.exit = Some(status);
            }
        }
        if let Some(w) = workers.iter().find(|w| w.exit.is_some_and(|s| !s.success())) {
            // A worker that saved a finding just before it stopped is a finding, not a failure.
            if w.unique_findings() > 0 {
                continue;
            }
            break Outcome::Failed(format!(
                "a protocrash worker stopped ({}); its messages are above",
                w.exit.map(|s| s.to_string()).unwrap_or_default()
            ));
        }
        if workers.iter().all(|w| w.exit.is_some()) {
            break Outcome::Done;
        }
    };
    let figures = run.figures(&mut workers);
    stop(&mut workers);
    let copied = run.copy_new_units(&mut workers, start);
    let code = match outcome {
        Outcome::Finding(i) => report_finding(flags, &workers[i].dir),
        Outcome::Interrupted => {
            eprintln!("=={}== libFuzzer: run interrupted; exiting", std::process::id());
            INTERRUPT_EXIT
        }
        Outcome::Failed(e) => {
            eprintln!("ERROR: protocrash: {e}");
            USAGE_EXIT
        }
        Outcome::Done => 0,
    };
    if let Err(e) = copied {
        eprintln!("ERROR: protocrash: {e}");
    }
    let secs = start.elapsed().as_secs();
    if code == 0 {
        eprintln!("#{}\tDONE   {}", figures.execs, line(&figures, start));
        eprintln!("Done {} runs in {secs} second(s)", figures.execs);
    }
    if flags.print_final_stats {
        eprintln!("stat::number_of_executed_units: {}", figures.execs);
        eprintln!("stat::average_exec_per_sec:     {}", figures.execs / secs.max(1));
        eprintln!("stat::new_units_added:          {}", run.new_units);
        eprintln!("stat::slowest_unit_time_sec:    0");
        eprintln!("stat::peak_rss_mb:              {}", run.peak_rss_mb);
    }
    drop(scratch);
    code
}

enum Outcome {
    Finding(usize),
    Interrupted,
    Failed(String),
    Done,
}

impl Worker {
    fn stats(&mut self) -> Option<&StatsFile> {
        if self.stats.is_none() && self.dir.stats().exists() {
            self.stats = StatsFile::open(&self.dir.stats()).ok();
        }
        self.stats.as_ref()
    }

    fn state(&self) -> WorkerState {
        match &self.stats {
            Some(s) if s.get(StatField::Pid) != 0 => WorkerState::from_word(s.get(StatField::State)),
            _ if self.exit.is_some() => WorkerState::Done,
            _ => WorkerState::Starting,
        }
    }

    fn unique_findings(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| {
            s.get(StatField::UniqueCrashes) + s.get(StatField::UniqueHangs) + s.get(StatField::UniqueOoms)
        })
    }
}

/// A status line's figures in libFuzzer's words.
fn line(f: &Figures, start: Instant) -> String {
    let secs = start.elapsed().as_secs().max(1);
    format!("cov: {} ft: {} corp: {} exec/s: {} rss: {}Mb", f.edges, f.features, f.corpus, f.execs / secs, f.rss_mb)
}

/// (executions, largest corpus) over the workers: what every poll reads (mapped counters).
fn counters(workers: &mut [Worker]) -> (u64, u64) {
    let (mut execs, mut corpus) = (0, 0);
    for w in workers.iter_mut() {
        if let Some(s) = w.stats() {
            execs += s.get(StatField::ExecSeq) / 2;
            corpus = corpus.max(s.get(StatField::Corpus));
        }
    }
    (execs, corpus)
}

/// The master's running state.
struct Run {
    output: Option<PathBuf>,
    known: HashSet<String>,
    queues: Peers,
    new_units: u64,
    inited: bool,
    next_pulse: u64,
    peak_rss_mb: u64,
}

impl Run {
    /// Everything a status line shows. The coverage union and the resident sizes are read
    /// only for a line (each a file per worker), not on every poll.
    fn figures(&mut self, workers: &mut [Worker]) -> Figures {
        let (execs, corpus) = counters(workers);
        let mut f = Figures { execs, corpus, ..Figures::default() };
        let mut union = Vec::new();
        for w in workers.iter() {
            let pid = w.child.id();
            if let Ok(bytes) = protocrash_proto::files::read_regular(&w.dir.coverage(), FILE_LIMIT) {
                if bytes.len() > COVERAGE_HEADER {
                    protocrash_proto::coverage::union_into(&mut union, &bytes[COVERAGE_HEADER..]);
                }
            }
            // The fork server and its fuzzing child (where the target's memory is).
            let child = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            let pids = std::iter::once(pid).chain(child.split_whitespace().filter_map(|p| p.parse().ok()));
            f.rss_mb += pids.map(|p| crate::process::pid_rss_bytes(p).unwrap_or(0)).sum::<u64>() >> 20;
        }
        f.edges = union.iter().filter(|&&b| b != 0).count() as u64;
        f.features = union.iter().map(|b| u64::from(b.count_ones())).sum();
        self.peak_rss_mb = self.peak_rss_mb.max(f.rss_mb);
        f.rss_mb = self.peak_rss_mb;
        f
    }

    /// Copies the workers' new queue entries into the output corpus, named by SHA-1.
    fn copy_new_units(&mut self, workers: &mut [Worker], start: Instant) -> Result<(), String> {
        let scan = self.queues.scan();
        // Nothing replays this reader's history: what it holds is enough.
        self.queues.take_journal();
        let mut figures = None;
        for (_, data) in scan.entries {
            let sha = sha1_hex(&data);
            if !self.known.insert(sha.clone()) {
                continue;
            }
            self.new_units += 1;
            if let Some(out) = &self.output {
                let dest = out.join(&sha);
                protocrash_proto::files::write_atomic(&dest, &data)
                    .map_err(|e| format!("cannot write a new unit to {}: {e}", dest.display()))?;
            }
            let f = *figures.get_or_insert_with(|| self.figures(workers));
            eprintln!("#{}\tNEW    {} L: {}", f.execs, line(&f, start), data.len());
        }
        Ok(())
    }
}

/// Asks every worker to stop, then makes sure it has.
fn stop(workers: &mut [Worker]) {
    for w in workers.iter_mut() {
        if let Some(s) = w.stats() {
            s.set(StatField::Stop, 1);
        }
    }
    let until = Instant::now() + Duration::from_secs(2);
    for w in workers.iter_mut() {
        while w.exit.is_none() {
            match w.child.try_wait() {
                Ok(Some(status)) => w.exit = Some(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = w.child.kill();
                    w.exit = w.child.wait().ok();
                    break;
                }
            }
        }
    }
}

/// Writes the first finding of `dir` as libFuzzer's artifact and says where; returns the
/// exit code of its kind.
fn report_finding(flags: &Flags, dir: &WorkerDir) -> i32 {
    let index = protocrash_proto::files::read_regular(&dir.findings_index(), FILE_LIMIT)
        .ok()
        .and_then(|b| FindingIndex::decode(&String::from_utf8_lossy(&b)).ok());
    let Some(first) = index.and_then(|i| i.findings.into_iter().min_by_key(|f: &Finding| f.first_seen_ms)) else {
        eprintln!("ERROR: protocrash: a worker counted a finding but its record is unreadable");
        return flags.error_exitcode;
    };
    let code = super::exit_code(flags, first.kind);
    match protocrash_proto::files::read_regular(&dir.path().join(&first.file), FILE_LIMIT) {
        Ok(data) => {
            let path = artifact_path(flags, first.kind, &data);
            match write_artifact(&path, &data) {
                Ok(()) => eprintln!("artifact_prefix='{}'; Test unit written to {}", flags.artifact_prefix, path.display()),
                Err(e) => eprintln!("ERROR: protocrash: cannot write the artifact {}: {e}", path.display()),
            }
        }
        Err(e) => eprintln!("ERROR: protocrash: cannot read the finding's input: {e}"),
    }
    code
}

/// Where libFuzzer would write an artifact of `kind` with content `data`.
fn artifact_path(flags: &Flags, kind: protocrash_proto::finding::FindingKind, data: &[u8]) -> PathBuf {
    match &flags.exact_artifact_path {
        Some(p) => p.clone(),
        None => PathBuf::from(format!("{}{}-{}", flags.artifact_prefix, artifact_kind(kind), sha1_hex(data))),
    }
}

/// Writes an artifact (the user's own path: created or replaced, never appended to).
fn write_artifact(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, data)
}
