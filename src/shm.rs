//! The CLI's only unsafe code: maps of a worker's `stats` file (read-write: the master
//! writes the stop and budget control words) and `coverage` file (read-only, unioned).

use anyhow::{bail, Context, Result};
use memmap2::{Mmap, MmapMut};
use protocrash_proto::coverage::{CoverageHeader, COVERAGE_HEADER};
use protocrash_proto::stats::{self, StatField, STATS_BYTES, STATS_WORDS};
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A worker's `stats` file, mapped.
pub struct StatsMap {
    map: MmapMut,
}

impl StatsMap {
    /// Maps the file if it exists, has the right size and a valid header.
    pub fn open(path: &Path) -> Result<Option<StatsMap>> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        if file.metadata()?.len() != STATS_BYTES as u64 {
            return Ok(None);
        }
        // SAFETY: the file has exactly STATS_BYTES bytes and its writers (one worker) never
        // resize it once it has that size; every access below goes through atomics.
        let map = unsafe { MmapMut::map_mut(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
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
        // SAFETY: the mapping is page-aligned and STATS_BYTES long (checked in `open`).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr() as *const AtomicU64, STATS_WORDS) }
    }

    /// Reads a field.
    pub fn get(&self, f: StatField) -> u64 {
        self.words()[f.index()].load(Ordering::Relaxed)
    }

    /// Writes a control field.
    pub fn set(&self, f: StatField, v: u64) {
        self.words()[f.index()].store(v, Ordering::Relaxed);
    }
}

/// ORs a worker's coverage map into `union` (resized to fit); returns false if the file is
/// missing or not a coverage map.
pub fn union_coverage(path: &Path, union: &mut Vec<u8>) -> Result<bool> {
    let file = match std::fs::File::open(path) {
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
    let n = (header.map_len as usize).min(map.len() - COVERAGE_HEADER);
    if union.len() < n {
        union.resize(n, 0);
    }
    for (u, &b) in union.iter_mut().zip(&map[COVERAGE_HEADER..COVERAGE_HEADER + n]) {
        *u |= b;
    }
    Ok(true)
}
