//! End-to-end: comparison feedback and dictionaries. Each test has a control run with the
//! feature off under the same bound, so it fails if the feature is missing.

mod common;

use common::{one_campaign_at_a_time, Fixture};

fn fuzz(fx: &Fixture, target: &str, extra: &[&str]) -> common::Out {
    fx.campaign(target, &[&["-j", "1", "--fail-fast"], extra].concat())
}

/// The four gates of `findings::gates` — a 32-bit magic, a 10-byte keyword compared as a
/// slice, a length field and a checksum, with no branch between them — open within 3 M
/// executions with comparison feedback, and stay shut for the same budget without it.
#[test]
fn magic_keyword_length_and_checksum_fall_to_comparison_feedback_only() {
    let with = Fixture::new("findings");
    let out = fuzz(&with, "gates", &["--runs", "3000000"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("all four gates open"), "{}", out.all());
    let found_at = with.stats("gates").execs();
    assert!(found_at < 3_000_000, "found only at the bound: {found_at}");
    let learned = std::fs::read_to_string(with.worker("gates").learned_dict()).unwrap_or_default();
    assert!(learned.contains("\"PROTOCRASH\""), "the keyword was learned from a compare:\n{learned}");

    let without = Fixture::new("findings");
    let out = fuzz(&without, "gates", &["--runs", "3000000", "--no-cmp"]);
    assert_eq!(out.code, Some(0), "found without comparison feedback?\n{}", out.all());
    assert_eq!(without.stats("gates").execs(), 3_000_000);
}

/// The gates fold into one block: the fixture's edge count must not grow with the gates
/// opened (otherwise the test above would not show what it claims).
#[test]
fn gates_fixture_gives_edge_coverage_nothing_to_climb() {
    let fx = Fixture::new("findings");
    let solved = {
        let mut v = 0x7a3c_91e5u32.to_le_bytes().to_vec();
        v.extend_from_slice(b"PROTOCRASH");
        v.extend_from_slice(&3u16.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3]);
        v.push(6);
        v
    };
    let mut three_open = solved.clone();
    *three_open.last_mut().unwrap() = 7;
    let dir = fx.path().join("inputs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("three_open"), &three_open).unwrap();
    std::fs::write(dir.join("none_open"), vec![0u8; three_open.len()]).unwrap();
    std::fs::write(dir.join("solved"), &solved).unwrap();
    let out = fx.run(&["repro", "gates", "inputs/three_open", "inputs/none_open", "inputs/solved"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("inputs/solved: PANIC"), "{}", out.all());
    // Same edges for three gates open and for none: fuzz both, compare the edge counts.
    let _slot = one_campaign_at_a_time();
    for (name, corpus) in [("a", "three_open"), ("b", "none_open")] {
        let seeds = fx.path().join(format!("seeds-{name}"));
        std::fs::create_dir_all(&seeds).unwrap();
        std::fs::copy(dir.join(corpus), seeds.join(corpus)).unwrap();
        let sync = fx.path().join(format!("sync-{name}"));
        let out = fx.run(&[
            "run",
            "gates",
            "-j",
            "1",
            "--runs",
            "1",
            "--no-cmp",
            "--plain",
            "--node",
            "t",
            "--corpus",
            seeds.to_str().unwrap(),
            "--sync-dir",
            sync.to_str().unwrap(),
        ]);
        assert_eq!(out.code, Some(0), "{}", out.all());
    }
    let edges = |name: &str| {
        let bytes = std::fs::read(fx.path().join(format!("sync-{name}/t-0/stats"))).unwrap();
        u64::from_le_bytes(bytes[4 * 8..5 * 8].try_into().unwrap())
    };
    assert_eq!(edges("a"), edges("b"), "opening three gates changed edge coverage");
}

/// A token no compare reveals is found through `--dict`, and not without it.
#[test]
fn dictionary_tokens_are_used() {
    let fx = Fixture::new("findings");
    let dict = fx.path().join("tokens.dict");
    std::fs::write(&dict, "# the token\nkw=\"protocrash-dict-token\"\n").unwrap();
    let out = fuzz(&fx, "needs_dictionary", &["--runs", "2000000", "--no-cmp", "--dict", dict.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("dictionary token found"), "{}", out.all());

    let control = Fixture::new("findings");
    let out = fuzz(&control, "needs_dictionary", &["--runs", "2000000", "--no-cmp"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
}

#[test]
fn malformed_dictionary_is_a_usage_error_naming_the_line() {
    let fx = Fixture::new("findings");
    let dict = fx.path().join("bad.dict");
    std::fs::write(&dict, "ok=\"a\"\nthis is not a token\n").unwrap();
    let out = fx.run(&["run", "gates", "--runs", "10", "--dict", dict.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("bad.dict: line 2"), "{}", out.all());
}
