//! End-to-end: real instrumented fixture harnesses fuzzed by the real binary, one finding
//! kind per test. Every run is bounded (`--runs`, and a time cap as a safety net) and seeded.

mod common;

use common::Fixture;
use protocrash_proto::finding::FindingKind;
use protocrash_proto::stats::StatField;

fn fuzz(fx: &Fixture, target: &str, extra: &[&str]) -> common::Out {
    fx.campaign(target, &[&["-j", "1"], extra].concat())
}

fn kinds(fx: &Fixture, target: &str) -> Vec<String> {
    fx.findings(target).iter().map(|f| f["kind"].as_str().unwrap().to_string()).collect()
}

#[test]
fn shallow_panic_is_found_and_saved_with_its_message() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "shallow", &["--runs", "3000000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("found a new panic in 'shallow': shallow bug reached"), "{}", out.all());
    let f = fx.findings("shallow");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0]["location"].as_str().unwrap().ends_with("src/lib.rs:9:9"), "{f:?}");
    let art = fx.artifacts("shallow");
    assert!(art.iter().any(|a| a.starts_with("crash-")), "{art:?}");
    let input = std::fs::read(fx.path().join("fuzz/artifacts/shallow").join(&art[0])).unwrap();
    assert!(input.starts_with(b"bug"), "{input:?}");
}

#[test]
fn hang_is_saved_as_a_hang_and_the_campaign_goes_on() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "hang", &["--timeout", "200ms", "--runs", "100000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_eq!(kinds(&fx, "hang"), vec!["hang"], "{}", out.all());
    assert!(fx.artifacts("hang").iter().any(|a| a.starts_with("hang-")));
    let input = std::fs::read(fx.worker_dir("hang").join(fx.findings("hang")[0]["file"].as_str().unwrap())).unwrap();
    assert_eq!(input.first(), Some(&b'H'));
    // It went on after the hang: fresh children ran, and the whole budget was spent.
    assert!(fx.stats("hang").get(StatField::Children) >= 2);
    assert!(fx.stats("hang").execs() >= 100_000, "{}", out.all());
}

#[test]
fn memory_blowup_and_huge_allocation_are_saved_as_ooms_and_the_campaign_goes_on() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "oom", &["--rss-limit-mb", "256", "--runs", "300000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let found = fx.findings("oom");
    assert!(!found.is_empty() && found.iter().all(|f| f["kind"] == "oom"), "{found:?}\n{}", out.all());
    let messages: Vec<&str> = found.iter().map(|f| f["message"].as_str().unwrap()).collect();
    // Growth a MiB at a time is stopped at the limit; one 3 GiB request (far over what a
    // small input could need) is refused outright.
    assert!(messages.iter().any(|m| m.contains("bytes, over the memory limit")), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("allocation of 3221225472 bytes: over 1024x the input")),
        "{messages:?}"
    );
    assert!(fx.artifacts("oom").iter().any(|a| a.starts_with("oom-")));
    assert!(fx.stats("oom").execs() >= 300_000, "{}", out.all());
}

#[test]
fn stack_overflow_is_saved_as_a_crash() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "overflow", &["--runs", "1000000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_eq!(kinds(&fx, "overflow"), vec!["stack-overflow"], "{}", out.all());
    assert!(fx.artifacts("overflow").iter().any(|a| a.starts_with("crash-")));
    let txt = std::fs::read_dir(fx.worker("overflow").findings(FindingKind::Panic))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "txt"))
        .unwrap();
    let report = std::fs::read_to_string(txt.path()).unwrap();
    assert!(report.contains("kind: stack overflow") && report.contains("descend"), "{report}");
}

#[test]
fn typed_target_needs_two_fields_to_line_up() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "typed", &["--runs", "5000000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("typed bug: op 7 arg 257"), "{}", out.all());
}

