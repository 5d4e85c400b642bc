//! The worker's two mmap'd files in its sync-dir folder: `stats` (counters the master reads)
//! and `coverage` (the cumulative bucket map the master unions). Created by the fork server,
//! inherited across `fork`, written by the child through atomics.

use memmap2::MmapMut;
use protocrash_proto::coverage::{CoverageHeader, COVERAGE_HEADER};
use protocrash_proto::stats::{self, StatField, STATS_BYTES, STATS_WORDS};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

/// A mapped `stats` file.
pub struct StatsFile {
    map: MmapMut,
}

/// Opens one of the worker's mapped files: never through a symlink, never a FIFO.
fn open_rw(path: &Path) -> std::io::Result<File> {
    protocrash_proto::files::open_regular(path, protocrash_proto::files::Access::ReadWriteCreate)
}

/// Sizes a fresh map file with its blocks reserved: a sparse file on a full disk would map
/// fine and then kill the worker with SIGBUS at the first store to an unbacked page; this way
/// a full disk is an error at start-up, with its name.
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    file.set_len(0)?;
    // SAFETY: posix_fallocate reads no memory of ours; the descriptor is open for writing.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match rc {
        0 => Ok(()),
        // A file system without fallocate (some network ones): a plain length, as before.
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(len),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

fn map_shared(file: &File) -> std::io::Result<MmapMut> {
    // SAFETY: the file lives in this worker's own folder; the only other writers are this
    // worker's fork server and child, which access it through atomics only (below), and the
    // master maps it read-only. Its length is fixed before mapping and never shrunk.
    unsafe { MmapMut::map_mut(file) }
}

impl StatsFile {
    /// Opens (or creates) the file. Counters of an earlier run of the same worker carry on.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = open_rw(path)?;
        let fresh = file.metadata()?.len() != STATS_BYTES as u64;
        if fresh {
            allocate(&file, STATS_BYTES as u64)?;
        }
        let stats = StatsFile { map: map_shared(&file)? };
        let w = stats.words();
        if fresh || stats::check_header(w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed)).is_err() {
            for word in w {
                word.store(0, Ordering::Relaxed);
            }
            w[0].store(stats::STATS_MAGIC, Ordering::Relaxed);
            w[1].store(stats::STATS_VERSION, Ordering::Release);
        }
        Ok(stats)
    }

    fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned and STATS_BYTES long (checked length above), so
        // it holds STATS_WORDS aligned u64s; all access goes through these atomics.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr() as *const AtomicU64, STATS_WORDS) }
    }

    /// One word as an atomic (for the hot path and the watchdog).
    pub fn field(&self, f: StatField) -> &AtomicU64 {
        &self.words()[f.index()]
    }

    /// Reads a word.
    pub fn get(&self, f: StatField) -> u64 {
        self.field(f).load(Ordering::Relaxed)
    }

    /// Writes a word.
    pub fn set(&self, f: StatField, v: u64) {
        self.field(f).store(v, Ordering::Relaxed);
    }

    /// Adds to a word.
    pub fn add(&self, f: StatField, v: u64) {
        self.field(f).fetch_add(v, Ordering::Relaxed);
    }

    /// Counts a failed write; the first one's text goes where the master reads it (this
    /// map lives in memory even when the disk under it is full). Async-signal-safe apart
    /// from nothing: atomics only.
    /// Returns the failures counted before this one.
    pub fn record_write_failure(&self, text: &str) -> u64 {
        let before = self.field(StatField::WriteFailures).fetch_add(1, Ordering::AcqRel);
        if before != 0 {
            return before;
        }
        let bytes = &text.as_bytes()[..text.len().min(stats::FAULT_TEXT_BYTES)];
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.words()[stats::FAULT_TEXT_WORD + i].store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        self.field(StatField::FaultLen).store(bytes.len() as u64, Ordering::Release);
        before
    }
}

/// The worker's stats map, once the fork server opened it: the one place a failed write is
/// reported from, in the fork server or a fuzzing child (the mapping is inherited by `fork`).
static WORKER_STATS: OnceLock<&'static StatsFile> = OnceLock::new();

/// Makes `stats` the worker's map for [`write_failed`]; it lives as long as the process.
pub fn install(stats: StatsFile) -> &'static StatsFile {
    let leaked: &'static StatsFile = Box::leak(Box::new(stats));
    WORKER_STATS.get_or_init(|| leaked)
}

/// Failed writes logged one by one; later ones are only counted (a full disk fails every
/// write, and the master stops the campaign on the first).
const LOGGED_FAILURES: u64 = 3;

/// A write in the sync dir failed: told to the master through the stats map, and logged.
pub fn write_failed(text: &str) {
    let before = WORKER_STATS.get().map_or(0, |stats| stats.record_write_failure(text));
    if before < LOGGED_FAILURES {
        crate::log::error(text);
    }
}

/// A mapped `coverage` file: the buckets ever seen per edge.
pub struct CoverageFile {
    map: MmapMut,
    len: usize,
}

impl CoverageFile {
    /// Opens (or creates) the map for `len` edges built by `build_id`; a map written by
    /// another build (other length or id) is stale and starts empty.
    pub fn open(path: &Path, len: usize, build_id: u64) -> std::io::Result<Self> {
        let file = open_rw(path)?;
        let want = CoverageHeader { map_len: len as u64, build_id };
        let total = (COVERAGE_HEADER + len) as u64;
        let mut head = [0u8; COVERAGE_HEADER];
        let current = if file.metadata()?.len() == total {
            use std::io::Read;
            (&file).read_exact(&mut head).ok().and_then(|_| CoverageHeader::decode(&head).ok())
        } else {
            None
        };
        if current != Some(want) {
            allocate(&file, total)?;
        }
        let mut map = map_shared(&file)?;
        map[..COVERAGE_HEADER].copy_from_slice(&want.encode());
        Ok(CoverageFile { map, len })
    }

    /// The bucket bytes, one per edge.
    pub fn buckets(&self) -> &[AtomicU8] {
        // SAFETY: the mapping is COVERAGE_HEADER + len bytes (set above); AtomicU8 has the size
        // and alignment of u8; every access after construction goes through these atomics.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(COVERAGE_HEADER) as *const AtomicU8, self.len) }
    }

    /// Edges with any bucket seen.
    pub fn count_edges(&self) -> u64 {
        self.buckets().iter().filter(|b| b.load(Ordering::Relaxed) != 0).count() as u64
    }
}
