//! The worker: a fork server. It sets up the worker's files, runs the harness's `init` once,
//! then forks a fuzzing child and watches it — a hang (an execution that does not finish
//! within the timeout) or a child over the memory limit is captured and killed, a crash is
//! read from the shared record — records the finding and forks a fresh child.

use crate::aflstats::AflStats;
use crate::findings::FindingStore;
use crate::fuzzer::{Fuzzer, Replica, Shared};
use crate::penalty::Penalties;
use crate::process::{self, Forked, CHILD_DONE};
use crate::sancov::CounterMap;
use crate::shared::SharedRegion;
use crate::signals;
use crate::watchdog::{watch, watch_probing, ChildEnd, Limits, Watched};
use crate::statsfile::{CoverageFile, StatsFile};
use crate::util::{hash64, now_ms};
use crate::warm::WarmState;
use crate::TargetFn;
use protocrash_proto::config::WorkerConfig;
use protocrash_proto::finding::FindingKind;
use protocrash_proto::naming::TEMP_PREFIX;
use protocrash_proto::stats::{StatField, WorkerState};
use protocrash_proto::EXIT_SETUP_ERROR;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The worker's files and shared memory.
struct Workspace {
    stats: &'static StatsFile,
    coverage: CoverageFile,
    region: SharedRegion,
    findings: FindingStore,
    warm: &'static WarmState,
}

impl Workspace {
    fn open(cfg: &WorkerConfig) -> Result<Workspace, String> {
        let dir = cfg.worker();
        let queue = dir.queue();
        protocrash_proto::files::ensure_dir(&queue).map_err(|e| e.to_string())?;
        clean_temp_files(&queue);
        crate::sync::ensure_index(&dir).map_err(|e| format!("cannot write the queue index: {e}"))?;
        let counters = CounterMap::registered();
        if counters.len() == 0 {
            return Err("this harness has no coverage instrumentation; build it with `cargo protocrash build`".into());
        }
        let stats_path = dir.stats();
        let stats = StatsFile::open(&stats_path).map_err(|e| format!("cannot map {}: {e}", stats_path.display()))?;
        let stats = crate::statsfile::install(stats);
        let cov_path = dir.coverage();
        let coverage = CoverageFile::open(&cov_path, counters.len(), build_id(counters.len()))
            .map_err(|e| format!("cannot map {}: {e}", cov_path.display()))?;
        let region = SharedRegion::new(cfg.max_len).map_err(|e| format!("cannot map shared memory: {e}"))?;
        let findings = FindingStore::open(&dir, &cfg.artifact_dir);
        // Leaked: the mapping lives as long as the worker, and the panic hook needs it 'static.
        let warm: &'static WarmState = Box::leak(Box::new(
            WarmState::new(counters.len()).map_err(|e| format!("cannot map shared memory: {e}"))?,
        ));
        warm.set_recover(std::env::var_os("PROTOCRASH_NO_RECOVER").is_none());
        // Measuring switches: PROTOCRASH_DISABLE=block-repeat.
        crate::mutate::disable(&std::env::var("PROTOCRASH_DISABLE").unwrap_or_default());
        // A child that died mid-execution in an earlier run left an odd sequence.
        let seq = stats.get(StatField::ExecSeq);
        stats.set(StatField::ExecSeq, seq.div_ceil(2) * 2);
        stats.set(StatField::PriorExecs, seq.div_ceil(2));
        stats.set(StatField::MaxExecs, cfg.max_execs);
        stats.set(StatField::Stop, 0);
        stats.set(StatField::State, WorkerState::Starting as u64);
        stats.set(StatField::MapSize, counters.len() as u64);
        stats.set(StatField::Edges, coverage.count_edges());
        stats.set(StatField::StartMs, now_ms());
        stats.set(StatField::HeartbeatMs, now_ms());
        stats.set(StatField::Pid, u64::from(std::process::id()));
        Ok(Workspace { stats, coverage, region, findings, warm })
    }
}

/// Identity of this harness build: a stale coverage map from another build must not count.
fn build_id(map_len: usize) -> u64 {
    let meta = std::fs::metadata("/proc/self/exe").ok();
    let mtime =
        meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let size = meta.map(|m| m.len()).unwrap_or(0);
    let nanos = mtime.map(|d| d.as_nanos() as u64).unwrap_or(0);
    let bytes: Vec<u8> = [map_len as u64, size, nanos].iter().flat_map(|v| v.to_le_bytes()).collect();
    crate::util::hash64(&bytes)
}

