//! The harness's global allocator: the system allocator plus accounting, so that one
//! allocation over the single-allocation limit, live heap growing past the memory limit, or
//! an allocation the system refuses is reported as an out-of-memory finding at once — not an
//! anonymous abort, and not hundreds of milliseconds later when the fork server's RSS poll
//! would notice. Costs a relaxed load and an uncontended atomic add per call.
//!
//! The single-allocation limit is what the input could need: 1,024 times its size, at least
//! 64 MiB, at most an eighth of the memory limit (256 MiB under the default 2 GiB) — where
//! libFuzzer's `-malloc_limit_mb` defaults to the whole memory limit. A few bytes asking for
//! hundreds of MiB at once is the "allocate what the header says" bug; under a limit of the
//! whole 2 GiB, each such input would be allocated and filled first — about a second, often
//! long enough to be taken for a hang inside `memset` — and a fuzzer that keeps writing size
//! fields spends its time filling memory. A target that needs larger single allocations
//! raises `--rss-limit-mb` (the ceiling) or is given larger inputs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Largest single allocation for the input being executed.
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The ceiling of `LIMIT`: an eighth of the memory limit.
static CEILING: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The floor of the single-allocation limit, whatever the input's size.
const SINGLE_FLOOR: usize = 64 << 20;
/// The single-allocation limit is this many times the input's size (between floor and ceiling).
const PER_INPUT_BYTE: usize = 1024;
/// Largest live heap.
static HEAP_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The single-allocation limit is the memory limit divided by this.
pub const SINGLE_DIVISOR: usize = 8;
/// Bytes allocated and not yet freed. Signed: memory allocated before a fork and freed in
/// the child must not wrap the count.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Sets the memory limit (fuzzing and replay children only): the live heap may not pass
/// it, and no single allocation may pass an eighth of it.
pub fn set_limit(bytes: usize) {
    HEAP_LIMIT.store(bytes, Ordering::Relaxed);
    CEILING.store((bytes / SINGLE_DIVISOR).max(1), Ordering::Relaxed);
    LIMIT.store((bytes / SINGLE_DIVISOR).max(1), Ordering::Relaxed);
}

/// Sets the single-allocation limit for an input of `len` bytes (before each execution).
#[inline]
pub fn set_input_len(len: usize) {
    let ceiling = CEILING.load(Ordering::Relaxed);
    LIMIT.store(len.saturating_mul(PER_INPUT_BYTE).max(SINGLE_FLOOR).min(ceiling), Ordering::Relaxed);
}

/// The allocator `fuzz_target!` installs.
pub struct LimitAlloc;

#[cold]
fn over_limit(size: usize) -> ! {
    let mut msg = [0u8; 128];
    let text = format_into(
        &mut msg,
        b"allocation of ",
        size,
        b" bytes: over 1024x the input (min 64 MiB) or 1/8 of --rss-limit-mb",
    );
    crate::signals::report_oom(text)
}

#[cold]
fn refused(size: usize) -> ! {
    let mut msg = [0u8; 128];
    let text = format_into(&mut msg, b"allocation of ", size, b" bytes failed");
    crate::signals::report_oom(text)
}

/// Formats `pre N post` into `buf` without allocating (we are inside the allocator).
fn format_into<'a>(buf: &'a mut [u8; 128], pre: &[u8], n: usize, post: &[u8]) -> &'a [u8] {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut len = 0;
    for part in [pre, &digits[i..], post] {
        let take = part.len().min(buf.len() - len);
        buf[len..len + take].copy_from_slice(&part[..take]);
        len += take;
    }
    &buf[..len]
}

#[cold]
fn heap_over_limit(live: isize) -> ! {
    let mut msg = [0u8; 128];
    let text = format_into(&mut msg, b"live heap reached ", live.max(0) as usize, b" bytes, over the memory limit");
    crate::signals::report_oom(text)
}

#[inline]
fn check(size: usize) {
    if size > LIMIT.load(Ordering::Relaxed) {
        over_limit(size);
    }
}

#[inline]
fn grew(delta: isize) {
    let live = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    if delta > 0 && live > HEAP_LIMIT.load(Ordering::Relaxed).min(isize::MAX as usize) as isize {
        heap_over_limit(live);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the added
// checks only read an atomic and may abort, which no GlobalAlloc contract forbids.
unsafe impl GlobalAlloc for LimitAlloc {
    // Never inlined into the (instrumented) harness crate: its branches are not the target's.
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: forwarded with the caller's valid layout.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        grew(layout.size() as isize);
        p
    }

    // Never inlined into the (instrumented) harness crate: its branches are not the target's.
    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: forwarded with the caller's valid layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        grew(layout.size() as isize);
        p
    }

    // Never inlined into the (instrumented) harness crate: its branches are not the target's.
    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (i.e. from System) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        grew(-(layout.size() as isize));
    }

    // Never inlined into the (instrumented) harness crate: its branches are not the target's.
    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            refused(new_size);
        }
        grew(new_size as isize - layout.size() as isize);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_allocating() {
        let mut buf = [0u8; 128];
        assert_eq!(format_into(&mut buf, b"a ", 12345, b" b"), b"a 12345 b");
        let mut buf = [0u8; 128];
        assert_eq!(format_into(&mut buf, b"", 0, b""), b"0");
    }
}
