//! The campaign master: starts the harness as a fork-server worker with its configuration
//! in the environment, watches it through its mapped stats file, enforces the time bound,
//! relays Ctrl-C as a graceful stop, reports findings as they appear, and at the end copies
//! new corpus entries into `fuzz/corpus/<target>/`.

use crate::aggregate;
use crate::display::{Display, Snapshot, WorkerRow};
use crate::shm::{union_coverage, StatsMap};
use anyhow::{bail, Context, Result};
use protocrash_proto::config::{WorkerConfig, WORKER_ENV};
use protocrash_proto::finding::{Finding, FindingIndex};
use protocrash_proto::naming::{content_id, parse_queue_name, worker_dir_name};
use protocrash_proto::stats::{StatField, WorkerState};
use protocrash_proto::{EXIT_SETUP_ERROR, PROTOCOL_VERSION};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Everything a campaign needs, parsed and validated.
#[derive(Clone, Debug)]
pub struct CampaignConfig {
    /// Target name.
    pub target: String,
    /// The built harness.
    pub harness: PathBuf,
    /// The sync dir.
    pub sync_dir: PathBuf,
    /// Node name (worker directories are `<node>-<i>`).
    pub node: String,
    /// Seed directories (read-only).
    pub seed_dirs: Vec<PathBuf>,
    /// Where new corpus entries are copied at the end (`fuzz/corpus/<target>`).
    pub corpus_dir: PathBuf,
    /// `fuzz/artifacts/<target>`.
    pub artifact_dir: PathBuf,
    /// Random seed.
    pub seed: u64,
    /// Per-execution timeout.
    pub timeout: Duration,
    /// Memory limit in MiB (0 = none).
    pub rss_limit_mb: u64,
    /// Largest input.
    pub max_len: usize,
    /// Total executions (None = unbounded).
    pub runs: Option<u64>,
    /// Wall-time bound.
    pub max_total_time: Option<Duration>,
    /// Stop at the first finding.
    pub fail_fast: bool,
    /// Comparison feedback.
    pub cmp: bool,
    /// Dictionary tokens.
    pub dict: Vec<Vec<u8>>,
    /// Worker processes.
    pub jobs: usize,
    /// Finding ids known before this run from outside the sync dir (reproducers kept in
    /// `fuzz/artifacts/<target>`): such findings are reported as known, not new.
    pub known: HashSet<String>,
    /// Time between imports of other workers' finds.
    pub sync_interval: Duration,
    /// Plain periodic lines even on a terminal.
    pub plain: bool,
    /// Builds the reproduce command for a finding.
    pub repro: ReproCommand,
}

/// The command that replays one finding, as the user should type it.
#[derive(Clone, Debug)]
pub struct ReproCommand {
    /// `cargo protocrash repro <target>`.
    pub prefix: String,
    /// Options that must be repeated (build options, `--fuzz-dir`).
    pub options: Vec<String>,
}

impl ReproCommand {
    /// The full command for `finding`, with its path relative to the current directory.
    pub fn for_finding(&self, finding: &Finding, cfg: &CampaignConfig) -> String {
        let path = display_path(Path::new(&finding.artifact));
        let mut cmd = format!("{} {}", self.prefix, shell_quote(&path));
        match finding.kind {
            protocrash_proto::finding::FindingKind::Hang => cmd += &format!(" --timeout {}ms", cfg.timeout.as_millis()),
            protocrash_proto::finding::FindingKind::Oom => cmd += &format!(" --rss-limit-mb {}", cfg.rss_limit_mb),
            _ => {}
        }
        for o in &self.options {
            cmd.push(' ');
            cmd += &shell_quote(o);
        }
        cmd
    }
}

/// A path relative to the current directory when it lies below it.
pub fn display_path(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf));
    rel.unwrap_or_else(|| p.to_path_buf()).display().to_string()
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What a campaign did.
#[derive(Debug)]
pub struct Summary {
    /// Unix milliseconds when the campaign started.
    pub started_ms: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Executions in this run.
    pub execs: u64,
    /// Edges covered (union).
    pub edges: u64,
    /// Corpus entries.
    pub corpus: u64,
    /// Finding hits in this run (0 = nothing found).
    pub hits: u64,
    /// All unique findings recorded in the sync dir.
    pub findings: Vec<Finding>,
    /// Ids of findings first seen in this run.
    pub new_ids: HashSet<String>,
    /// True when the campaign was interrupted (Ctrl-C / SIGTERM).
    pub interrupted: bool,
    /// New corpus entries copied to the corpus directory.
    pub exported: usize,
}

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Its process runs.
    Running,
    /// It died; restart it at this instant.
    Restarting(Instant),
    /// Ended: its budget is spent or the campaign is stopping.
    Finished,
    /// It kept dying right after start; left dead.
    GaveUp,
}

