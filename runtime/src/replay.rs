//! `harness FILE…`: runs each file once in a forked child under the same watchdog as the
//! fuzzer and reports its outcome — ok, or the finding with its message and a symbolised
//! backtrace, user frames first. Exit status 1 if any input crashed, hung or ran out of
//! memory; 2 if an input could not be read. Also the coverage replay `minimize` uses
//! (one child for many inputs, features per input) and the isolated single run crash
//! minimisation is built on.

use crate::report::Report;
use crate::watchdog::{watch, ChildEnd, Limits, Verdict};
use crate::process::{self, Forked, CHILD_DONE};
use crate::sancov::CounterMap;
use crate::shared::{RawReport, SharedRegion};
use crate::TargetFn;
use protocrash_proto::config::ReplayConfig;
use protocrash_proto::coverage::BUCKET;
use protocrash_proto::replay::{ReplayOutcome, ReplayRecord};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// An isolated run that ended in a finding: what the child recorded and what the watchdog saw.
pub struct Failure {
    /// The child's own record (panic message, frames).
    pub raw: RawReport,
    /// The watchdog's view.
    pub seen: Verdict,
}

/// Runs `data` once in a forked child under the fuzzer's watchdog (`limits`), so a crash,
/// hang or memory blow-up ends only the child. The building block of `repro` and of crash
/// minimisation. None: it ran clean. Err: the child could not be started or watched.
pub fn run_isolated(region: &SharedRegion, limits: &Limits, data: &[u8], target: TargetFn) -> Result<Option<Failure>, String> {
    let record = region.record();
    record.reset();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let child = match process::fork() {
        Ok(Forked::Child) => {
            process::die_with_parent();
            if crate::signals::install(record).is_err() {
                process::exit_now(protocrash_proto::EXIT_SETUP_ERROR);
            }
            if limits.rss_bytes > 0 {
                crate::alloc::set_limit(limits.rss_bytes as usize);
            }
            crate::alloc::set_input_len(data.len());
            record.progress.store(1, Ordering::Relaxed);
            target(data);
            record.progress.store(2, Ordering::Relaxed);
            let _ = std::io::Write::flush(&mut std::io::stdout());
            process::exit_now(CHILD_DONE)
        }
        Ok(Forked::Parent(child)) => child,
        Err(e) => return Err(format!("fork failed: {e}")),
    };
    match watch(&child, &record.progress, record, limits, || {}) {
        Ok(ChildEnd::Done) => Ok(None),
        Ok(ChildEnd::SetupError) => Err("the replay child could not set itself up".into()),
        Ok(ChildEnd::Finding(seen)) => Ok(Some(Failure { raw: record.read(), seen })),
        Err(e) => Err(format!("lost track of the replay child: {e}")),
    }
}

/// Runs the harness's `init`, then maps the shared record every replay mode watches its
/// children through (None, with the error logged, if it cannot be mapped).
pub fn start(init: fn()) -> Option<SharedRegion> {
    init();
    SharedRegion::new(1).map_err(|e| crate::log::error(&format!("cannot map shared memory: {e}"))).ok()
}

/// The watchdog limits of a replay configuration.
pub fn limits(cfg: &ReplayConfig) -> Limits {
    Limits { timeout: Duration::from_millis(cfg.timeout_ms.max(1)), rss_bytes: cfg.rss_limit_mb << 20 }
}

/// Writes the PC table (see `ReplayConfig::pc_table`).
pub fn write_pc_table(out: &std::path::Path) -> i32 {
    let table = match crate::sancov::pc_table() {
        Ok(t) => t,
        Err(e) => {
            crate::log::error(&e);
            return 2;
        }
    };
    let mut bytes = Vec::with_capacity(table.len() * 16);
    for (pc, flags) in table {
        bytes.extend_from_slice(&pc.to_le_bytes());
        bytes.extend_from_slice(&flags.to_le_bytes());
    }
    match std::fs::write(out, bytes) {
        Ok(()) => 0,
        Err(e) => {
            crate::log::error(&format!("cannot write the PC table to {}: {e}", out.display()));
            2
        }
    }
}

/// Replays `files` and prints one outcome per file.
pub fn replay(files: &[PathBuf], cfg: &ReplayConfig, init: fn(), target: TargetFn) -> i32 {
    let Some(region) = start(init) else {
        return 2;
    };
    let limits = limits(cfg);
    let (mut findings, mut unreadable) = (0, 0);
    for path in files {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: cannot read: {e}", path.display());
                unreadable += 1;
                continue;
            }
        };
        let start = Instant::now();
        let report = match run_isolated(&region, &limits, &data, target) {
            Ok(None) => None,
            Ok(Some(Failure { raw, seen })) => Some(Report::from_raw(raw, seen)),
            Err(e) => {
                crate::log::error(&e);
                return 2;
            }
        };
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        findings += usize::from(report.is_some());
        print_outcome(path, &data, ms, report.as_ref(), cfg.json);
    }
    if !cfg.json {
        println!(
            "protocrash: replayed {} input(s): {} ok, {findings} failing{}",
            files.len() - unreadable,
            files.len() - unreadable - findings,
            if unreadable > 0 { format!(", {unreadable} unreadable") } else { String::new() }
        );
    }
    if findings > 0 {
        1
    } else if unreadable > 0 {
        2
    } else {
        0
    }
}

