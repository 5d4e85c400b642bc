//! The memory a fork server shares with its fuzzing child: the input being executed and the
//! record the child's panic hook and signal handlers fill in before it dies. Mapped shared
//! and anonymous before `fork`, so it survives the child and costs no file.
//!
//! Protocol: only the child writes; the parent reads after it has reaped the child (or, for
//! the progress word, reads a single atomic while the child runs).

use protocrash_proto::finding::FindingKind;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Frames kept per report.
pub const MAX_FRAMES: usize = 64;
/// Frames kept per probe.
pub const PROBE_FRAMES: usize = 32;
const MSG_CAP: usize = 2048;
/// Bytes of a panic location kept.
pub const LOC_CAP: usize = 256;

/// The fixed part of the shared region.
#[repr(C)]
pub struct ExecRecord {
    /// Progress word for replays: odd while the target runs (see `StatField::ExecSeq`).
    pub progress: AtomicU64,
    /// Non-zero once a report was written (the first writer wins).
    pub filled: AtomicU32,
    kind: AtomicU32,
    signal: AtomicI32,
    /// Kind the parent asks the child's capture handler to record (hang or OOM).
    requested: AtomicU32,
    nips: AtomicU32,
    msg_len: AtomicU32,
    loc_len: AtomicU32,
    input_len: AtomicUsize,
    /// Where the input being executed came from: the id of the corpus entry it was mutated
    /// from and of the token written into it (0 for none). See `penalty`.
    parent: AtomicU64,
    token: AtomicU64,
    /// Non-zero once the child caught a panic and went on: its later findings may come from
    /// state that panic left behind, and are re-run in a fresh child before they count.
    tainted: AtomicU32,
    /// A probe the parent asked for (non-zero) and whether it is done (see `request_probe`).
    probe_asked: AtomicU32,
    probe_done: AtomicU32,
    probe_n: AtomicU32,
    probe_ips: [AtomicUsize; PROBE_FRAMES],
    ips: [AtomicUsize; MAX_FRAMES],
    msg: [AtomicU8; MSG_CAP],
    loc: [AtomicU8; LOC_CAP],
}

/// What the child reported about its death.
#[derive(Clone, Debug, Default)]
pub struct RawReport {
    /// Kind, if the child wrote one.
    pub kind: Option<FindingKind>,
    /// Signal number the handler saw (0 for panics).
    pub signal: i32,
    /// Panic message or description.
    pub message: String,
    /// Panic location (`file:line:col`), if known.
    pub location: String,
    /// Raw return addresses, innermost first.
    pub ips: Vec<usize>,
}

fn kind_code(kind: FindingKind) -> u32 {
    match kind {
        FindingKind::Panic => 1,
        FindingKind::Signal => 2,
        FindingKind::StackOverflow => 3,
        FindingKind::Hang => 4,
        FindingKind::Oom => 5,
    }
}

fn code_kind(code: u32) -> Option<FindingKind> {
    Some(match code {
        1 => FindingKind::Panic,
        2 => FindingKind::Signal,
        3 => FindingKind::StackOverflow,
        4 => FindingKind::Hang,
        5 => FindingKind::Oom,
        _ => return None,
    })
}

