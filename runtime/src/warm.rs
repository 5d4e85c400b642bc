//! What a fuzzing child learned, kept where the next child finds it: warm restarts, and the
//! table of known panics that lets a child survive them.
//!
//! A crash signal, a hang or an out-of-memory ends the fuzzing child. Its successor used to
//! rebuild the corpus by re-executing the worker's whole queue, so one hit of a known bug
//! cost O(corpus) executions and got dearer as the campaign grew (a known panic in a JSON
//! parser halved its executions). Instead, each child keeps what it knows in an anonymous
//! shared mapping the fork server made before forking it:
//!
//! - its local coverage map (the buckets it keeps inputs for), used in place;
//! - the compare-progress state (`cmp::KEPT_BYTES`), mirrored as inputs are kept;
//! - per corpus entry, how often it was fuzzed and what it found (the scheduler's figures);
//! - an append-only log of corpus entries (input, id, features) and of what it has seen of
//!   the other workers' queues;
//! - the current length limit.
//!
//! A successor replays the log — memory copies, no execution — and fuzzes on from there.
//!
//! Protocol: only the live child writes the log and the maps (the fork server touches them
//! only while no child runs). A record is written past the committed length, then published
//! by one release store of the new length, so a child killed mid-append leaves the log as it
//! was. Each record carries a hash of its payload: a log a memory-corrupting target scribbled
//! over is detected, and the next child starts cold (re-executing the queue, as before).
//!
//! The known-panic table is written by the fork server (signatures, between children) and
//! counted by the child's panic hook (hits), which is how the fork server learns of hits
//! that no longer end a child.

use crate::corpus::Bytes;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Bytes of log a worker keeps (virtual: pages are only used as the log grows). A campaign
/// that fills it starts its later children cold.
const LOG_CAP: usize = 256 << 20;
/// Corpus entries whose scheduler figures are kept.
const MAX_ENTRIES: usize = 1 << 20;
/// Bytes of scheduler figures per entry: fuzzed, finds, cost (f64 bits).
const ENTRY_SLOT: usize = 24;
/// Known panic signatures one worker tracks hits of.
pub const KNOWN_SLOTS: usize = 256;

/// The log's record check: a word-at-a-time hash (the log is re-read by every restarted
/// child, megabytes of it in a long campaign, and a byte-at-a-time FNV took most of a warm
/// start).
fn checksum(p: &[u8]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64 ^ p.len() as u64;
    let mut words = p.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x100_0000_01b3).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Bytes of each record's payload the checksum covers: all of the small records, and an
/// entry's fixed part (id, sizes). An entry's input and features are not covered: a target
/// that scribbles over them changes one corpus input (harmless: it is still just an input)
/// or its features (which `load_warm` bounds-checks), while checking them made every restart
/// hash megabytes. What must not be wrong — tags, lengths, offsets — is.
const CHECKED_BYTES: usize = 64;

/// Bytes of padding after `n` bytes to reach a multiple of 4.
fn pad_to_4(n: usize) -> usize {
    n.next_multiple_of(4) - n
}

/// Features stored in the log (little-endian u32s at a 4-aligned place): borrowed in place
/// where the layout allows, copied otherwise.
fn features_of(bytes: &'static [u8]) -> Bytes<u32> {
    if cfg!(target_endian = "little") && (bytes.as_ptr() as usize).is_multiple_of(4) {
        // SAFETY: `bytes` is 4-aligned, `len / 4` u32s long, every bit pattern is a valid
        // u32, the host is little-endian (the log's byte order), and the bytes are `'static`
        // and never written again (see `append`).
        return Bytes::Shared(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u32>(), bytes.len() / 4) });
    }
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<u32>>().into()
}

/// Log record tags.
const ENTRY: u32 = 1;
const CURSOR: u32 = 2;
const HOLD: u32 = 3;
const NOTE: u32 = 4;
const SLOW: u32 = 5;
const RECORD_HEAD: usize = 16;

#[repr(C)]
struct KnownSlot {
    signature: AtomicU64,
    hits: AtomicU64,
}