struct Worker {
    index: usize,
    dir: PathBuf,
    child: Option<std::process::Child>,
    stats: Option<StatsMap>,
    log: PathBuf,
    log_pos: u64,
    phase: Phase,
    /// Executions and finding hits recorded in this directory before this campaign began.
    base_execs: u64,
    base_hits: u64,
    /// Its part of `--runs` (u64::MAX = unbounded).
    share: u64,
    started: Instant,
    restarts: u32,
    /// Deaths in a row within `QUICK_DEATH` of starting.
    quick_deaths: u32,
    /// Set when the master killed it for a missing heartbeat.
    killed_silent: bool,
}

/// A death this soon after start counts towards giving up on the worker.
const QUICK_DEATH: Duration = Duration::from_secs(30);
/// Quick deaths in a row after which a worker is left dead.
const MAX_QUICK_DEATHS: u32 = 5;

impl Worker {
    fn new(cfg: &CampaignConfig, index: usize, share: u64) -> Result<Worker> {
        let dir = cfg.sync_dir.join(worker_dir_name(&cfg.node, index));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the worker directory {}", dir.display()))?;
        // Counters of earlier runs in this directory carry on; this run's figures are growth.
        let (base_execs, base_hits) = StatsMap::open(&dir.join("stats"))?.map_or((0, 0), |s| {
            (
                s.get(StatField::ExecSeq).div_ceil(2),
                s.get(StatField::Crashes) + s.get(StatField::Hangs) + s.get(StatField::Ooms),
            )
        });
        let log = dir.join("worker.log");
        Ok(Worker {
            index,
            dir,
            child: None,
            stats: None,
            log,
            log_pos: 0,
            phase: Phase::Running,
            base_execs,
            base_hits,
            share,
            started: Instant::now(),
            restarts: 0,
            quick_deaths: 0,
            killed_silent: false,
        })
    }

    fn name(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Executions in this campaign.
    fn execs(&self) -> u64 {
        self.stats
            .as_ref()
            .map_or(self.last_execs(), |s| (s.get(StatField::ExecSeq) / 2).saturating_sub(self.base_execs))
    }

    fn last_execs(&self) -> u64 {
        StatsMap::open_read_only(&self.dir.join("stats"))
            .ok()
            .flatten()
            .map_or(0, |s| (s.get(StatField::ExecSeq).div_ceil(2)).saturating_sub(self.base_execs))
    }

    fn all_hits(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| s.get(StatField::Crashes) + s.get(StatField::Hangs) + s.get(StatField::Ooms))
    }

    fn hits(&self) -> u64 {
        self.all_hits().saturating_sub(self.base_hits)
    }

