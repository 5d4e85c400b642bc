//! End-to-end: after the first finding, full speed (issue "known findings"). A known panic is
//! caught in the fuzzing child and costs about one execution; a known abort restarts the
//! child warm (from its predecessor's corpus in shared memory, without re-running the
//! queue); a panic that leaves global state broken yields no false finding; the bug behind
//! the known one is still found; figures keep moving during a crash storm. Real harnesses,
//! real fork servers, fixed seeds, bounded runs.

mod common;

use common::Fixture;
use protocrash_proto::finding::FindingKind;
use protocrash_proto::layout::SyncDir;
use protocrash_proto::stats::{StatField, StatsView};

/// (message, location, count) of each finding worker 0 recorded, sorted by message.
fn findings(fx: &Fixture, target: &str) -> Vec<(String, String, u64)> {
    let mut v: Vec<_> = fx
        .findings(target)
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("message"), s("location"), f["count"].as_u64().unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Files (reproducers, without their `.txt`) in worker 0's `crashes/`.
fn crash_files(fx: &Fixture, target: &str) -> usize {
    let dir = fx.worker(target).findings(FindingKind::Panic);
    std::fs::read_dir(dir).unwrap().flatten().filter(|e| !e.file_name().to_string_lossy().ends_with(".txt")).count()
}

#[test]
fn a_known_panic_is_caught_in_process_and_the_bug_behind_it_is_still_found() {
    let fx = Fixture::new("known");
    let out = fx.campaign("shallow_panic", &["-j", "1", "--runs", "1500000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let f = findings(&fx, "shallow_panic");
    assert_eq!(f.len(), 2, "{f:?}\n{}", out.all());
    assert_eq!(f[0].0, "the second bug", "{f:?}");
    assert_eq!(f[1].0, "the shallow bug", "{f:?}");
    assert!(f[1].1.ends_with("src/lib.rs:40:9"), "{f:?}");
    // Exactly one reproducer per signature, however often it was hit.
    assert_eq!(crash_files(&fx, "shallow_panic"), 2);
    let stats = fx.stats("shallow_panic");
    let (recovered, crashes) = (stats.get(StatField::Recovered), stats.get(StatField::Crashes));
    assert!(f[1].2 >= 50, "the shallow bug is hit over and over: {f:?}");
    assert!(recovered >= f[1].2 - 1, "its hits after the first are recovered in process: {recovered} of {f:?}");
    // Every hit is counted once: the findings' counts are the crash counter.
    assert_eq!(f.iter().map(|x| x.2).sum::<u64>(), crashes, "{f:?}");
    // A child per new bug, not per hit (the first child, one per new finding, none after).
    assert!(stats.get(StatField::Children) <= 4, "children: {}", stats.get(StatField::Children));
    assert!(stats.execs() >= 1_500_000);
}

#[test]
fn a_known_abort_restarts_the_child_warm_and_the_bug_behind_it_is_still_found() {
    let fx = Fixture::new("known");
    let out = fx.campaign("shallow_abort", &["-j", "1", "--runs", "1500000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let f = findings(&fx, "shallow_abort");
    assert_eq!(f.len(), 2, "{f:?}\n{}", out.all());
    let abort = f.iter().find(|x| x.0.starts_with("SIGABRT")).unwrap_or_else(|| panic!("{f:?}"));
    // Located at the user's line, not in libc's pthread_kill or abort.
    assert!(abort.1.ends_with("src/lib.rs:49"), "{f:?}");
    assert!(f.iter().any(|x| x.0 == "the second bug"), "{f:?}");
    let stats = fx.stats("shallow_abort");
    let children = stats.get(StatField::Children);
    assert!(abort.2 >= 20 && children >= abort.2, "each abort ends a child: {children} children, {f:?}");
    // Every child after the first started from its predecessor's corpus in memory.
    assert!(stats.get(StatField::WarmStarts) >= children - 1, "{} warm starts", stats.get(StatField::WarmStarts));
    assert_eq!(f.iter().map(|x| x.2).sum::<u64>(), stats.get(StatField::Crashes), "{f:?}");
}

#[test]
fn a_panic_that_leaves_global_state_broken_gives_no_false_finding() {
    let fx = Fixture::new("known");
    let out = fx.campaign("poisoned", &["-j", "1", "--runs", "1500000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let f = findings(&fx, "poisoned");
    // After the first recovered panic every input panics with "re-entered" in that child; a
    // fresh child does not, so that is never saved, and the real bugs still are.
    let messages: Vec<&str> = f.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(messages, ["the second bug", "the shallow bug"], "{}", out.all());
    assert!(out.all().contains("did not happen again in a fresh process"), "{}", out.all());
    assert!(!out.all().contains("re-entered"), "{}", out.all());
    assert_eq!(crash_files(&fx, "poisoned"), 2);
}

#[test]
fn a_crash_storm_keeps_stats_and_plot_moving_and_hits_add_up_across_workers() {
    let fx = Fixture::new("example");
    let out = fx.campaign("parse", &["-j", "2", "--max-total-time", "12s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let sync = SyncDir::new(fx.path().join("fuzz/sync/parse"));
    let (mut hits, mut crashes) = (0, 0);
    for i in 0..2 {
        let w = sync.worker("t", i);
        let stats = StatsView::decode(&std::fs::read(w.stats()).unwrap()).unwrap();
        crashes += stats.get(StatField::Crashes);
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(w.findings_index()).unwrap()).unwrap();
        let found = index["findings"].as_array().unwrap();
        assert_eq!(found.len(), 1, "one bug, one finding per worker: {found:?}");
        hits += found[0]["count"].as_u64().unwrap();
        assert!(stats.get(StatField::Recovered) > 1000, "worker {i}: hits are recovered in process");
        // A plot row every few seconds while children keep hitting the bug, not one at the end.
        let plot = std::fs::read_to_string(w.plot_data()).unwrap();
        let times: Vec<u64> = plot
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(',').next().unwrap().trim().parse().unwrap())
            .collect();
        assert!(times.len() >= 3, "worker {i} plot_data:\n{plot}");
        assert!(times.windows(2).all(|w| w[1] - w[0] <= 6), "worker {i} plot_data:\n{plot}");
    }
    assert_eq!(hits, crashes, "the findings' counts are the workers' crash counters");
    // The summary's hit count is the sum over both workers.
    assert!(out.stdout.contains(&format!("(hit {hits} times)")), "{hits}\n{}", out.all());
    // The corpus figure is what was exported.
    let line = out.stdout.lines().find(|l| l.contains("done after")).unwrap();
    let corpus: Vec<&str> = line.split("corpus ").nth(1).unwrap().split_whitespace().collect();
    assert_eq!(corpus[0], corpus[1].trim_start_matches('('), "{line}");
}
