//! End-to-end: the faults and attacks a campaign meets in the field, each written as what it
//! is — a full disk, a read-only mount, a second `run` on the same node, a killed master, a
//! target that leaves processes behind, a slow target interrupted, a build interrupted — and
//! what must hold afterwards: the exit code, the message, the bytes of the user's files, and
//! that no process of the campaign is alive. Tests that need a tmpfs mount (root) say so and
//! are skipped elsewhere. Every run is bounded by `--runs` or `--max-total-time`.

mod common;

use common::{finish, one_campaign_at_a_time, signal, spawn, stats, wait_for, Fixture};
use protocrash_proto::layout::SyncDir;
use protocrash_proto::stats::WorkerState;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "1m"); None (with the reason on stderr) where this
    /// process may not mount.
    fn mount(size: &str, why: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!("skipped ({why}): cannot mount a tmpfs: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped ({why}): cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system, then frees `pages` 4 KiB pages of it.
    fn fill_leaving(&self, pages: usize) {
        let mut fillers = Vec::new();
        for i in 0.. {
            let p = self.path().join(format!("filler-{i}"));
            if std::fs::write(&p, [0xaa; 4096]).is_err() {
                let _ = std::fs::remove_file(&p);
                break;
            }
            fillers.push(p);
        }
        assert!(fillers.len() > pages, "the tmpfs holds {} pages only", fillers.len());
        for p in fillers.iter().take(pages) {
            std::fs::remove_file(p).unwrap();
        }
    }

    fn remount_read_only(&self) {
        let ok = Command::new("mount").args(["-o", "remount,ro"]).arg(self.path()).status().unwrap().success();
        assert!(ok, "remount read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The harness binary a campaign in `sync` ran.
fn harness_of(sync: &Path) -> PathBuf {
    let text = std::fs::read_to_string(SyncDir::new(sync).campaign_file()).unwrap();
    let campaign: Value = serde_json::from_str(&text).unwrap();
    PathBuf::from(campaign["harness"].as_str().unwrap())
}

/// Processes whose command line contains every one of `words` (arguments joined by spaces).
fn processes_with(words: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !text.is_empty() && words.iter().all(|w| text.contains(w)) {
            found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn a_full_disk_stops_the_campaign_with_an_error_naming_what_failed_and_what_was_kept() {
    let Some(disk) = Tmpfs::mount("2m", "a full sync-dir disk needs a small tmpfs, which needs root") else {
        return;
    };
    let fx = Fixture::new("findings");
    // Build first: the build's files are not on the small disk, and the fill must be exact.
    let built = fx.run(&["build", "ladder"]);
    assert_eq!(built.code, Some(0), "{}", built.all());
    let sync = disk.path().join("sync");
    std::fs::create_dir(&sync).unwrap();
    // Room for the campaign's own files and a few queue entries, no more.
    disk.fill_leaving(12);
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&[
        "run",
        "ladder",
        "-j",
        "1",
        "--node",
        "t",
        "--plain",
        "--seed",
        "3",
        "--runs",
        "3000000",
        "--max-total-time",
        "60s",
        "--sync-dir",
        sync.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(2), "a write that failed is an error: {}", out.all());
    assert!(out.all().contains("No space left on device"), "the cause is named: {}", out.all());
    assert!(out.all().contains("could not write"), "what could not be written is named: {}", out.all());
    assert!(out.stderr.contains("The campaign stopped"), "{}", out.all());
    assert!(
        out.stderr.contains("new corpus entries were copied to fuzz/corpus/ladder"),
        "what was kept: {}",
        out.all()
    );
    // What the message says was copied is there, off the full disk.
    let copied = std::fs::read_dir(fx.path().join("fuzz/corpus/ladder")).map_or(0, |d| d.count());
    assert!(out.stderr.contains(&format!("{copied} new corpus entries")), "{copied}: {}", out.all());
    assert!(copied > 0, "the entries written before the disk filled are kept");
    let harness = harness_of(&sync);
    assert_eq!(common::processes_running(&harness), Vec::<String>::new(), "no worker outlives the campaign");
}

#[test]
fn a_read_only_sync_dir_is_refused_naming_it() {
    let Some(disk) = Tmpfs::mount("4m", "a read-only sync dir needs a tmpfs remounted read-only, which needs root")
    else {
        return;
    };
    let sync = disk.path().join("sync");
    std::fs::create_dir(&sync).unwrap();
    disk.remount_read_only();
    let fx = Fixture::new("findings");
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&[
        "run",
        "shallow",
        "-j",
        "1",
        "--node",
        "t",
        "--plain",
        "--runs",
        "1000",
        "--sync-dir",
        sync.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("Read-only file system"), "{}", out.all());
    assert!(out.stderr.contains(sync.to_str().unwrap()), "the path is named: {}", out.all());
}

#[test]
fn a_second_run_on_the_same_node_is_refused_and_a_killed_runs_node_is_orphaned_then_taken_over() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("sync-twice");
    let sync_arg = sync.to_str().unwrap().to_string();
    let _slot = one_campaign_at_a_time();
    let args =
        ["run", "clean", "-j", "1", "--node", "t", "--plain", "--max-total-time", "60s", "--sync-dir", &sync_arg];
    let first = spawn(&fx, &args);
    let w0 = SyncDir::new(&sync).worker("t", 0);
    wait_for("the first run's worker to fuzz", Duration::from_secs(120), || {
        stats(w0.path()).is_some_and(|s| s.state() == WorkerState::Running)
    });
    let before = std::fs::read(w0.stats()).unwrap();
    let second =
        fx.run(&["run", "clean", "-j", "1", "--node", "t", "--plain", "--runs", "1000", "--sync-dir", &sync_arg]);
    assert_eq!(second.code, Some(2), "{}", second.all());
    assert!(second.stderr.contains("another `cargo protocrash run` is using node 't'"), "{}", second.all());
    assert!(second.stderr.contains(&format!("pid {}", first.id())), "the holder is named: {}", second.all());
    assert!(second.stderr.contains("--node"), "what to do: {}", second.all());
    assert_eq!(
        stats(w0.path()).unwrap().get(protocrash_proto::stats::StatField::Pid),
        {
            let v = protocrash_proto::stats::StatsView::decode(&before).unwrap();
            v.get(protocrash_proto::stats::StatField::Pid)
        },
        "the first run's worker was left alone"
    );

    // A master killed outright: its worker's file still says "running", the lock says not.
    signal(u64::from(first.id()), libc::SIGKILL);
    let killed = finish(first);
    assert_eq!(killed.code, None, "killed by a signal");
    let harness = harness_of(&sync);
    wait_for("the killed master's workers to die", Duration::from_secs(10), || {
        common::processes_running(&harness).is_empty()
    });
    let status = fx.run(&["status", "--json", "--sync-dir", &sync_arg]);
    assert_eq!(status.code, Some(0), "{}", status.all());
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["workers"][0]["state"], "orphaned", "{status}");
    assert_eq!(status["running_workers"], 0, "{status}");

    // The dead run's lock is no obstacle.
    let third =
        fx.run(&["run", "clean", "-j", "1", "--node", "t", "--plain", "--runs", "2000", "--sync-dir", &sync_arg]);
    assert_eq!(third.code, Some(0), "{}", third.all());
}

#[test]
fn a_targets_own_processes_die_with_the_campaign() {
    let fx = Fixture::new("findings");
    let marker = format!("{}", 900_000 + std::process::id() % 99_999);
    let _slot = one_campaign_at_a_time();
    let mut cmd = fx.cmd(&["run", "forks", "-j", "2", "--node", "t", "--plain", "--seed", "2", "--runs", "20000"]);
    let out = common::Out::from(cmd.env("FORKS_MARKER", &marker).output().unwrap());
    assert_eq!(out.code, Some(1), "the '!' panic is found: {}", out.all());
    assert!(out.stdout.contains("found a new panic"), "{}", out.all());
    let left = processes_with(&["sleep", &marker]);
    assert!(left.is_empty(), "processes the target started outlived the campaign: {left:?}");
}

#[test]
fn ctrl_c_on_a_slow_target_stops_within_an_execution() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("sync-slow");
    let _slot = one_campaign_at_a_time();
    let args = ["run", "slow", "-j", "1", "--node", "t", "--plain", "--max-total-time", "120s", "--timeout", "5s"];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["--sync-dir", sync.to_str().unwrap()]);
    let child = spawn(&fx, &args);
    let w0 = SyncDir::new(&sync).worker("t", 0);
    wait_for("the slow worker to fuzz", Duration::from_secs(120), || {
        stats(w0.path()).is_some_and(|s| s.state() == WorkerState::Running && s.execs() >= 3)
    });
    let pid = u64::from(child.id());
    signal(pid, libc::SIGINT);
    let out = finish(child);
    // The slow ladder never crashes: an interrupted clean campaign exits 0.
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("stopped after"), "{}", out.all());
    // The stop flag is seen after the execution under way (0.5 s), not after 1,024 of them:
    // the master never has to kill the worker.
    assert!(!out.all().contains("did not stop in time"), "{}", out.all());
    assert!(!out.all().contains("died"), "a clean stop: {}", out.all());
    assert_eq!(stats(w0.path()).unwrap().state(), WorkerState::Done, "the worker saved its state and stopped");
}

#[test]
fn sigint_to_the_master_during_the_build_stops_cargo_and_its_jobs() {
    let fx = Fixture::new("findings");
    // A target dir of its own: the build takes long enough (the runtime's dependencies) to
    // be interrupted in the middle.
    let target_dir = fx.path().join("own-target");
    let mut cmd = fx.cmd(&["run", "shallow", "-j", "1", "--plain", "--runs", "1000"]);
    cmd.env("CARGO_TARGET_DIR", &target_dir).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let dir = target_dir.to_str().unwrap().to_string();
    wait_for("rustc to be compiling in the build's target dir", Duration::from_secs(120), || {
        !processes_with(&["rustc", &dir]).is_empty()
    });
    signal(u64::from(child.id()), libc::SIGINT);
    let out = finish(child);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("interrupted: the build was stopped"), "{}", out.all());
    wait_for("cargo and rustc to be gone", Duration::from_secs(10), || processes_with(&[&dir]).is_empty());
}

