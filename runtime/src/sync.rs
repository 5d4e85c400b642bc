//! Importing other workers' finds from the sync dir, at a cost that follows what is new.
//!
//! Every worker writes its finds to `<sync>/<node>-<i>/queue/` (temp name, then rename, so a
//! name that parses is a complete file) and then appends the name to `queue.idx` beside it.
//! A reader keeps, per peer, where it stopped reading that index (its inode and the byte
//! after the last complete line): a scan opens each index, reads only the bytes past that
//! point, and touches only the entries they name. A peer whose index is replaced (another
//! inode) or shorter than the cursor is read again from its start; what it names twice costs
//! a name lookup, not a read or an execution, because entries are known by content id (part
//! of the name). Peers without an index (written by older versions) are listed instead, and
//! every peer's queue is listed every `FULL_LISTING_EVERY` scans as a safety net for names
//! an index missed.
//!
//! Who reads whom keeps the campaign's sync work O(N) in its N workers: on a node, worker 0
//! is the leader; the other workers read only their leader's queue, the leader reads its
//! node's workers and the other nodes' leaders, and re-exports what it imports and keeps (so
//! a find reaches its node's workers and the other nodes in two intervals). A directory whose
//! name is not `<node>-<i>` (hand-made, or written by another tool) is read by everyone.
//!
//! The sync dir is shared with other processes and maybe other machines, so nothing in it is
//! trusted: names that do not parse, empty files, files over `--max-len`, directories and
//! symlinks are skipped (with one warning each) and never followed; a peer directory that
//! is a symlink is not entered; an index is read at most `INDEX_READ_CAP` bytes a scan, and
//! a line that is not a queue entry name is skipped like any other junk.

use protocrash_proto::layout::WorkerDir;
use protocrash_proto::naming::{parse_queue_name, TEMP_PREFIX};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Most bytes of one peer's index read in one scan (the rest waits for the next scan).
const INDEX_READ_CAP: u64 = 4 << 20;
/// Every this many scans, every peer's queue is listed, index or not.
const FULL_LISTING_EVERY: u64 = 64;

/// What a scan found: complete entries to execute, and what was skipped and why.
#[derive(Debug, Default)]
pub struct Scan {
    /// (path, contents) of new entries, in the order their peers wrote (or name) them.
    pub entries: Vec<(PathBuf, Vec<u8>)>,
    /// One message per skipped file (first time it is seen only).
    pub skipped: Vec<String>,
}

/// Whether worker `own` reads worker `peer`'s queue (see the module comment).
fn reads(own: &str, peer: &str) -> bool {
    use protocrash_proto::naming::parse_worker_dir_name;
    let (Some((node, i)), Some((peer_node, j))) = (parse_worker_dir_name(own), parse_worker_dir_name(peer)) else {
        return true;
    };
    match (node == peer_node, i == 0) {
        (true, true) => true,
        (true, false) => j == 0,
        (false, true) => j == 0,
        (false, false) => false,
    }
}

/// Where a peer's index was read to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cursor {
    inode: u64,
    offset: u64,
}

/// The other workers' queues and what this child has seen of them.
pub struct Peers {
    sync_dir: PathBuf,
    own: OsString,
    max_len: usize,
    cursors: HashMap<OsString, Cursor>,
    /// Content ids already held (own queue included): the same input in two peers' queues,
    /// or named twice, is read and executed once.
    contents: HashSet<String>,
    /// Files already warned about.
    warned: HashSet<PathBuf>,
    scans: u64,
    /// What was added since the last `take_journal` (for the warm-restart log: a successor
    /// child must not read again what this one read).
    journal: Vec<Journal>,
}