impl ExecRecord {
    /// Claims the record for a report; false if something already reported (a panic's
    /// `abort` must not overwrite the panic with SIGABRT). Async-signal-safe.
    pub fn claim(&self) -> bool {
        self.filled.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Writes the kind and signal of a claimed report. Async-signal-safe.
    pub fn set_kind(&self, kind: FindingKind, signal: i32) {
        self.kind.store(kind_code(kind), Ordering::Relaxed);
        self.signal.store(signal, Ordering::Relaxed);
    }

    /// Writes the message of a claimed report (truncated). Async-signal-safe.
    pub fn set_message(&self, msg: &[u8]) {
        let n = msg.len().min(MSG_CAP);
        for (slot, &b) in self.msg.iter().zip(&msg[..n]) {
            slot.store(b, Ordering::Relaxed);
        }
        self.msg_len.store(n as u32, Ordering::Relaxed);
    }

    /// Writes the location of a claimed report (truncated).
    pub fn set_location(&self, loc: &[u8]) {
        let n = loc.len().min(LOC_CAP);
        for (slot, &b) in self.loc.iter().zip(&loc[..n]) {
            slot.store(b, Ordering::Relaxed);
        }
        self.loc_len.store(n as u32, Ordering::Relaxed);
    }

    /// Appends a frame address; returns false when full. Async-signal-safe.
    pub fn push_ip(&self, ip: usize) -> bool {
        let n = self.nips.load(Ordering::Relaxed) as usize;
        if n >= MAX_FRAMES {
            return false;
        }
        self.ips[n].store(ip, Ordering::Relaxed);
        self.nips.store(n as u32 + 1, Ordering::Relaxed);
        true
    }

    /// The kind the parent asked a capture to record.
    pub fn requested(&self) -> Option<FindingKind> {
        code_kind(self.requested.load(Ordering::Acquire))
    }

    /// Asks the child's capture handler to record `kind` (parent side, before SIGUSR2).
    pub fn request(&self, kind: FindingKind) {
        self.requested.store(kind_code(kind), Ordering::Release);
    }

    /// Reads the report (parent side, after the child is reaped).
    pub fn read(&self) -> RawReport {
        if self.filled.load(Ordering::Acquire) == 0 {
            return RawReport::default();
        }
        let bytes = |cells: &[AtomicU8], n: u32| -> String {
            let v: Vec<u8> = cells[..n as usize].iter().map(|c| c.load(Ordering::Relaxed)).collect();
            String::from_utf8_lossy(&v).into_owned()
        };
        let nips = (self.nips.load(Ordering::Relaxed) as usize).min(MAX_FRAMES);
        RawReport {
            kind: code_kind(self.kind.load(Ordering::Relaxed)),
            signal: self.signal.load(Ordering::Relaxed),
            message: bytes(&self.msg, self.msg_len.load(Ordering::Relaxed).min(MSG_CAP as u32)),
            location: bytes(&self.loc, self.loc_len.load(Ordering::Relaxed).min(LOC_CAP as u32)),
            ips: self.ips[..nips].iter().map(|c| c.load(Ordering::Relaxed)).collect(),
        }
    }

    /// Records where the next input comes from (child side, once per mutated input).
    #[inline]
    pub fn set_origin(&self, parent: u64, token: u64) {
        self.parent.store(parent, Ordering::Relaxed);
        self.token.store(token, Ordering::Relaxed);
    }

    /// Where the last input came from: (parent entry id, token id).
    pub fn origin(&self) -> (u64, u64) {
        (self.parent.load(Ordering::Relaxed), self.token.load(Ordering::Relaxed))
    }

    /// Marks the child as having recovered from a panic (child side).
    pub fn set_tainted(&self) {
        self.tainted.store(1, Ordering::Relaxed);
    }

    /// Whether the child recovered from a panic before it died (parent side).
    pub fn tainted(&self) -> bool {
        self.tainted.load(Ordering::Relaxed) != 0
    }

    /// Asks the child's capture handler for a probe: its stack recorded, execution goes on
    /// (parent side, before SIGUSR2).
    pub fn request_probe(&self) {
        self.probe_done.store(0, Ordering::Relaxed);
        self.probe_n.store(0, Ordering::Relaxed);
        self.probe_asked.store(1, Ordering::Release);
    }

    /// Takes a pending probe request (child side, in the handler).
    pub fn take_probe_request(&self) -> bool {
        self.probe_asked.swap(0, Ordering::AcqRel) != 0
    }

    /// Appends a probe frame; false when full. Async-signal-safe.
    pub fn push_probe_ip(&self, ip: usize) -> bool {
        let n = self.probe_n.load(Ordering::Relaxed) as usize;
        if n >= PROBE_FRAMES {
            return false;
        }
        self.probe_ips[n].store(ip, Ordering::Relaxed);
        self.probe_n.store(n as u32 + 1, Ordering::Relaxed);
        true
    }

    /// Marks the probe complete (child side).
    pub fn finish_probe(&self) {
        self.probe_done.store(1, Ordering::Release);
    }

    /// The probe's frames, once the child finished it (parent side).
    pub fn probe(&self) -> Option<Vec<usize>> {
        if self.probe_done.load(Ordering::Acquire) == 0 {
            return None;
        }
        let n = (self.probe_n.load(Ordering::Relaxed) as usize).min(PROBE_FRAMES);
        Some(self.probe_ips[..n].iter().map(|c| c.load(Ordering::Relaxed)).collect())
    }

    /// Clears everything for the next child.
    pub fn reset(&self) {
        self.probe_asked.store(0, Ordering::Relaxed);
        self.probe_done.store(0, Ordering::Relaxed);
        self.tainted.store(0, Ordering::Relaxed);
        self.filled.store(0, Ordering::Relaxed);
        self.kind.store(0, Ordering::Relaxed);
        self.signal.store(0, Ordering::Relaxed);
        self.requested.store(0, Ordering::Relaxed);
        self.nips.store(0, Ordering::Relaxed);
        self.msg_len.store(0, Ordering::Relaxed);
        self.loc_len.store(0, Ordering::Relaxed);
        self.input_len.store(0, Ordering::Relaxed);
        self.set_origin(0, 0);
        self.progress.store(0, Ordering::Release);
    }
}

/// An anonymous shared mapping: an [`ExecRecord`] followed by an input buffer.
pub struct SharedRegion {
    base: *mut u8,
    input_cap: usize,
}

impl SharedRegion {
    /// Maps a region whose input buffer holds `input_cap` bytes.
    pub fn new(input_cap: usize) -> std::io::Result<Self> {
        let header = std::mem::size_of::<ExecRecord>().next_multiple_of(64);
        let map_len = header + input_cap.max(1);
        // SAFETY: a fresh anonymous mapping with no address hint: it aliases nothing. Anonymous
        // memory is zero-filled, and all-zero bytes are a valid `ExecRecord` (atomics only).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(SharedRegion { base: base.cast(), input_cap })
    }

