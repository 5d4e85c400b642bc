//! SanitizerCoverage: the callbacks instrumented modules call at start-up to register their
//! inline 8-bit counters and PC tables, and [`CounterMap`], the fuzzer's view of all counters
//! as one index space. Only the fuzzing child reads the counters, between executions.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Most modules we expect to register; a static linking of a crate graph registers one range
/// (the linker merges `__sancov_cntrs`), a crate graph with dynamic parts a few more.
const MAX_REGIONS: usize = 256;

struct Regions {
    starts: [AtomicPtr<u8>; MAX_REGIONS],
    lens: [AtomicUsize; MAX_REGIONS],
    count: AtomicUsize,
}

static COUNTERS: Regions = Regions {
    starts: [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_REGIONS],
    lens: [const { AtomicUsize::new(0) }; MAX_REGIONS],
    count: AtomicUsize::new(0),
};

/// Called by every instrumented module's constructor with its counter range. With a static
/// binary every module passes the same merged section, so duplicates are dropped.
///
/// # Safety
/// Called by compiler-generated constructors with a valid `[start, stop)` counter range that
/// lives as long as the program.
#[no_mangle]
pub unsafe extern "C" fn __sanitizer_cov_8bit_counters_init(start: *mut u8, stop: *mut u8) {
    if start.is_null() || stop <= start {
        return;
    }
    let len = stop as usize - start as usize;
    let n = COUNTERS.count.load(Ordering::Acquire);
    for i in 0..n {
        if COUNTERS.starts[i].load(Ordering::Relaxed) == start {
            return;
        }
    }
    if n < MAX_REGIONS {
        COUNTERS.starts[n].store(start, Ordering::Relaxed);
        COUNTERS.lens[n].store(len, Ordering::Relaxed);
        COUNTERS.count.store(n + 1, Ordering::Release);
    }
}

static PCS: Regions = Regions {
    starts: [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_REGIONS],
    lens: [const { AtomicUsize::new(0) }; MAX_REGIONS],
    count: AtomicUsize::new(0),
};

/// Called with the PC table: two words per counter (the block's address, and flags whose
/// bit 0 marks a function entry), in the same module order as the counters. Recorded for
/// coverage reports (`pc_table`); the fuzzer itself only needs the counters.
///
/// # Safety
/// Called by compiler-generated constructors with a valid table range.
#[no_mangle]
pub unsafe extern "C" fn __sanitizer_cov_pcs_init(beg: *const usize, end: *const usize) {
    if beg.is_null() || end <= beg {
        return;
    }
    let len = (end as usize - beg as usize) / (2 * std::mem::size_of::<usize>());
    let n = PCS.count.load(Ordering::Acquire);
    for i in 0..n {
        if PCS.starts[i].load(Ordering::Relaxed) == beg as *mut u8 {
            return;
        }
    }
    if n < MAX_REGIONS {
        PCS.starts[n].store(beg as *mut u8, Ordering::Relaxed);
        PCS.lens[n].store(len, Ordering::Relaxed);
        PCS.count.store(n + 1, Ordering::Release);
    }
}

/// The PC table in counter order: for counter `i`, its block's address as a virtual address
/// of the executable file (load bias taken off, so it can be looked up in the file's debug
/// info) and its flags.
pub fn pc_table() -> Result<Vec<(u64, u64)>, String> {
    let n = PCS.count.load(Ordering::Acquire);
    let mut table = Vec::new();
    for i in 0..n {
        let start = PCS.starts[i].load(Ordering::Relaxed) as *const usize;
        let len = PCS.lens[i].load(Ordering::Relaxed);
        // SAFETY: `start` and `len` were registered by the instrumentation's constructor for a
        // table of `len` (pc, flags) pairs that lives as long as the program and is never
        // written after start-up.
        let words = unsafe { std::slice::from_raw_parts(start, 2 * len) };
        table.extend(words.chunks_exact(2).map(|w| (w[0] as u64, w[1] as u64)));
    }
    let counters = CounterMap::registered().len();
    if table.len() != counters {
        return Err(format!(
            "the PC table has {} entries for {counters} counters; was the harness built by `cargo protocrash build`?",
            table.len()
        ));
    }
    let bias = load_bias();
    Ok(table.into_iter().map(|(pc, flags)| (pc.wrapping_sub(bias), flags)).collect())
}

/// The executable's load bias: what was added to its file's virtual addresses when it was
/// mapped (0 for a non-PIE binary).
fn load_bias() -> u64 {
    unsafe extern "C" fn first(info: *mut libc::dl_phdr_info, _size: libc::size_t, out: *mut libc::c_void) -> i32 {
        // SAFETY: `dl_iterate_phdr` passes a valid `info` for the call, and `out` is the
        // `&mut u64` given below, alive for the whole iteration.
        unsafe { *(out as *mut u64) = (*info).dlpi_addr };
        1 // The first object is the executable itself; stop there.
    }
    let mut bias: u64 = 0;
    // SAFETY: `first` matches the callback signature and only writes through `out`, which
    // points at `bias` for the duration of this call.
    unsafe { libc::dl_iterate_phdr(Some(first), &mut bias as *mut u64 as *mut libc::c_void) };
    bias
}

/// All registered counters as one index space `0..len()`.
pub struct CounterMap {
    regions: Vec<(*mut u8, usize)>,
    len: usize,
    /// Counters that belong to the allocator glue (see `mask_allocator`), zeroed before
    /// every drain.
    masked: Vec<*mut u8>,
}