/// Replays `files` for their coverage, as JSON lines: in one forked child that runs input
/// after input in process (as the fuzzer does), so the cost per input is the target's, not a
/// fork's. An input that crashes, hangs or runs out of memory ends that child: it is reported
/// with its kind and signature, and a fresh child carries on with the next file. Each ok line
/// lists the input's features: `edge * 8 + log2(hit-count bucket)`.
pub fn replay_coverage(files: &[PathBuf], cfg: &ReplayConfig, init: fn(), target: TargetFn) -> i32 {
    let Some(region) = start(init) else {
        return 2;
    };
    let limits = limits(cfg);
    let mut counters = CounterMap::registered();
    counters.mask_allocator();
    let record = region.record();
    let mut next = 0;
    while next < files.len() {
        record.reset();
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let child = match process::fork() {
            Ok(Forked::Child) => coverage_child(files, next, cfg, &counters, record, target),
            Ok(Forked::Parent(child)) => child,
            Err(e) => {
                crate::log::error(&format!("fork failed: {e}"));
                return 2;
            }
        };
        let end = watch(&child, &record.progress, record, &limits, || {});
        // progress = 2i+1 while input i runs, 2i+2 once it returned.
        let progress = record.progress.load(Ordering::Relaxed);
        match end {
            Ok(ChildEnd::Done) => break,
            Ok(ChildEnd::SetupError) => {
                crate::log::error("the replay child could not set itself up");
                return 2;
            }
            Ok(ChildEnd::Finding(seen)) if progress % 2 == 1 => {
                let i = (progress / 2) as usize;
                let report = Report::from_raw(record.read(), seen);
                let size = std::fs::metadata(&files[i]).map_or(0, |m| m.len() as usize);
                let outcome = ReplayOutcome::Finding(report.to_message(size));
                println!("{}", ReplayRecord { file: files[i].clone(), outcome }.encode());
                next = i + 1;
            }
            Ok(ChildEnd::Finding(Verdict { message: msg, .. })) => {
                // Died between inputs: the runtime's fault, not an input's.
                crate::log::error(&format!("the replay child died outside the target: {msg}"));
                return 2;
            }
            Err(e) => {
                crate::log::error(&format!("lost track of the replay child: {e}"));
                return 2;
            }
        }
    }
    let _ = std::io::Write::flush(&mut std::io::stdout());
    0
}

fn coverage_child(
    files: &[PathBuf],
    from: usize,
    cfg: &ReplayConfig,
    counters: &CounterMap,
    record: &'static crate::shared::ExecRecord,
    target: TargetFn,
) -> ! {
    use std::io::Write;
    process::die_with_parent();
    if crate::signals::install(record).is_err() {
        process::exit_now(protocrash_proto::EXIT_SETUP_ERROR);
    }
    if cfg.rss_limit_mb > 0 {
        crate::alloc::set_limit((cfg.rss_limit_mb << 20) as usize);
    }
    counters.clear();
    let stdout = std::io::stdout();
    for (i, path) in files.iter().enumerate().skip(from) {
        let outcome = match std::fs::read(path) {
            Err(e) => ReplayOutcome::Unreadable { message: e.to_string() },
            Ok(data) => {
                let start = Instant::now();
                crate::alloc::set_input_len(data.len());
                record.progress.store(2 * i as u64 + 1, Ordering::Relaxed);
                let before = crate::util::hash64(&data);
                target(&data);
                if crate::util::hash64(&data) != before {
                    // Only unsafe code can do this; the input would no longer be what ran.
                    // libFuzzer's words, which ClusterFuzz classifies.
                    crate::log::error(&format!(
                        "=={}== ERROR: libFuzzer: fuzz target overwrites its const input ({})",
                        std::process::id(),
                        path.display()
                    ));
                    std::process::abort();
                }
                record.progress.store(2 * i as u64 + 2, Ordering::Relaxed);
                let micros = start.elapsed().as_micros() as u64;
                let mut features = Vec::new();
                counters.drain(|edge, count| {
                    features.push((edge as u32) << 3 | BUCKET[count as usize].trailing_zeros());
                });
                ReplayOutcome::Ok { size: data.len() as u64, micros, features }
            }
        };
        let line = ReplayRecord { file: path.clone(), outcome }.encode();
        // One write per input, before the next runs: a crash in the next one loses nothing.
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    process::exit_now(CHILD_DONE)
}

fn print_outcome(path: &std::path::Path, data: &[u8], ms: f64, report: Option<&Report>, json: bool) {
    if json {
        let outcome = match report {
            None => ReplayOutcome::Ok { size: data.len() as u64, micros: (ms * 1000.0) as u64, features: Vec::new() },
            Some(r) => ReplayOutcome::Finding(r.to_message(data.len())),
        };
        println!("{}", ReplayRecord { file: path.to_path_buf(), outcome }.encode());
        return;
    }
    match report {
        None => println!("{}: ok ({} bytes, {ms:.1} ms)", path.display(), data.len()),
        Some(r) => {
            println!("{}: {} ({} bytes)", path.display(), r.kind.describe().to_uppercase(), data.len());
            for line in r.render().lines() {
                println!("    {line}");
            }
        }
    }
}
