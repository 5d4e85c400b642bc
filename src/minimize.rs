//! Corpus minimisation: replay every input for its coverage (harness processes in parallel,
//! each running many inputs in process), then keep a smallest set of inputs that covers every
//! feature (edge and hit-count bucket) the whole corpus covers.
//!
//! The set cover: every feature's best holder (smallest, then not slow, then first by name) is
//! a candidate; candidates are then dropped, largest first, while everything they hold is held
//! by another kept candidate. Deterministic; how it compares with libFuzzer's merge is
//! measured in BENCHMARKS.md.

use protocrash_proto::config::{MinimizeSpec, ReplayConfig, REPLAY_ENV};
use protocrash_proto::replay::{ReplayOutcome, ReplayRecord, ShrinkResult};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One distinct input (by content).
#[derive(Clone, Debug)]
pub struct Input {
    /// Where it was read from (the first place it was met).
    pub path: PathBuf,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Content id (sha256, 16 hex).
    pub id: String,
}

/// Reads `paths` in parallel and drops duplicate contents (the first path in order wins).
pub fn dedup(paths: Vec<PathBuf>) -> (Vec<Input>, Vec<(PathBuf, String)>) {
    let read: Vec<Result<Input, (PathBuf, String)>> = paths
        .into_par_iter()
        .map(|path| match std::fs::read(&path) {
            Ok(data) => Ok(Input { id: protocrash_proto::naming::content_id(&data), data, path }),
            Err(e) => Err((path, e.to_string())),
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let (mut inputs, mut failed) = (Vec::new(), Vec::new());
    for r in read {
        match r {
            Ok(i) if seen.insert(i.id.clone()) => inputs.push(i),
            Ok(_) => {}
            Err(e) => failed.push(e),
        }
    }
    (inputs, failed)
}

/// Indices of a smallest set of `inputs` covering every feature any of them covers.
/// `runs[i]` is input i's replay (only `Ok` ones take part).
pub fn cover(inputs: &[Input], runs: &[ReplayOutcome]) -> Vec<usize> {
    // Smaller first; among equal sizes, a markedly slow input (100 ms steps: run-to-run
    // timing noise must not change the result) after a fast one; then by name.
    let rank = |i: usize| {
        let slow = match &runs[i] {
            ReplayOutcome::Ok { micros, .. } => micros / 100_000,
            _ => u64::MAX,
        };
        (inputs[i].data.len(), slow, inputs[i].path.clone())
    };
    // Best holder of each feature.
    let mut best: HashMap<u32, usize> = HashMap::new();
    for (i, r) in runs.iter().enumerate() {
        let ReplayOutcome::Ok { features, .. } = r else { continue };
        for &f in features {
            match best.get(&f) {
                Some(&j) if rank(j) <= rank(i) => {}
                _ => {
                    best.insert(f, i);
                }
            }
        }
    }
    let mut kept: Vec<usize> = best.values().copied().collect();
    kept.sort_unstable();
    kept.dedup();
    // Drop redundant candidates, largest first.
    let mut holders: HashMap<u32, u32> = HashMap::new();
    let features = |i: usize| match &runs[i] {
        ReplayOutcome::Ok { features, .. } => features.as_slice(),
        _ => &[],
    };
    for &i in &kept {
        for &f in features(i) {
            *holders.entry(f).or_default() += 1;
        }
    }
    let mut order = kept.clone();
    order.sort_by_key(|&i| std::cmp::Reverse(rank(i)));
    let mut dropped = std::collections::HashSet::new();
    for i in order {
        if features(i).iter().all(|f| holders[f] >= 2) {
            for f in features(i) {
                *holders.get_mut(f).expect("counted above") -= 1;
            }
            dropped.insert(i);
        }
    }
    let mut out: Vec<usize> = kept.into_iter().filter(|i| !dropped.contains(i)).collect();
    out.sort_by_key(|&i| rank(i));
    out
}

/// Every feature covered by the `Ok` runs among `indices`.
pub fn features_of(
    runs: &[ReplayOutcome],
    indices: impl IntoIterator<Item = usize>,
) -> std::collections::BTreeSet<u32> {
    let mut all = std::collections::BTreeSet::new();
    for i in indices {
        if let ReplayOutcome::Ok { features, .. } = &runs[i] {
            all.extend(features.iter().copied());
        }
    }
    all
}

/// Parses one line of the harness's coverage replay (None: not a replay record).
pub fn parse_line(line: &str) -> Option<(PathBuf, ReplayOutcome)> {
    ReplayRecord::decode(line).ok().map(|r| (r.file, r.outcome))
}

/// The file name an input gets in the minimised corpus: its own, unless another kept input
/// already took it (then its content id).
pub fn output_names(inputs: &[&Input]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    inputs
        .iter()
        .map(|i| {
            let own = i.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !own.is_empty() && !own.starts_with('.') && taken.insert(own.clone()) {
                own
            } else {
                taken.insert(i.id.clone());
                i.id.clone()
            }
        })
        .collect()
}

/// Runs the harness's crash minimiser (`runtime/src/tmin.rs`) on `input` under the limits of
/// `limits`; it writes `spec.out`. Returns its result and whether it succeeded;
/// Err with the harness's own words when it printed no result.
pub fn shrink_crash(
    harness: &Path,
    input: &Path,
    spec: MinimizeSpec,
    limits: &ReplayConfig,
) -> anyhow::Result<(ShrinkResult, bool)> {
    use anyhow::Context;
    let cfg = ReplayConfig { json: true, minimize: Some(spec), ..limits.clone() };
    let output = std::process::Command::new(harness)
        .arg(std::path::absolute(input)?)
        .env(REPLAY_ENV, cfg.encode())
        .stderr(std::process::Stdio::piped())
        .output()
        .with_context(|| format!("cannot run the harness {}", harness.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().rev().find_map(|l| ShrinkResult::decode(l).ok()) {
        Some(v) => Ok((v, output.status.success())),
        None => anyhow::bail!(
            "the harness could not minimise {}:\n{}",
            input.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, len: usize) -> Input {
        let data = vec![name.as_bytes()[0]; len];
        Input { path: PathBuf::from(name), id: protocrash_proto::naming::content_id(&data), data }
    }

    fn ok(features: &[u32]) -> ReplayOutcome {
        ReplayOutcome::Ok { size: 1, micros: 1, features: features.to_vec() }
    }

    #[test]
    fn cover_keeps_every_feature_with_fewer_and_smaller_inputs() {
        let inputs = vec![input("a", 100), input("b", 10), input("c", 10), input("d", 50), input("e", 5)];
        let runs = vec![
            ok(&[1, 2, 3, 4]),
            ok(&[1, 2]),
            ok(&[3]),
            ok(&[4, 5]),
            ReplayOutcome::Unreadable { message: "x".into() },
        ];
        let kept = cover(&inputs, &runs);
        assert_eq!(features_of(&runs, kept.iter().copied()), features_of(&runs, 0..runs.len()));
        let names: Vec<&str> = kept.iter().map(|&i| inputs[i].path.to_str().unwrap()).collect();
        assert_eq!(names, vec!["b", "c", "d"], "the big input holding everything is not needed");
    }

    #[test]
    fn redundant_best_holders_are_dropped() {
        // x is the best holder of nothing alone once y and z are kept... and vice versa.
        let inputs = vec![input("x", 3), input("y", 2), input("z", 2)];
        let runs = vec![ok(&[1, 2, 9]), ok(&[1, 7]), ok(&[2, 8])];
        let kept = cover(&inputs, &runs);
        assert_eq!(features_of(&runs, kept.iter().copied()).len(), 5);
        assert_eq!(kept.len(), 3, "9 is only in x");
        let runs = vec![ok(&[1, 2]), ok(&[1]), ok(&[2])];
        let kept = cover(&inputs, &runs);
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(!kept.contains(&0));
    }

    #[test]
    fn cover_is_deterministic_and_ignores_findings() {
        let inputs: Vec<Input> =
            (0..50).map(|i| input(&format!("{}", (b'a' + i % 26) as char), 1 + i as usize)).collect();
        let runs: Vec<ReplayOutcome> = (0..50u32)
            .map(|i| {
                if i % 7 == 0 {
                    ReplayOutcome::Finding(protocrash_proto::replay::FindingReport {
                        kind: protocrash_proto::finding::FindingKind::Panic,
                        signal: 0,
                        message: String::new(),
                        location: String::new(),
                        signature: String::new(),
                        frames: Vec::new(),
                        size: 0,
                    })
                } else {
                    ok(&[i % 5, i % 11 + 100])
                }
            })
            .collect();
        let a = cover(&inputs, &runs);
        assert_eq!(a, cover(&inputs, &runs));
        assert!(a.iter().all(|&i| i % 7 != 0));
    }

    #[test]
    fn replay_lines_parse() {
        let line = ReplayRecord {
            file: "/c/a".into(),
            outcome: ReplayOutcome::Ok { size: 3, micros: 12, features: vec![8, 17] },
        }
        .encode();
        let (f, r) = parse_line(&line).unwrap();
        assert_eq!(f, PathBuf::from("/c/a"));
        assert_eq!(r, ReplayOutcome::Ok { size: 3, micros: 12, features: vec![8, 17] });
        assert!(parse_line("not json").is_none());
    }

    #[test]
    fn names_do_not_collide() {
        let (a, b) = (input("same", 1), Input { path: PathBuf::from("other/same"), ..input("t", 2) });
        let names = output_names(&[&a, &b]);
        assert_eq!(names[0], "same");
        assert_eq!(names[1], b.id);
    }
}
