//! Findings — crashes, hangs and out-of-memory kills — as recorded by a worker in
//! `<worker>/findings.json`: one record per unique signature, with a hit count.

use serde::{Deserialize, Serialize};

/// What kind of finding a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A panic (aborted by the runtime).
    Panic,
    /// A fatal signal other than a detected stack overflow (SIGSEGV, SIGABRT from C, …).
    Signal,
    /// The target overflowed its stack.
    StackOverflow,
    /// One execution ran longer than the timeout.
    Hang,
    /// Resident memory over the limit, or an allocation that failed or exceeded it.
    Oom,
}

impl FindingKind {
    /// The file-name prefix and sync-dir folder of this kind: crashes, hangs, ooms.
    pub fn file_prefix(self) -> &'static str {
        match self {
            FindingKind::Panic | FindingKind::Signal | FindingKind::StackOverflow => "crash",
            FindingKind::Hang => "hang",
            FindingKind::Oom => "oom",
        }
    }

    /// The sync-dir folder holding findings of this kind.
    pub fn folder(self) -> &'static str {
        match self.file_prefix() {
            "crash" => "crashes",
            "hang" => "hangs",
            _ => "ooms",
        }
    }

    /// Human name.
    pub fn describe(self) -> &'static str {
        match self {
            FindingKind::Panic => "panic",
            FindingKind::Signal => "crash (signal)",
            FindingKind::StackOverflow => "stack overflow",
            FindingKind::Hang => "hang",
            FindingKind::Oom => "out of memory",
        }
    }
}

/// One unique finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The deduplication key (kind + panic location, or kind + top user frames).
    pub signature: String,
    /// 16 hex digits of the signature's hash; the file stem is `<prefix>-<id>`.
    pub id: String,
    /// Kind.
    pub kind: FindingKind,
    /// Signal number for signals (0 otherwise).
    pub signal: i32,
    /// Panic message or a description of the failure.
    pub message: String,
    /// `file:line:col` of the panic, or of the top user frame.
    pub location: String,
    /// Symbolised frames, user frames first.
    pub frames: Vec<String>,
    /// Times this signature was hit.
    pub count: u64,
    /// Unix time (ms) first seen.
    pub first_seen_ms: u64,
    /// Unix time (ms) last seen.
    pub last_seen_ms: u64,
    /// The reproducer in the worker's folder, relative to the worker directory.
    pub file: String,
    /// The copy in the artifact directory, absolute.
    pub artifact: String,
    /// Size of the reproducer.
    pub size: u64,
}

impl Finding {
    /// The reproducer's file name (`crash-<id>`, `hang-<id>`, `oom-<id>`).
    pub fn file_name(kind: FindingKind, id: &str) -> String {
        format!("{}-{id}", kind.file_prefix())
    }
}

/// The `findings.json` document of a worker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingIndex {
    /// Format version (1).
    pub version: u32,
    /// Unique findings, in the order first seen.
    pub findings: Vec<Finding>,
}

/// Current [`FindingIndex`] version.
pub const FINDINGS_VERSION: u32 = 1;

impl FindingIndex {
    /// Encodes as pretty JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string_pretty(self).expect("FindingIndex always serialises")
    }

    /// Decodes, refusing other versions.
    pub fn decode(text: &str) -> Result<Self, String> {
        let idx: FindingIndex = serde_json::from_str(text).map_err(|e| format!("malformed findings index: {e}"))?;
        if idx.version != FINDINGS_VERSION {
            return Err(format!("findings index version {}, expected {FINDINGS_VERSION}", idx.version));
        }
        Ok(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips() {
        let idx = FindingIndex {
            version: FINDINGS_VERSION,
            findings: vec![Finding {
                signature: "panic|src/lib.rs:3:5".into(),
                id: "0011223344556677".into(),
                kind: FindingKind::StackOverflow,
                signal: 11,
                message: "m".into(),
                location: "src/lib.rs:3:5".into(),
                frames: vec!["f".into()],
                count: 3,
                first_seen_ms: 1,
                last_seen_ms: 2,
                file: "crashes/crash-0011223344556677".into(),
                artifact: "/a/crash-0011223344556677".into(),
                size: 4,
            }],
        };
        assert_eq!(FindingIndex::decode(&idx.encode()).unwrap(), idx);
        assert!(idx.encode().contains("stack-overflow"));
    }

    #[test]
    fn kinds_map_to_folders() {
        assert_eq!(FindingKind::StackOverflow.folder(), "crashes");
        assert_eq!(FindingKind::Hang.folder(), "hangs");
        assert_eq!(FindingKind::Oom.file_prefix(), "oom");
        assert_eq!(Finding::file_name(FindingKind::Panic, "ab"), "crash-ab");
    }
}