/// Removes temporary files a dead writer left behind.
fn clean_temp_files(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Runtime panics (between executions) a worker survives before it gives up.
const MAX_INTERNAL_PANICS: u32 = 20;

/// The fork server's side of the known-panic table: which signature each slot holds, and
/// how many of its hits are already counted in the finding store.
#[derive(Default)]
struct KnownPanics {
    slots: Vec<(String, u64)>,
    synced: std::collections::HashSet<String>,
}

impl KnownPanics {
    /// Puts every panic the store knows into the table (before a fork).
    fn sync(&mut self, store: &FindingStore, warm: &WarmState) {
        for sig in store.signatures(FindingKind::Panic) {
            if self.synced.contains(sig) {
                continue;
            }
            self.synced.insert(sig.to_string());
            if warm.add_known(hash64(sig.as_bytes())) == Some(self.slots.len()) {
                self.slots.push((sig.to_string(), 0));
            }
        }
    }

    /// Moves the hits children counted in the table into the store.
    fn fold(&mut self, store: &mut FindingStore, warm: &WarmState) {
        for ((sig, folded), (_, hits)) in self.slots.iter_mut().zip(warm.known_hits()) {
            if hits > *folded {
                store.bump(sig, hits - *folded);
                *folded = hits;
            }
        }
    }
}

/// Runs a worker to the end; returns the process exit code.
pub fn serve(cfg: WorkerConfig, init: fn(), target: TargetFn) -> i32 {
    // A worker never outlives its master (even one killed with SIGKILL).
    process::die_with_parent();
    // Below the sync dir nothing is resolved by path: one openat per component.
    protocrash_proto::files::guard(&cfg.sync_dir);
    let mut ws = match Workspace::open(&cfg) {
        Ok(ws) => ws,
        Err(e) => {
            crate::log::error(&e);
            return EXIT_SETUP_ERROR;
        }
    };
    init();
    let limits = Limits { timeout: Duration::from_millis(cfg.timeout_ms.max(1)), rss_bytes: cfg.rss_limit_mb << 20 };
    // A limit the harness is over before it runs any input would save every input, the
    // empty one first, as an out-of-memory of the target.
    let baseline = process::own_rss_bytes().unwrap_or(0);
    if limits.rss_bytes > 0 && baseline + (baseline >> 2) >= limits.rss_bytes {
        crate::log::error(&format!(
            "--rss-limit-mb {} is too low: the harness uses {} MiB before running any input (after `init`); \
             give it at least {} MiB, or 0 for no limit",
            cfg.rss_limit_mb,
            baseline.div_ceil(1 << 20),
            (baseline * 2).div_ceil(1 << 20)
        ));
        return EXIT_SETUP_ERROR;
    }
    let mut penalties = Penalties::default();
    let start = if cfg.campaign_start_ms > 0 { cfg.campaign_start_ms } else { now_ms() };
    let mut afl = AflStats::new(&cfg.worker(), &cfg.target, ws.stats, start, now_ms());
    let mut generation = 0u64;
    let mut fruitless = 0;
    let mut internal_panics = 0;
    let mut known = KnownPanics::default();
    // The corpus the next child starts from (see `Replica`). PROTOCRASH_COLD_RESTART: every
    // child re-runs the queue, as before warm restarts (to measure what they save; see
    // fixtures/bench/known.sh).
    let cold_restarts = std::env::var_os("PROTOCRASH_COLD_RESTART").is_some();
    let map_len = ws.coverage.buckets().len();
    let mut replica: Option<Replica> = None;
    let seq = ws.stats.field(StatField::ExecSeq);
    // Hang signatures of probed stacks, by raw frames: a known hang walked into again is
    // recognised without symbolising it again (each symbolisation forks a helper that reads
    // the harness's debug information: tens of milliseconds, as long as the probe itself).
    let mut probe_signatures: std::collections::HashMap<Vec<usize>, String> = std::collections::HashMap::new();
    loop {
        let started_at = seq.load(Ordering::Relaxed);
        if ws.stats.get(StatField::Stop) != 0
            || started_at / 2 >= ws.stats.get(StatField::PriorExecs).saturating_add(cfg.max_execs)
        {
            break;
        }
        known.sync(&ws.findings, ws.warm);
        let warm = !cold_restarts
            && generation > 0
            && replica.get_or_insert_with(|| Replica::new(&cfg, map_len)).catch_up(&cfg, ws.warm, &penalties, seq.load(Ordering::Relaxed) / 2);
        if !warm {
            // The child starts cold and rewrites the log: nothing may borrow it meanwhile.
            replica = None;
        }
        ws.region.record().reset();
        let _ = std::io::Write::flush(&mut std::io::stderr());
        let child = match process::fork() {
            Ok(Forked::Child) => child_main(&cfg, target, &ws, &penalties, generation, replica.take()),
            Ok(Forked::Parent(child)) => child,
            Err(e) => {
                crate::log::error(&format!("fork failed: {e}"));
                return EXIT_SETUP_ERROR;
            }
        };
        ws.stats.add(StatField::Children, 1);
        // A heartbeat per child too: when every child dies within microseconds (a crash the
        // corpus keeps hitting), the watch loop below never reaches its periodic tick.
        ws.stats.set(StatField::HeartbeatMs, now_ms());
        let known_hangs: Vec<String> = ws.findings.signatures(FindingKind::Hang).map(str::to_string).collect();
        let heartbeat = || {
            let now = now_ms();
            ws.stats.set(StatField::HeartbeatMs, now);
            known.fold(&mut ws.findings, ws.warm);
            afl.tick(ws.stats, &ws.coverage, now, false);
        };
        // A known hang is recognised from a probe of its stack, symbolised like a finding's
        // (in a forked helper), while the execution goes on.
        let mut recognise = |ips: &[usize]| {
            if probe_signatures.len() >= 4096 {
                probe_signatures.clear();
            }
            let signature = probe_signatures.entry(ips.to_vec()).or_insert_with(|| {
                let frames = crate::symbols::user_view(&crate::symbols::symbolize_isolated(ips));
                crate::symbols::signature(FindingKind::Hang, 0, "", &frames)
            });
            known_hangs.contains(signature).then(|| signature.clone())
        };
        let prober: Option<crate::watchdog::Prober<'_>> =
            if known_hangs.is_empty() { None } else { Some(&mut recognise) };
        let watched = watch_probing(&child, seq, ws.region.record(), &limits, heartbeat, prober);
        let end = match watched {
            Ok(Watched::End(end)) => end,
            Ok(Watched::KnownHang(signature)) => {
                // The same bookkeeping as a hang recorded through the shared record.
                let input = ws.region.input();
                let (parent, token) = ws.region.record().origin();
                penalties.record(&input, parent, token, true);
                ws.stats.add(StatField::Hangs, 1);
                ws.findings.bump(&signature, 1);
                round_up(seq);
                generation += 1;
                continue;
            }
            Err(e) => {
                crate::log::error(&format!("lost track of the fuzzing child: {e}"));
                child.signal(libc::SIGKILL);
                return EXIT_SETUP_ERROR;
            }
        };
        let ended_at = seq.load(Ordering::Relaxed);
        round_up(seq);
        // Figures on time whatever the crash rate: a child that dies within milliseconds
        // never lets the watch loop reach its tick.
        known.fold(&mut ws.findings, ws.warm);
        afl.tick(ws.stats, &ws.coverage, now_ms(), false);
        match end {
            ChildEnd::Done => break,
            ChildEnd::SetupError => return EXIT_SETUP_ERROR,
            ChildEnd::Finding(verdict) => {
                let raw = ws.region.record().read();
                // A panic while no execution was running is the fuzzer's own (an assertion in
                // the runtime), not the target's: said as such, never saved as a finding.
                if ended_at % 2 == 0 && raw.kind == Some(FindingKind::Panic) {
                    internal_panics += 1;
                    crate::log::error(&format!(
                        "internal error: the protocrash runtime panicked between executions ({} at {}); this \
                         is a bug in protocrash, not in the target. The worker goes on with a fresh child.",
                        raw.message, raw.location
                    ));
                    if internal_panics >= MAX_INTERNAL_PANICS {
                        crate::log::error("the runtime keeps panicking; giving up");
                        return EXIT_SETUP_ERROR;
                    }
                    generation += 1;
                    continue;
                }
                let input = ws.region.input();
                let (parent, token) = ws.region.record().origin();
                // A child that caught a panic and went on may have died of what that panic
                // left behind (a poisoned lock, a half-updated global): a finding it did not
                // have before counts only if a fresh child, forked from the clean fork
                // server, dies of the same input too.
                let (raw, verdict) = if ws.region.record().tainted() && ws.findings.known_signature(&raw).is_none() {
                    match confirm(&cfg, target, &ws, &limits, &input) {
                        Some(confirmed) => confirmed,
                        None => {
                            crate::log::warn(&format!(
                                "a {} after a recovered panic did not happen again in a fresh process: it came \
                                 from state the panic left behind, and is not saved. From now on every panic \
                                 ends the fuzzing child (no in-process recovery) in this worker.",
                                raw.kind.unwrap_or(verdict.kind).describe()
                            ));
                            ws.warm.set_recover(false);
                            generation += 1;
                            continue;
                        }
                    }
                } else {
                    (raw, verdict)
                };
                let kind = raw.kind.unwrap_or(verdict.kind);
                penalties.record(&input, parent, token, kind == FindingKind::Hang);
                let (all, unique) = match kind {
                    FindingKind::Hang => (StatField::Hangs, StatField::UniqueHangs),
                    FindingKind::Oom => (StatField::Ooms, StatField::UniqueOoms),
                    _ => (StatField::Crashes, StatField::UniqueCrashes),
                };
                ws.stats.add(all, 1);
                if let Some(report) = ws.findings.record_raw(raw, verdict, &input) {
                    if cfg.libfuzzer {
                        // Printed before the count moves: the master that sees the count
                        // prints the artifact line after this report.
                        eprint!(
                            "{}",
                            crate::libfuzzer::output::render(
                                &report,
                                std::process::id(),
                                cfg.timeout_ms.div_ceil(1000),
                                cfg.rss_limit_mb
                            )
                        );
                    }
                    ws.stats.add(unique, 1);
                }
                if cfg.libfuzzer {
                    // libFuzzer's rule: the first finding ends the run.
                    break;
                }
            }
        }
        // A child that keeps dying before it runs anything is broken, not finding bugs.
        fruitless = if ended_at == started_at { fruitless + 1 } else { 0 };
        if fruitless >= 3 {
            crate::log::error("the fuzzing child died three times before running the target; giving up");
            return EXIT_SETUP_ERROR;
        }
        generation += 1;
    }
    known.fold(&mut ws.findings, ws.warm);
    ws.findings.flush();
    afl.tick(ws.stats, &ws.coverage, now_ms(), true);
    ws.stats.set(StatField::State, WorkerState::Done as u64);
    0
}

fn child_main(
    cfg: &WorkerConfig,
    target: TargetFn,
    ws: &Workspace,
    penalties: &Penalties,
    generation: u64,
    replica: Option<Replica>,
) -> ! {
    child_setup(cfg, ws);
    signals::set_known_table(ws.warm);
    let shared = Shared { region: &ws.region, stats: ws.stats, coverage: &ws.coverage, penalties, warm: ws.warm };
    Fuzzer::new(cfg, target, shared, generation, replica).run();
    process::exit_now(CHILD_DONE)
}

/// What every child of the fork server does first: die with it, keep the target's output
/// off the worker's, report crashes into the shared record, enforce the memory limit.
fn child_setup(cfg: &WorkerConfig, ws: &Workspace) {
    process::die_with_parent();
    match process::silence_output() {
        Ok(fd) => crate::log::set_log_fd(fd),
        Err(e) => crate::log::warn(&format!("cannot silence the target's output: {e}")),
    }
    if let Err(e) = signals::install(ws.region.record()) {
        crate::log::error(&format!("cannot install signal handlers: {e}"));
        process::exit_now(EXIT_SETUP_ERROR);
    }
    if cfg.rss_limit_mb > 0 {
        crate::alloc::set_limit((cfg.rss_limit_mb << 20) as usize);
    }
}

/// Rounds the execution sequence up to even: a child killed mid-execution left it odd, and
/// that execution counts.
fn round_up(seq: &std::sync::atomic::AtomicU64) {
    seq.store(seq.load(Ordering::Relaxed).div_ceil(2) * 2, Ordering::Relaxed);
}

/// Re-runs `input` once in a fresh child (no recovery, no earlier state); the finding it
/// dies of, or None when it does not.
fn confirm(
    cfg: &WorkerConfig,
    target: TargetFn,
    ws: &Workspace,
    limits: &Limits,
    input: &[u8],
) -> Option<(crate::shared::RawReport, crate::watchdog::Verdict)> {
    let record = ws.region.record();
    record.reset();
    ws.region.set_input(input);
    let seq = ws.stats.field(StatField::ExecSeq);
    let child = match process::fork() {
        Ok(Forked::Child) => {
            child_setup(cfg, ws);
            let input = ws.region.input();
            crate::alloc::set_input_len(input.len());
            let n = seq.load(Ordering::Relaxed);
            seq.store(n | 1, Ordering::Relaxed);
            target(&input);
            seq.store((n | 1) + 1, Ordering::Relaxed);
            process::exit_now(CHILD_DONE)
        }
        Ok(Forked::Parent(child)) => child,
        Err(e) => {
            crate::log::warn(&format!("fork failed while confirming a finding: {e}"));
            return None;
        }
    };
    let end = watch(&child, seq, record, limits, || ws.stats.set(StatField::HeartbeatMs, now_ms()));
    round_up(seq);
    match end {
        Ok(ChildEnd::Finding(verdict)) => Some((record.read(), verdict)),
        Ok(_) => None,
        Err(e) => {
            crate::log::warn(&format!("lost track of a confirming child: {e}"));
            child.signal(libc::SIGKILL);
            None
        }
    }
}
