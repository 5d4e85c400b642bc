//! `cargo protocrash`: coverage-guided fuzzing for Rust on stable. The binary is also the
//! rustc wrapper of harness builds (see `wrapper`).
#![forbid(unsafe_code)]

use cargo_protocrash::{cli, commands, wrapper, EXIT_ERROR};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    if wrapper::is_wrapper_call() {
        return wrapper::run();
    }
    // Accept both `cargo protocrash …` (argv: cargo-protocrash protocrash …) and a direct
    // `cargo-protocrash …`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != "protocrash") {
        args.insert(1, "protocrash".into());
    }
    let cli::CargoCli::Protocrash(cli) = match cli::CargoCli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { 0 });
        }
    };
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
