//! The watchdog every forked child runs under — the fuzzing child of a worker and the
//! children of the replay modes alike: it waits for the child, calls an execution that does
//! not finish within the timeout a hang and a child over the memory limit an OOM (asking the
//! child to record where it is, then killing it), and classifies how the child ended.

use crate::process::{Child, Exit, CHILD_CAPTURED, CHILD_DONE};
use crate::shared::ExecRecord;
use crate::signals::CAPTURE_SIGNAL;
use protocrash_proto::finding::FindingKind;
use protocrash_proto::EXIT_SETUP_ERROR;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The limits a watched child runs under.
pub struct Limits {
    /// Longest one execution may take.
    pub timeout: Duration,
    /// Resident memory limit in bytes (0 = none).
    pub rss_bytes: u64,
}

/// How a watched child ended.
#[derive(Debug)]
pub enum ChildEnd {
    /// It stopped because it was asked to.
    Done,
    /// It could not set itself up (message already logged).
    SetupError,
    /// A finding, as the watcher saw it.
    Finding(Verdict),
}

/// How a child watched with a prober ended.
#[derive(Debug)]
pub enum Watched {
    /// As with [`watch`].
    End(ChildEnd),
    /// Killed early in a hang the prober recognised: a hit of the known hang with this
    /// signature.
    KnownHang(String),
}

/// What the watcher saw of a child that died of a finding. The child's own record in shared
/// memory (panic message, frames) says more when it wrote one; this is the fallback.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// What it was killed for, or what its death looks like.
    pub kind: FindingKind,
    /// The signal that killed it, or 0.
    pub signal: i32,
    /// A description to fall back on when the child recorded no message.
    pub message: String,
}

/// Watches `child` until it ends. `progress` is odd while the target runs; `tick` runs on
/// every poll (heartbeat).
pub fn watch(
    child: &Child,
    progress: &AtomicU64,
    record: &ExecRecord,
    limits: &Limits,
    tick: impl FnMut(),
) -> std::io::Result<ChildEnd> {
    match watch_probing(child, progress, record, limits, tick, None)? {
        Watched::End(end) => Ok(end),
        Watched::KnownHang(_) => unreachable!("no prober, no known hang"),
    }
}

/// Recognises a known hang from a probe's frames: its signature if it is one.
pub type Prober<'a> = &'a mut dyn FnMut(&[usize]) -> Option<String>;

/// An execution still running after this share of the timeout is first probed.
const PROBE_DIVISOR: u32 = 64;
/// ...and never before this.
const PROBE_MIN: Duration = Duration::from_millis(10);

