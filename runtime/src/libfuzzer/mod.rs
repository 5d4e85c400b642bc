//! libFuzzer's interface on every protocrash harness, so the engines that start fuzz targets
//! *as libFuzzer* — ClusterFuzz, ClusterFuzzLite, OSS-Fuzz — run protocrash's engine: its
//! flags and positional arguments (`flags`), its output and exit codes (`output`), and the
//! modes they use — fuzzing (`fuzz`: a small master over protocrash workers), running
//! inputs, `-merge=1`, `-minimize_crash=1`, `-cleanse_crash=1`.

pub mod flags;
mod fuzz;
mod merge;
pub mod output;

use crate::replay::{limits, run_isolated, Failure};
use crate::report::Report;
use crate::sancov::CounterMap;
use crate::TargetFn;
use flags::{Flags, OOM_EXIT, USAGE_EXIT};
use protocrash_proto::config::{MinimizeSpec, ReplayConfig};
use protocrash_proto::finding::FindingKind;
use std::time::{Duration, Instant};

/// Runs the harness under libFuzzer's command line `args` (program name excluded); returns
/// the process exit code, libFuzzer's.
pub fn main(args: &[String], init: fn(), target: TargetFn) -> i32 {
    let flags = match flags::parse(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return USAGE_EXIT;
        }
    };
    if flags.help {
        print!("{}", flags::HELP);
        return 0;
    }
    for warning in &flags.ignored {
        eprintln!("WARNING: protocrash: {warning}");
    }
    let map_len = CounterMap::registered().len();
    if map_len == 0 {
        eprintln!(
            "ERROR: no interesting inputs were found. Is the code instrumented for coverage? Exiting.\n\
             protocrash: this harness has no coverage instrumentation; build it with `cargo protocrash build`"
        );
        return USAGE_EXIT;
    }
    if flags.merge {
        return merge::merge(&flags);
    }
    let files = flags.inputs.iter().any(|p| !p.is_dir());
    if flags.minimize_crash || flags.cleanse_crash {
        return shrink(&flags, init, target);
    }
    if files {
        return run_inputs(&flags, init, target);
    }
    fuzz::fuzz(&flags, map_len)
}

/// Largest corpus file read (a seed, a worker's queue entry, an input to merge).
const FILE_LIMIT: u64 = 64 << 20;

/// This binary, to start again as a worker or a coverage replay.
fn self_exe() -> std::io::Result<std::path::PathBuf> {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if proc_exe.exists() {
        Ok(proc_exe.to_path_buf())
    } else {
        std::env::current_exe()
    }
}

/// The replay limits of the flags.
fn replay_config(flags: &Flags) -> ReplayConfig {
    ReplayConfig::new(flags.timeout.saturating_mul(1000), flags.memory_limit_mb())
}

/// The exit code of a finding.
fn exit_code(flags: &Flags, kind: FindingKind) -> i32 {
    match kind {
        FindingKind::Hang => flags.timeout_exitcode,
        FindingKind::Oom => OOM_EXIT,
        _ => flags.error_exitcode,
    }
}

/// `harness [flags] FILE…`: runs each file (`-runs` times, while it runs clean and for at
/// most a few seconds each), each run in a forked child under the watchdog; the first finding
/// is reported as libFuzzer reports it and ends the process with its exit code.
fn run_inputs(flags: &Flags, init: fn(), target: TargetFn) -> i32 {
    let Some(region) = crate::replay::start(init) else {
        return USAGE_EXIT;
    };
    let cfg = replay_config(flags);
    let limits = limits(&cfg);
    let runs = flags.runs.unwrap_or(1).max(1);
    let exe = std::env::args().next().unwrap_or_default();
    eprintln!("{exe}: Running {} inputs {runs} time(s) each.", flags.inputs.len());
    for path in &flags.inputs {
        eprintln!("Running: {}", path.display());
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("ERROR: protocrash: cannot read {}: {e}", path.display());
                return USAGE_EXIT;
            }
        };
        let start = Instant::now();
        for _ in 0..runs {
            match run_isolated(&region, &limits, &data, target) {
                Ok(None) => {}
                Ok(Some(Failure { raw, seen })) => {
                    let report = Report::from_raw(raw, seen);
                    eprint!("{}", output::render(&report, std::process::id(), flags.timeout, cfg.rss_limit_mb));
                    return exit_code(flags, report.kind);
                }
                Err(e) => {
                    eprintln!("ERROR: protocrash: {e}");
                    return USAGE_EXIT;
                }
            }
            if start.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        eprintln!("Executed {} in {} ms", path.display(), start.elapsed().as_millis());
    }
    eprintln!("***\n*** NOTE: fuzzing was not performed, you have only\n***       executed the target code on a fixed set of inputs.\n***");
    0
}

/// `-minimize_crash=1` and `-cleanse_crash=1`: protocrash's crash minimiser (same finding,
/// same signature), writing to `-exact_artifact_path` (or `<prefix>minimized-from-<sha1>`).
/// Cleansing keeps the length and only replaces the bytes the crash does not need.
fn shrink(flags: &Flags, init: fn(), target: TargetFn) -> i32 {
    let [input] = &flags.inputs[..] else {
        eprintln!("ERROR: -minimize_crash and -cleanse_crash take exactly one input file");
        return USAGE_EXIT;
    };
    let data = match std::fs::read(input) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ERROR: protocrash: cannot read {}: {e}", input.display());
            return USAGE_EXIT;
        }
    };
    let what = if flags.cleanse_crash { "cleansed" } else { "minimized-from" };
    let out = flags
        .exact_artifact_path
        .clone()
        .unwrap_or_else(|| format!("{}{what}-{}", flags.artifact_prefix, output::sha1_hex(&data)).into());
    let budget_s = if flags.max_total_time > 0 { flags.max_total_time } else { 600 };
    let spec = MinimizeSpec {
        runs: flags.runs.unwrap_or(u64::MAX),
        max_ms: budget_s.saturating_mul(1000),
        out: out.clone(),
        cleanse: flags.cleanse_crash,
    };
    let code = crate::tmin::minimize(std::slice::from_ref(input), &spec, &replay_config(flags), init, target);
    if code == 0 {
        let size = std::fs::metadata(&out).map_or(0, |m| m.len());
        eprintln!("CRASH_MIN: {} ({} bytes) -> {} ({size} bytes)", input.display(), data.len(), out.display());
        0
    } else {
        eprintln!("CRASH_MIN: {} could not be shrunk (see above)", input.display());
        USAGE_EXIT
    }
}
