//! The messages a harness prints in its replay modes (`repro --json`, the coverage replay of
//! `minimize`, `repro --regression` and `coverage`, and crash shrinking): one JSON object
//! per line, typed here so the harness writes and the CLI reads the same thing.

use crate::finding::FindingKind;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What one input did when it was replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// The input file, as given to the harness.
    pub file: PathBuf,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: ReplayOutcome,
}

/// How a replayed input ended. Tagged by `"outcome"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ReplayOutcome {
    /// Ran clean.
    Ok {
        /// Input length.
        size: u64,
        /// Run time in microseconds.
        micros: u64,
        /// Features (`edge * 8 + log2(hit-count bucket)`), only in coverage replays.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<u32>,
    },
    /// Crashed, hung or ran out of memory.
    Finding(FindingReport),
    /// The harness could not read it.
    Unreadable {
        /// The reason.
        message: String,
    },
}

/// A finding as a replay reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingReport {
    /// Kind.
    pub kind: FindingKind,
    /// Signal number, or 0.
    pub signal: i32,
    /// Panic message or description.
    pub message: String,
    /// Panic location or top user frame.
    pub location: String,
    /// Deduplication key.
    pub signature: String,
    /// Symbolised frames, user frames first.
    #[serde(default)]
    pub frames: Vec<String>,
    /// Input length.
    pub size: u64,
}

impl ReplayRecord {
    /// One line of JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("ReplayRecord always serialises")
    }

    /// Decodes one line (Err: not a replay record).
    pub fn decode(line: &str) -> Result<ReplayRecord, String> {
        serde_json::from_str(line).map_err(|e| format!("malformed replay record: {e}"))
    }
}

/// The result of shrinking one crashing input (`minimize --crash`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShrinkResult {
    /// The input that was shrunk.
    pub input: PathBuf,
    /// Where the smallest input found was written.
    pub out: PathBuf,
    /// Its length before and after.
    pub before: u64,
    /// Length of the result.
    pub after: u64,
    /// Executions spent.
    pub runs: u64,
    /// The finding that every accepted candidate reproduced.
    pub kind: FindingKind,
    /// Its message, location and signature.
    pub message: String,
    /// Where it happens.
    pub location: String,
    /// Its deduplication key.
    pub signature: String,
    /// False when the budget ran out before no smaller candidate was left.
    pub complete: bool,
    /// Other findings met on the way (refused: another signature), with how often.
    pub other_findings: Vec<OtherFinding>,
}

/// A finding met while shrinking another one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherFinding {
    /// Its signature.
    pub signature: String,
    /// Candidates that gave it.
    pub times: u64,
}

impl ShrinkResult {
    /// One line of JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("ShrinkResult always serialises")
    }

    /// Decodes the harness's line.
    pub fn decode(line: &str) -> Result<ShrinkResult, String> {
        serde_json::from_str(line).map_err(|e| format!("malformed shrink result: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_round_trips() {
        for outcome in [
            ReplayOutcome::Ok { size: 3, micros: 12, features: vec![8, 17] },
            ReplayOutcome::Ok { size: 0, micros: 0, features: vec![] },
            ReplayOutcome::Finding(FindingReport {
                kind: FindingKind::StackOverflow,
                signal: 11,
                message: "overflowed".into(),
                location: "src/lib.rs:1:2".into(),
                signature: "stack-overflow|f".into(),
                frames: vec!["#0 f".into()],
                size: 9,
            }),
            ReplayOutcome::Unreadable { message: "denied".into() },
        ] {
            let r = ReplayRecord { file: "/c/a b".into(), outcome };
            assert_eq!(ReplayRecord::decode(&r.encode()).unwrap(), r);
            assert!(!r.encode().contains('\n'), "one record, one line");
        }
    }

    #[test]
    fn outcome_is_named_in_the_line() {
        let r = ReplayRecord { file: "f".into(), outcome: ReplayOutcome::Unreadable { message: "x".into() } };
        assert!(r.encode().contains(r#""outcome":"unreadable""#), "{}", r.encode());
        assert!(ReplayRecord::decode("protocrash: warning: something").is_err());
    }

    #[test]
    fn shrink_result_round_trips() {
        let s = ShrinkResult {
            input: "/a/crash".into(),
            out: "/a/crash.min".into(),
            before: 100,
            after: 3,
            runs: 77,
            kind: FindingKind::Panic,
            message: "boom".into(),
            location: "src/lib.rs:9:9".into(),
            signature: "panic|src/lib.rs:9:9".into(),
            complete: true,
            other_findings: vec![OtherFinding { signature: "panic|x".into(), times: 2 }],
        };
        assert_eq!(ShrinkResult::decode(&s.encode()).unwrap(), s);
    }
}
