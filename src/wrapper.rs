//! The rustc wrapper. Harness builds run with `RUSTC_WRAPPER` pointing at this very binary;
//! cargo then calls `cargo-protocrash <rustc> <args…>` for every crate. Crates that belong to
//! the runtime (found from the dependency graph by `builder`) have the SanitizerCoverage
//! flags taken out, so the fuzzer's own code never shows up as coverage. Build scripts and
//! proc-macros are compiled without `--target` and never see RUSTFLAGS at all. Instrumented
//! crates are also asked for their LLVM IR, read for the magic values of compares sancov
//! cannot trace (see `autodict`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Set (to "1") in the environment of harness builds.
pub const WRAPPER_ENV: &str = "PROTOCRASH_RUSTC_WRAPPER";
/// Comma-separated crate names not to instrument.
pub const SKIP_ENV: &str = "PROTOCRASH_NO_INSTRUMENT";
/// A wrapper the user had configured (sccache…), called in turn.
pub const INNER_ENV: &str = "PROTOCRASH_INNER_WRAPPER";

/// True when cargo invoked us as the rustc wrapper.
pub fn is_wrapper_call() -> bool {
    std::env::var_os(WRAPPER_ENV).is_some_and(|v| v == "1")
        && std::env::args_os().nth(1).is_some_and(|a| a.to_string_lossy().contains("rustc"))
}

/// Whether an argument is one of the instrumentation flags `builder` adds.
pub fn is_instrumentation_flag(arg: &str) -> bool {
    arg == "-Cpasses=sancov-module"
        || arg.starts_with("-Cllvm-args=-sanitizer-coverage")
        || arg == "-Cllvm-args=-max-loads-per-memcmp=0"
}

/// The arguments to pass on: unchanged for instrumented crates, without sancov flags for
/// crates in `skip`.
pub fn filter_args(args: Vec<OsString>, skip: &[&str]) -> Vec<OsString> {
    let crate_name = args
        .iter()
        .position(|a| a == "--crate-name")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.to_string_lossy().into_owned());
    match crate_name {
        Some(name) if skip.contains(&name.as_str()) => {
            args.into_iter().filter(|a| !is_instrumentation_flag(&a.to_string_lossy())).collect()
        }
        _ => args,
    }
}

/// For an instrumented crate compiled to code (not only checked), where to have rustc write
/// its LLVM IR and where its compare tokens go: beside its outputs, named like them.
pub fn ir_request(args: &[OsString]) -> Option<(PathBuf, PathBuf)> {
    let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let value = |flag: &str| text.iter().position(|a| a == flag).and_then(|i| text.get(i + 1));
    if !text.iter().any(|a| a == "-Cpasses=sancov-module") {
        return None;
    }
    let emits_code = text.iter().any(|a| a.strip_prefix("--emit=").is_some_and(|e| e.split(',').any(|k| k == "link")));
    if !emits_code {
        return None;
    }
    let out_dir = PathBuf::from(value("--out-dir")?);
    let extra = text
        .windows(2)
        .find_map(|w| (w[0] == "-C").then(|| w[1].strip_prefix("extra-filename=")).flatten())
        .unwrap_or("");
    let stem = format!("{}{extra}", value("--crate-name")?);
    Some((
        out_dir.join(format!("{stem}.protocrash.ll")),
        out_dir.join(format!("{stem}.{}", crate::autodict::TOKENS_SUFFIX)),
    ))
}

/// Runs rustc (through the user's own wrapper, if any) with filtered arguments.
pub fn run() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let rustc = args.next().expect("checked by is_wrapper_call");
    let skip_list = std::env::var(SKIP_ENV).unwrap_or_default();
    let skip: Vec<&str> = skip_list.split(',').filter(|s| !s.is_empty()).collect();
    let mut rest = filter_args(args.collect(), &skip);
    let ir = ir_request(&rest);
    if let Some((ir, _)) = &ir {
        let mut emit = OsString::from("--emit=llvm-ir=");
        emit.push(ir);
        rest.push(emit);
    }
    let mut cmd = match std::env::var_os(INNER_ENV).filter(|w| !w.is_empty()) {
        Some(inner) => {
            let mut c = Command::new(inner);
            c.arg(rustc);
            c
        }
        None => Command::new(rustc),
    };
    match cmd.args(rest).status() {
        Ok(status) => {
            if let (Some((ir, tokens)), true) = (ir, status.success()) {
                crate::autodict::extract(&ir, &tokens);
            }
            ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("cargo-protocrash (rustc wrapper): cannot run rustc: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn runtime_crates_lose_only_the_sancov_flags() {
        let args = os(&[
            "--crate-name",
            "protocrash",
            "-Cpasses=sancov-module",
            "-Cllvm-args=-sanitizer-coverage-level=3",
            "--cfg",
            "fuzzing",
            "-Cllvm-args=-other",
        ]);
        let out = filter_args(args, &["protocrash"]);
        assert_eq!(out, os(&["--crate-name", "protocrash", "--cfg", "fuzzing", "-Cllvm-args=-other"]));
    }

    #[test]
    fn only_instrumented_code_builds_are_asked_for_their_ir() {
        let args = os(&[
            "--crate-name",
            "my_crate",
            "--emit=dep-info,metadata,link",
            "-C",
            "extra-filename=-0123abcd",
            "--out-dir",
            "/t/deps",
            "-Cpasses=sancov-module",
        ]);
        let (ir, tokens) = ir_request(&args).unwrap();
        assert_eq!(ir, PathBuf::from("/t/deps/my_crate-0123abcd.protocrash.ll"));
        assert_eq!(tokens, PathBuf::from("/t/deps/my_crate-0123abcd.cmp-tokens"));
        let runtime = filter_args(args.clone(), &["my_crate"]);
        assert_eq!(ir_request(&runtime), None, "an uninstrumented crate");
        let check: Vec<OsString> = args
            .iter()
            .map(|a| if a == "--emit=dep-info,metadata,link" { "--emit=metadata".into() } else { a.clone() })
            .collect();
        assert_eq!(ir_request(&check), None, "a metadata-only build");
    }

    #[test]
    fn user_crates_keep_everything() {
        let args = os(&["--crate-name", "my_crate", "-Cpasses=sancov-module"]);
        assert_eq!(filter_args(args.clone(), &["protocrash"]), args);
    }
}
