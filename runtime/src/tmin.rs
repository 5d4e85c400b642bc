//! Crash minimisation: shrink an input while it still produces *the same* finding — same
//! kind and same signature (panic location; for faults, hangs and stack overflows the top
//! user frames) — never merely some crash. Deterministic: the same input, budget and build
//! give the same result. Each candidate runs in a forked child under the fuzzer's watchdog
//! (`replay::run_isolated`), so a hang is a hang here too.
//!
//! Passes, repeated while they shrink the input and the budget lasts:
//! 1. delete blocks, from half the input down to single bytes;
//! 2. replace each byte by `'0'` (a canonical, printable filler, as AFL's tmin does), so what
//!    is left shows which bytes matter.

use crate::report::Report;
use crate::replay::{limits, run_isolated, Failure};
use crate::shared::SharedRegion;
use crate::util::write_atomic;
use crate::TargetFn;
use protocrash_proto::config::{MinimizeSpec, ReplayConfig};
use protocrash_proto::finding::FindingKind;
use protocrash_proto::replay::{OtherFinding, ShrinkResult};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Runs the minimisation of `files[0]`; prints one JSON line with the result. Exit status:
/// 0 minimised (or already minimal), 2 when the input does not reproduce or on an error.
pub fn minimize(files: &[PathBuf], spec: &MinimizeSpec, cfg: &ReplayConfig, init: fn(), target: TargetFn) -> i32 {
    let [file] = files else {
        crate::log::error("crash minimisation takes exactly one input file");
        return 2;
    };
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => {
            crate::log::error(&format!("cannot read {}: {e}", file.display()));
            return 2;
        }
    };
    let Some(region) = crate::replay::start(init) else {
        return 2;
    };
    let mut m = Minimizer {
        region,
        limits: limits(cfg),
        target,
        runs: 0,
        max_runs: spec.runs.max(1),
        deadline: Instant::now() + Duration::from_millis(spec.max_ms.max(1)),
        cache: HashMap::new(),
        other: HashMap::new(),
        cleanse: spec.cleanse,
    };
    let want = match m.run(&data) {
        Err(e) => {
            crate::log::error(&e);
            return 2;
        }
        Ok(None) => {
            crate::log::error(&format!(
                "{} does not reproduce: it ran clean in this build (with this timeout and memory limit); \
                 nothing to minimise",
                file.display()
            ));
            return 2;
        }
        Ok(Some(r)) => r,
    };
    let key = (want.kind, want.signature.clone());
    let mut best = data.clone();
    let shrunk = match m.shrink(&mut best, &key) {
        Ok(()) => true,
        Err(e) => {
            crate::log::error(&e);
            false
        }
    };
    if let Err(e) = write_atomic(&spec.out, &best) {
        crate::log::error(&format!("{e}; the input is unchanged"));
        return 2;
    }
    let mut others: Vec<(&String, &u64)> = m.other.iter().collect();
    others.sort();
    let result = ShrinkResult {
        input: file.clone(),
        out: spec.out.clone(),
        before: data.len() as u64,
        after: best.len() as u64,
        runs: m.runs,
        kind: want.kind,
        message: want.message,
        location: want.location,
        signature: want.signature,
        complete: shrunk && m.has_budget(),
        other_findings: others.iter().map(|&(s, &n)| OtherFinding { signature: s.clone(), times: n }).collect(),
    };
    println!("{}", result.encode());
    if shrunk {
        0
    } else {
        2
    }
}

type Key = (FindingKind, String);

struct Minimizer {
    region: SharedRegion,
    limits: crate::watchdog::Limits,
    target: TargetFn,
    runs: u64,
    max_runs: u64,
    deadline: Instant,
    /// Signature per raw crash record: the same crash site is symbolised once.
    cache: HashMap<(Option<FindingKind>, i32, String, Vec<usize>), Report>,
    /// Other findings met on the way (signature → times): reported, never accepted.
    other: HashMap<String, u64>,
    /// Only replace bytes (pass 2), never delete.
    cleanse: bool,
}

impl Minimizer {
    fn has_budget(&self) -> bool {
        self.runs < self.max_runs && Instant::now() < self.deadline
    }

    /// Runs a candidate; the finding it produced, if any.
    fn run(&mut self, data: &[u8]) -> Result<Option<Report>, String> {
        self.runs += 1;
        match run_isolated(&self.region, &self.limits, data, self.target)? {
            None => Ok(None),
            Some(Failure { raw, seen }) => {
                let k = (raw.kind, raw.signal, raw.location.clone(), raw.ips.clone());
                if let Some(r) = self.cache.get(&k) {
                    return Ok(Some(Report { message: raw.message, ..r.clone() }));
                }
                let r = Report::from_raw(raw, seen);
                self.cache.insert(k, r.clone());
                Ok(Some(r))
            }
        }
    }

    /// Whether `cand` produces the finding `key`.
    fn same(&mut self, cand: &[u8], key: &Key) -> Result<bool, String> {
        Ok(match self.run(cand)? {
            Some(r) if (r.kind, &r.signature) == (key.0, &key.1) => true,
            Some(r) => {
                *self.other.entry(r.signature).or_default() += 1;
                false
            }
            None => false,
        })
    }

    fn shrink(&mut self, best: &mut Vec<u8>, key: &Key) -> Result<(), String> {
        let mut cand = Vec::with_capacity(best.len());
        loop {
            let before = best.clone();
            // 1. Block deletion, big blocks first (not when cleansing: that keeps the length).
            let mut chunk = if self.cleanse { 0 } else { (best.len() / 2).max(1) };
            while chunk > 0 {
                let mut at = 0;
                while at < best.len() {
                    if !self.has_budget() {
                        return Ok(());
                    }
                    let end = (at + chunk).min(best.len());
                    cand.clear();
                    cand.extend_from_slice(&best[..at]);
                    cand.extend_from_slice(&best[end..]);
                    if self.same(&cand, key)? {
                        std::mem::swap(best, &mut cand);
                    } else {
                        at += chunk;
                    }
                }
                chunk /= 2;
            }
            // 2. Canonical bytes.
            for i in 0..best.len() {
                if best[i] == b'0' {
                    continue;
                }
                if !self.has_budget() {
                    return Ok(());
                }
                cand.clear();
                cand.extend_from_slice(best);
                cand[i] = b'0';
                if self.same(&cand, key)? {
                    std::mem::swap(best, &mut cand);
                }
            }
            if *best == before {
                return Ok(());
            }
        }
    }
}
