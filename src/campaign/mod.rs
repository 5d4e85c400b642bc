//! The campaign master: starts the harness as fork-server workers with their configuration
//! in the environment, watches them through their mapped stats files, enforces the time
//! bound, relays Ctrl-C as a graceful stop, reports findings as they appear, and at the end
//! copies new corpus entries into `fuzz/corpus/<target>/`.

pub mod lifecycle;
pub mod nodelock;
mod worker;

use crate::aggregate::{self, WorkerStatus};
use crate::display::{Display, Snapshot, WorkerRow};
use crate::shell::{display_path, ReproCommand};
use anyhow::{bail, Context, Result};
use lifecycle::{Circumstances, Decision, Event, Fatal, Phase, ProcessEnd};
use protocrash_proto::campaign::{CampaignFile, CAMPAIGN_VERSION};
use protocrash_proto::finding::{Finding, FindingKind};
use protocrash_proto::layout::SyncDir;
use protocrash_proto::naming::{content_id, parse_queue_name};
use protocrash_proto::stats::{heartbeat_grace, StatField, WorkerState};
use protocrash_proto::time::now_ms;
use protocrash_proto::EXIT_SETUP_ERROR;
use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::Worker;

/// Everything a campaign needs, parsed and validated.
#[derive(Clone, Debug)]
pub struct CampaignConfig {
    /// Target name.
    pub target: String,
    /// The built harness.
    pub harness: PathBuf,
    /// The sync dir.
    pub sync: SyncDir,
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
    let root = cfg.sync.root();
    std::fs::create_dir_all(root).with_context(|| format!("cannot create the sync dir {}", root.display()))?;
    let _node_lock = nodelock::acquire(&cfg.sync, &cfg.node)?;
    write_campaign_file(cfg)?;
    let mut workers = Vec::new();
    for (i, share) in shares(cfg.runs, cfg.jobs).into_iter().enumerate() {
        workers.push(Worker::new(cfg, i, share)?);
    }
    let start = Instant::now();
    let campaign_start_ms = now_ms();
    for w in &mut workers {
        w.life = lifecycle::Life::pending(start);
        if w.share == 0 {
            w.life.phase = Phase::Finished;
        }
    }
    let mut display = Display::new(cfg.plain);
    let mut printed: HashSet<String> = HashSet::new();
    for w in &workers {
        printed.extend(aggregate::read_findings(&w.dir).into_iter().map(|f| f.id));
    }
    let mut known_at_start = printed.clone();
    known_at_start.extend(cfg.known.iter().cloned());
    let grace = heartbeat_grace(cfg.timeout);
    let mut stop_sent: Option<Instant> = None;
    let mut seen_unique = 0;
    let mut distinct = KindCounts::default();
    let mut build_id = None;
    let mut union = Vec::new();
    let mut union_at: Option<Instant> = None;
    // The first write a worker could not make in the sync dir: it ends the campaign.
    let mut fault: Option<String> = None;
    let dirs = |workers: &[Worker]| workers.iter().map(|w| w.dir.clone()).collect::<Vec<_>>();
    loop {
        let tick = Instant::now();
        for w in &mut workers {
            // Starting workers takes at most part of a tick: the rest start in the next ones.
            let may_start = tick.elapsed() < SPAWN_SLICE;
            let polled = poll_worker(w, cfg, campaign_start_ms, stop_sent.is_some(), may_start, grace, &mut display);
            if let Err(e) = polled {
                for other in &mut workers {
                    other.kill();
                }
                return Err(e);
            }
        }
        if workers.iter().all(|w| w.life.is_over()) {
            break;
        }
        if fault.is_none() {
            fault = workers.iter().find_map(|w| {
                // The mapped file only: no open per worker per display tick.
                let (count, text) = w.stats.as_ref()?.view().write_failure()?;
                Some(format!(
                    "worker {} could not write in the sync dir ({count} failed writes), first: {text}",
                    w.name()
                ))
            });
            if let Some(f) = &fault {
                display.message(&format!("protocrash: error: {f}; stopping the campaign"));
            }
        }
        let out_of_time = cfg.max_total_time.is_some_and(|t| start.elapsed() >= t);
        let failed_fast = cfg.fail_fast && workers.iter().any(|w| w.hits() > 0);
        let stop = interrupted.load(Ordering::Relaxed) || out_of_time || failed_fast || fault.is_some();
        if stop_sent.is_none() && stop {
            for w in &mut workers {
                w.request_stop();
            }
            stop_sent = Some(Instant::now());
        }
        if stop_sent.is_some_and(|t| t.elapsed() > cfg.timeout + Duration::from_secs(10)) {
            for w in workers.iter_mut().filter(|w| w.life.phase == Phase::Running) {
                display.message(&format!("protocrash: worker {} did not stop in time; killing it", w.name()));
                w.kill();
            }
        }
        let unique: u64 = workers.iter().map(Worker::unique).sum();
        if unique != seen_unique {
            seen_unique = unique;
            let merged = aggregate::merged_findings(&dirs(&workers));
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
                .filter(|w| w.stats.as_ref().is_some_and(|s| s.view().state() != WorkerState::Starting))
                .find_map(|w| aggregate::build_of(&w.dir));
        }
        if build_id.is_some() && union_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            union = aggregate::union_of(&aggregate::worker_dirs(&cfg.sync), build_id);
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
    if workers.iter().all(|w| w.life.phase == Phase::GaveUp) {
        bail!("every worker kept dying; see the logs above");
    }
    let findings = aggregate::merged_findings(&dirs(&workers));
    for f in &findings {
        if printed.insert(f.id.clone()) {
            display.message(&describe_new_finding(f, cfg));
        }
    }
    let union = aggregate::union_of(&aggregate::worker_dirs(&cfg.sync), build_id);
    let mut exported = 0;
    let mut export_error = None;
    for w in &workers {
        match export_corpus(&w.dir.queue(), &cfg.corpus_dir) {
            Ok(n) => exported += n,
            Err(e) => export_error = Some(format!("{e:#}")),
        }
    }
    if let Some(f) = fault {
        bail!("{}", fault_report(&f, cfg, &findings, exported, export_error.as_deref()));
    }
    if let Some(e) = export_error {
        bail!("{e}; the corpus stays in {}", cfg.sync.root().display());
    }
    Ok(Summary {
        started_ms: campaign_start_ms,
        elapsed: start.elapsed(),
        execs: workers.iter().map(Worker::execs).sum(),
        edges: protocrash_proto::coverage::count_edges(&union),
        corpus: queued_entries(&workers),
        hits: workers.iter().map(Worker::hits).sum(),
        new_ids: findings.iter().filter(|f| !known_at_start.contains(&f.id)).map(|f| f.id.clone()).collect(),
        findings,
        interrupted: interrupted.load(Ordering::Relaxed),
        exported,
    })
}

/// The part of a display tick the master spends starting workers (`-j` far above the core
/// count takes seconds to start, and the time bound and the figures must not wait for it).
const SPAWN_SLICE: Duration = Duration::from_millis(100);

/// Checks one worker: relays its log, notices its exit or its silence, and carries out what
/// its life cycle decides (starting it only when `may_start`).
fn poll_worker(
    w: &mut Worker,
    cfg: &CampaignConfig,
    campaign_start_ms: u64,
    stopping: bool,
    may_start: bool,
    grace: Duration,
    display: &mut Display,
) -> Result<()> {
    let circumstances =
        |w: &Worker| Circumstances { now: Instant::now(), stopping, budget_spent: w.execs() >= w.share };
    if matches!(w.life.phase, Phase::Restarting(_) | Phase::Pending) {
        if !may_start && !stopping {
            return Ok(());
        }
        let at = circumstances(w);
        if lifecycle::step(&mut w.life, Event::Waiting, at) == Decision::Spawn {
            w.spawn(cfg, campaign_start_ms)?;
        }
        return Ok(());
    }
    if w.life.phase != Phase::Running {
        return Ok(());
    }
    let exited = match &mut w.child {
        Some(c) => {
            // The target's own children die with the worker: its group is killed while the
            // worker is a zombie, before reaping frees its id.
            if worker::has_exited(c.id()) {
                worker::kill_group(c.id());
            }
            c.try_wait()?
        }
        None => return Ok(()),
    };
    // Map the stats as soon as the worker created them (also after a quick exit: a short
    // campaign may end before the first poll).
    w.map_stats()?;
    for line in w.new_log_lines() {
        display.message(&line);
    }
    if exited.is_none() && w.dir_lost() {
        display.message(&format!(
            "protocrash: warning: the directory of worker {} ({}) was removed or replaced during the run; \
             restarting the worker, which makes it again. Its executions so far still count; what the \
             directory held (queue, findings) is gone unless it was copied elsewhere",
            w.name(),
            display_path(w.dir.path())
        ));
        w.carry_over();
        w.kill();
        return Ok(());
    }
    let Some(status) = exited else {
        let silent = w.stats.as_ref().map(|s| s.view()).filter(|v| v.is_inactive(now_ms(), grace * 2));
        if let Some(v) = silent {
            let at = circumstances(w);
            if lifecycle::step(&mut w.life, Event::Silent, at) == Decision::Kill {
                display.message(&format!(
                    "protocrash: worker {} stopped responding (no heartbeat for {}s); killing and restarting it",
                    w.name(),
                    v.heartbeat_age_ms(now_ms()) / 1000
                ));
                w.kill();
            }
        }
        return Ok(());
    };
    w.child = None;
    w.drain_output();
    for line in w.new_log_lines() {
        display.message(&line);
    }
    let end = ProcessEnd {
        success: status.success(),
        sigkilled: status.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32),
        setup_error: status.code() == Some(EXIT_SETUP_ERROR),
        reported: w.stats.is_some() || w.carried,
    };
    let killed_silent = w.life.killed_silent;
    let why = if killed_silent { "killed for silence".to_string() } else { status.to_string() };
    let at = circumstances(w);
    match lifecycle::step(&mut w.life, Event::Exited(end), at) {
        Decision::Finished { unexpected: true } => {
            display.message(&format!("protocrash: worker {} ended with {status} after its last run", w.name()));
        }
        Decision::Fatal(Fatal::SetupError) => bail!("the harness could not start:\n{}", w.log_tail()),
        Decision::Fatal(Fatal::NotAHarness) => bail!(
            "the harness exited ({status}) before starting the protocrash runtime; is it a \
             `protocrash::fuzz_target!` harness built by `cargo protocrash build`?\n{}",
            w.log_tail()
        ),
        Decision::GiveUp => display.message(&format!(
            "protocrash: worker {} died {} times in a row within {}s of starting ({why}); leaving it stopped. \
             Everything it saved is kept in {}. Its last log lines:\n{}",
            w.name(),
            w.life.quick_deaths,
            lifecycle::QUICK_DEATH.as_secs(),
            w.dir.path().display(),
            w.log_tail()
        )),
        Decision::Restart { delay } => display.message(&format!(
            "protocrash: worker {} died ({why}); restarting it{} (restart {}); everything it saved is kept",
            w.name(),
            if delay.is_zero() { String::new() } else { format!(" in {}s", delay.as_secs()) },
            w.life.restarts
        )),
        Decision::Finished { unexpected: false } | Decision::Nothing | Decision::Spawn | Decision::Kill => {}
    }
    Ok(())
}

