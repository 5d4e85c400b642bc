//! Importing other workers' finds from the sync dir.
//!
//! Every worker writes its finds to `<sync>/<node>-<i>/queue/` (temp name, then rename, so a
//! name that parses is a complete file). This module walks the *other* workers' queues and
//! hands back the entries this child has not looked at yet. It keeps a seen-set of names per
//! peer rather than an mtime cursor: a file written in the same timestamp tick as the last
//! scan is still new by name, so none is ever missed.
//!
//! The sync dir is shared with other processes and maybe other machines, so nothing in it is
//! trusted: names that do not parse, empty files, files over `--max-len`, directories and
//! symlinks are skipped (with one warning each) and never followed; a peer directory that
//! is a symlink is not entered.

use protocrash_proto::layout::WorkerDir;
use protocrash_proto::naming::{parse_queue_name, TEMP_PREFIX};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a scan found: complete entries to execute, and what was skipped and why.
#[derive(Debug, Default)]
pub struct Scan {
    /// (path, contents) of new entries, in name order per peer.
    pub entries: Vec<(PathBuf, Vec<u8>)>,
    /// One message per skipped file (first time it is seen only).
    pub skipped: Vec<String>,
}

/// The other workers' queues and what this child has seen of them.
pub struct Peers {
    sync_dir: PathBuf,
    own: OsString,
    max_len: usize,
    seen: HashMap<OsString, HashSet<OsString>>,
    /// Content ids already held (own queue included): the same input in two peers' queues
    /// is executed once.
    contents: HashSet<String>,
    /// What was added to `seen` and `contents` since the last `take_journal` (for the
    /// warm-restart log: a successor child must not re-execute what this one looked at).
    journal: Vec<Journal>,
}

/// One addition to what a child knows of its peers.
pub enum Journal {
    /// (peer directory name, file name) looked at.
    Seen(OsString, OsString),
    /// A content id held.
    Hold(String),
}

impl Peers {
    /// Peers of the worker whose directory is `own_dir` (a child of `sync_dir`).
    pub fn new(sync_dir: &Path, own_dir: &Path, max_len: usize) -> Peers {
        Peers {
            sync_dir: sync_dir.to_path_buf(),
            own: own_dir.file_name().map(OsString::from).unwrap_or_default(),
            max_len,
            seen: HashMap::new(),
            contents: HashSet::new(),
            journal: Vec::new(),
        }
    }

    /// Notes that this child already holds an input with content id `content`.
    pub fn hold(&mut self, content: String) {
        if self.contents.insert(content.clone()) {
            self.journal.push(Journal::Hold(content));
        }
    }

    /// What was added since the last call.
    pub fn take_journal(&mut self) -> Vec<Journal> {
        std::mem::take(&mut self.journal)
    }

    /// Replays a `Journal::Seen` of an earlier child (not journalled again).
    pub fn replay_seen(&mut self, peer: &[u8], name: &[u8]) {
        use std::os::unix::ffi::OsStrExt;
        let peer = std::ffi::OsStr::from_bytes(peer).to_os_string();
        self.seen.entry(peer).or_default().insert(std::ffi::OsStr::from_bytes(name).to_os_string());
    }

    /// Replays a `Journal::Hold` of an earlier child (not journalled again).
    pub fn replay_hold(&mut self, content: &[u8]) {
        self.contents.insert(String::from_utf8_lossy(content).into_owned());
    }

    /// New complete entries in the other workers' queues since the last scan.
    pub fn scan(&mut self) -> Scan {
        let mut scan = Scan::default();
        let Ok(dirs) = std::fs::read_dir(&self.sync_dir) else {
            return scan;
        };
        let mut peers: Vec<(OsString, PathBuf)> = dirs
            .flatten()
            .filter(|e| e.file_name() != self.own)
            // file_type() does not follow symlinks: a symlinked peer is not entered.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| (e.file_name(), WorkerDir::at(e.path()).queue()))
            .filter(|(_, q)| std::fs::symlink_metadata(q).is_ok_and(|m| m.is_dir()))
            .collect();
        peers.sort();
        for (peer, queue) in peers {
            let Ok(files) = std::fs::read_dir(&queue) else {
                continue;
            };
            let seen = self.seen.entry(peer.clone()).or_default();
            let mut fresh: Vec<std::fs::DirEntry> = files
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
                .filter(|e| !seen.contains(&e.file_name()))
                .collect();
            fresh.sort_by_key(|e| e.file_name());
            for e in fresh {
                seen.insert(e.file_name());
                self.journal.push(Journal::Seen(peer.clone(), e.file_name()));
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(parsed) = parse_queue_name(&name) else {
                    scan.skipped.push(format!("{}: not a queue entry name", path.display()));
                    continue;
                };
                match read_entry(&path, self.max_len) {
                    Ok(data) => {
                        if self.contents.insert(parsed.content.clone()) {
                            self.journal.push(Journal::Hold(parsed.content));
                            scan.entries.push((path, data));
                        }
                    }
                    Err(why) => scan.skipped.push(format!("{}: {why}", path.display())),
                }
            }
        }
        scan
    }
}