    fn unique(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| {
            s.get(StatField::UniqueCrashes) + s.get(StatField::UniqueHangs) + s.get(StatField::UniqueOoms)
        })
    }

    fn spawn(&mut self, cfg: &CampaignConfig, campaign_start_ms: u64) -> Result<()> {
        let remaining = self.share.saturating_sub(self.execs());
        // The first start of a campaign begins a fresh log; a restart appends to it.
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.restarts > 0)
            .truncate(self.restarts == 0)
            .open(&self.log)
            .with_context(|| format!("cannot create {}", self.log.display()))?;
        if self.restarts == 0 {
            self.log_pos = 0;
        }
        let wc = WorkerConfig {
            version: PROTOCOL_VERSION,
            target: cfg.target.clone(),
            worker_dir: self.dir.clone(),
            sync_dir: cfg.sync_dir.clone(),
            seed_dirs: cfg.seed_dirs.clone(),
            artifact_dir: cfg.artifact_dir.clone(),
            seed: cfg.seed.wrapping_add((self.index as u64) << 32).wrapping_add(u64::from(self.restarts)),
            timeout_ms: cfg.timeout.as_millis().max(1) as u64,
            rss_limit_mb: cfg.rss_limit_mb,
            max_len: cfg.max_len,
            max_execs: remaining,
            cmp: cfg.cmp,
            dict: cfg.dict.iter().map(|t| protocrash_proto::dict::to_hex(t)).collect(),
            sync_interval_ms: cfg.sync_interval.as_millis() as u64,
            variant: self.index as u32,
            campaign_start_ms,
        };
        let child = std::process::Command::new(&cfg.harness)
            .env(WORKER_ENV, wc.encode())
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: a terminal's Ctrl-C reaches only the master, which stops
            // the workers gracefully.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start the harness {}", cfg.harness.display()))?;
        self.child = Some(child);
        self.stats = None;
        self.phase = Phase::Running;
        self.started = Instant::now();
        self.killed_silent = false;
        Ok(())
    }

    /// Maps the stats file once the current process created it.
    fn map_stats(&mut self) -> Result<()> {
        if self.stats.is_some() {
            return Ok(());
        }
        let Some(pid) = self.child.as_ref().map(|c| c.id()) else {
            return Ok(());
        };
        self.stats = StatsMap::open(&self.dir.join("stats"))?.filter(|s| s.get(StatField::Pid) == u64::from(pid));
        Ok(())
    }

    fn request_stop(&mut self) {
        match (&self.stats, &mut self.child) {
            (Some(s), Some(_)) => s.set(StatField::Stop, 1),
            // Not started yet: nothing to save, end it.
            (None, Some(child)) => {
                let _ = child.kill();
            }
            _ => {}
        }
        if matches!(self.phase, Phase::Restarting(_)) {
            self.phase = Phase::Finished;
        }
    }

    fn kill(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
        }
    }

    /// New complete lines of the worker's log.
    fn new_log_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.log) else {
            return Vec::new();
        };
        let mut buf = String::new();
        if f.seek(SeekFrom::Start(self.log_pos)).is_err() || f.read_to_string(&mut buf).is_err() {
            return Vec::new();
        }
        let Some(end) = buf.rfind('\n') else {
            return Vec::new();
        };
        self.log_pos += end as u64 + 1;
        buf[..end].lines().map(str::to_string).collect()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How long a running worker may go without a heartbeat before it is shown as inactive;
/// after twice this it is killed and restarted. The fork server beats several times per
/// timeout period, whatever the target does, so silence means the worker itself is stuck.
fn heartbeat_grace(cfg: &CampaignConfig) -> Duration {
    (cfg.timeout * 3).max(Duration::from_secs(10))
}

/// Splits `--runs` between `jobs` workers (the first ones take the remainder).
fn shares(runs: Option<u64>, jobs: usize) -> Vec<u64> {
    let jobs = jobs.max(1) as u64;
    (0..jobs)
        .map(|i| match runs {
            None => u64::MAX,
            Some(r) => r / jobs + u64::from(i < r % jobs),
        })
        .collect()
}

