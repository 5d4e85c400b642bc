//! The CLI's only unsafe code: maps of a worker's `stats` file (read-write for the master,
//! which writes the stop control word; read-only for `status`) and `coverage` file
//! (read-only, unioned).

use anyhow::{bail, Context, Result};
use memmap2::{Mmap, MmapMut};
use protocrash_proto::coverage::{CoverageHeader, COVERAGE_HEADER};
use protocrash_proto::files::{open_regular, Access};
use protocrash_proto::stats::{self, StatField, StatsView, STATS_BYTES, STATS_WORDS};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

enum Mapping {
    ReadWrite(MmapMut),
    ReadOnly(Mmap),
}

/// A worker's `stats` file, mapped.
pub struct StatsMap {
    map: Mapping,
}

impl StatsMap {
    /// Maps the file read-write if it exists, has the right size and a valid header.
    pub fn open(path: &Path) -> Result<Option<StatsMap>> {
        Self::open_with(path, true)
    }

    /// Maps the file read-only (control words cannot be written).
    pub fn open_read_only(path: &Path) -> Result<Option<StatsMap>> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, write: bool) -> Result<Option<StatsMap>> {
        let access = if write { Access::ReadWrite } else { Access::Read };
        let file = match open_regular(path, access) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        if file.metadata()?.len() != STATS_BYTES as u64 {
            return Ok(None);
        }
        // SAFETY: the file has exactly STATS_BYTES bytes and its writers (one worker) never
        // resize it once it has that size; every access below goes through atomics.
        let map = unsafe {
            if write {
                MmapMut::map_mut(&file).map(Mapping::ReadWrite)
            } else {
                Mmap::map(&file).map(Mapping::ReadOnly)
            }
        }
        .with_context(|| format!("cannot map {}", path.display()))?;
        let s = StatsMap { map };
        let w = s.words();
        if let Err(e) = stats::check_header(w[0].load(Ordering::Acquire), w[1].load(Ordering::Acquire)) {
            if w[0].load(Ordering::Relaxed) == 0 {
                return Ok(None); // Being initialised.
            }
            bail!("{}: {e}", path.display());
        }
        Ok(Some(s))
    }

    fn words(&self) -> &[AtomicU64] {
        let ptr = match &self.map {
            Mapping::ReadWrite(m) => m.as_ptr(),
            Mapping::ReadOnly(m) => m.as_ptr(),
        };
        // SAFETY: the mapping is page-aligned and STATS_BYTES long (checked in `open`). A
        // read-only mapping is only ever loaded from (`set` refuses it), and an atomic load
        // of shared read-only memory is sound.
        unsafe { std::slice::from_raw_parts(ptr as *const AtomicU64, STATS_WORDS) }
    }

    /// Every word at this instant, with the figures derived from them.
    pub fn view(&self) -> StatsView {
        let mut words = [0u64; STATS_WORDS];
        for (w, a) in words.iter_mut().zip(self.words()) {
            *w = a.load(Ordering::Relaxed);
        }
        StatsView::from_words(words)
    }

    /// Reads a field.
    pub fn get(&self, f: StatField) -> u64 {
        self.words()[f.index()].load(Ordering::Relaxed)
    }

    /// Writes a control field (no-op on a read-only map).
    pub fn set(&self, f: StatField, v: u64) {
        if matches!(self.map, Mapping::ReadWrite(_)) {
            self.words()[f.index()].store(v, Ordering::Relaxed);
        }
    }
}

/// The build id in a coverage map's header (None if missing or not a coverage map).
pub fn coverage_build_id(path: &Path) -> Result<Option<u64>> {
    let mut header = [0u8; COVERAGE_HEADER];
    let read = open_regular(path, Access::Read).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    match read {
        Ok(()) => Ok(CoverageHeader::decode(&header).ok().map(|h| h.build_id)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// ORs a worker's coverage map into `union` (resized to fit) if it was written by the
/// harness build `build_id` (any build when None); returns false if the file is missing,
/// not a coverage map, or of another build.
pub fn union_coverage(path: &Path, union: &mut Vec<u8>, build_id: Option<u64>) -> Result<bool> {
    let file = match open_regular(path, Access::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let len = file.metadata()?.len() as usize;
    if len < COVERAGE_HEADER {
        return Ok(false);
    }
    // SAFETY: mapped read-only and only read as bytes. A worker only resizes its map at
    // start-up, before it reports Running; callers map running workers only, so the length
    // checked here stays valid while the map lives (this function's scope).
    let map = unsafe { Mmap::map(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
    let Ok(header) = CoverageHeader::decode(&map[..COVERAGE_HEADER]) else {
        return Ok(false);
    };
    if build_id.is_some_and(|want| want != header.build_id) {
        return Ok(false);
    }
    let n = (header.map_len as usize).min(map.len() - COVERAGE_HEADER);
    protocrash_proto::coverage::union_into(union, &map[COVERAGE_HEADER..COVERAGE_HEADER + n]);
    Ok(true)
}