/// This worker's own queue, as other workers see it: finds are written under their final
/// name only once complete (temp name, then rename), and an input whose coverage hash was
/// exported already is not exported again.
pub struct Outbox {
    dir: PathBuf,
    exported: HashSet<u32>,
}

impl Outbox {
    /// The queue directory `dir`.
    pub fn new(dir: PathBuf) -> Outbox {
        Outbox { dir, exported: HashSet::new() }
    }

    /// Notes a coverage hash already in the queue (from an earlier child or run).
    pub fn note(&mut self, cov_hash: u32) {
        self.exported.insert(cov_hash);
    }

    /// Exports `input` with coverage hash `cov_hash`; Ok(false) when that coverage was
    /// exported already.
    pub fn export(&mut self, input: &[u8], cov_hash: u32) -> std::io::Result<bool> {
        if !self.exported.insert(cov_hash) {
            return Ok(false);
        }
        let name = protocrash_proto::naming::queue_name(input, cov_hash);
        if self.dir.join(&name).exists() {
            return Ok(false);
        }
        crate::util::write_atomic(&self.dir.join(&name), input)?;
        Ok(true)
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Reads one queue file: a regular file (never through a symlink), not empty, at most
/// `max_len` bytes.
fn read_entry(path: &Path, max_len: usize) -> Result<Vec<u8>, String> {
    // What the listing shows, for a short reason; the open below is what is safe.
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("a symbolic link (never followed in the sync dir)".into());
    }
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    // Never through a symlink, never blocking on a FIFO swapped in after the listing, and
    // (below the guarded sync dir) never through a directory swapped for a link.
    let f = protocrash_proto::files::open_regular(path, protocrash_proto::files::Access::Read).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len == 0 {
        return Err("empty".into());
    }
    if len > max_len as u64 {
        return Err(format!("{len} bytes, over --max-len {max_len}"));
    }
    let mut data = Vec::with_capacity(len as usize);
    f.take(max_len as u64 + 1).read_to_end(&mut data).map_err(|e| e.to_string())?;
    if data.is_empty() || data.len() > max_len {
        return Err(format!("{} bytes (changed while read)", data.len()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocrash_proto::naming::queue_name;

    fn sync_dir() -> (tempdir::Dir, PathBuf, PathBuf) {
        let d = tempdir::Dir::new();
        let own = d.path().join("me-0");
        let peer = d.path().join("other-1");
        std::fs::create_dir_all(WorkerDir::at(&own).queue()).unwrap();
        std::fs::create_dir_all(WorkerDir::at(&peer).queue()).unwrap();
        (d, own, peer)
    }

    /// A minimal temporary directory (the runtime has no dev-dependencies to spare).
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("protocrash-sync-test-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn put(dir: &Path, data: &[u8], cov: u32) -> String {
        let name = queue_name(data, cov);
        std::fs::write(WorkerDir::at(dir).queue().join(&name), data).unwrap();
        name
    }

    #[test]
    fn export_is_atomic_and_deduplicated_by_coverage_hash() {
        let (_d, own, _) = sync_dir();
        let mut out = Outbox::new(WorkerDir::at(&own).queue());
        assert!(out.export(b"first", 0xabc).unwrap());
        assert!(!out.export(b"other bytes, same coverage", 0xabc).unwrap(), "same coverage hash: not again");
        assert!(out.export(b"first", 0xdef).unwrap(), "new coverage: exported");
        let names: Vec<String> = std::fs::read_dir(WorkerDir::at(&own).queue())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| parse_queue_name(n).is_some()), "no temporary file left: {names:?}");
        let mut restarted = Outbox::new(WorkerDir::at(&own).queue());
        restarted.note(0xabc);
        assert!(!restarted.export(b"again", 0xabc).unwrap(), "a restarted child knows what was exported");
    }

    #[test]
    fn imports_peers_entries_and_skips_its_own_queue() {
        let (d, own, peer) = sync_dir();
        put(&own, b"mine", 1);
        put(&peer, b"theirs", 2);
        let mut p = Peers::new(d.path(), &own, 100);
        let scan = p.scan();
        let got: Vec<&[u8]> = scan.entries.iter().map(|(_, data)| data.as_slice()).collect();
        assert_eq!(got, vec![b"theirs".as_slice()]);
        assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
    }

    #[test]
    fn files_written_after_a_scan_arrive_even_in_the_same_tick() {
        let (d, own, peer) = sync_dir();
        let mut p = Peers::new(d.path(), &own, 100);
        put(&peer, b"one", 1);
        assert_eq!(p.scan().entries.len(), 1);
        // Same mtime second (and likely the same tick) as the first file: still seen, by name.
        let name = put(&peer, b"two", 2);
        let t = std::fs::metadata(WorkerDir::at(&peer).queue().join(&name)).unwrap().modified().unwrap();
        let first = std::fs::read_dir(WorkerDir::at(&peer).queue()).unwrap().flatten().find(|e| e.file_name() != *name).unwrap();
        std::fs::File::options().write(true).open(first.path()).unwrap().set_modified(t).unwrap();
        let again = p.scan();
        assert_eq!(again.entries.len(), 1);
        assert_eq!(again.entries[0].1, b"two");
        assert!(p.scan().entries.is_empty(), "nothing is imported twice");
    }

    #[test]
    fn same_content_in_two_peers_is_imported_once() {
        let (d, own, peer) = sync_dir();
        let third = d.path().join("other-2");
        std::fs::create_dir_all(WorkerDir::at(&third).queue()).unwrap();
        put(&peer, b"same", 1);
        put(&third, b"same", 7);
        let mut p = Peers::new(d.path(), &own, 100);
        assert_eq!(p.scan().entries.len(), 1);
        let mut q = Peers::new(d.path(), &own, 100);
        q.hold(protocrash_proto::naming::content_id(b"same"));
        assert!(q.scan().entries.is_empty(), "content already held");
    }

    #[test]
    fn junk_is_skipped_once_with_a_reason_and_never_followed() {
        let (d, own, peer) = sync_dir();
        let q = WorkerDir::at(&peer).queue();
        std::fs::write(q.join("README"), b"hello").unwrap();
        std::fs::write(q.join(queue_name(b"", 1)), b"").unwrap();
        std::fs::write(q.join(queue_name(&[7; 200], 2)), [7u8; 200]).unwrap();
        std::fs::create_dir(q.join(queue_name(b"dir", 3))).unwrap();
        let outside = d.path().join("secret");
        std::fs::write(&outside, b"outside").unwrap();
        std::os::unix::fs::symlink(&outside, q.join(queue_name(b"outside", 4))).unwrap();
        std::fs::write(q.join(format!("{TEMP_PREFIX}half")), b"partial").unwrap();
        // A symlinked peer directory is not entered.
        let elsewhere = tempdir::Dir::new();
        std::fs::create_dir(WorkerDir::at(elsewhere.path()).queue()).unwrap();
        put(elsewhere.path(), b"from elsewhere", 6);
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join("link-9")).unwrap();
        let good = put(&peer, b"good", 5);
        let mut p = Peers::new(d.path(), &own, 100);
        let scan = p.scan();
        assert_eq!(scan.entries.len(), 1, "{:?}", scan.entries);
        assert!(scan.entries[0].0.ends_with(&good));
        let why = scan.skipped.join("\n");
        assert_eq!(scan.skipped.len(), 5, "{why}");
        for needle in ["not a queue entry name", "empty", "over --max-len 100", "not a regular file", "symbolic link"] {
            assert!(why.contains(needle), "missing {needle:?} in:\n{why}");
        }
        assert!(!why.contains("half"), "temporary files are not junk: {why}");
        let again = p.scan();
        assert!(again.entries.is_empty() && again.skipped.is_empty(), "one warning each: {again:?}");
    }
}