/// Distinct findings by kind, over every worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KindCounts {
    crashes: u64,
    hangs: u64,
    ooms: u64,
}

impl KindCounts {
    fn of(findings: &[Finding]) -> KindCounts {
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
        row.state = match w.life.phase {
            Phase::Restarting(_) => WorkerStatus::Restarting,
            Phase::Pending => WorkerStatus::Starting,
            Phase::GaveUp => WorkerStatus::Dead,
            Phase::Finished => WorkerStatus::Done,
            Phase::Running => WorkerStatus::Starting,
        };
        if let Some(v) = w.stats.as_ref().map(|m| m.view()) {
            if w.life.phase == Phase::Running {
                row.state = WorkerStatus::of(&v, now, grace);
            }
            row.corpus = v.get(StatField::QueueLen);
            row.finds = v.unique_findings();
            row.imports = v.get(StatField::Imports);
            row.restarts = w.life.restarts;
            if v.state() != WorkerState::Starting {
                row.edges = aggregate::own_edges(&w.dir);
            }
            s.map_size = s.map_size.max(v.get(StatField::MapSize));
            s.corpus += row.corpus;
            s.len_limit = s.len_limit.max(v.get(StatField::LenLimit));
            last_find = last_find.max(v.get(StatField::LastFindMs));
        }
        s.workers.push(row);
    }
    s.execs_per_sec = aggregate::rate(s.execs, elapsed);
    s.edges = protocrash_proto::coverage::count_edges(union);
    s.since_last_find = (last_find > 0).then(|| Duration::from_millis(now.saturating_sub(last_find)));
    s
}