/// Runs a campaign to its end.
pub fn run(cfg: &CampaignConfig) -> Result<Summary> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C ends the master at once; the workers follow (parent-death signal).
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&interrupted))?;
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    std::fs::create_dir_all(&cfg.sync_dir)
        .with_context(|| format!("cannot create the sync dir {}", cfg.sync_dir.display()))?;
    write_campaign_file(cfg)?;
    let mut workers = Vec::new();
    for (i, share) in shares(cfg.runs, cfg.jobs).into_iter().enumerate() {
        workers.push(Worker::new(cfg, i, share)?);
    }
    let start = Instant::now();
    let campaign_start_ms = now_ms();
    for w in &mut workers {
        if w.share == 0 {
            w.phase = Phase::Finished;
        } else {
            w.spawn(cfg, campaign_start_ms)?;
        }
    }
    let mut display = Display::new(cfg.plain);
    let mut printed: HashSet<String> = HashSet::new();
    for w in &workers {
        printed.extend(read_findings(&w.dir).into_iter().map(|f| f.id));
    }
    let mut known_at_start = printed.clone();
    known_at_start.extend(cfg.known.iter().cloned());
    let grace = heartbeat_grace(cfg);
    let mut stop_sent: Option<Instant> = None;
    let mut seen_unique = 0;
    let mut distinct = KindCounts::default();
    let mut build_id = None;
    let mut union = Vec::new();
    let mut union_at: Option<Instant> = None;
    loop {
        for w in &mut workers {
            if let Err(e) = poll_worker(w, cfg, campaign_start_ms, stop_sent.is_some(), grace, &mut display) {
                for other in &mut workers {
                    other.kill();
                }
                return Err(e);
            }
        }
        if workers.iter().all(|w| matches!(w.phase, Phase::Finished | Phase::GaveUp)) {
            break;
        }
        let out_of_time = cfg.max_total_time.is_some_and(|t| start.elapsed() >= t);
        let failed_fast = cfg.fail_fast && workers.iter().any(|w| w.hits() > 0);
        if stop_sent.is_none() && (interrupted.load(Ordering::Relaxed) || out_of_time || failed_fast) {
            for w in &mut workers {
                w.request_stop();
            }
            stop_sent = Some(Instant::now());
        }
        if stop_sent.is_some_and(|t| t.elapsed() > cfg.timeout + Duration::from_secs(10)) {
            for w in workers.iter_mut().filter(|w| w.phase == Phase::Running) {
                display.message(&format!("protocrash: worker {} did not stop in time; killing it", w.name()));
                w.kill();
            }
        }
        let unique: u64 = workers.iter().map(Worker::unique).sum();
        if unique != seen_unique {
            seen_unique = unique;
            let merged = merged_findings(&workers.iter().map(|w| w.dir.clone()).collect::<Vec<_>>());
            for f in &merged {
                if printed.insert(f.id.clone()) {
                    display.message(&describe_new_finding(f, cfg));
                }
            }
            // Two workers finding the same bug found one bug.
            distinct = KindCounts::of(&merged);
        }
        if build_id.is_none() {
            build_id = workers
                .iter()
                .filter(|w| w.stats.as_ref().is_some_and(|s| s.get(StatField::State) != WorkerState::Starting as u64))
                .find_map(|w| crate::shm::coverage_build_id(&w.dir.join("coverage")).ok().flatten());
        }
        if build_id.is_some() && union_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            union = aggregate::union_of(&aggregate::worker_dirs(&cfg.sync_dir), build_id);
            union_at = Some(Instant::now());
        }
        let mut snap = snapshot(cfg, &workers, &union, start.elapsed(), grace);
        (snap.crashes, snap.hangs, snap.ooms) = (distinct.crashes, distinct.hangs, distinct.ooms);
        display.update(&snap);
        // The master's display tick: workers report through shared memory, nothing waits on it.
        std::thread::sleep(Duration::from_millis(50));
    }
    display.finish();
    for w in &mut workers {
        for line in w.new_log_lines() {
            display.message(&line);
        }
    }
    if workers.iter().all(|w| w.phase == Phase::GaveUp) {
        bail!("every worker kept dying; see the logs above");
    }
    let findings = merged_findings(&workers.iter().map(|w| w.dir.clone()).collect::<Vec<_>>());
    for f in &findings {
        if printed.insert(f.id.clone()) {
            display.message(&describe_new_finding(f, cfg));
        }
    }
    let dirs = aggregate::worker_dirs(&cfg.sync_dir);
    let union = aggregate::union_of(&dirs, build_id);
    let mut exported = 0;
    for w in &workers {
        exported += export_corpus(&w.dir.join("queue"), &cfg.corpus_dir)?;
    }
    Ok(Summary {
        started_ms: campaign_start_ms,
        elapsed: start.elapsed(),
        execs: workers.iter().map(Worker::last_execs).sum(),
        edges: protocrash_proto::coverage::count_edges(&union),
        corpus: workers.iter().filter_map(|w| w.stats.as_ref()).map(|s| s.get(StatField::Corpus)).max().unwrap_or(0),
        hits: workers.iter().map(Worker::hits).sum(),
        new_ids: findings.iter().filter(|f| !known_at_start.contains(&f.id)).map(|f| f.id.clone()).collect(),
        findings,
        interrupted: interrupted.load(Ordering::Relaxed),
        exported,
    })
}