#[test]
fn a_missing_corpus_dir_and_a_memory_limit_below_the_harness_are_clear_errors() {
    let fx = Fixture::new("findings");
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&["run", "shallow", "-j", "1", "--plain", "--runs", "100", "--corpus", "no-such-dir"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("--corpus no-such-dir: no such directory"), "{}", out.all());

    let out = fx.run(&["run", "shallow", "-j", "1", "--node", "t", "--plain", "--runs", "100", "--rss-limit-mb", "1"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("--rss-limit-mb 1 is too low"), "{}", out.all());
    assert!(fx.artifacts("shallow").is_empty(), "nothing is saved as an out-of-memory: {:?}", fx.artifacts("shallow"));
}

#[test]
fn a_reproducer_the_user_kept_is_never_overwritten_and_its_bug_is_announced_as_known() {
    let fx = Fixture::new("findings");
    let _slot = one_campaign_at_a_time();
    let run = |seed: &str| {
        fx.run(&["run", "shallow", "-j", "1", "--node", "t", "--plain", "--seed", seed, "--runs", "200000"])
    };
    let first = run("1");
    assert_eq!(first.code, Some(1), "{}", first.all());
    let names = fx.artifacts("shallow");
    let name = names.iter().find(|n| !n.ends_with(".txt")).expect("a reproducer").clone();
    // The user's own reproducer of the same bug, longer than what the fuzzer finds.
    let kept = fx.path().join("fuzz/artifacts/shallow").join(&name);
    std::fs::write(&kept, b"bug, as the user wrote it").unwrap();
    std::fs::remove_dir_all(fx.path().join("fuzz/sync")).unwrap();
    let second = run("2");
    assert!(second.stdout.contains("found a known panic"), "{}", second.all());
    assert!(!second.stdout.contains("found a new panic"), "{}", second.all());
    assert_eq!(std::fs::read(&kept).unwrap(), b"bug, as the user wrote it", "the user's file is untouched");
}

#[test]
fn garbage_in_the_workers_own_stats_stops_the_run_saying_how_to_recover() {
    let fx = Fixture::new("findings");
    let w0 = fx.worker("shallow");
    std::fs::create_dir_all(w0.path()).unwrap();
    // The right size, the wrong contents: not a file this worker wrote.
    std::fs::write(w0.stats(), vec![0x41; protocrash_proto::stats::STATS_BYTES]).unwrap();
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&["run", "shallow", "-j", "1", "--node", "t", "--plain", "--runs", "1000"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("not a protocrash stats file"), "{}", out.all());
    assert!(out.stderr.contains(&format!("delete {}", w0.stats().display())), "how to recover: {}", out.all());
    assert_eq!(std::fs::read(w0.stats()).unwrap(), vec![0x41; protocrash_proto::stats::STATS_BYTES], "left as it was");
}

#[test]
fn a_worker_dir_removed_mid_run_is_made_again_and_the_totals_never_go_backwards() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("sync-removed");
    let report = fx.path().join("report.json");
    let _slot = one_campaign_at_a_time();
    let runs = 3_000_000u64;
    let runs_arg = runs.to_string();
    let args = [
        "run",
        "clean",
        "-j",
        "1",
        "--node",
        "t",
        "--plain",
        "--runs",
        &runs_arg,
        "--sync-dir",
        sync.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let child = spawn(&fx, &args);
    let w0 = SyncDir::new(&sync).worker("t", 0);
    wait_for("the worker to run some executions", Duration::from_secs(120), || {
        stats(w0.path()).is_some_and(|s| s.state() == WorkerState::Running && s.execs() >= 200_000)
    });
    let first_pid = common::pid(w0.path());
    // The worker writes into the directory while it is being removed (a file may land
    // between the listing and the rmdir): remove until it is gone, as `rm -rf` in a loop.
    wait_for("the worker dir to be removed", Duration::from_secs(10), || {
        std::fs::remove_dir_all(w0.path()).is_ok() || !w0.path().exists()
    });
    let out = finish(child);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("was removed or replaced during the run"), "{}", out.all());
    let s = stats(w0.path()).expect("the worker dir and its stats were made again");
    assert_ne!(s.get(protocrash_proto::stats::StatField::Pid), first_pid, "by a restarted worker");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // Executions before the removal still count, and the --runs bound holds across it.
    assert_eq!(doc["targets"][0]["execs"].as_u64(), Some(runs), "{doc}");
    assert!(s.execs() < runs, "the new directory holds only what ran after: {}", s.execs());
}