/// What a campaign stopped by a failed write says: what failed, what is kept and where, and
/// what to do.
fn fault_report(
    fault: &str,
    cfg: &CampaignConfig,
    findings: &[Finding],
    exported: usize,
    export: Option<&str>,
) -> String {
    let mut kept = match export {
        None => format!("{exported} new corpus entries were copied to {}", display_path(&cfg.corpus_dir)),
        Some(e) => format!("the corpus could not be copied out either ({e})"),
    };
    for f in findings {
        kept += &match f.artifact.as_str() {
            "" => format!("; the {} '{}' could not be saved anywhere", f.kind.describe(), f.message),
            at => format!("; the {} '{}' is saved in {}", f.kind.describe(), f.message, display_path(Path::new(at))),
        };
    }
    format!(
        "{fault}\nThe campaign stopped. {kept}; what the workers wrote before the failure stays in {}.\n\
         Free space in (or fix the permissions of) {0} and run again: the campaign carries on from what is there.",
        display_path(cfg.sync.root())
    )
}

/// One finding as announced during the run.
pub fn describe_new_finding(f: &Finding, cfg: &CampaignConfig) -> String {
    let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
    let saved = match f.artifact.as_str() {
        "" => "NOT SAVED (the write failed; see the error below)".to_string(),
        at => format!("{} ({} bytes)", display_path(Path::new(at)), f.size),
    };
    // A reproducer the user kept in fuzz/artifacts is a bug known before this run.
    let new = if cfg.known.contains(&f.id) { "known" } else { "new" };
    format!(
        "protocrash: found a {new} {} in '{}': {}{at}\n  saved: {saved}\n  reproduce: {}",
        f.kind.describe(),
        cfg.target,
        f.message,
        cfg.repro.for_finding(f)
    )
}

