//! Helpers for the end-to-end tests: copy a fixture crate to a temp dir and drive the real
//! `cargo-protocrash` binary on it. Every harness build shares one cargo target dir and one
//! extracted runtime, so the runtime's dependencies compile once per test run.
#![allow(dead_code)]

use protocrash_proto::layout::{SyncDir, WorkerDir};
use protocrash_proto::stats::StatField;
use protocrash_proto::stats::StatsView;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-protocrash"))
}

fn shared_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Campaigns run one at a time: on a 2-core machine, parallel campaigns would only make
/// wall-clock watchdogs (hangs, memory polls) see each other's load.
static CAMPAIGN: Mutex<()> = Mutex::new(());

/// Takes the campaign slot.
pub fn one_campaign_at_a_time() -> MutexGuard<'static, ()> {
    CAMPAIGN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fixture crate copied to a fresh temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// Copies `fixtures/<name>` (without build output or campaign state).
    pub fn new(name: &str) -> Fixture {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
        let dir = tempfile::Builder::new().prefix(&format!("pc-{name}-")).tempdir().unwrap();
        copy_tree(&src, dir.path());
        Fixture { dir }
    }

    /// The crate's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `cargo-protocrash` command in the fixture's root.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args).current_dir(self.path());
        configure(&mut c);
        c
    }

    /// Runs `cargo-protocrash args…` and returns its output.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.cmd(args).output().unwrap())
    }

    /// A seeded campaign on `target` (node `t`, plain output) with `extra` options, once
    /// the campaign slot is free.
    pub fn campaign(&self, target: &str, extra: &[&str]) -> Out {
        let _slot = one_campaign_at_a_time();
        let mut args = vec!["run", target, "--seed", "1", "--node", "t", "--plain"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Worker 0 on node `t` of `target`'s default sync dir.
    pub fn worker(&self, target: &str) -> WorkerDir {
        SyncDir::new(self.path().join("fuzz/sync").join(target)).worker("t", 0)
    }

    /// The sync-dir folder of worker 0 on node `t` for `target`.
    pub fn worker_dir(&self, target: &str) -> PathBuf {
        self.worker(target).path().to_path_buf()
    }

    /// The findings the worker recorded.
    pub fn findings(&self, target: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.worker(target).findings_index()).unwrap_or_default();
        if text.is_empty() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["findings"].as_array().unwrap().clone()
    }

    /// The worker's stats file, through the typed view.
    pub fn stats(&self, target: &str) -> StatsView {
        let bytes = std::fs::read(self.worker(target).stats()).unwrap();
        StatsView::decode(&bytes).expect("a valid stats file")
    }

    /// Files in `fuzz/artifacts/<target>`.
    pub fn artifacts(&self, target: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path().join("fuzz/artifacts").join(target))
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Points a command at the shared target dir and runtime cache.
pub fn configure(c: &mut Command) {
    c.env("CARGO_TARGET_DIR", shared_dir("harness-target"))
        .env("PROTOCRASH_CACHE_DIR", shared_dir("runtime-cache"))
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CI");
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let name = e.file_name();
        if ["target", "sync", "artifacts", "corpus", "Cargo.lock"].iter().any(|n| name == *n) {
            continue;
        }
        let to = dst.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A finished command's output.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Out {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// A worker's counters, through the typed view (None while it has no valid stats file).
pub fn stats(dir: &Path) -> Option<StatsView> {
    StatsView::decode(&std::fs::read(WorkerDir::at(dir).stats()).ok()?)
}

pub fn pid(dir: &Path) -> u64 {
    stats(dir).map_or(0, |s| s.get(StatField::Pid))
}

pub fn execs(dir: &Path) -> u64 {
    stats(dir).map_or(0, |s| s.execs())
}

/// Waits (bounded) until `cond` holds, polling the worker's files: a condition, not a nap.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn spawn(fx: &Fixture, args: &[&str]) -> Child {
    let mut c = fx.cmd(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.spawn().unwrap()
}

pub fn finish(child: Child) -> Out {
    Out::from(child.wait_with_output().unwrap())
}

pub fn signal(pid: u64, sig: i32) {
    // SAFETY: kill(2) on a pid this test started (or its worker); no memory is involved.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
}

/// Processes running the harness binary `exe`.
pub fn processes_running(exe: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(target) = std::fs::read_link(e.path().join("exe")) {
            if target == exe {
                found.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found
}

/// A command for an external tool the tests drive, after checking it is installed.
pub fn tool(name: &str, version_args: &[&str]) -> Command {
    let ok = Command::new(name).args(version_args).output().is_ok_and(|o| o.status.success());
    assert!(ok, "`{name}` is needed by this test and is not installed; run scripts/test-deps.sh");
    Command::new(name)
}

/// The DOM headless Chromium builds from `page` (a file).
pub fn browser_dom(page: &Path) -> String {
    let out = tool("chromium", &["--version"])
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cargo fuzz build <args…> <target>` in the fixture (the real libFuzzer); the binary built.
pub fn cargo_fuzz_build(fx: &Fixture, args: &[&str], target: &str) -> PathBuf {
    let build = tool("cargo", &["fuzz", "--version"])
        .args(["fuzz", "build"])
        .args(args)
        .arg(target)
        .current_dir(fx.path())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(build.status.success(), "cargo fuzz build failed:\n{}", String::from_utf8_lossy(&build.stderr));
    std::fs::read_dir(fx.path().join("fuzz/target"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("release").join(target))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("cargo fuzz built fuzz/target/<triple>/release/{target}"))
}
