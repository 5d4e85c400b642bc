//! The harness's `main`: a worker when started by `cargo protocrash run` (configuration in
//! the environment), a replayer when given files, and the runtime's own messages.

use crate::{Corpus, TargetFn};
use protocrash_proto::config::{ReplayConfig, WorkerConfig, REPLAY_ENV, WORKER_ENV};
use protocrash_proto::EXIT_SETUP_ERROR;
use std::os::unix::ffi::OsStrExt;
use crate::log::error;
use std::path::PathBuf;

const USAGE: &str = "\
This is a protocrash fuzz harness.
  fuzz it:        cargo protocrash run <target>
  replay inputs:  <harness> FILE...   (or: cargo protocrash repro <target> FILE...)
  as libFuzzer:   <harness> [-flag=value ...] [CORPUS_DIR ...]   (see <harness> -help=1)";

/// The harness entry point, called by the `main` that `fuzz_target!` generates.
pub fn main(init: fn(), target: TargetFn) -> i32 {
    if let Some(text) = std::env::var_os(WORKER_ENV) {
        return match WorkerConfig::decode(&text.to_string_lossy()) {
            Ok(cfg) => crate::forkserver::serve(cfg, init, target),
            Err(e) => {
                error(&e);
                EXIT_SETUP_ERROR
            }
        };
    }
    // libFuzzer's command line (any -flag, or a corpus directory): what ClusterFuzz,
    // ClusterFuzzLite and OSS-Fuzz start fuzz targets with. Never under a protocrash replay.
    if std::env::var_os(REPLAY_ENV).is_none() {
        let raw: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
        if crate::libfuzzer::flags::is_libfuzzer_command_line(&raw) {
            return crate::libfuzzer::main(&raw, init, target);
        }
    }
    let mut args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if let Some(flag) = args.iter().find(|a| a.to_string_lossy().starts_with('-')) {
        if matches!(flag.to_str(), Some("-h" | "--help")) {
            println!("{USAGE}");
            return 0;
        }
        eprintln!("protocrash: unknown option {}: this harness takes only input files\n{USAGE}", flag.display());
        return 2;
    }
    let cfg = match std::env::var(REPLAY_ENV) {
        Ok(text) => match ReplayConfig::decode(&text) {
            Ok(c) => c,
            Err(e) => {
                error(&e);
                return 2;
            }
        },
        Err(_) => ReplayConfig::new(1000, 2048),
    };
    if let Some(out) = &cfg.pc_table {
        return crate::replay::write_pc_table(out);
    }
    if let Some(list) = &cfg.files_from {
        match std::fs::read(list) {
            Ok(bytes) => args.extend(
                bytes
                    .split(|&b| b == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p))),
            ),
            Err(e) => {
                error(&format!("cannot read the file list {}: {e}", list.display()));
                return 2;
            }
        }
    }
    if args.is_empty() {
        eprintln!("{USAGE}");
        return 2;
    }
    if let Some(spec) = &cfg.minimize {
        return crate::tmin::minimize(&args, spec, &cfg, init, target);
    }
    if cfg.coverage {
        return crate::replay::replay_coverage(&args, &cfg, init, target);
    }
    crate::replay::replay(&args, &cfg, init, target)
}

/// The libFuzzer entry point: runs the target once in this process.
///
/// # Safety
/// `data` must point to `size` readable bytes (any pointer when `size` is 0).
pub unsafe fn test_one_input(data: *const u8, size: usize, target: TargetFn) -> i32 {
    let bytes = if size == 0 {
        &[][..]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(data, size) }
    };
    match target(bytes) {
        Corpus::Keep => 0,
        Corpus::Reject => -1,
    }
}
