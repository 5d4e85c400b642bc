//! End-to-end: parallel campaigns. Several real fork-server workers sharing a real sync dir,
//! read back through `cargo protocrash status --json`; workers killed, campaigns interrupted
//! and resumed, junk in the sync dir. Every run is bounded by `--runs` or `--max-total-time`.

mod common;

use common::{execs, finish, one_campaign_at_a_time, pid, processes_running, signal, spawn, stats, wait_for, Fixture};
use protocrash_proto::layout::{SyncDir, WorkerDir};
use protocrash_proto::stats::WorkerState;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn status(fx: &Fixture, sync: &Path) -> Value {
    let out = fx.run(&["status", "--json", "--sync-dir", sync.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()))
}

fn worker<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["workers"].as_array().unwrap().iter().find(|w| w["name"] == name).unwrap_or_else(|| panic!("{status}"))
}

fn temp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            temp_files(&p, out);
        } else if e.file_name().to_string_lossy().starts_with(".tmp-") {
            out.push(p);
        }
    }
}

#[test]
fn two_workers_exchange_finds_and_the_campaign_edge_count_is_their_union() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("sync-j2");
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&[
        "run",
        "slow_ladder",
        "-j",
        "2",
        "--seed",
        "5",
        "--node",
        "t",
        "--plain",
        "--max-total-time",
        "8s",
        "--sync-interval",
        "500ms",
        "--sync-dir",
        sync.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("with 2 workers"), "{}", out.all());
    let s = status(&fx, &sync);
    let (w0, w1) = (worker(&s, "t-0"), worker(&s, "t-1"));
    let union = s["edges"].as_u64().unwrap();
    for w in [w0, w1] {
        assert!(w["execs"].as_u64().unwrap() > 10_000, "both workers ran: {s}");
        assert!(union >= w["edges"].as_u64().unwrap(), "the union covers each worker: {s}");
    }
    // The total `status` reads from the mapped counters equals what the workers themselves
    // wrote in AFL++'s format (another writer, another reader).
    let execs_done = |name: &str| -> u64 {
        let text = std::fs::read_to_string(WorkerDir::at(sync.join(name)).fuzzer_stats()).unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix("execs_done")).unwrap_or_else(|| panic!("{text}"));
        line.trim_start_matches([' ', ':']).trim().parse().unwrap()
    };
    assert_eq!(s["execs"].as_u64().unwrap(), execs_done("t-0") + execs_done("t-1"), "{s}");
    let imports = w0["imports"].as_u64().unwrap() + w1["imports"].as_u64().unwrap();
    assert!(imports > 0, "an input found by one worker was imported by the other: {s}");
    for name in ["t-0", "t-1"] {
        let stats = std::fs::read_to_string(WorkerDir::at(sync.join(name)).fuzzer_stats()).unwrap();
        assert!(stats.lines().any(|l| l.starts_with("execs_done ")), "{stats}");
        let plot = std::fs::read_to_string(WorkerDir::at(sync.join(name)).plot_data()).unwrap();
        assert!(plot.starts_with("# relative_time,") && plot.lines().count() >= 2, "{plot}");
    }
    let svg = fx.path().join("campaign.svg");
    let plot = fx.run(&["plot", "--sync-dir", sync.to_str().unwrap(), "-o", svg.to_str().unwrap()]);
    assert_eq!(plot.code, Some(0), "{}", plot.all());
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<polyline"));
}

#[test]
fn runs_bound_counts_every_workers_executions() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("sync-runs");
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&[
        "run",
        "clean",
        "-j",
        "2",
        "--runs",
        "150001",
        "--node",
        "t",
        "--plain",
        "--sync-dir",
        sync.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let s = status(&fx, &sync);
    assert_eq!(s["execs"].as_u64(), Some(150_001), "{s}");
    assert_eq!(worker(&s, "t-0")["execs"].as_u64(), Some(75_001));
    assert_eq!(worker(&s, "t-1")["execs"].as_u64(), Some(75_000));
}