/// [`watch`], and when `prober` is given, an execution still running after a sixty-fourth
/// of the timeout (at least 10 ms) is probed (its stack recorded while it goes on), and again
/// each time its running time doubles: a hang the worker already knows is killed then, not
/// after the whole timeout — a known hang behind a prefix would otherwise cost the full
/// timeout every time the fuzzer walks back into it. Probing again catches a known hang first
/// seen outside its loop (a slow setup before it). Anything the prober does not recognise (a
/// new hang, a slow input) gets the whole timeout; a probe costs it a signal and a stack walk.
pub fn watch_probing(
    child: &Child,
    progress: &AtomicU64,
    record: &ExecRecord,
    limits: &Limits,
    mut tick: impl FnMut(),
    mut prober: Option<Prober<'_>>,
) -> std::io::Result<Watched> {
    let first_probe = (limits.timeout / PROBE_DIVISOR).max(PROBE_MIN);
    let mut period = (limits.timeout / 4).clamp(Duration::from_millis(5), Duration::from_millis(100));
    if prober.is_some() {
        period = period.min(first_probe / 2);
    }
    let mut last = progress.load(Ordering::Relaxed);
    let mut since = Instant::now();
    // When the current execution is probed next (doubling from `first_probe`).
    let mut next_probe = first_probe;
    loop {
        if let Some(exit) = child.wait_timeout(period)? {
            return Ok(Watched::End(classify(exit, record)));
        }
        tick();
        let now_progress = progress.load(Ordering::Relaxed);
        let now = Instant::now();
        if now_progress != last || now_progress.is_multiple_of(2) {
            last = now_progress;
            since = now;
            next_probe = first_probe;
        } else if prober.is_some() && now - since >= next_probe && now - since < limits.timeout {
            next_probe = (now - since) * 2;
            if let Some(p) = prober.as_mut() {
                let frames = match probe(child, record)? {
                    Probed::Exited(exit) => return Ok(Watched::End(classify(exit, record))),
                    Probed::Frames(frames) => Some(frames),
                    Probed::Nothing => None,
                };
                if let Some(frames) = frames {
                    if let Some(signature) = p(&frames) {
                        // Still the same execution? Then it is the known hang: kill it.
                        if progress.load(Ordering::Relaxed) == now_progress {
                            child.signal(libc::SIGKILL);
                            child.wait()?;
                            return Ok(Watched::KnownHang(signature));
                        }
                    }
                }
            }
        } else if now - since >= limits.timeout {
            let ms = limits.timeout.as_millis();
            return capture_and_kill(
                child,
                record,
                FindingKind::Hang,
                format!("an execution ran longer than the {ms} ms timeout"),
            )
            .map(Watched::End);
        }
        if limits.rss_bytes > 0 {
            if let Some(rss) = child.rss_bytes().filter(|&r| r > limits.rss_bytes) {
                let msg = format!("resident memory {} MiB over the {} MiB limit", rss >> 20, limits.rss_bytes >> 20);
                return capture_and_kill(child, record, FindingKind::Oom, msg).map(Watched::End);
            }
        }
    }
}

/// What a probe got.
enum Probed {
    Frames(Vec<usize>),
    Exited(Exit),
    Nothing,
}

/// Asks the child for a probe and waits (at most 50 ms) for its frames.
fn probe(child: &Child, record: &ExecRecord) -> std::io::Result<Probed> {
    record.request_probe();
    child.signal(CAPTURE_SIGNAL);
    let end = Instant::now() + Duration::from_millis(50);
    while Instant::now() < end {
        if let Some(frames) = record.probe() {
            return Ok(Probed::Frames(frames));
        }
        if let Some(exit) = child.wait_timeout(Duration::from_millis(1))? {
            return Ok(Probed::Exited(exit));
        }
    }
    Ok(Probed::Nothing)
}

fn classify(exit: Exit, record: &ExecRecord) -> ChildEnd {
    match exit {
        Exit::Code(CHILD_DONE) => ChildEnd::Done,
        Exit::Code(EXIT_SETUP_ERROR) => ChildEnd::SetupError,
        Exit::Code(CHILD_CAPTURED) => {
            let kind = record.requested().unwrap_or(FindingKind::Hang);
            ChildEnd::Finding(Verdict { kind, signal: 0, message: "killed by the fork server".into() })
        }
        Exit::Code(code) => {
            ChildEnd::Finding(Verdict { kind: FindingKind::Signal, signal: 0, message: format!("the target called exit({code})") })
        }
        Exit::Signal(signal) => {
            ChildEnd::Finding(Verdict { kind: FindingKind::Signal, signal, message: format!("killed by signal {signal}") })
        }
    }
}

/// Asks the child to record where it is (SIGUSR2), then makes sure it is dead.
fn capture_and_kill(
    child: &Child,
    record: &ExecRecord,
    kind: FindingKind,
    message: String,
) -> std::io::Result<ChildEnd> {
    record.request(kind);
    child.signal(CAPTURE_SIGNAL);
    if child.wait_timeout(Duration::from_secs(1))?.is_none() {
        child.signal(libc::SIGKILL);
        child.wait()?;
    }
    Ok(ChildEnd::Finding(Verdict { kind, signal: 0, message }))
}