#[test]
fn clean_target_runs_its_budget_and_exits_zero() {
    let fx = Fixture::new("findings");
    // A corrupt corpus: an oversized file (truncated to --max-len, with a warning), an empty
    // file and a directory. None of it stops the run.
    let corpus = fx.path().join("fuzz/corpus/clean");
    std::fs::create_dir_all(corpus.join("a-directory")).unwrap();
    std::fs::write(corpus.join("huge"), vec![7u8; 3 << 20]).unwrap();
    std::fs::write(corpus.join("empty"), b"").unwrap();
    let out = fuzz(&fx, "clean", &["--runs", "200000", "--max-len", "4096"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("no crashes, hangs or out-of-memory inputs found"), "{}", out.all());
    assert!(out.stdout.contains("huge is longer than --max-len 4096"), "{}", out.all());
    assert!(fx.findings("clean").is_empty());
    assert!(fx.artifacts("clean").is_empty());
    assert_eq!(fx.stats("clean").execs(), 200_000);
    // The huge seed is untouched.
    assert_eq!(std::fs::metadata(corpus.join("huge")).unwrap().len(), 3 << 20);
}

#[test]
fn two_different_panics_are_two_unique_crashes_not_hundreds() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "two_panics", &["--runs", "3000000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let found = fx.findings("two_panics");
    let mut messages: Vec<&str> = found.iter().map(|f| f["message"].as_str().unwrap()).collect();
    messages.sort();
    assert_eq!(messages, vec!["first bug", "second bug"], "{}", out.all());
    let hits: u64 = found.iter().map(|f| f["count"].as_u64().unwrap()).sum();
    assert!(hits >= 2);
    let inputs = std::fs::read_dir(fx.worker("two_panics").findings(FindingKind::Panic))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_none())
        .count();
    assert_eq!(inputs, 2);
    assert_eq!(fx.artifacts("two_panics").len(), 2);
}

#[test]
fn printed_reproduce_command_reproduces_the_crash() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "shallow", &["--runs", "3000000", "--max-total-time", "120s", "--fail-fast"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let line = out.stdout.lines().find_map(|l| l.trim().strip_prefix("reproduce: ")).expect("a reproduce line");
    assert!(line.starts_with("cargo protocrash repro shallow fuzz/artifacts/shallow/crash-"), "{line}");
    // Run it exactly as printed, with `cargo` finding this build's cargo-protocrash on PATH.
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c").arg(line).current_dir(fx.path()).env("PATH", path);
    common::configure(&mut sh);
    let repro = common::Out::from(sh.output().unwrap());
    assert_eq!(repro.code, Some(1), "{}", repro.all());
    assert!(repro.stdout.contains("PANIC"), "{}", repro.all());
    assert!(repro.stdout.contains("message: shallow bug reached"), "{}", repro.all());
    // The backtrace starts with the user's frame.
    let first_frame = repro.stdout.lines().find(|l| l.trim_start().starts_with("#0")).unwrap_or("");
    assert!(first_frame.contains("findings::shallow"), "{}", repro.all());
}

#[test]
fn init_runs_first_and_rejected_inputs_never_enter_the_corpus() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "init_reject", &["--runs", "300000"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let queue: Vec<Vec<u8>> = std::fs::read_dir(fx.worker("init_reject").queue())
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(queue.len() >= 2, "the target has coverage to find: {queue:?}");
    assert!(queue.iter().all(|q| q.first() != Some(&b'r')), "a rejected input was kept: {queue:?}");
    let corpus = fx.path().join("fuzz/corpus/init_reject");
    for e in std::fs::read_dir(corpus).unwrap().flatten() {
        assert_ne!(std::fs::read(e.path()).unwrap().first(), Some(&b'r'));
    }
}

/// `--max-len` under the mutator's starting length limit (8) used to pass the CLI check and
/// then panic in the runtime (`clamp(8, 4)`): the worker died before fuzzing.
#[test]
fn max_len_under_eight_fuzzes_within_the_limit() {
    let fx = Fixture::new("findings");
    let out = fuzz(&fx, "ladder", &["--max-len", "4", "--runs", "300000", "--max-total-time", "120s"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(!out.all().contains("panicked"), "{}", out.all());
    assert_eq!(fx.stats("ladder").execs(), 300_000, "every execution ran: {}", out.all());
    let queue: Vec<Vec<u8>> = std::fs::read_dir(fx.worker("ladder").queue())
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(queue.iter().all(|q| q.len() <= 4), "an input over --max-len: {queue:?}");
    assert!(queue.iter().any(|q| q == b"LadD"), "the four rungs that fit were climbed: {queue:?}");
}