fn write_campaign_file(cfg: &CampaignConfig) -> Result<()> {
    let doc = CampaignFile {
        version: CAMPAIGN_VERSION,
        target: cfg.target.clone(),
        harness: cfg.harness.clone(),
        node: cfg.node.clone(),
        started_ms: now_ms(),
        seed: cfg.seed,
        timeout_ms: cfg.timeout.as_millis() as u64,
        rss_limit_mb: cfg.rss_limit_mb,
        max_len: cfg.max_len,
    };
    protocrash_proto::files::write_atomic(&cfg.sync.campaign_file(), doc.encode().as_bytes())
        .context("cannot record the campaign")
}

/// Copies queue entries whose content is not yet in `corpus_dir` there (cargo-fuzz layout).
/// Distinct entries in the workers' queues (by content id, from the names alone): the
/// campaign's corpus, as `export_corpus` copies it.
fn queued_entries(workers: &[Worker]) -> u64 {
    let mut ids = HashSet::new();
    for w in workers {
        if let Ok(entries) = std::fs::read_dir(w.dir.queue()) {
            ids.extend(
                entries.flatten().filter_map(|e| parse_queue_name(&e.file_name().to_string_lossy())).map(|q| q.content),
            );
        }
    }
    ids.len() as u64
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_shared_out_exactly() {
        assert_eq!(shares(Some(10), 3), [4, 3, 3]);
        assert_eq!(shares(Some(1), 2), [1, 0]);
        assert_eq!(shares(None, 2), [u64::MAX, u64::MAX]);
        assert_eq!(shares(Some(5), 0), [5], "at least one worker");
    }

    #[test]
    fn distinct_findings_are_counted_by_kind() {
        let f = |kind| Finding {
            signature: String::new(),
            id: String::new(),
            kind,
            signal: 0,
            message: String::new(),
            location: String::new(),
            frames: Vec::new(),
            count: 1,
            first_seen_ms: 0,
            last_seen_ms: 0,
            file: String::new(),
            artifact: String::new(),
            size: 0,
        };
        let c = KindCounts::of(&[f(FindingKind::Panic), f(FindingKind::StackOverflow), f(FindingKind::Oom)]);
        assert_eq!(c, KindCounts { crashes: 2, hangs: 0, ooms: 1 });
    }

    #[test]
    fn export_copies_new_contents_only() {
        let root = tempfile::tempdir().unwrap();
        let (queue, corpus) = (root.path().join("q"), root.path().join("corpus"));
        std::fs::create_dir_all(&queue).unwrap();
        std::fs::create_dir_all(&corpus).unwrap();
        std::fs::write(corpus.join("seed"), b"old").unwrap();
        std::fs::write(queue.join(protocrash_proto::naming::queue_name(b"old", 1)), b"old").unwrap();
        std::fs::write(queue.join(protocrash_proto::naming::queue_name(b"new", 2)), b"new").unwrap();
        std::fs::write(queue.join("junk"), b"junk").unwrap();
        assert_eq!(export_corpus(&queue, &corpus).unwrap(), 1);
        assert_eq!(export_corpus(&queue, &corpus).unwrap(), 0, "a second export adds nothing");
        assert_eq!(std::fs::read_dir(&corpus).unwrap().count(), 2);
    }
}
