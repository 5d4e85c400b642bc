//! The harness's global allocator: the system allocator plus a size check, so one
//! allocation larger than the memory limit (or one the system refuses) is reported as an
//! out-of-memory finding instead of an anonymous abort. Costs one relaxed load per call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets the largest single allocation allowed (fuzzing and replay children only).
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The allocator `fuzz_target!` installs.
pub struct LimitAlloc;

#[cold]
fn over_limit(size: usize) -> ! {
    let mut msg = [0u8; 96];
    let text = format_into(
        &mut msg,
        b"allocation of ",
        size,
        b" bytes exceeds the memory limit (--rss-limit-mb)",
    );
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

#[inline]
fn check(size: usize) {
    if size > LIMIT.load(Ordering::Relaxed) {
        over_limit(size);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the added
// checks only read an atomic and may abort, which no GlobalAlloc contract forbids.
unsafe impl GlobalAlloc for LimitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: forwarded with the caller's valid layout.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: forwarded with the caller's valid layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (i.e. from System) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            refused(new_size);
        }
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
