//! End-to-end: `cargo protocrash minimize` on real instrumented fixture harnesses: corpus
//! minimisation checked by replaying both corpora through the same build, findings set aside,
//! idempotence, Ctrl-C, and crash minimisation that keeps the same crash.

mod common;

use common::{one_campaign_at_a_time, Fixture};
use protocrash_proto::config::{ReplayConfig, REPLAY_ENV};
use protocrash_proto::replay::{ReplayOutcome, ReplayRecord};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const LADDER: &[u8] = b"LadDer!#q7z%K0w~";

/// A redundant corpus: every ladder height, each in many paddings, many copies.
fn redundant_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for height in 0..=LADDER.len() {
        for pad in 0..12usize {
            let mut data = LADDER[..height].to_vec();
            data.extend(std::iter::repeat_n(b'.', pad * 7));
            std::fs::write(dir.join(format!("h{height:02}-p{pad:02}")), &data).unwrap();
            std::fs::write(dir.join(format!("copy-h{height:02}-p{pad:02}")), &data).unwrap();
        }
    }
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Every feature the harness reports for the files of `dir`, replayed through `harness`.
fn features(harness: &Path, dir: &Path) -> BTreeSet<u64> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    let cfg = ReplayConfig { json: true, coverage: true, ..ReplayConfig::new(1000, 0) };
    let out = std::process::Command::new(harness).args(&files).env(REPLAY_ENV, cfg.encode()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut all = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match ReplayRecord::decode(line).unwrap().outcome {
            ReplayOutcome::Ok { features, .. } => all.extend(features.iter().map(|&f| u64::from(f))),
            other => panic!("{} did not run clean: {other:?}", line),
        }
    }
    all
}