/// One addition to what a child knows of its peers.
pub enum Journal {
    /// (peer directory name, index inode, offset) read to.
    Cursor(OsString, u64, u64),
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
            cursors: HashMap::new(),
            contents: HashSet::new(),
            warned: HashSet::new(),
            scans: 0,
            journal: Vec::new(),
        }
    }

    /// Whether this worker leads its node: it re-exports what it imports and keeps.
    pub fn is_leader(&self) -> bool {
        protocrash_proto::naming::parse_worker_dir_name(&self.own.to_string_lossy()).is_none_or(|(_, i)| i == 0)
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

    /// Replays a `Journal::Cursor` of an earlier child (not journalled again).
    pub fn replay_cursor(&mut self, peer: &[u8], inode: u64, offset: u64) {
        use std::os::unix::ffi::OsStrExt;
        let peer = std::ffi::OsStr::from_bytes(peer).to_os_string();
        self.cursors.insert(peer, Cursor { inode, offset });
    }

    /// Replays a `Journal::Hold` of an earlier child (not journalled again).
    pub fn replay_hold(&mut self, content: &[u8]) {
        self.contents.insert(String::from_utf8_lossy(content).into_owned());
    }

    /// New complete entries in the other workers' queues since the last scan.
    pub fn scan(&mut self) -> Scan {
        let mut scan = Scan::default();
        self.scans += 1;
        let full = self.scans % FULL_LISTING_EVERY == 1;
        let Ok(dirs) = std::fs::read_dir(&self.sync_dir) else {
            return scan;
        };
        let mut peers: Vec<(OsString, WorkerDir)> = dirs
            .flatten()
            .filter(|e| e.file_name() != self.own)
            .filter(|e| reads(&self.own.to_string_lossy(), &e.file_name().to_string_lossy()))
            // file_type() does not follow symlinks: a symlinked peer is not entered.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| (e.file_name(), WorkerDir::at(e.path())))
            .filter(|(_, w)| std::fs::symlink_metadata(w.queue()).is_ok_and(|m| m.is_dir()))
            .collect();
        peers.sort_by(|a, b| a.0.cmp(&b.0));
        for (peer, dir) in peers {
            let indexed = self.follow_index(&peer, &dir, &mut scan);
            // A peer without an index (an older version's) is listed every time.
            if full || !indexed {
                self.list_queue(&dir.queue(), &mut scan);
            }
        }
        scan
    }

    /// Reads what `peer`'s index names past this child's cursor; false when it has none.
    fn follow_index(&mut self, peer: &OsString, dir: &WorkerDir, scan: &mut Scan) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(mut file) = protocrash_proto::files::open_regular(&dir.queue_index(), protocrash_proto::files::Access::Read)
        else {
            return false;
        };
        let Ok(meta) = file.metadata() else { return false };
        let mut cursor = self.cursors.get(peer).copied().unwrap_or_default();
        if cursor.inode != meta.ino() || cursor.offset > meta.len() {
            // Replaced or cut short: read it again from the start.
            cursor = Cursor { inode: meta.ino(), offset: 0 };
        }
        if cursor.offset == meta.len() {
            return true;
        }
        let mut chunk = Vec::new();
        let read = file
            .seek(std::io::SeekFrom::Start(cursor.offset))
            .and_then(|_| file.take(INDEX_READ_CAP).read_to_end(&mut chunk));
        if read.is_err() {
            return true;
        }
        // Only complete lines: a name being appended is read next time.
        let Some(end) = chunk.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else {
            if chunk.len() as u64 == INDEX_READ_CAP {
                // One line longer than the cap: junk, step over it.
                cursor.offset += INDEX_READ_CAP;
                self.save_cursor(peer, cursor);
            }
            return true;
        };
        let queue = dir.queue();
        for line in chunk[..end].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let name = String::from_utf8_lossy(line);
            self.consider(&queue.join(name.as_ref()), &name, scan);
        }
        cursor.offset += end as u64;
        self.save_cursor(peer, cursor);
        true
    }

    fn save_cursor(&mut self, peer: &OsString, cursor: Cursor) {
        self.cursors.insert(peer.clone(), cursor);
        self.journal.push(Journal::Cursor(peer.clone(), cursor.inode, cursor.offset));
    }

    /// Every entry of a queue, by listing it (peers without an index, and the safety net).
    fn list_queue(&mut self, queue: &Path, scan: &mut Scan) {
        let Ok(files) = std::fs::read_dir(queue) else { return };
        let mut names: Vec<String> = files
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(TEMP_PREFIX))
            .collect();
        names.sort();
        for name in names {
            self.consider(&queue.join(&name), &name, scan);
        }
    }

    /// One named entry: read and handed over if its content is new here; junk is warned
    /// about once.
    fn consider(&mut self, path: &Path, name: &str, scan: &mut Scan) {
        let Some(parsed) = parse_queue_name(name) else {
            if self.warned.insert(path.to_path_buf()) {
                scan.skipped.push(format!("{}: not a queue entry name", path.display()));
            }
            return;
        };
        if self.contents.contains(&parsed.content) {
            return;
        }
        match read_entry(path, self.max_len) {
            Ok(data) => {
                self.contents.insert(parsed.content.clone());
                self.journal.push(Journal::Hold(parsed.content));
                scan.entries.push((path.to_path_buf(), data));
            }
            Err(why) => {
                if self.warned.insert(path.to_path_buf()) {
                    scan.skipped.push(format!("{}: {why}", path.display()));
                }
            }
        }
    }
}