#[repr(C)]
struct Header {
    /// Non-zero once a child finished loading the corpus: the log then holds all of it.
    complete: AtomicU32,
    /// Non-zero once the log ran out of room (or failed its check): the next child starts cold.
    spoiled: AtomicU32,
    /// Whether children may recover from known panics in process (the fork server clears
    /// it when a finding of a child that did turned out not to reproduce).
    recover: AtomicU32,
    known_len: AtomicU32,
    /// Committed bytes of log.
    log_len: AtomicUsize,
    len_limit: AtomicUsize,
    /// The typical execution time (f64 bits, `util::ticks`).
    typical_cost: AtomicU64,
    known: [KnownSlot; KNOWN_SLOTS],
    /// Uses of blamed tokens since their first blame, by slot (`Penalties::token`), counted
    /// by children: a token is judged by its deaths per use.
    token_uses: [AtomicU64; crate::penalty::TOKEN_SLOTS],
}

/// One replayed log record.
pub enum Record<'a> {
    /// A corpus entry: id, input, features, and the coverage hash it was exported under.
    Entry { id: u64, data: &'a [u8], features: Bytes<u32>, exported: Option<u32> },
    /// How far a peer's queue index was read (its inode, and the byte after the last
    /// complete line).
    Cursor { peer: &'a [u8], inode: u64, offset: u64 },
    /// A content id held (executed once already).
    Hold(&'a [u8]),
    /// A coverage hash already in this worker's queue.
    Note(u32),
    /// A token whose mutant ran slow.
    Slow(u64),
}

/// The shared mapping.
pub struct WarmState {
    base: *mut u8,
    map_len: usize,
    local_at: usize,
    cmp_at: usize,
    entries_at: usize,
    log_at: usize,
}

impl WarmState {
    /// Maps the state for a coverage map of `map_len` edges.
    pub fn new(map_len: usize) -> std::io::Result<WarmState> {
        let page = 4096;
        let local_at = std::mem::size_of::<Header>().next_multiple_of(page);
        let cmp_at = (local_at + map_len).next_multiple_of(page);
        let entries_at = (cmp_at + crate::cmp::KEPT_BYTES).next_multiple_of(page);
        let log_at = entries_at + MAX_ENTRIES * ENTRY_SLOT;
        let total = log_at + LOG_CAP;
        // SAFETY: a fresh anonymous mapping with no address hint aliases nothing; it is
        // zero-filled, and all-zero bytes are valid for every part (atomics, bytes, an empty
        // log). NORESERVE: only the pages the log actually reaches are ever backed.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(WarmState { base: base.cast(), map_len, local_at, cmp_at, entries_at, log_at })
    }

    fn header(&self) -> &Header {
        // SAFETY: `base` is page-aligned and the mapping starts with a zero-initialised
        // Header (atomics only); the mapping is never unmapped (no Drop).
        unsafe { &*(self.base as *const Header) }
    }

    fn atomics(&self, at: usize, len: usize) -> &'static [AtomicU8] {
        // SAFETY: `at..at + len` lies inside the mapping (see `new`), AtomicU8 has the size and
        // alignment of u8, every access goes through atomics, and the mapping is never
        // unmapped, so `'static` holds.
        unsafe { std::slice::from_raw_parts(self.base.add(at) as *const AtomicU8, len) }
    }

    /// The child's local coverage map, one bucket byte per edge.
    pub fn local(&self) -> &'static [AtomicU8] {
        self.atomics(self.local_at, self.map_len)
    }

    /// Where the compare-progress state is mirrored.
    pub fn cmp_state(&self) -> &'static [AtomicU8] {
        self.atomics(self.cmp_at, crate::cmp::KEPT_BYTES)
    }

    /// Entry `i`'s scheduler figures (fuzzed, finds, cost as f64 bits), if `i` is within
    /// the kept range.
    #[inline]
    pub fn entry_counters(&self, i: usize) -> Option<&'static [AtomicU64; 3]> {
        if i >= MAX_ENTRIES {
            return None;
        }
        // SAFETY: slot `i` (ENTRY_SLOT bytes, 8-aligned since `entries_at` is page-aligned and
        // ENTRY_SLOT a multiple of 8) lies inside the mapping, zero-initialised, accessed only
        // through atomics, never unmapped.
        Some(unsafe { &*(self.base.add(self.entries_at + ENTRY_SLOT * i) as *const [AtomicU64; 3]) })
    }

    /// Whether a complete, intact log is there to start from.
    pub fn is_warm(&self) -> bool {
        let h = self.header();
        h.complete.load(Ordering::Acquire) != 0 && h.spoiled.load(Ordering::Acquire) == 0
    }

    /// Starts over (a cold child): empty log, empty local map, zero counters.
    pub fn start_cold(&self) {
        let h = self.header();
        let used = h.log_len.load(Ordering::Relaxed);
        h.complete.store(0, Ordering::Relaxed);
        h.spoiled.store(0, Ordering::Relaxed);
        h.log_len.store(0, Ordering::Relaxed);
        h.len_limit.store(0, Ordering::Relaxed);
        h.typical_cost.store(0, Ordering::Relaxed);
        for b in self.local() {
            b.store(0, Ordering::Relaxed);
        }
        for b in self.cmp_state() {
            b.store(0, Ordering::Relaxed);
        }
        // Only as many slots as there were entries (at most one per RECORD_HEAD log bytes).
        for i in 0..(used / RECORD_HEAD).min(MAX_ENTRIES) {
            if let Some(c) = self.entry_counters(i) {
                c.iter().for_each(|w| w.store(0, Ordering::Relaxed));
            }
        }
    }

    /// Marks the log complete (the child finished loading).
    pub fn set_complete(&self) {
        self.header().complete.store(1, Ordering::Release);
    }

    /// Marks the log unusable: the next child starts cold.
    pub fn spoil(&self) {
        self.header().spoiled.store(1, Ordering::Release);
    }

    /// The length limit the last child reached (0: none yet).
    pub fn len_limit(&self) -> usize {
        self.header().len_limit.load(Ordering::Relaxed)
    }

    /// The typical execution time the last child measured (0: none).
    pub fn typical_cost(&self) -> f64 {
        f64::from_bits(self.header().typical_cost.load(Ordering::Relaxed))
    }

    /// Counts one more use of the blamed token in `slot` (1-based; 0: no slot, nothing counted).
    #[inline]
    pub fn use_token(&self, slot: u32) {
        if let Some(c) = (slot as usize).checked_sub(1).and_then(|i| self.header().token_uses.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The uses counted for the blamed token in `slot` (0 for no slot).
    #[inline]
    pub fn token_uses(&self, slot: u32) -> u64 {
        (slot as usize)
            .checked_sub(1)
            .and_then(|i| self.header().token_uses.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Keeps the typical execution time.
    pub fn set_typical_cost(&self, ticks: f64) {
        self.header().typical_cost.store(ticks.to_bits(), Ordering::Relaxed);
    }

    /// Keeps the current length limit.
    pub fn set_len_limit(&self, n: usize) {
        self.header().len_limit.store(n, Ordering::Relaxed);
    }

    /// Appends a record; where its payload landed in the log (None when it did not).
    fn append(&self, tag: u32, parts: &[&[u8]]) -> Option<&'static [u8]> {
        let h = self.header();
        if h.spoiled.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let at = h.log_len.load(Ordering::Relaxed);
        let end = at + (RECORD_HEAD + len).next_multiple_of(8);
        if len > u32::MAX as usize || end > LOG_CAP {
            h.spoiled.store(1, Ordering::Release);
            return None;
        }
        let payload_at = self.log_at + at + RECORD_HEAD;
        let mut off = payload_at;
        for p in parts {
            // SAFETY: `off + p.len() <= log_at + end <= log_at + LOG_CAP`, inside the mapping;
            // these bytes lie past the committed length, which no reader looks at, and only
            // this (single-threaded) child writes the log.
            unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), self.base.add(off), p.len()) };
            off += p.len();
        }
        // SAFETY: the `len` bytes just written, inside the mapping. Once committed below they
        // are never written again while this process lives (only a later child's cold start
        // rewrites the log), and the mapping is never unmapped: `'static` holds.
        let payload: &'static [u8] = unsafe { std::slice::from_raw_parts(self.base.add(payload_at), len) };
        let hash = checksum(&payload[..len.min(CHECKED_BYTES)]);
        let mut head = [0u8; RECORD_HEAD];
        head[..4].copy_from_slice(&tag.to_le_bytes());
        head[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        head[8..].copy_from_slice(&hash.to_le_bytes());
        // SAFETY: the record's header, `RECORD_HEAD` bytes at `log_at + at`, past the committed
        // length, inside the mapping (as above).
        unsafe { std::ptr::copy_nonoverlapping(head.as_ptr(), self.base.add(self.log_at + at), RECORD_HEAD) };
        h.log_len.store(end, Ordering::Release);
        Some(payload)
    }

    /// Logs a corpus entry (its features as given to the corpus); the logged copies of its
    /// input and features, for the corpus to use instead of its own.
    pub fn log_entry(
        &self,
        id: u64,
        data: &[u8],
        features: &[u32],
        exported: Option<u32>,
    ) -> Option<(&'static [u8], Bytes<u32>)> {
        let mut fixed = [0u8; 24];
        fixed[..8].copy_from_slice(&id.to_le_bytes());
        fixed[8..12].copy_from_slice(&exported.unwrap_or(0).to_le_bytes());
        fixed[12..16].copy_from_slice(&u32::from(exported.is_some()).to_le_bytes());
        fixed[16..20].copy_from_slice(&(data.len() as u32).to_le_bytes());
        fixed[20..24].copy_from_slice(&(features.len() as u32).to_le_bytes());
        let feats: Vec<u8> = features.iter().flat_map(|f| f.to_le_bytes()).collect();
        // Features start 4-aligned (the payload is 8-aligned), so they can be read in place.
        let pad = [0u8; 3];
        let p = self.append(ENTRY, &[&fixed, data, &pad[..pad_to_4(data.len())], &feats])?;
        let at = 24 + data.len() + pad_to_4(data.len());
        Some((&p[24..24 + data.len()], features_of(&p[at..])))
    }

    /// Logs how far a peer's queue index was read.
    pub fn log_cursor(&self, peer: &[u8], inode: u64, offset: u64) {
        let n = (peer.len().min(u16::MAX as usize) as u16).to_le_bytes();
        let peer = &peer[..usize::from(u16::from_le_bytes(n))];
        self.append(CURSOR, &[&n, peer, &inode.to_le_bytes(), &offset.to_le_bytes()]);
    }

    /// Logs a content id held.
    pub fn log_hold(&self, content: &[u8]) {
        self.append(HOLD, &[content]);
    }

    /// Logs a coverage hash found in this worker's queue.
    pub fn log_note(&self, cov_hash: u32) {
        self.append(NOTE, &[&cov_hash.to_le_bytes()]);
    }

    /// Logs a token whose mutant ran slow.
    pub fn log_slow(&self, token: u64) {
        self.append(SLOW, &[&token.to_le_bytes()]);
    }

    /// The committed log, record by record; Err when a record fails its check (the log is
    /// then spoiled).
    #[cfg(test)]
    pub fn records(&'static self) -> Result<Vec<Record<'static>>, String> {
        self.records_from(0).map(|(r, _)| r)
    }

    /// The committed records from byte `from` on (where an earlier call ended), and where
    /// they end; Err when a record fails its check (the log is then spoiled).
    pub fn records_from(&'static self, from: usize) -> Result<(Vec<Record<'static>>, usize), String> {
        let len = self.header().log_len.load(Ordering::Acquire).min(LOG_CAP);
        // SAFETY: `log_at..log_at + len` is inside the mapping and was fully written before
        // `len` was published. Nothing ever writes below the committed length: this child's
        // own appends go past it, so the borrowed bytes never change while borrowed.
        let log: &'static [u8] = unsafe { std::slice::from_raw_parts(self.base.add(self.log_at), len) };
        let mut out = Vec::new();
        let mut at = from.min(len);
        let bad = |why: &str, at: usize| {
            self.spoil();
            Err(format!("warm-restart log damaged at byte {at} ({why})"))
        };
        while at < len {
            if len - at < RECORD_HEAD {
                return bad("truncated header", at);
            }
            let word = |o: usize| u32::from_le_bytes(log[o..o + 4].try_into().unwrap());
            let (tag, n) = (word(at), word(at + 4) as usize);
            let hash = u64::from_le_bytes(log[at + 8..at + 16].try_into().unwrap());
            let start = at + RECORD_HEAD;
            if n > len - start {
                return bad("length past the end", at);
            }
            let p = &log[start..start + n];
            if checksum(&p[..n.min(CHECKED_BYTES)]) != hash {
                return bad("checksum", at);
            }
            let rec = match tag {
                ENTRY if n >= 24 => {
                    let w = |o: usize| u32::from_le_bytes(p[o..o + 4].try_into().unwrap());
                    let (dlen, nf) = (w(16) as usize, w(20) as usize);
                    let feats_at = 24 + dlen + pad_to_4(dlen);
                    if feats_at.checked_add(nf.saturating_mul(4)) != Some(n) {
                        return bad("entry sizes", at);
                    }
                    let id = u64::from_le_bytes(p[..8].try_into().unwrap());
                    let features = features_of(&p[feats_at..]);
                    Record::Entry { id, data: &p[24..24 + dlen], features, exported: (w(12) != 0).then(|| w(8)) }
                }
                CURSOR if n >= 2 => {
                    let pl = usize::from(u16::from_le_bytes([p[0], p[1]]));
                    if 2 + pl + 16 != n {
                        return bad("cursor sizes", at);
                    }
                    let word = |o: usize| u64::from_le_bytes(p[o..o + 8].try_into().unwrap());
                    Record::Cursor { peer: &p[2..2 + pl], inode: word(2 + pl), offset: word(2 + pl + 8) }
                }
                HOLD => Record::Hold(p),
                NOTE if n == 4 => Record::Note(u32::from_le_bytes(p.try_into().unwrap())),
                SLOW if n == 8 => Record::Slow(u64::from_le_bytes(p.try_into().unwrap())),
                _ => return bad("unknown record", at),
            };
            out.push(rec);
            at += (RECORD_HEAD + n).next_multiple_of(8);
        }
        Ok((out, at))
    }

    /// Whether children may catch known panics.
    pub fn recover(&self) -> bool {
        self.header().recover.load(Ordering::Relaxed) != 0
    }

    /// Allows or forbids in-process recovery (fork server, between children).
    pub fn set_recover(&self, on: bool) {
        self.header().recover.store(u32::from(on), Ordering::Relaxed);
    }

    /// Adds a known panic signature (its `hash64`) and returns its slot, or the slot it
    /// already had; None when the table is full. Fork server only, while no child runs.
    pub fn add_known(&self, signature: u64) -> Option<usize> {
        let h = self.header();
        let n = h.known_len.load(Ordering::Relaxed) as usize;
        if let Some(i) = h.known[..n].iter().position(|s| s.signature.load(Ordering::Relaxed) == signature) {
            return Some(i);
        }
        if n >= KNOWN_SLOTS {
            return None;
        }
        h.known[n].signature.store(signature, Ordering::Relaxed);
        h.known_len.store(n as u32 + 1, Ordering::Release);
        Some(n)
    }

    /// Counts a hit of a known signature; false when it is not known (child, panic hook).
    pub fn hit_known(&self, signature: u64) -> bool {
        let h = self.header();
        let n = (h.known_len.load(Ordering::Acquire) as usize).min(KNOWN_SLOTS);
        match h.known[..n].iter().find(|s| s.signature.load(Ordering::Relaxed) == signature) {
            Some(slot) => {
                slot.hits.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// (signature, hits so far) of every known slot (fork server).
    pub fn known_hits(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let h = self.header();
        let n = (h.known_len.load(Ordering::Acquire) as usize).min(KNOWN_SLOTS);
        h.known[..n].iter().map(|s| (s.signature.load(Ordering::Relaxed), s.hits.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(r: &Record<'_>) -> (u64, Vec<u8>, Vec<u32>, Option<u32>) {
        match r {
            Record::Entry { id, data, features, exported } => (*id, data.to_vec(), features.to_vec(), *exported),
            _ => panic!("not an entry"),
        }
    }

    #[test]
    fn the_log_replays_what_was_written_in_order() {
        let w: &'static WarmState = Box::leak(Box::new(WarmState::new(16).unwrap()));
        assert!(!w.is_warm());
        w.log_entry(7, b"abc", &[1, 2, 3], Some(9));
        w.log_cursor(b"peer-1", 77, 4096);
        w.log_hold(b"cafe");
        w.log_note(5);
        w.log_slow(11);
        w.log_entry(8, b"", &[], None);
        w.set_complete();
        assert!(w.is_warm());
        let r = w.records().unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(entry(&r[0]), (7, b"abc".to_vec(), vec![1, 2, 3], Some(9)));
        assert!(matches!(r[1], Record::Cursor { peer: b"peer-1", inode: 77, offset: 4096 }));
        assert!(matches!(r[2], Record::Hold(b"cafe")));
        assert!(matches!(r[3], Record::Note(5)));
        assert!(matches!(r[4], Record::Slow(11)));
        assert_eq!(entry(&r[5]), (8, vec![], vec![], None));
        w.start_cold();
        assert!(!w.is_warm());
        assert!(w.records().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_log_is_refused_and_spoils_the_state() {
        let w: &'static WarmState = Box::leak(Box::new(WarmState::new(16).unwrap()));
        w.log_entry(7, b"abcdef", &[1], None);
        w.set_complete();
        // A target scribbling over the log (the shared mapping is the child's memory too).
        // SAFETY: byte 30 lies inside the first record, inside the mapping; no one else uses it.
        unsafe { *w.base.add(w.log_at + 30) ^= 0xff };
        assert!(w.records().err().unwrap().contains("checksum"));
        assert!(!w.is_warm(), "the next child starts cold");
    }

    #[test]
    fn known_panics_are_counted_by_slot() {
        let w: &'static WarmState = Box::leak(Box::new(WarmState::new(16).unwrap()));
        assert!(!w.hit_known(42), "unknown");
        assert_eq!(w.add_known(42), Some(0));
        assert_eq!(w.add_known(43), Some(1));
        assert_eq!(w.add_known(42), Some(0), "already there");
        assert!(w.hit_known(43) && w.hit_known(43) && w.hit_known(42));
        assert_eq!(w.known_hits().collect::<Vec<_>>(), vec![(42, 1), (43, 2)]);
        for s in 100..100 + KNOWN_SLOTS as u64 - 2 {
            assert!(w.add_known(s).is_some());
        }
        assert_eq!(w.add_known(1), None, "the table is full");
    }

    #[test]
    fn the_local_map_and_entry_figures_survive_until_a_cold_start() {
        let w: &'static WarmState = Box::leak(Box::new(WarmState::new(16).unwrap()));
        w.local()[3].store(4, Ordering::Relaxed);
        w.entry_counters(2).unwrap()[0].store(99, Ordering::Relaxed);
        w.log_entry(1, b"x", &[3], None);
        assert_eq!(w.local()[3].load(Ordering::Relaxed), 4);
        w.start_cold();
        assert_eq!(w.local()[3].load(Ordering::Relaxed), 0);
        assert_eq!(w.entry_counters(2).unwrap()[0].load(Ordering::Relaxed), 0);
        assert!(w.entry_counters(MAX_ENTRIES).is_none());
    }
}
