//! End-to-end: bugs that need depth, not luck (issue "engine depth"). Each target is fuzzed
//! from an empty corpus by one real worker with a fixed seed and an execution bound well
//! above what the engine needs (seeds 1–4 found each within 250 k executions; before the
//! length ramp and the run/number mutators, `nested` was not found in 122 M executions).

mod common;

use common::{one_campaign_at_a_time, Fixture};

/// Fuzzes `target` until its first finding (at most 2 M executions); returns the output.
fn first_finding(fx: &Fixture, target: &str) -> common::Out {
    fx.run(&["run", target, "-j", "1", "--node", "t", "--plain", "--seed", "1", "--fail-fast", "--runs", "2000000"])
}

#[test]
fn a_parser_that_overflows_its_stack_only_thousands_of_levels_deep_is_found() {
    let fx = Fixture::new("depth");
    let _slot = one_campaign_at_a_time();
    let out = first_finding(&fx, "nested");
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("found a new stack overflow in 'nested'"), "{}", out.all());
    // The reproducer really is thousands of levels deep (the parser's frame is ~3 KiB).
    let findings = fx.findings("nested");
    assert!(findings[0]["size"].as_u64().unwrap() > 1000, "{findings:?}");
}

#[test]
fn a_decimal_number_too_long_for_u64_is_found() {
    let fx = Fixture::new("depth");
    let _slot = one_campaign_at_a_time();
    let out = first_finding(&fx, "long_number");
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("PosOverflow"), "{}", out.all());
}

#[test]
fn a_run_of_256_identical_bytes_after_a_keyword_is_found() {
    let fx = Fixture::new("depth");
    let _slot = one_campaign_at_a_time();
    let out = first_finding(&fx, "byte_run");
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("run counter overflowed"), "{}", out.all());
}