/// Checks one worker: relays its log, notices its exit (restarting it if it died), and
/// kills it if its heartbeat stopped.
fn poll_worker(
    w: &mut Worker,
    cfg: &CampaignConfig,
    campaign_start_ms: u64,
    stopping: bool,
    grace: Duration,
    display: &mut Display,
) -> Result<()> {
    if let Phase::Restarting(at) = w.phase {
        if stopping {
            w.phase = Phase::Finished;
        } else if Instant::now() >= at {
            if w.execs() >= w.share {
                w.phase = Phase::Finished;
            } else {
                w.spawn(cfg, campaign_start_ms)?;
            }
        }
        return Ok(());
    }
    if w.phase != Phase::Running {
        return Ok(());
    }
    let exited = match &mut w.child {
        Some(c) => c.try_wait()?,
        None => return Ok(()),
    };
    // Map the stats as soon as the worker created them (also after a quick exit: a short
    // campaign may end before the first poll).
    w.map_stats()?;
    for line in w.new_log_lines() {
        display.message(&line);
    }
    let Some(status) = exited else {
        if let Some(s) = &w.stats {
            let state = WorkerState::from_word(s.get(StatField::State));
            let silent = Duration::from_millis(now_ms().saturating_sub(s.get(StatField::HeartbeatMs)));
            if !w.killed_silent && aggregate::is_inactive(state, s.get(StatField::HeartbeatMs), now_ms(), grace * 2) {
                display.message(&format!(
                    "protocrash: worker {} stopped responding (no heartbeat for {}s); killing and restarting it",
                    w.name(),
                    silent.as_secs()
                ));
                w.killed_silent = true;
                w.kill();
            }
        }
        return Ok(());
    };
    w.child = None;
    let budget_spent = w.execs() >= w.share;
    if status.success() || stopping || budget_spent {
        w.phase = Phase::Finished;
        if !status.success() && !stopping && !w.killed_silent && status.signal() != Some(SIGKILL) {
            display.message(&format!("protocrash: worker {} ended with {status} after its last run", w.name()));
        }
        return Ok(());
    }
    let tail = w.log_tail();
    if w.stats.is_none() && w.restarts == 0 {
        // It never got as far as its stats file: a broken harness, not a bad input.
        if status.code() == Some(EXIT_SETUP_ERROR) {
            bail!("the harness could not start:\n{tail}");
        }
        bail!(
            "the harness exited ({status}) before starting the protocrash runtime; is it a \
             `protocrash::fuzz_target!` harness built by `cargo protocrash build`?\n{tail}"
        );
    }
    w.restarts += 1;
    w.quick_deaths = if w.started.elapsed() < QUICK_DEATH { w.quick_deaths + 1 } else { 0 };
    let why = if w.killed_silent { "killed for silence".to_string() } else { status.to_string() };
    if w.quick_deaths >= MAX_QUICK_DEATHS {
        w.phase = Phase::GaveUp;
        display.message(&format!(
            "protocrash: worker {} died {} times in a row within {}s of starting ({why}); leaving it stopped. \
             Everything it saved is kept in {}. Its last log lines:\n{tail}",
            w.name(),
            w.quick_deaths,
            QUICK_DEATH.as_secs(),
            w.dir.display()
        ));
        return Ok(());
    }
    // Back off when it dies young: 1 s, 2 s, 4 s …
    let delay = if w.quick_deaths > 0 { Duration::from_secs(1 << (w.quick_deaths - 1)) } else { Duration::ZERO };
    display.message(&format!(
        "protocrash: worker {} died ({why}); restarting it{} (restart {}); everything it saved is kept",
        w.name(),
        if delay.is_zero() { String::new() } else { format!(" in {}s", delay.as_secs()) },
        w.restarts
    ));
    w.phase = Phase::Restarting(Instant::now() + delay);
    Ok(())
}

const SIGKILL: i32 = 9;

/// Distinct findings by kind, over every worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KindCounts {
    crashes: u64,
    hangs: u64,
    ooms: u64,
}

impl KindCounts {
    fn of(findings: &[Finding]) -> KindCounts {
        use protocrash_proto::finding::FindingKind;
        let mut c = KindCounts::default();
        for f in findings {
            match f.kind {
                FindingKind::Hang => c.hangs += 1,
                FindingKind::Oom => c.ooms += 1,
                _ => c.crashes += 1,
            }
        }
        c
    }
}