    /// The record. The mapping is never unmapped (the region lives as long as the worker), so
    /// the reference is `'static`, which signal handlers and the panic hook need.
    pub fn record(&self) -> &'static ExecRecord {
        // SAFETY: `base` is page-aligned, the mapping is at least `size_of::<ExecRecord>()`
        // long, zero-initialised (a valid ExecRecord), only accessed through atomics, and
        // never unmapped (`SharedRegion` has no Drop), so `'static` holds.
        unsafe { &*(self.base as *const ExecRecord) }
    }

    fn input_ptr(&self) -> *mut u8 {
        let header = std::mem::size_of::<ExecRecord>().next_multiple_of(64);
        // SAFETY: `header < map_len`, so the pointer stays inside the mapping.
        unsafe { self.base.add(header) }
    }

    /// Stores the input about to run (child side, once per execution).
    #[inline]
    pub fn set_input(&self, data: &[u8]) {
        let n = data.len().min(self.input_cap);
        // SAFETY: the buffer holds `input_cap >= n` bytes; only the child writes it, and the
        // parent reads it only after reaping the child, so no access overlaps this copy.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.input_ptr(), n) };
        self.record().input_len.store(n, Ordering::Release);
    }

    /// The last input the child stored (parent side, after reaping it).
    pub fn input(&self) -> Vec<u8> {
        let n = self.record().input_len.load(Ordering::Acquire).min(self.input_cap);
        // SAFETY: `n <= input_cap` bytes are in the mapping, and the writer (the child) is dead.
        unsafe { std::slice::from_raw_parts(self.input_ptr(), n) }.to_vec()
    }
}