#[test]
fn a_huge_seed_is_cut_to_max_len_with_a_warning_and_left_as_it_was() {
    let fx = Fixture::new("findings");
    let corpus = fx.path().join("fuzz/corpus/clean");
    std::fs::create_dir_all(&corpus).unwrap();
    let big = corpus.join("huge");
    // 200 MB, sparse: the file system stores almost nothing, the fuzzer must not load it.
    std::fs::File::create(&big).unwrap().set_len(200 << 20).unwrap();
    let out = fx.campaign("clean", &["-j", "1", "--runs", "2000", "--max-len", "4096"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.all().contains(&format!("{} is longer than --max-len 4096; using its first 4096 bytes", big.display())),
        "{}",
        out.all()
    );
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 200 << 20, "the seed itself is untouched");
}

#[test]
fn far_more_workers_than_cores_keep_the_time_bound_and_show_progress() {
    let fx = Fixture::new("findings");
    let _slot = one_campaign_at_a_time();
    let build = fx.run(&["build", "clean"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let started = std::time::Instant::now();
    // Workers start a few per display tick: before, 200 workers on 2 cores took 20 s to
    // start (the time bound and the progress line waited for all of them) and -j 500 ran
    // 90 s past a 3 s bound.
    let out = fx.run(&["run", "clean", "-j", "256", "--node", "t", "--plain", "--max-total-time", "2s"]);
    let took = started.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stderr.contains("-j 256 is more than the"), "{}", out.all());
    assert!(out.stdout.contains("[0:00] clean: execs"), "a progress line while starting: {}", out.all());
    assert!(!out.all().contains("is it a `protocrash::fuzz_target!` harness"), "{}", out.all());
    assert!(took < Duration::from_secs(20), "a 2 s campaign took {took:?}: {}", out.all());
}