#[test]
fn two_nodes_sharing_a_sync_dir_form_one_campaign() {
    // Two machines: two checkouts of the crate (each with its own fuzz/corpus), one shared
    // sync dir, distinct node names.
    let (here, there) = (Fixture::new("findings"), Fixture::new("findings"));
    let sync = here.path().join("shared-sync");
    let sync_arg = sync.to_str().unwrap();
    let _slot = one_campaign_at_a_time();
    let a = here.run(&[
        "run",
        "ladder",
        "-j",
        "1",
        "--seed",
        "1",
        "--node",
        "alpha",
        "--plain",
        "--runs",
        "300000",
        "--sync-dir",
        sync_arg,
    ]);
    assert_eq!(a.code, Some(0), "{}", a.all());
    // The second machine runs far too briefly to climb the ladder itself...
    let alone = there.path().join("alone-sync");
    let c = there.run(&[
        "run",
        "ladder",
        "-j",
        "1",
        "--seed",
        "2",
        "--node",
        "gamma",
        "--plain",
        "--runs",
        "2000",
        "--sync-dir",
        alone.to_str().unwrap(),
    ]);
    assert_eq!(c.code, Some(0), "{}", c.all());
    // ...but in the shared sync dir it starts from where the first one got.
    let b = there.run(&[
        "run",
        "ladder",
        "-j",
        "1",
        "--seed",
        "2",
        "--node",
        "beta",
        "--plain",
        "--runs",
        "2000",
        "--sync-dir",
        sync_arg,
    ]);
    assert_eq!(b.code, Some(0), "{}", b.all());
    let s = status(&there, &sync);
    let (wa, wb) = (worker(&s, "alpha-0"), worker(&s, "beta-0"));
    let control = status(&there, &alone);
    let edges = |w: &Value| w["edges"].as_u64().unwrap();
    assert!(edges(worker(&control, "gamma-0")) < edges(wa), "the control run could not get there alone: {control}");
    assert!(wb["imports"].as_u64().unwrap() > 0, "{s}");
    assert!(edges(wb) >= edges(wa), "beta reached alpha's coverage: {s}");
}