/// The campaign's figures (distinct finding counts are filled in by the caller, which reads
/// the findings indexes only when they change).
fn snapshot(cfg: &CampaignConfig, workers: &[Worker], union: &[u8], elapsed: Duration, grace: Duration) -> Snapshot {
    let now = now_ms();
    let mut s = Snapshot { target: cfg.target.clone(), elapsed, ..Snapshot::default() };
    let mut last_find = 0;
    for w in workers {
        let execs = w.execs();
        s.execs += execs;
        let mut row =
            WorkerRow { name: w.name(), execs, execs_per_sec: aggregate::rate(execs, elapsed), ..WorkerRow::default() };
        row.state = match w.phase {
            Phase::Restarting(_) => "restarting".into(),
            Phase::GaveUp => "dead".into(),
            Phase::Finished => "done".into(),
            Phase::Running => "starting".into(),
        };
        if let Some(st) = &w.stats {
            let state = WorkerState::from_word(st.get(StatField::State));
            if w.phase == Phase::Running {
                row.state = if aggregate::is_inactive(state, st.get(StatField::HeartbeatMs), now, grace) {
                    "inactive".into()
                } else {
                    state.name().into()
                };
            }
            row.corpus = st.get(StatField::Corpus);
            row.finds =
                st.get(StatField::UniqueCrashes) + st.get(StatField::UniqueHangs) + st.get(StatField::UniqueOoms);
            row.imports = st.get(StatField::Imports);
            row.restarts = w.restarts;
            if state != WorkerState::Starting {
                let mut own = Vec::new();
                let _ = union_coverage(&w.dir.join("coverage"), &mut own, None);
                row.edges = protocrash_proto::coverage::count_edges(&own);
            }
            s.map_size = s.map_size.max(st.get(StatField::MapSize));
            s.corpus = s.corpus.max(row.corpus);
            s.len_limit = s.len_limit.max(st.get(StatField::LenLimit));
            last_find = last_find.max(st.get(StatField::LastFindMs));
        }
        s.workers.push(row);
    }
    s.execs_per_sec = aggregate::rate(s.execs, elapsed);
    s.edges = protocrash_proto::coverage::count_edges(union);
    s.since_last_find = (last_find > 0).then(|| Duration::from_millis(now.saturating_sub(last_find)));
    s
}

/// The findings of every worker directory in `dirs`, one per signature (counts added up:
/// two workers hitting the same bug found one bug).
pub fn merged_findings(dirs: &[PathBuf]) -> Vec<Finding> {
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
pub fn read_findings(worker_dir: &Path) -> Vec<Finding> {
    std::fs::read_to_string(worker_dir.join("findings.json"))
        .ok()
        .and_then(|t| FindingIndex::decode(&t).ok())
        .map(|i| i.findings)
        .unwrap_or_default()
}

/// One finding as announced during the run.
pub fn describe_new_finding(f: &Finding, cfg: &CampaignConfig) -> String {
    let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
    format!(
        "protocrash: found a new {} in '{}': {}{at}\n  saved: {} ({} bytes)\n  reproduce: {}",
        f.kind.describe(),
        cfg.target,
        f.message,
        display_path(Path::new(&f.artifact)),
        f.size,
        cfg.repro.for_finding(f, cfg)
    )
}

fn write_campaign_file(cfg: &CampaignConfig) -> Result<()> {
    let doc = serde_json::json!({
        "version": 1,
        "target": cfg.target,
        "harness": cfg.harness,
        "node": cfg.node,
        "started_ms": now_ms(),
        "seed": cfg.seed,
        "timeout_ms": cfg.timeout.as_millis() as u64,
        "rss_limit_mb": cfg.rss_limit_mb,
        "max_len": cfg.max_len,
    });
    let path = cfg.sync_dir.join("campaign.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Copies queue entries whose content is not yet in `corpus_dir` there (cargo-fuzz layout).
fn export_corpus(queue: &Path, corpus_dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(queue) else {
        return Ok(0);
    };
    let mut have: HashSet<String> = HashSet::new();
    if let Ok(existing) = std::fs::read_dir(corpus_dir) {
        for e in existing.flatten() {
            if let Ok(data) = std::fs::read(e.path()) {
                have.insert(content_id(&data));
            }
        }
    }
    let mut copied = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(q) = parse_queue_name(&name) else {
            continue;
        };
        if !e.file_type().is_ok_and(|t| t.is_file()) || !have.insert(q.content) {
            continue;
        }
        if copied == 0 {
            std::fs::create_dir_all(corpus_dir).with_context(|| format!("cannot create {}", corpus_dir.display()))?;
        }
        std::fs::copy(e.path(), corpus_dir.join(&name))
            .with_context(|| format!("cannot copy {} into {}", name, corpus_dir.display()))?;
        copied += 1;
    }
    Ok(copied)
}
