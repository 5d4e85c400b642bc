//! Builds harnesses: release mode (or `--dev`), SanitizerCoverage through stable `-C` flags,
//! `--cfg fuzzing --cfg protocrash`, debug assertions and overflow checks, one codegen unit,
//! line tables, and an explicit `--target <host>` so build scripts and proc-macros stay
//! uninstrumented. The runtime is excluded from instrumentation by the rustc wrapper (see
//! `wrapper`).
//!
//! Output goes to `fuzz/target/protocrash`, beside (not over) what `cargo fuzz` builds in
//! `fuzz/target`, so switching between the two tools rebuilds neither's binaries. In a
//! cargo-fuzz project the build also leaves its Cargo.lock exactly as it found it (see
//! `lockfile`): the stand-in for libfuzzer-sys is resolved for the build only.

use crate::project::Project;
use crate::wrapper::{INNER_ENV, SKIP_ENV, WRAPPER_ENV};
use anyhow::{bail, Context, Result};
use cargo_metadata::{MetadataCommand, PackageId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// SanitizerCoverage on stable rustc: per-edge 8-bit counters, a PC table, compare tracing.
pub const SANCOV_FLAGS: [&str; 6] = [
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=3",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    // Compare and switch hooks: value profile and input-to-state (see runtime/src/cmp.rs).
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    // Keep slice/string equality as `bcmp`/`memcmp` calls the runtime can see: codegen would
    // otherwise expand them into loads after the sancov pass ran (clang's
    // -fsanitize=fuzzer gets the same effect from -fno-builtin-memcmp).
    "-Cllvm-args=-max-loads-per-memcmp=0",
];

/// How to build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// `--features` passed through.
    pub features: Option<String>,
    /// `--no-default-features` passed through.
    pub no_default_features: bool,
    /// Unoptimised build.
    pub dev: bool,
    /// Cargo target directory (default `fuzz/target/protocrash`, or `CARGO_TARGET_DIR`).
    pub target_dir: Option<PathBuf>,
}

/// Builds `targets` and returns each harness binary.
pub fn build(project: &Project, targets: &[String], opts: &BuildOptions) -> Result<BTreeMap<String, PathBuf>> {
    let runtime = crate::runtime_src::ensure()?;
    // The runtime as `protocrash`, and as `libfuzzer-sys` for cargo-fuzz harnesses (the
    // runtime's own optional libfuzzer-sys dependency then resolves to it too, offline).
    // A patch nothing uses draws a cargo warning, hence the conditions: a protocrash project
    // whose lock already pins crates.io's libfuzzer-sys (after `cargo fuzz build` resolved
    // the runtime's libFuzzer dependency there) keeps that pin; it is never built here.
    let lock = std::fs::read_to_string(&project.lock_file).unwrap_or_default();
    let mut patches = Vec::new();
    if project.uses_libfuzzer_sys || !crate::lockfile::pins_registry_package(&lock, "libfuzzer-sys") {
        patches.push(("libfuzzer-sys", runtime.libfuzzer_compat()));
    }
    if project.uses_protocrash {
        patches.push(("protocrash", runtime.runtime()));
    }
    let patches: Vec<String> = patches
        .into_iter()
        .map(|(name, dir)| format!("patch.crates-io.{name}.path={}", toml_string(&dir.display().to_string())))
        .collect();
    let target_dir = opts
        .target_dir
        .clone()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| project.fuzz_dir.join("target").join("protocrash"));
    let lock_guard = match project.uses_libfuzzer_sys {
        true => Some(crate::lockfile::LockGuard::unpin(&project.lock_file, "libfuzzer-sys", &target_dir)?),
        false => None,
    };
    let skip = runtime_only_crates(project, &patches)?;
    let host = host_triple()?;
    let profile = if opts.dev { "DEV" } else { "RELEASE" };
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    for flag in ["--cfg", "fuzzing", "--cfg", "protocrash"].iter().chain(SANCOV_FLAGS.iter()) {
        rustflags.push(' ');
        rustflags.push_str(flag);
    }

    let mut cargo = escargot::CargoBuild::new()
        .manifest_path(&project.manifest)
        .target(&host)
        .target_dir(&target_dir)
        .env("RUSTFLAGS", rustflags.trim())
        .env("RUSTC_WRAPPER", std::env::current_exe().context("cannot find the cargo-protocrash binary")?)
        .env(WRAPPER_ENV, "1")
        .env(SKIP_ENV, skip.join(","))
        .env(INNER_ENV, std::env::var_os("RUSTC_WRAPPER").unwrap_or_default())
        .env(format!("CARGO_PROFILE_{profile}_DEBUG_ASSERTIONS"), "true")
        .env(format!("CARGO_PROFILE_{profile}_OVERFLOW_CHECKS"), "true")
        .env(format!("CARGO_PROFILE_{profile}_CODEGEN_UNITS"), "1")
        .env(format!("CARGO_PROFILE_{profile}_DEBUG"), "line-tables-only")
        .env("CARGO_INCREMENTAL", "0");
    for patch in &patches {
        cargo = cargo.arg("--config").arg(patch);
    }
    // The runtime's own hot loop is built fast whatever the profile asks of user code.
    let p = profile.to_lowercase();
    for pkg in ["protocrash", "protocrash-proto", "libfuzzer-sys"] {
        for setting in ["debug-assertions=false", "overflow-checks=false", "opt-level=3"] {
            cargo = cargo.arg("--config").arg(format!("profile.{p}.package.{pkg}.{setting}"));
        }
    }
    if !opts.dev {
        cargo = cargo.release();
    }
    if let Some(f) = &opts.features {
        cargo = cargo.features(f);
    }
    if opts.no_default_features {
        cargo = cargo.no_default_features();
    }
    for t in targets {
        cargo = cargo.bin(t);
    }
    let built = run_cargo(cargo.into_command(), targets);
    if let Some(guard) = lock_guard {
        guard.finish()?;
    }
    built
}