impl CounterMap {
    /// Takes the regions registered so far (all of them, once `main` runs).
    pub fn registered() -> Self {
        let n = COUNTERS.count.load(Ordering::Acquire);
        let regions: Vec<(*mut u8, usize)> = (0..n)
            .map(|i| (COUNTERS.starts[i].load(Ordering::Relaxed), COUNTERS.lens[i].load(Ordering::Relaxed)))
            .collect();
        let len = regions.iter().map(|r| r.1).sum();
        CounterMap { regions, len, masked: Vec::new() }
    }

    /// Finds the counters of the allocator glue rustc generates in the harness crate
    /// (`__rust_alloc` and friends, instrumented with it) and leaves them out from now on.
    /// They count the heap calls made *between* executions too (the fuzzer keeping an input,
    /// a replay writing its report), so one input's coverage depended on what ran before
    /// it. Found by exercising the allocator between a clear and a drain: nothing else
    /// instrumented runs there (the runtime and std are not instrumented).
    pub fn mask_allocator(&mut self) {
        self.clear();
        let mut v: Vec<u8> = Vec::with_capacity(1);
        for i in 0..100_000u32 {
            v.push(i as u8);
        }
        v.truncate(3);
        v.shrink_to_fit();
        let zeroed = vec![0u8; 1 << 16];
        let boxed = Box::new(std::hint::black_box(7u64));
        std::hint::black_box((&v, &zeroed, &boxed));
        drop((v, zeroed, boxed));
        let mut hit = Vec::new();
        self.drain(|i, _| hit.push(i));
        self.masked = hit.into_iter().filter_map(|i| self.pointer(i)).collect();
    }

    /// The address of counter `index`.
    fn pointer(&self, mut index: usize) -> Option<*mut u8> {
        for &(start, len) in &self.regions {
            if index < len {
                // SAFETY: `index < len`, inside a registered counter range.
                return Some(unsafe { start.add(index) });
            }
            index -= len;
        }
        None
    }

    /// Number of counters (instrumented edges).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Zeroes every counter.
    pub fn clear(&self) {
        for &(start, len) in &self.regions {
            // SAFETY: `start..start+len` is a counter range registered by the instrumentation,
            // live for the whole program; only this thread touches counters between executions.
            unsafe { std::ptr::write_bytes(start, 0, len) };
        }
    }

    /// Calls `hit(index, count)` for every non-zero counter and zeroes it, reading a word at a
    /// time and skipping zero words, so an execution that touched few edges costs little.
    #[inline]
    pub fn drain(&self, mut hit: impl FnMut(usize, u8)) {
        for &p in &self.masked {
            // SAFETY: `p` points into a registered counter range (see `pointer`); only this
            // thread touches counters between executions.
            unsafe { p.write(0) };
        }
        let mut base = 0;
        for &(start, len) in &self.regions {
            // SAFETY: as in `clear`; the target has returned, so nothing else writes the range,
            // and `drain_region` stays inside `start..start+len`.
            unsafe { drain_region(start, len, base, &mut hit) };
            base += len;
        }
    }
}

/// # Safety
/// `start..start+len` must be valid for reads and writes and not accessed concurrently.
#[inline]
unsafe fn drain_region(start: *mut u8, len: usize, base: usize, hit: &mut impl FnMut(usize, u8)) {
    let mut i = 0;
    // Unaligned head, byte by byte.
    while i < len && !(start as usize + i).is_multiple_of(8) {
        drain_byte(start, i, base, hit);
        i += 1;
    }
    // Aligned body: 32 bytes per test while they are all zero (most are), then a word at a
    // time where something was hit.
    while i + 32 <= len {
        let p = start.add(i) as *const u64;
        if (p.read() | p.add(1).read() | p.add(2).read() | p.add(3).read()) != 0 {
            for k in 0..4 {
                drain_word(start, i + 8 * k, base, hit);
            }
        }
        i += 32;
    }
    while i + 8 <= len {
        let p = start.add(i) as *mut u64;
        let w = p.read();
        if w != 0 {
            p.write(0);
            let bytes = w.to_le_bytes();
            for (k, &b) in bytes.iter().enumerate() {
                if b != 0 {
                    hit(base + i + k, b);
                }
            }
        }
        i += 8;
    }
    while i < len {
        drain_byte(start, i, base, hit);
        i += 1;
    }
}

/// # Safety
/// `start + i .. start + i + 8` must be valid for reads and writes, `start + i` 8-aligned.
#[inline(always)]
unsafe fn drain_word(start: *mut u8, i: usize, base: usize, hit: &mut impl FnMut(usize, u8)) {
    let p = start.add(i) as *mut u64;
    let w = p.read();
    if w != 0 {
        p.write(0);
        for (k, &b) in w.to_le_bytes().iter().enumerate() {
            if b != 0 {
                hit(base + i + k, b);
            }
        }
    }
}

/// # Safety
/// `start + i` must be valid for reads and writes.
#[inline]
unsafe fn drain_byte(start: *mut u8, i: usize, base: usize, hit: &mut impl FnMut(usize, u8)) {
    let p = start.add(i);
    let b = p.read();
    if b != 0 {
        p.write(0);
        hit(base + i, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_reports_every_nonzero_byte_once_and_zeroes_it() {
        // An odd offset and length exercise the unaligned head and tail.
        let mut buf = [0u8; 64];
        let region = &mut buf[3..50];
        for (i, v) in [(0usize, 1u8), (4, 7), (5, 255), (20, 2), (46, 9)] {
            region[i] = v;
        }
        let map =
            CounterMap { regions: vec![(region.as_mut_ptr(), region.len())], len: region.len(), masked: Vec::new() };
        let mut hits = Vec::new();
        map.drain(|i, v| hits.push((i, v)));
        assert_eq!(hits, vec![(0, 1), (4, 7), (5, 255), (20, 2), (46, 9)]);
        let mut again = Vec::new();
        map.drain(|i, v| again.push((i, v)));
        assert!(again.is_empty());
    }
}