fn minimize(fx: &Fixture, args: &[&str]) -> (common::Out, Value) {
    let mut all = vec!["minimize"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = fx.run(&all);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = serde_json::from_str(out.stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    (out, v)
}

#[test]
fn minimised_corpus_keeps_exactly_the_same_coverage_with_fewer_files_and_bytes() {
    let fx = Fixture::new("findings");
    let corpus = fx.path().join("fuzz/corpus/ladder");
    redundant_corpus(&corpus);
    let original = fx.path().join("original");
    std::fs::create_dir_all(&original).unwrap();
    for (name, data) in snapshot(&corpus) {
        std::fs::write(original.join(name), data).unwrap();
    }
    let _slot = one_campaign_at_a_time();
    let (_, v) = minimize(&fx, &["ladder"]);
    let harness = PathBuf::from(v["harness"].as_str().unwrap());
    let before = snapshot(&original);
    let after = snapshot(&corpus);
    assert!(after.len() < before.len() / 4, "{} files from {}: {v}", after.len(), before.len());
    let bytes = |m: &BTreeMap<String, Vec<u8>>| m.values().map(Vec::len).sum::<usize>();
    assert!(bytes(&after) < bytes(&before), "{v}");
    assert_eq!(features(&harness, &corpus), features(&harness, &original), "the very same features");
    assert_eq!(v["files_after"].as_u64().unwrap() as usize, after.len());

    // What an interrupted `minimize` left beside the corpus (a half-written new corpus, a
    // half-removed old one, named after a process that is gone) is removed by the next one;
    // a live process's is left alone.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let parent = corpus.parent().unwrap();
    for leftover in [format!(".tmp-minimize-ladder-{dead}"), format!(".tmp-minimize-ladder-old-{dead}")] {
        std::fs::create_dir_all(parent.join(&leftover)).unwrap();
        std::fs::write(parent.join(&leftover).join("x"), b"half").unwrap();
    }
    let live = format!(".tmp-minimize-ladder-{}", std::process::id());
    std::fs::create_dir_all(parent.join(&live)).unwrap();

    // Minimising the result again changes nothing.
    let (_, again) = minimize(&fx, &["ladder"]);
    assert_eq!(snapshot(&corpus), after, "{again}");
    let mut left: Vec<String> =
        std::fs::read_dir(parent).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, [live, "ladder".to_string()], "only the live process's temp dir and the corpus");
}

#[test]
fn crashing_and_hanging_inputs_are_reported_and_left_out() {
    let fx = Fixture::new("findings");
    let corpus = fx.path().join("fuzz/corpus/triage");
    redundant_corpus(&corpus);
    std::fs::write(corpus.join("boom"), b"P!").unwrap();
    std::fs::write(corpus.join("stuck"), b"Hold").unwrap();
    let out_dir = fx.path().join("minimized");
    let _slot = one_campaign_at_a_time();
    let (_, v) = minimize(&fx, &["triage", "--timeout", "300ms", "--out", out_dir.to_str().unwrap()]);
    let aside = v["set_aside"].as_array().unwrap();
    let kind_of = |name: &str| {
        aside
            .iter()
            .find(|a| a["file"].as_str().unwrap().ends_with(name))
            .map(|a| a["kind"].as_str().unwrap().to_string())
    };
    assert_eq!(kind_of("boom").as_deref(), Some("panic"), "{v}");
    assert_eq!(kind_of("stuck").as_deref(), Some("hang"), "{v}");
    let kept = snapshot(&out_dir);
    assert!(!kept.values().any(|d| d.starts_with(b"P") || d.starts_with(b"H")), "{kept:?}");
    assert!(kept.len() >= LADDER.len(), "every rung is still covered: {kept:?}");
    assert!(corpus.join("boom").exists(), "with --out the original stays");
}

#[test]
fn ctrl_c_while_minimising_leaves_the_corpus_byte_for_byte_intact() {
    let fx = Fixture::new("findings");
    let corpus = fx.path().join("fuzz/corpus/triage");
    redundant_corpus(&corpus);
    for i in 0..400 {
        std::fs::write(corpus.join(format!("slow-{i:03}")), format!("S{i}")).unwrap();
    }
    let before = snapshot(&corpus);
    let _slot = one_campaign_at_a_time();
    let build = fx.run(&["build", "triage"]);
    assert_eq!(build.code, Some(0), "{}", build.all());
    let child =
        fx.cmd(&["minimize", "triage", "-j", "1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait until the replay runs (a harness process exists under the minimize process), then interrupt.
    let end = Instant::now() + Duration::from_secs(60);
    let pid = child.id();
    loop {
        assert!(Instant::now() < end, "the replay never started");
        let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if !kids.trim().is_empty()
            && kids.split_whitespace().any(|k| {
                std::fs::read_link(format!("/proc/{k}/exe")).is_ok_and(|e| e.file_name().is_some_and(|n| n == "triage"))
            })
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on the process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let out = common::Out::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(130), "{}", out.all());
    assert!(out.stdout.contains("nothing was changed"), "{}", out.all());
    assert_eq!(snapshot(&corpus), before);
    let leftovers: Vec<_> =
        std::fs::read_dir(fx.path().join("fuzz/corpus")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("triage")], "no temporary directories");
}

#[test]
fn crash_minimisation_shrinks_to_the_same_crash_and_never_to_another() {
    let fx = Fixture::new("findings");
    let padded = fx.path().join("padded");
    let mut data = b"bug".to_vec();
    data.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&padded, &data).unwrap();
    let _slot = one_campaign_at_a_time();
    let out = fx.run(&["minimize", "shallow", "--crash", padded.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("3003 -> 3 bytes"), "{}", out.all());
    let min = fx.path().join("padded.min");
    assert_eq!(std::fs::read(&min).unwrap(), b"bug");
    let repro = fx.run(&["repro", "shallow", min.to_str().unwrap()]);
    assert_eq!(repro.code, Some(1), "{}", repro.all());
    assert!(repro.stdout.contains("src/lib.rs:9:9"), "{}", repro.all());

    // "xA" is the first bug; dropping the 'A' would make "xB…", the second bug: refused.
    let two = fx.path().join("two");
    let mut data = b"xA".to_vec();
    data.extend([b'B'; 100]);
    std::fs::write(&two, &data).unwrap();
    let out = fx.run(&[
        "minimize",
        "two_panics",
        "--crash",
        two.to_str().unwrap(),
        "--json",
        "-o",
        fx.path().join("two.min").to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["message"], "first bug", "{v}");
    assert_eq!(std::fs::read(fx.path().join("two.min")).unwrap(), b"xA");
    assert!(!v["other_findings"].as_array().unwrap().is_empty(), "the second bug was met and refused: {v}");

    // An input that does not crash is not "minimised".
    let fine = fx.path().join("fine");
    std::fs::write(&fine, b"fine").unwrap();
    let out = fx.run(&["minimize", "shallow", "--crash", fine.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.all().contains("does not reproduce"), "{}", out.all());
}