#[test]
fn a_killed_worker_is_restarted_and_the_campaign_goes_on() {
    let fx = Fixture::new("findings");
    let _slot = one_campaign_at_a_time();
    // Builds first, so the campaign below starts at once.
    let build = fx.run(&["build", "clean"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let child = spawn(&fx, &["run", "clean", "-j", "1", "--node", "t", "--plain", "--max-total-time", "10s"]);
    let dir = fx.worker_dir("clean");
    wait_for("the worker to run", Duration::from_secs(60), || pid(&dir) != 0 && execs(&dir) > 10_000);
    let first = pid(&dir);
    signal(first, libc::SIGKILL);
    wait_for("a new worker", Duration::from_secs(30), || {
        let pid = pid(&dir);
        pid != 0 && pid != first && stats(&dir).is_some_and(|s| s.state() == WorkerState::Running)
    });
    let at_restart = execs(&dir);
    let out = finish(child);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("worker t-0 died"), "{}", out.all());
    assert!(out.stdout.contains("restarting it"), "{}", out.all());
    assert!(execs(&dir) > at_restart, "the restarted worker fuzzed on");
}

#[test]
fn ctrl_c_stops_every_process_cleanly_and_a_second_run_resumes() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("fuzz/sync/ladder");
    let _slot = one_campaign_at_a_time();
    let build = fx.run(&["build", "ladder"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let child =
        spawn(&fx, &["run", "ladder", "-j", "2", "--node", "t", "--plain", "--seed", "4", "--max-total-time", "60s"]);
    let (d0, d1) = (sync.join("t-0"), sync.join("t-1"));
    wait_for("both workers to run", Duration::from_secs(60), || execs(&d0) > 100_000 && execs(&d1) > 100_000);
    signal(u64::from(child.id()), libc::SIGINT);
    let out = finish(child);
    // The ladder never crashes: an interrupted clean campaign exits 0.
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("stopped after"), "{}", out.all());
    let campaign: Value =
        serde_json::from_str(&std::fs::read_to_string(SyncDir::new(&sync).campaign_file()).unwrap()).unwrap();
    let harness = PathBuf::from(campaign["harness"].as_str().unwrap());
    assert_eq!(processes_running(&harness), Vec::<String>::new(), "no worker or fuzzing child outlives the master");
    let mut temps = Vec::new();
    temp_files(&sync, &mut temps);
    assert!(temps.is_empty(), "temporary files left: {temps:?}");

    let before = status(&fx, &sync);
    let queue_len = |d: &Path| std::fs::read_dir(WorkerDir::at(d).queue()).unwrap().count();
    let (q0, q1) = (queue_len(&d0), queue_len(&d1));
    assert!(q0 > 0 && q1 > 0);
    let again = fx.run(&["run", "ladder", "-j", "2", "--node", "t", "--plain", "--seed", "5", "--runs", "10000"]);
    assert_eq!(again.code, Some(0), "{}", again.all());
    let after = status(&fx, &sync);
    assert_eq!(
        after["execs"].as_u64().unwrap(),
        before["execs"].as_u64().unwrap() + 10_000,
        "counters carry on:\n{before}\n{after}"
    );
    assert!(queue_len(&d0) >= q0 && queue_len(&d1) >= q1, "the corpus is intact");
    assert!(after["edges"].as_u64().unwrap() >= before["edges"].as_u64().unwrap());
}

#[test]
fn junk_in_the_sync_dir_is_skipped_with_one_warning_each() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("junk-sync");
    let q = SyncDir::new(&sync).worker("junk", 0).queue();
    std::fs::create_dir_all(&q).unwrap();
    let outside = fx.path().join("outside-secret");
    std::fs::write(&outside, b"OUTSIDE").unwrap();
    let named = |tag: &str| format!("id_{:0>16}_0000000{}", tag, tag.len());
    std::fs::write(q.join("not-a-queue-name"), b"x").unwrap();
    std::fs::write(q.join(named("e")), b"").unwrap();
    std::fs::write(q.join(named("b")), vec![b'B'; 5000]).unwrap();
    std::fs::create_dir(q.join(named("d"))).unwrap();
    std::os::unix::fs::symlink(&outside, q.join(named("f"))).unwrap();
    std::fs::write(q.join(named("a")), b"fine").unwrap();
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&[
        "run",
        "clean",
        "-j",
        "1",
        "--node",
        "t",
        "--plain",
        "--runs",
        "20000",
        "--max-len",
        "4096",
        "--sync-dir",
        sync.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let text = out.all();
    for (name, why) in [
        ("not-a-queue-name".to_string(), "not a queue entry name"),
        (named("e"), "empty"),
        (named("b"), "over --max-len 4096"),
        (named("d"), "not a regular file"),
        (named("f"), "symbolic link"),
    ] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&name)).collect();
        assert_eq!(lines.len(), 1, "one warning for {name}:\n{text}");
        assert!(lines[0].contains("skipping") && lines[0].contains(why), "{}", lines[0]);
    }
    assert!(!text.contains(&named("a")), "a good entry is imported silently:\n{text}");
    assert_eq!(std::fs::read(&outside).unwrap(), b"OUTSIDE", "nothing outside is touched");
}