/// Runs cargo with JSON messages on stdout (rendered diagnostics are echoed as cargo would
/// print them) and cargo's own progress and errors on the inherited stderr.
fn run_cargo(mut cmd: std::process::Command, targets: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    use std::os::unix::process::CommandExt;
    // Cargo and its rustc jobs run in their own process group, which the guard below stops
    // when the master is interrupted (a SIGINT or SIGTERM to the master alone must not leave
    // a build running).
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).process_group(0).spawn().context("cannot run cargo")?;
    let guard = BuildGuard::start(child.id())?;
    let stdout = child.stdout.take().expect("piped");
    let mut bins = BTreeMap::new();
    // Every crate this build links (fresh ones included): whose compare tokens belong to it.
    let mut crates: Vec<PathBuf> = Vec::new();
    // Targets (or other crates) with compile errors, to name them in the message.
    let mut failed: Vec<String> = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("cannot read cargo's output")?;
        match serde_json::from_str::<escargot::format::Message<'_>>(&line) {
            Ok(escargot::format::Message::CompilerMessage(msg)) => {
                use escargot::format::diagnostic::DiagnosticLevel;
                if matches!(msg.message.level, DiagnosticLevel::Error | DiagnosticLevel::Ice) {
                    let name = msg.target.name.to_string();
                    if !failed.contains(&name) {
                        failed.push(name);
                    }
                }
                if let Some(text) = msg.message.rendered {
                    eprint!("{text}");
                }
            }
            Ok(escargot::format::Message::CompilerArtifact(art)) => {
                let name = art.target.name.to_string();
                crates.extend(art.filenames.iter().map(|f| f.to_path_buf()));
                if let (Some(exe), true) = (art.executable, targets.contains(&name)) {
                    bins.insert(name, exe.to_path_buf());
                }
            }
            _ => {}
        }
    }
    let status = child.wait().context("cannot wait for cargo")?;
    if guard.finish() {
        bail!("interrupted: the build was stopped (cargo and its jobs); nothing was fuzzed");
    }
    if !status.success() {
        let named: Vec<&String> = failed.iter().filter(|f| targets.contains(f)).collect();
        let what = match (named.is_empty(), failed.is_empty()) {
            (false, _) => format!("target {}", named.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            (true, false) => format!("crate {} (needed by {})", failed.join(", "), targets.join(", ")),
            (true, true) => targets.join(", "),
        };
        bail!("building {what} failed; cargo's errors are above");
    }
    for t in targets {
        if !bins.contains_key(t) {
            bail!("cargo built no binary for target '{t}'");
        }
    }
    for (name, exe) in &bins {
        crate::autodict::record_sources(exe, name, &crates);
    }
    Ok(bins)
}

