//! The harness's global allocator: the system allocator plus accounting, so that one
//! allocation larger than the memory limit, live heap growing past it, or an allocation the
//! system refuses is reported as an out-of-memory finding at once — not an anonymous abort,
//! and not hundreds of milliseconds later when the fork server's RSS poll would notice.
//! Costs a relaxed load and an uncontended atomic add per call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Bytes allocated and not yet freed. Signed: memory allocated before a fork and freed in
/// the child must not wrap the count.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Sets the largest single allocation allowed (fuzzing and replay children only).
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The allocator `fuzz_target!` installs.
pub struct LimitAlloc;

#[cold]
fn over_limit(size: usize) -> ! {
    let mut msg = [0u8; 96];
    let text = format_into(&mut msg, b"allocation of ", size, b" bytes exceeds the memory limit (--rss-limit-mb)");
    crate::signals::report_oom(text)
}

#[cold]
fn refused(size: usize) -> ! {
    let mut msg = [0u8; 96];
    let text = format_into(&mut msg, b"allocation of ", size, b" bytes failed");
    crate::signals::report_oom(text)
}

/// Formats `pre N post` into `buf` without allocating (we are inside the allocator).
fn format_into<'a>(buf: &'a mut [u8; 96], pre: &[u8], n: usize, post: &[u8]) -> &'a [u8] {
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
    let mut msg = [0u8; 96];
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
    if delta > 0 && live > LIMIT.load(Ordering::Relaxed).min(isize::MAX as usize) as isize {
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
        let mut buf = [0u8; 96];
        assert_eq!(format_into(&mut buf, b"a ", 12345, b" b"), b"a 12345 b");
        let mut buf = [0u8; 96];
        assert_eq!(format_into(&mut buf, b"", 0, b""), b"0");
    }
}
