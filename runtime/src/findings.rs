//! The fork server's record of findings: builds a report from what a dead child left in the
//! shared record, deduplicates it by signature, saves the reproducer (sync dir and
//! `fuzz/artifacts/<target>/`) with a human-readable `.txt`, and keeps `findings.json`.

use crate::shared::RawReport;
use crate::report::Report;
use crate::watchdog::Verdict;
use crate::statsfile::write_failed;
use crate::util::{now_ms, write_atomic};
use protocrash_proto::finding::{Finding, FindingIndex, FindingKind, FINDINGS_VERSION};
use protocrash_proto::layout::WorkerDir;
use protocrash_proto::naming::signature_id;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The largest `findings.json` read back (a planted giant is not loaded).
const INDEX_LIMIT: u64 = 64 << 20;

/// The findings of one worker.
pub struct FindingStore {
    worker_dir: WorkerDir,
    artifact_dir: PathBuf,
    index: FindingIndex,
    by_signature: HashMap<String, usize>,
    /// Signatures of raw frame lists already symbolised: a bug hit a thousand times is
    /// symbolised once.
    by_frames: HashMap<(Option<FindingKind>, i32, Vec<usize>), String>,
    /// Unix ms of the last write of findings.json; repeat hits rewrite it at most once a second.
    saved_ms: u64,
}

impl FindingStore {
    /// Opens the store, carrying on with the findings of earlier runs.
    pub fn open(worker_dir: &WorkerDir, artifact_dir: &Path) -> FindingStore {
        let index = protocrash_proto::files::read_regular(&worker_dir.findings_index(), INDEX_LIMIT)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok()
            .and_then(|t| match FindingIndex::decode(&t) {
                Ok(idx) => Some(idx),
                Err(e) => {
                    crate::log::warn(&format!("ignoring findings.json ({e}); findings start afresh, the files stay"));
                    None
                }
            })
            .unwrap_or(FindingIndex { version: FINDINGS_VERSION, findings: Vec::new() });
        let by_signature = index.findings.iter().enumerate().map(|(i, f)| (f.signature.clone(), i)).collect();
        FindingStore {
            worker_dir: worker_dir.clone(),
            artifact_dir: artifact_dir.to_path_buf(),
            index,
            by_signature,
            by_frames: HashMap::new(),
            saved_ms: 0,
        }
    }

    /// The signature of a finding already recorded that `raw` is a hit of, if it is known
    /// without symbolising.
    pub fn known_signature(&self, raw: &RawReport) -> Option<String> {
        // A panic's location is its signature: no symbolisation needed to recognise it.
        let sig = if raw.kind == Some(FindingKind::Panic) && !raw.location.is_empty() {
            Some(crate::symbols::panic_signature(&raw.location))
        } else {
            self.by_frames.get(&(raw.kind, raw.signal, raw.ips.clone())).cloned()
        };
        sig.filter(|s| self.by_signature.contains_key(s))
    }

    /// Signatures of the findings of `kind` recorded so far.
    pub fn signatures(&self, kind: FindingKind) -> impl Iterator<Item = &str> {
        self.index.findings.iter().filter(move |f| f.kind == kind).map(|f| f.signature.as_str())
    }

    /// Records a hit from what a dead child left, symbolising only signatures not seen
    /// before. Returns the report when the finding is new.
    pub fn record_raw(&mut self, raw: RawReport, seen: Verdict, input: &[u8]) -> Option<Report> {
        if let Some(sig) = self.known_signature(&raw) {
            self.bump(&sig, 1);
            return None;
        }
        let key = (raw.kind, raw.signal, raw.ips.clone());
        let report = Report::from_raw(raw, seen);
        self.by_frames.insert(key, report.signature.clone());
        self.record(&report, input).then_some(report)
    }

    /// Counts `hits` more hits of a recorded finding (its index is saved at most once a
    /// second, not per hit).
    pub fn bump(&mut self, signature: &str, hits: u64) {
        let now = now_ms();
        let Some(&i) = self.by_signature.get(signature) else { return };
        let f = &mut self.index.findings[i];
        f.count += hits;
        f.last_seen_ms = now;
        if now >= self.saved_ms + 1000 {
            self.save_index();
        }
    }

    /// Writes pending counts (at the end of a run).
    pub fn flush(&mut self) {
        self.save_index();
    }

    /// Records one hit; returns true when the signature is new (and its files were written).
    pub fn record(&mut self, report: &Report, input: &[u8]) -> bool {
        let now = now_ms();
        if self.by_signature.contains_key(&report.signature) {
            self.bump(&report.signature, 1);
            return false;
        }
        let id = signature_id(&report.signature);
        let name = Finding::file_name(report.kind, &id);
        let folder = self.worker_dir.findings(report.kind);
        let rel = format!("{}/{name}", report.kind.folder());
        let in_sync = folder.join(&name);
        let synced = match protocrash_proto::files::ensure_dir(&folder)
            .and_then(|_| write_atomic(&in_sync, input))
            .and_then(|_| write_atomic(&folder.join(format!("{name}.txt")), report.render().as_bytes()))
        {
            Ok(()) => true,
            Err(e) => {
                write_failed(&format!("could not save a {} ({} bytes): {e}", report.kind.describe(), input.len()));
                false
            }
        };
        let artifact = self.artifact_dir.join(&name);
        // A reproducer already there (the user's, or an earlier run's) is the same bug: it
        // stays as it is.
        let copied = artifact.exists()
            || match std::fs::create_dir_all(&self.artifact_dir).and_then(|_| write_atomic(&artifact, input)) {
                Ok(()) => true,
                Err(e) => {
                    let kept = if synced { format!("it is kept in {}", in_sync.display()) } else { "it is lost".into() };
                    write_failed(&format!("could not copy a reproducer to {}: {e}; {kept}", self.artifact_dir.display()));
                    false
                }
            };
        // Where the reproducer really is: the summary never names a file that was not written.
        let artifact = match (copied, synced) {
            (true, _) => artifact.display().to_string(),
            (false, true) => in_sync.display().to_string(),
            (false, false) => String::new(),
        };
        self.by_signature.insert(report.signature.clone(), self.index.findings.len());
        self.index.findings.push(Finding {
            signature: report.signature.clone(),
            id,
            kind: report.kind,
            signal: report.signal,
            message: report.message.clone(),
            location: report.location.clone(),
            frames: report.frames.iter().map(|f| f.to_string()).collect(),
            count: 1,
            first_seen_ms: now,
            last_seen_ms: now,
            file: rel,
            artifact,
            size: input.len() as u64,
        });
        self.save_index();
        true
    }

    fn save_index(&mut self) {
        self.saved_ms = now_ms();
        if let Err(e) = write_atomic(&self.worker_dir.findings_index(), self.index.encode().as_bytes()) {
            write_failed(&format!("could not update the findings index: {e}"));
        }
    }
}