/// Stops a build's process group when the master gets SIGINT, SIGTERM or SIGHUP: SIGTERM
/// first, SIGKILL two seconds later if cargo is still there.
struct BuildGuard {
    done: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl BuildGuard {
    fn start(pid: u32) -> Result<BuildGuard> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let interrupted = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            ids.push(signal_hook::flag::register(sig, Arc::clone(&interrupted))?);
        }
        let (flag, finished) = (Arc::clone(&interrupted), Arc::clone(&done));
        let watcher = std::thread::spawn(move || {
            use nix::sys::signal::{killpg, Signal};
            let group = nix::unistd::Pid::from_raw(pid as i32);
            let mut since: Option<std::time::Instant> = None;
            // A poll of two flags every 50 ms: the build takes seconds to minutes.
            while !finished.load(Ordering::Acquire) {
                if flag.load(Ordering::Relaxed) {
                    let first = *since.get_or_insert_with(std::time::Instant::now);
                    let sig = if first.elapsed() < Duration::from_secs(2) { Signal::SIGTERM } else { Signal::SIGKILL };
                    let _ = killpg(group, sig);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Ok(BuildGuard { done, interrupted, ids, watcher: Some(watcher) })
    }

    /// Ends the guard after cargo was reaped; true if the build was interrupted.
    fn finish(self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }
}

impl Drop for BuildGuard {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Crate names reachable from the fuzz package only through the runtime: these are built
/// without coverage instrumentation. A crate the user's code also uses stays instrumented.
fn runtime_only_crates(project: &Project, patches: &[String]) -> Result<Vec<String>> {
    let meta = MetadataCommand::new()
        .manifest_path(&project.manifest)
        .other_options(patches.iter().flat_map(|p| ["--config".to_string(), p.clone()]).collect::<Vec<_>>())
        .exec()
        .with_context(|| format!("cannot resolve the dependencies of {}", project.manifest.display()))?;
    let resolve = meta.resolve.as_ref().context("cargo metadata returned no dependency graph")?;
    let nodes: HashMap<&PackageId, &cargo_metadata::Node> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    // Any libfuzzer-sys in the graph is the patched-in stand-in, i.e. the runtime.
    let is_runtime = |id: &PackageId| matches!(meta[id].name.as_str(), "protocrash" | "libfuzzer-sys");
    // Everything reachable from the workspace without walking through the runtime.
    let mut user: HashSet<&PackageId> = HashSet::new();
    let mut stack: Vec<&PackageId> = meta.workspace_members.iter().collect();
    while let Some(id) = stack.pop() {
        if is_runtime(id) || !user.insert(id) {
            continue;
        }
        if let Some(node) = nodes.get(id) {
            stack.extend(node.deps.iter().map(|d| &d.pkg));
        }
    }
    let mut skip: Vec<String> = meta
        .packages
        .iter()
        .filter(|p| !user.contains(&p.id))
        .flat_map(|p| p.targets.iter().filter(|t| t.is_lib() || t.is_rlib()).map(|t| t.name.replace('-', "_")))
        .collect();
    skip.sort();
    skip.dedup();
    Ok(skip)
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-vV").output().context("cannot run `rustc -vV`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("`rustc -vV` printed no host triple")
}

/// Quotes a string as a TOML basic string (for `--config key=value`).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(super::toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
    }
}
