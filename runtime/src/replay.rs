//! `harness FILE…`: runs each file once in a forked child under the same watchdog as the
//! fuzzer and reports its outcome — ok, or the finding with its message and a symbolised
//! backtrace, user frames first. Exit status 1 if any input crashed, hung or ran out of
//! memory; 2 if an input could not be read.

use crate::findings::Report;
use crate::forkserver::{watch, ChildEnd, Limits};
use crate::process::{self, Forked, CHILD_DONE};
use crate::shared::SharedRegion;
use crate::TargetFn;
use protocrash_proto::config::ReplayConfig;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Replays `files` and prints one outcome per file.
pub fn replay(files: &[PathBuf], cfg: &ReplayConfig, init: fn(), target: TargetFn) -> i32 {
    init();
    let region = match SharedRegion::new(1) {
        Ok(r) => r,
        Err(e) => {
            crate::entry::error(&format!("cannot map shared memory: {e}"));
            return 2;
        }
    };
    let limits = Limits { timeout: Duration::from_millis(cfg.timeout_ms.max(1)), rss_bytes: cfg.rss_limit_mb << 20 };
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
        let record = region.record();
        record.reset();
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let start = Instant::now();
        let child = match process::fork() {
            Ok(Forked::Child) => {
                process::die_with_parent();
                if crate::signals::install(record).is_err() {
                    process::exit_now(protocrash_proto::EXIT_SETUP_ERROR);
                }
                if cfg.rss_limit_mb > 0 {
                    crate::alloc::set_limit((cfg.rss_limit_mb << 20) as usize);
                }
                record.progress.store(1, Ordering::Relaxed);
                target(&data);
                record.progress.store(2, Ordering::Relaxed);
                let _ = std::io::Write::flush(&mut std::io::stdout());
                process::exit_now(CHILD_DONE)
            }
            Ok(Forked::Parent(child)) => child,
            Err(e) => {
                crate::entry::error(&format!("fork failed: {e}"));
                return 2;
            }
        };
        let end = watch(&child, &record.progress, record, &limits, || {});
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let report = match end {
            Ok(ChildEnd::Done) => None,
            Ok(ChildEnd::SetupError) => {
                crate::entry::error("the replay child could not set itself up");
                return 2;
            }
            Ok(ChildEnd::Finding(kind, sig, msg)) => Some(Report::from_raw(record.read(), kind, sig, msg)),
            Err(e) => {
                crate::entry::error(&format!("lost track of the replay child: {e}"));
                return 2;
            }
        };
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

fn print_outcome(path: &std::path::Path, data: &[u8], ms: f64, report: Option<&Report>, json: bool) {
    if json {
        let v = match report {
            None => {
                serde_json::json!({"file": path, "size": data.len(), "ms": ms, "outcome": "ok"})
            }
            Some(r) => serde_json::json!({
                "file": path, "size": data.len(), "ms": ms, "outcome": r.kind,
                "signal": r.signal, "message": r.message, "location": r.location,
                "signature": r.signature, "frames": r.frames.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            }),
        };
        println!("{v}");
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
