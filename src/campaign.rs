//! The campaign master: starts the harness as a fork-server worker with its configuration
//! in the environment, watches it through its mapped stats file, enforces the time bound,
//! relays Ctrl-C as a graceful stop, reports findings as they appear, and at the end copies
//! new corpus entries into `fuzz/corpus/<target>/`.

use crate::display::{Display, Snapshot};
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

struct Worker {
    dir: PathBuf,
    child: std::process::Child,
    stats: Option<StatsMap>,
    log: PathBuf,
    log_pos: u64,
}

impl Worker {
    fn hits(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| s.get(StatField::Crashes) + s.get(StatField::Hangs) + s.get(StatField::Ooms))
    }

    fn unique(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| {
            s.get(StatField::UniqueCrashes) + s.get(StatField::UniqueHangs) + s.get(StatField::UniqueOoms)
        })
    }

    fn request_stop(&mut self) {
        match &self.stats {
            Some(s) => s.set(StatField::Stop, 1),
            // Not started yet: nothing to save, end it.
            None => {
                let _ = self.child.kill();
            }
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
    // Counters of earlier runs in this sync dir carry on; this run's finds are the growth.
    let worker_dir = cfg.sync_dir.join(worker_dir_name(&cfg.node, 0));
    let base_hits = StatsMap::open(&worker_dir.join("stats"))?
        .map_or(0, |s| s.get(StatField::Crashes) + s.get(StatField::Hangs) + s.get(StatField::Ooms));
    let mut worker = spawn_worker(cfg, 0)?;
    let start = Instant::now();
    let mut display = Display::new(cfg.plain);
    let mut printed: HashSet<String> = read_findings(&worker.dir).into_iter().map(|f| f.id).collect();
    let known_at_start = printed.clone();
    let mut base_execs = None;
    let mut stop_sent: Option<Instant> = None;
    let mut seen_unique = 0;
    let status = loop {
        let exited = worker.child.try_wait()?;
        // Map the stats as soon as the worker created them (also after a quick exit: a short
        // campaign may end before the first poll).
        if worker.stats.is_none() {
            worker.stats = StatsMap::open(&worker.dir.join("stats"))?
                .filter(|s| s.get(StatField::Pid) == u64::from(worker.child.id()));
            if let Some(s) = &worker.stats {
                base_execs = Some(s.get(StatField::PriorExecs));
            }
        }
        if let Some(status) = exited {
            break status;
        }
        for line in worker.new_log_lines() {
            display.message(&line);
        }
        let out_of_time = cfg.max_total_time.is_some_and(|t| start.elapsed() >= t);
        let failed_fast = cfg.fail_fast && worker.hits() > base_hits;
        if stop_sent.is_none() && (interrupted.load(Ordering::Relaxed) || out_of_time || failed_fast) {
            worker.request_stop();
            stop_sent = Some(Instant::now());
        }
        if stop_sent.is_some_and(|t| t.elapsed() > cfg.timeout + Duration::from_secs(10)) {
            display.message("protocrash: the worker did not stop in time; killing it");
            let _ = worker.child.kill();
        }
        if worker.unique() != seen_unique {
            seen_unique = worker.unique();
            for f in read_findings(&worker.dir) {
                if printed.insert(f.id.clone()) {
                    display.message(&describe_new_finding(&f, cfg));
                }
            }
        }
        if let Some(s) = &worker.stats {
            display.update(&snapshot(cfg, s, &worker.dir, start.elapsed(), base_execs.unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    display.finish();
    for line in worker.new_log_lines() {
        display.message(&line);
    }
    check_exit(&worker, status, interrupted.load(Ordering::Relaxed))?;
    let stats = worker.stats.as_ref().context("the worker ended before reporting any figures")?;
    let findings = read_findings(&worker.dir);
    for f in &findings {
        if printed.insert(f.id.clone()) {
            display.message(&describe_new_finding(f, cfg));
        }
    }
    let mut union = Vec::new();
    union_coverage(&worker.dir.join("coverage"), &mut union)?;
    let exported = export_corpus(&worker.dir.join("queue"), &cfg.corpus_dir)?;
    Ok(Summary {
        elapsed: start.elapsed(),
        execs: (stats.get(StatField::ExecSeq) / 2).saturating_sub(base_execs.unwrap_or(0)),
        edges: protocrash_proto::coverage::count_edges(&union),
        corpus: stats.get(StatField::Corpus),
        hits: worker.hits().saturating_sub(base_hits),
        new_ids: findings.iter().filter(|f| !known_at_start.contains(&f.id)).map(|f| f.id.clone()).collect(),
        findings,
        interrupted: interrupted.load(Ordering::Relaxed),
        exported,
    })
}

fn spawn_worker(cfg: &CampaignConfig, index: usize) -> Result<Worker> {
    let dir = cfg.sync_dir.join(worker_dir_name(&cfg.node, index));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the worker directory {}", dir.display()))?;
    let log = dir.join("worker.log");
    let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let wc = WorkerConfig {
        version: PROTOCOL_VERSION,
        target: cfg.target.clone(),
        worker_dir: dir.clone(),
        sync_dir: cfg.sync_dir.clone(),
        seed_dirs: cfg.seed_dirs.clone(),
        artifact_dir: cfg.artifact_dir.clone(),
        seed: cfg.seed.wrapping_add(index as u64),
        timeout_ms: cfg.timeout.as_millis().max(1) as u64,
        rss_limit_mb: cfg.rss_limit_mb,
        max_len: cfg.max_len,
        max_execs: cfg.runs.unwrap_or(u64::MAX),
        cmp: cfg.cmp,
        dict: cfg.dict.iter().map(|t| protocrash_proto::dict::to_hex(t)).collect(),
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
    Ok(Worker { dir, child, stats: None, log, log_pos: 0 })
}

fn check_exit(worker: &Worker, status: std::process::ExitStatus, interrupted: bool) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    let tail = worker.log_tail();
    if worker.stats.is_none() {
        if status.code() == Some(EXIT_SETUP_ERROR) {
            bail!("the harness could not start:\n{tail}");
        }
        bail!(
            "the harness exited ({status}) before starting the protocrash runtime; is it a \
             `protocrash::fuzz_target!` harness built by `cargo protocrash build`?\n{tail}"
        );
    }
    if status.signal() == Some(libc_sigkill()) && interrupted {
        return Ok(());
    }
    bail!("the worker failed ({status}); everything it saved is kept in {}\n{tail}", worker.dir.display())
}

const fn libc_sigkill() -> i32 {
    9
}

fn snapshot(cfg: &CampaignConfig, s: &StatsMap, dir: &Path, elapsed: Duration, base_execs: u64) -> Snapshot {
    let execs = (s.get(StatField::ExecSeq) / 2).saturating_sub(base_execs);
    let mut union = Vec::new();
    if WorkerState::from_word(s.get(StatField::State)) != WorkerState::Starting {
        let _ = union_coverage(&dir.join("coverage"), &mut union);
    }
    let last = s.get(StatField::LastFindMs);
    Snapshot {
        target: cfg.target.clone(),
        elapsed,
        execs,
        execs_per_sec: execs as f64 / elapsed.as_secs_f64().max(1e-3),
        edges: protocrash_proto::coverage::count_edges(&union),
        map_size: s.get(StatField::MapSize),
        corpus: s.get(StatField::Corpus),
        crashes: s.get(StatField::UniqueCrashes),
        hangs: s.get(StatField::UniqueHangs),
        ooms: s.get(StatField::UniqueOoms),
        since_last_find: (last > 0).then(|| Duration::from_millis(now_ms().saturating_sub(last))),
        len_limit: s.get(StatField::LenLimit),
    }
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