/// This worker's own queue, as other workers see it: finds are written under their final
/// name only once complete (temp name, then rename), then named in the queue's index; an
/// input whose coverage hash was exported already is not exported again.
pub struct Outbox {
    dir: PathBuf,
    index: PathBuf,
    /// The index, opened for appending on the first export of this process.
    index_file: Option<std::fs::File>,
    exported: HashSet<u32>,
}

impl Outbox {
    /// The queue of the worker directory `worker`.
    pub fn new(worker: &WorkerDir) -> Outbox {
        Outbox { dir: worker.queue(), index: worker.queue_index(), index_file: None, exported: HashSet::new() }
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
        let index = match &mut self.index_file {
            Some(f) => f,
            None => self.index_file.insert(
                protocrash_proto::files::open_regular(&self.index, protocrash_proto::files::Access::Append)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("cannot open {}: {e}", self.index.display())))?,
            ),
        };
        // One write of the whole line (O_APPEND): a reader sees it whole or not at all.
        index
            .write_all(format!("{name}\n").as_bytes())
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", self.index.display())))?;
        Ok(true)
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes the index of the worker directory `worker`'s queue from a listing if it has none
/// (a queue written by an older version, or a first start), so peers can follow it.
pub fn ensure_index(worker: &WorkerDir) -> std::io::Result<()> {
    if std::fs::symlink_metadata(worker.queue_index()).is_ok() {
        return Ok(());
    }
    let mut names: Vec<String> = protocrash_proto::files::corpus_files(&worker.queue(), false)?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| parse_queue_name(n).is_some())
        .collect();
    names.sort();
    let text: String = names.iter().map(|n| format!("{n}\n")).collect();
    protocrash_proto::files::write_atomic(&worker.queue_index(), text.as_bytes())
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
        let peer = d.path().join("me-1");
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
        let mut out = Outbox::new(&WorkerDir::at(&own));
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
        let index = std::fs::read_to_string(WorkerDir::at(&own).queue_index()).unwrap();
        let mut listed = names.clone();
        listed.sort();
        let mut indexed: Vec<String> = index.lines().map(String::from).collect();
        indexed.sort();
        assert_eq!(indexed, listed, "each exported entry is named in the index once");
        let mut restarted = Outbox::new(&WorkerDir::at(&own));
        restarted.note(0xabc);
        assert!(!restarted.export(b"again", 0xabc).unwrap(), "a restarted child knows what was exported");
    }

    #[test]
    fn workers_read_their_leader_and_leaders_read_their_node_and_other_leaders() {
        assert!(reads("a-0", "a-1") && reads("a-0", "a-7") && reads("a-0", "b-0"));
        assert!(!reads("a-0", "b-1"), "a leader reads only the other nodes' leaders");
        assert!(reads("a-3", "a-0"));
        assert!(!reads("a-3", "a-4") && !reads("a-3", "b-0") && !reads("a-3", "b-1"));
        assert!(reads("a-3", "hand-made") && reads("a-3", "x"), "unknown layouts are read by all");
        assert!(reads("odd", "a-1"));
        let d = tempdir::Dir::new();
        for (name, data) in [("a-0", b"lead"), ("a-1", b"one!"), ("a-2", b"two!"), ("b-0", b"bbb0"), ("b-1", b"bbb1")] {
            std::fs::create_dir_all(WorkerDir::at(d.path().join(name)).queue()).unwrap();
            put(&d.path().join(name), data, 1);
        }
        let got = |own: &str| {
            let mut p = Peers::new(d.path(), &d.path().join(own), 100);
            let mut v: Vec<Vec<u8>> = p.scan().entries.into_iter().map(|(_, data)| data).collect();
            v.sort();
            (v, p.is_leader())
        };
        assert_eq!(got("a-0"), (vec![b"bbb0".to_vec(), b"one!".to_vec(), b"two!".to_vec()], true));
        assert_eq!(got("a-2"), (vec![b"lead".to_vec()], false));
        assert_eq!(got("b-1"), (vec![b"bbb0".to_vec()], false));
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

    /// Exports `data` from `dir` through its outbox, as a worker does (entry, then index line).
    fn export(dir: &Path, data: &[u8], cov: u32) {
        assert!(Outbox::new(&WorkerDir::at(dir)).export(data, cov).unwrap());
    }

    #[test]
    fn an_index_is_read_from_where_the_last_scan_stopped() {
        let (d, own, peer) = sync_dir();
        export(&peer, b"one", 1);
        let mut p = Peers::new(d.path(), &own, 100);
        assert_eq!(p.scan().entries.len(), 1);
        assert!(p.scan().entries.is_empty(), "nothing new");
        export(&peer, b"two", 2);
        let scan = p.scan();
        assert_eq!(scan.entries.iter().map(|e| e.1.as_slice()).collect::<Vec<_>>(), [b"two".as_slice()]);
        // A name being appended (no newline yet) waits for the next scan.
        let index = WorkerDir::at(&peer).queue_index();
        let third = put(&peer, b"three", 3);
        let mut f = std::fs::OpenOptions::new().append(true).open(&index).unwrap();
        f.write_all(&third.as_bytes()[..10]).unwrap();
        assert!(p.scan().entries.is_empty(), "half a line is not read");
        f.write_all(format!("{}\nnot-a-name\n", &third[10..]).as_bytes()).unwrap();
        let scan = p.scan();
        assert_eq!(scan.entries.len(), 1, "{scan:?}");
        assert_eq!(scan.skipped.len(), 1, "junk in an index is skipped with a warning: {scan:?}");
        // Replaced (a new inode): read again from the start, nothing imported twice.
        let text = std::fs::read(&index).unwrap();
        std::fs::remove_file(&index).unwrap();
        std::fs::write(&index, &text).unwrap();
        let scan = p.scan();
        assert!(scan.entries.is_empty() && scan.skipped.is_empty(), "{scan:?}");
        // A successor child that replays the journal starts where this one stopped.
        let mut next = Peers::new(d.path(), &own, 100);
        for j in p.take_journal() {
            match j {
                Journal::Cursor(peer, inode, offset) => next.replay_cursor(peer.as_encoded_bytes(), inode, offset),
                Journal::Hold(c) => next.replay_hold(c.as_bytes()),
            }
        }
        next.scans = 1;
        assert!(next.scan().entries.is_empty(), "nothing read again after a warm restart");
    }

    #[test]
    fn an_entry_the_index_misses_is_found_by_the_periodic_listing() {
        let (d, own, peer) = sync_dir();
        export(&peer, b"indexed", 1);
        let mut p = Peers::new(d.path(), &own, 100);
        assert_eq!(p.scan().entries.len(), 1);
        put(&peer, b"unindexed", 2);
        for _ in 2..FULL_LISTING_EVERY + 1 {
            assert!(p.scan().entries.is_empty(), "between listings only the index is read");
        }
        let scan = p.scan();
        assert_eq!(scan.entries.iter().map(|e| e.1.as_slice()).collect::<Vec<_>>(), [b"unindexed".as_slice()]);
    }

    #[test]
    fn a_queue_without_an_index_gets_one_from_a_listing() {
        let (_d, own, _) = sync_dir();
        let a = put(&own, b"a", 1);
        let b = put(&own, b"b", 2);
        std::fs::write(WorkerDir::at(&own).queue().join("junk"), b"x").unwrap();
        ensure_index(&WorkerDir::at(&own)).unwrap();
        let mut want = vec![a, b];
        want.sort();
        let index = std::fs::read_to_string(WorkerDir::at(&own).queue_index()).unwrap();
        assert_eq!(index.lines().collect::<Vec<_>>(), want);
        ensure_index(&WorkerDir::at(&own)).unwrap();
        assert_eq!(std::fs::read_to_string(WorkerDir::at(&own).queue_index()).unwrap(), index, "an index is kept");
    }
}