/// A sync dir is hostile ground: links planted in this node's own worker directory are
/// refused (nothing written through them, the run stops with a message), and a FIFO or a
/// garbage stats file in another node's directory neither hangs the master nor `status`.
#[test]
fn planted_links_and_fifos_in_the_sync_dir_are_never_written_through_or_waited_on() {
    let fx = Fixture::new("findings");
    let _slot = one_campaign_at_a_time();
    let build = fx.run(&["build", "clean"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let outside = fx.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let victim = fx.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let run = |sync: &Path| {
        fx.run(&[
            "run",
            "clean",
            "-j",
            "1",
            "--node",
            "t",
            "--plain",
            "--seed",
            "1",
            "--runs",
            "20000",
            "--max-total-time",
            "60s",
            "--sync-dir",
            sync.to_str().unwrap(),
        ])
    };
    // This node's worker directory, its log and its queue, each a planted symlink.
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let plants: [(&str, Plant); 3] = [
        ("t-0", Box::new(|s: &Path| std::os::unix::fs::symlink(&outside, s.join("t-0")).unwrap())),
        (
            "worker.log",
            Box::new(|s: &Path| {
                std::fs::create_dir_all(s.join("t-0")).unwrap();
                std::os::unix::fs::symlink(&victim, WorkerDir::at(s.join("t-0")).log()).unwrap();
            }),
        ),
        (
            "queue",
            Box::new(|s: &Path| {
                std::fs::create_dir_all(s.join("t-0")).unwrap();
                std::os::unix::fs::symlink(&outside, WorkerDir::at(s.join("t-0")).queue()).unwrap();
            }),
        ),
    ];
    for (what, plant) in plants {
        let sync = fx.path().join(format!("planted-{what}"));
        std::fs::create_dir_all(&sync).unwrap();
        plant(&sync);
        let out = run(&sync);
        assert_eq!(out.code, Some(2), "{what}: {}", out.all());
        assert!(out.all().contains("symbolic link"), "{what}: {}", out.all());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "{what}: written through");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{what}: wrote outside the sync dir");
    }

    // Another node's junk: a FIFO named `coverage` beside a garbage `stats` file.
    let sync = fx.path().join("peer-junk");
    let evil = SyncDir::new(&sync).worker("evil", 0);
    std::fs::create_dir_all(evil.path()).unwrap();
    std::fs::write(evil.stats(), vec![0xa5u8; protocrash_proto::stats::STATS_BYTES]).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(evil.coverage()).status().unwrap().success());
    let out = run(&sync);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let st = fx.run(&["status", "--json", "--sync-dir", sync.to_str().unwrap()]);
    assert_eq!(st.code, Some(0), "one peer's garbage does not hide the campaign: {}", st.all());
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["execs"].as_u64(), Some(20_000), "{v}");
    assert!(st.stderr.contains("skipping worker evil-0"), "{}", st.all());
}

/// The plot as a browser draws it: time ticks, one line per worker in each panel, the
/// finding and the worker restart marked; `status` lists the same events.
#[test]
fn the_plot_shows_workers_ticks_and_events_in_a_browser() {
    let fx = Fixture::new("findings");
    let sync = fx.path().join("sync-plot");
    let sync_arg = sync.to_str().unwrap();
    let _slot = one_campaign_at_a_time();
    let build = fx.run(&["build", "shallow"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let args = ["run", "shallow", "-j", "2", "--seed", "4", "--node", "p", "--plain", "--max-total-time", "14s"];
    let child = spawn(&fx, &[&args[..], &["--sync-dir", sync_arg]].concat());
    // Worker 1 killed mid-campaign: its master starts it again, which the plot marks.
    let dir = sync.join("p-1");
    wait_for("worker 1 to run", Duration::from_secs(60), || pid(&dir) != 0 && execs(&dir) > 10_000);
    let killed = pid(&dir);
    signal(killed, libc::SIGKILL);
    wait_for("worker 1 again", Duration::from_secs(30), || pid(&dir) != 0 && pid(&dir) != killed);
    let out = finish(child);
    assert_eq!(out.code, Some(1), "the shallow bug is found: {}", out.all());
    let svg = fx.path().join("campaign.svg");
    let plot = fx.run(&["plot", "--sync-dir", sync_arg, "-o", svg.to_str().unwrap(), "--log-scale"]);
    assert_eq!(plot.code, Some(0), "{}", plot.all());
    let dom = common::browser_dom(&svg);
    assert!(dom.matches("class=\"tick\"").count() >= 9, "time ticks under each panel:\n{dom}");
    assert!(dom.contains(">0:00</text>") && dom.contains(">0:10</text>"), "{dom}");
    for w in ["p-0", "p-1"] {
        assert_eq!(
            dom.matches(&format!("class=\"worker\" data-worker=\"{w}\"")).count(),
            3,
            "{w} in each panel:\n{dom}"
        );
    }
    assert_eq!(dom.matches("class=\"total\"").count(), 3, "the campaign's line in each panel");
    assert!(dom.matches("<line class=\"finding\"").count() >= 3, "the finding across the panels:\n{dom}");
    assert!(dom.contains("panic: shallow bug reached"), "{dom}");
    assert_eq!(dom.matches("<line class=\"restart\"").count(), 3, "worker 1 started again, once:\n{dom}");
    assert!(dom.contains("exec/s (log)"), "{dom}");

    let status = fx.run(&["status", "--sync-dir", sync_arg]);
    assert!(status.stdout.contains("found panic: shallow bug reached"), "{}", status.all());
    assert!(status.stdout.contains("p-1") && status.stdout.contains("started again"), "{}", status.all());
}
