//! A finding's report: built from what a dead child left in the shared record and what the
//! watchdog saw, symbolised (user frames first), with the signature findings are
//! deduplicated by, and rendered for the `.txt` beside a reproducer and for replays.

use crate::shared::RawReport;
use crate::symbols::{self, Frame};
use crate::watchdog::Verdict;
use protocrash_proto::finding::FindingKind;
use protocrash_proto::replay::FindingReport;

/// A finding as the fork server understands it, before deduplication.
#[derive(Clone, Debug)]
pub struct Report {
    /// Kind.
    pub kind: FindingKind,
    /// Signal number, or 0.
    pub signal: i32,
    /// Panic message or description.
    pub message: String,
    /// Panic location or top user frame.
    pub location: String,
    /// Symbolised frames, user view.
    pub frames: Vec<Frame>,
    /// Deduplication key.
    pub signature: String,
}

impl Report {
    /// Builds a report from the child's raw record; `fallback` is what the fork server saw
    /// (the signal that killed the child, or the kind it killed it for).
    pub fn from_raw(raw: RawReport, seen: Verdict) -> Report {
        let all = symbols::symbolize_isolated(&raw.ips);
        let frames = symbols::user_view(&all);
        let kind = raw.kind.unwrap_or(seen.kind);
        let signal = if raw.kind.is_some() { raw.signal } else { seen.signal };
        let message = if raw.message.is_empty() { seen.message } else { raw.message };
        let location = if !raw.location.is_empty() {
            raw.location
        } else {
            frames.iter().find(|f| f.user).and_then(|f| f.place.clone()).unwrap_or_default()
        };
        let signature = symbols::signature(kind, signal, &location, &frames);
        Report { kind, signal, message, location, frames, signature }
    }

    /// The multi-line text written beside a reproducer and printed by replays.
    pub fn render(&self) -> String {
        let mut s = format!("kind: {}\n", self.kind.describe());
        if self.signal != 0 {
            s += &format!("signal: {}\n", self.signal);
        }
        s += &format!("message: {}\n", self.message);
        if !self.location.is_empty() {
            s += &format!("location: {}\n", self.location);
        }
        s += &format!("signature: {}\nbacktrace (user frames first):\n", self.signature);
        for (i, f) in self.frames.iter().enumerate() {
            s += &format!("  #{i} {f}\n");
        }
        s
    }

    /// The report as a replay message (`repro --json`, coverage replays).
    pub fn to_message(&self, size: usize) -> FindingReport {
        FindingReport {
            kind: self.kind,
            signal: self.signal,
            message: self.message.clone(),
            location: self.location.clone(),
            signature: self.signature.clone(),
            frames: self.frames.iter().map(|f| f.to_string()).collect(),
            size: size as u64,
        }
    }
}
