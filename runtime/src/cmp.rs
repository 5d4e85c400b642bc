//! Comparison feedback. SanitizerCoverage's `trace-compares` calls a hook before every
//! integer compare and switch; the runtime also stands in for `memcmp`/`bcmp`, which Rust
//! emits for slice and string equality and sancov cannot see. Each hook, only while the
//! target runs with comparison feedback on:
//!
//! - feeds the **value profile**: a bit per (compare site, closeness of the operands), checked
//!   inline against what this child already keeps, so an input that brings one compare
//!   closer (or passes one more gate of a chain the optimiser folded into one block) counts
//!   as new coverage, at the price of a load and a test per compare;
//! - records the operand pair in a small **table of recent compares** (TORC), which the
//!   mutator uses for input-to-state replacement and as a source of dictionary tokens.
//!
//! Hooks get their call site from a naked trampoline that reads the return address and
//! tail-jumps into the Rust handler (stable since Rust 1.88). Everything is fixed-size
//! statics and relaxed atomics: no allocation, no lock, sound if the target uses threads.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

/// Size of the feature space compare progress reports into (for the scheduler).
pub const VP_BITS: usize = 1 << 17;
/// Compare sites tracked (hashed).
const SITES: usize = 1 << 14;
const VP_PENDING: usize = 64;
/// Entries per table of recent compares.
pub const TORC_LEN: usize = 64;
/// Longest memory compare recorded.
pub const MEM_LEN: usize = 32;
const MEM_SLOTS: usize = 32;

struct Torc {
    a: [AtomicU64; TORC_LEN],
    b: [AtomicU64; TORC_LEN],
    width: [AtomicU8; TORC_LEN],
}

struct MemTorc {
    len: [AtomicU8; MEM_SLOTS],
    a: [[AtomicU8; MEM_LEN]; MEM_SLOTS],
    b: [[AtomicU8; MEM_LEN]; MEM_SLOTS],
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether operand pairs go into the tables this execution (see `set_active`).
static RECORDING: AtomicBool = AtomicBool::new(false);
/// Closeness values reached per (site, closeness), for compares of up to 4 bytes.
static VP_SEEN: [AtomicU8; VP_BITS / 8] = [const { AtomicU8::new(0) }; VP_BITS / 8];
/// Per hashed compare site, the closest its operands ever came (+1; 0 = never reached), for
/// 8-byte and memory compares.
static SITE_BEST: [AtomicU8; SITES] = [const { AtomicU8::new(0) }; SITES];
/// Equal-site counts reached so far (a bit per count).
static COUNTS_SEEN: [AtomicU8; COUNT_FEATURES / 8] = [const { AtomicU8::new(0) }; COUNT_FEATURES / 8];
static VP_NEW: AtomicUsize = AtomicUsize::new(0);
/// (site << 8 | closeness + 1) of this execution's progress, to commit if the input is kept.
static VP_PENDING_IDX: [AtomicU32; VP_PENDING] = [const { AtomicU32::new(0) }; VP_PENDING];
/// Equal-site count of this execution if it beat the best, to commit if the input is kept.
static PENDING_EQUAL: AtomicUsize = AtomicUsize::new(0);
static TORC: Torc = Torc {
    a: [const { AtomicU64::new(0) }; TORC_LEN],
    b: [const { AtomicU64::new(0) }; TORC_LEN],
    width: [const { AtomicU8::new(0) }; TORC_LEN],
};
static MEM: MemTorc = MemTorc {
    len: [const { AtomicU8::new(0) }; MEM_SLOTS],
    a: [const { [const { AtomicU8::new(0) }; MEM_LEN] }; MEM_SLOTS],
    b: [const { [const { AtomicU8::new(0) }; MEM_LEN] }; MEM_SLOTS],
};
static REAL_MEMCMP: AtomicUsize = AtomicUsize::new(0);
/// Sites whose operands were equal in this execution (a bit per hashed site), the list of
/// bits set (to clear them cheaply), and their count.
const EQ_BITS: usize = 1 << 12;
const EQ_LIST: usize = 64;
static EQ_SEEN: [AtomicU8; EQ_BITS / 8] = [const { AtomicU8::new(0) }; EQ_BITS / 8];
static EQ_SET: [AtomicU32; EQ_LIST] = [const { AtomicU32::new(0) }; EQ_LIST];
static EQ_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Value-profile indices reserved for "number of equal compare sites" features.
const COUNT_FEATURES: usize = 128;
/// Occupied slots of the tables, so the mutator picks among recorded pairs only.
static FILLED_INT: AtomicU64 = AtomicU64::new(0);
static FILLED_MEM: AtomicU32 = AtomicU32::new(0);
/// Byte compares (checksums, tags) get their own slots so they cannot crowd out wide ones.
const BYTE_SLOTS: usize = 16;

/// Turns the hooks on or off (around each execution of the target, when feedback is
/// enabled). Value profile and equal-site counts are taken on every execution; operand pairs
/// are stored only when `record` is set: the tables serve mutations that tolerate slightly
/// stale pairs and a stage that re-runs its input with recording on, and storing three words
/// per compare on every execution is the hooks' largest cost.
#[inline]
pub fn set_active(on: bool, record: bool) {
    ACTIVE.store(on, Relaxed);
    RECORDING.store(record, Relaxed);
}

/// Bytes of the progress state kept across inputs (what `commit` updates): the value-profile
/// bits, the best closeness per site, the equal-site counts seen.
pub const KEPT_BYTES: usize = VP_BITS / 8 + SITES + COUNT_FEATURES / 8;

/// Where `commit` mirrors what it keeps (a warm-restart block, see `warm`), if anywhere.
static MIRROR: std::sync::OnceLock<&'static [AtomicU8]> = std::sync::OnceLock::new();

/// The three kept tables, in mirror order.
fn kept_tables() -> [&'static [AtomicU8]; 3] {
    [&VP_SEEN, &SITE_BEST, &COUNTS_SEEN]
}

/// Mirrors kept progress into `block` (`KEPT_BYTES` long) from now on, after loading what an
/// earlier child mirrored there if `load` (a warm restart).
pub fn mirror_to(block: &'static [AtomicU8], load: bool) {
    let mut at = 0;
    for table in kept_tables() {
        for cell in table {
            if load {
                cell.store(block[at].load(Relaxed), Relaxed);
            }
            at += 1;
        }
    }
    let _ = MIRROR.set(block);
}

/// Sets bits `bits` of byte `index` of kept table `table` (0, 1, 2), and in the mirror.
fn keep_or(table: usize, index: usize, bits: u8) {
    kept_tables()[table][index].fetch_or(bits, Relaxed);
    if let Some(m) = MIRROR.get() {
        let offset = [0, VP_BITS / 8, VP_BITS / 8 + SITES][table];
        m[offset + index].fetch_or(bits, Relaxed);
    }
}

/// Keeps the last execution's progress (the input was kept) and appends its feature
/// indices (in `0..VP_BITS`) to `out`.
pub fn commit(out: &mut Vec<u32>) {
    let n = VP_NEW.swap(0, Relaxed).min(VP_PENDING);
    for slot in &VP_PENDING_IDX[..n] {
        let v = slot.load(Relaxed);
        if v & MONOTONE != 0 {
            let (site, level) = (((v & !MONOTONE) >> 8) as usize, (v & 0xff) as u8);
            SITE_BEST[site].fetch_max(level, Relaxed);
            if let Some(m) = MIRROR.get() {
                m[VP_BITS / 8 + site].fetch_max(level, Relaxed);
            }
            out.push(((site * 67 + usize::from(level)) % (VP_BITS - COUNT_FEATURES)) as u32);
        } else {
            let idx = v as usize;
            keep_or(0, idx / 8, 1 << (idx % 8));
            out.push(v);
        }
    }
    let eq = PENDING_EQUAL.swap(0, Relaxed);
    if eq > 0 {
        keep_or(2, eq / 8, 1 << (eq % 8));
        out.push((VP_BITS - COUNT_FEATURES + eq) as u32);
    }
}

/// Forgets the last execution's progress (the input was not kept).
#[inline]
pub fn discard() {
    VP_NEW.store(0, Relaxed);
    PENDING_EQUAL.store(0, Relaxed);
}

/// An address inside this binary: call sites are hashed relative to it, so that their
/// hashes (feature indices, table slots) do not change with address-space randomisation and
/// a run with a fixed seed repeats itself.
static BASE: AtomicUsize = AtomicUsize::new(0);

/// Records the binary's position (once, before fuzzing).
pub fn init() {
    BASE.store(init as *const () as usize, Relaxed);
}

#[inline(always)]
fn site(pc: usize) -> u64 {
    (pc.wrapping_sub(BASE.load(Relaxed)) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Compare progress. For compares of up to 4 bytes (magics, tags, fields), every closeness
/// value a site reaches is a feature, as in libFuzzer's value profile. For 8-byte compares
/// (mostly lengths and sizes) and memory compares only coming closer than ever counts:
/// otherwise every distant length is "new" and the corpus fills with long inputs.
/// Returns whether the feature was already committed (nothing new).
#[inline(always)]
fn profile(pc: usize, closeness: u32, monotone: bool) -> bool {
    if monotone {
        let site = (site(pc) >> 50) as usize % SITES;
        let level = (closeness + 1).min(255) as u8;
        if level > SITE_BEST[site].load(Relaxed) {
            pending(MONOTONE | ((site as u32) << 8) | u32::from(level));
            return false;
        }
    } else {
        let idx =
            ((site(pc) >> 40) as usize).wrapping_mul(65).wrapping_add(closeness as usize) % (VP_BITS - COUNT_FEATURES);
        if VP_SEEN[idx / 8].load(Relaxed) & (1 << (idx % 8)) == 0 {
            pending(idx as u32);
            return false;
        }
    }
    true
}

/// Marks a pending entry as (site << 8 | level) of a monotone site.
const MONOTONE: u32 = 1 << 31;

#[inline(always)]
fn pending(v: u32) {
    let n = VP_NEW.fetch_add(1, Relaxed);
    if n < VP_PENDING {
        VP_PENDING_IDX[n].store(v, Relaxed);
    }
}

/// Notes that the compare at `pc` had equal operands in this execution.
#[inline(always)]
fn equal_at(pc: usize) {
    let bit = (site(pc) >> 52) as usize % EQ_BITS;
    let cell = &EQ_SEEN[bit / 8];
    if cell.load(Relaxed) & (1 << (bit % 8)) == 0 {
        cell.fetch_or(1 << (bit % 8), Relaxed);
        let n = EQ_COUNT.fetch_add(1, Relaxed);
        if n < EQ_LIST {
            EQ_SET[n].store(bit as u32, Relaxed);
        }
    }
}

/// Ends an execution's recording. Gates the optimiser folded into one block are compared
/// one after the other without a branch between them, so opening one more gate changes no
/// edge, and each gate's own "operands equal" may have been reached before by an input
/// failing the others. What does change is how many compare sites saw equal operands in the
/// same execution: a count never seen before is progress too.
#[inline]
pub fn end_exec() {
    let n = EQ_COUNT.swap(0, Relaxed);
    if n == 0 {
        return;
    }
    for slot in &EQ_SET[..n.min(EQ_LIST)] {
        let bit = slot.load(Relaxed) as usize;
        EQ_SEEN[bit / 8].store(0, Relaxed);
    }
    if n > EQ_LIST {
        for cell in &EQ_SEEN {
            cell.store(0, Relaxed);
        }
    }
    // Any count not seen before (not only a higher one): the count also includes unrelated
    // sites (loop bounds…), so opening one gate may come with one fewer elsewhere. There are
    // at most COUNT_FEATURES of these features, and length does not feed them.
    let n = n.min(COUNT_FEATURES - 1);
    if COUNTS_SEEN[n / 8].load(Relaxed) & (1 << (n % 8)) == 0 {
        PENDING_EQUAL.store(n, Relaxed);
    }
}

/// Whether the last execution made compare progress.
#[inline]
pub fn progressed() -> bool {
    VP_NEW.load(Relaxed) > 0 || PENDING_EQUAL.load(Relaxed) > 0
}

#[inline(always)]
fn record(pc: usize, a: u64, b: u64, width: u8) {
    if a == b {
        equal_at(pc);
        return;
    }
    if RECORDING.load(Relaxed) {
        store_pair(pc, a, b, width);
    }
}

/// Stores an operand pair in the table of recent compares (while recording).
fn store_pair(pc: usize, a: u64, b: u64, width: u8) {
    // One slot per call site (its latest operands): a loop's compare must not flood the
    // table with one pair per iteration.
    let h = (site(pc) >> 40) as usize;
    let slot = if width == 1 { TORC_LEN - BYTE_SLOTS + h % BYTE_SLOTS } else { h % (TORC_LEN - BYTE_SLOTS) };
    TORC.a[slot].store(a, Relaxed);
    TORC.b[slot].store(b, Relaxed);
    TORC.width[slot].store(width, Relaxed);
    if FILLED_INT.load(Relaxed) & (1 << slot) == 0 {
        FILLED_INT.fetch_or(1 << slot, Relaxed);
    }
}

/// A compare. Closeness features only for compares against a constant: between two
/// variables (loop counters, lengths) closeness is noise that fills the corpus with inputs
/// that differ only in length; those compares still feed input-to-state and the count of
/// equal sites.
#[inline(always)]
fn on_cmp<const CONST: bool>(pc: usize, a: u64, b: u64, width: u8) {
    if !ACTIVE.load(Relaxed) {
        return;
    }
    if CONST {
        profile(pc, u32::from(width) * 8 - (a ^ b).count_ones(), width == 8);
    }
    record(pc, a, b, width);
}

extern "C" fn cmp1(a: u8, b: u8, pc: usize) {
    on_cmp::<false>(pc, a.into(), b.into(), 1);
}
extern "C" fn cmp2(a: u16, b: u16, pc: usize) {
    on_cmp::<false>(pc, a.into(), b.into(), 2);
}
extern "C" fn cmp4(a: u32, b: u32, pc: usize) {
    on_cmp::<false>(pc, a.into(), b.into(), 4);
}
extern "C" fn cmp8(a: u64, b: u64, pc: usize) {
    on_cmp::<false>(pc, a, b, 8);
}
extern "C" fn const_cmp1(a: u8, b: u8, pc: usize) {
    on_cmp::<true>(pc, a.into(), b.into(), 1);
}
extern "C" fn const_cmp2(a: u16, b: u16, pc: usize) {
    on_cmp::<true>(pc, a.into(), b.into(), 2);
}
extern "C" fn const_cmp4(a: u32, b: u32, pc: usize) {
    on_cmp::<true>(pc, a.into(), b.into(), 4);
}
extern "C" fn const_cmp8(a: u64, b: u64, pc: usize) {
    on_cmp::<true>(pc, a, b, 8);
}

/// Byte switches (a `match` on a `u8`: a parser's dispatch, run once per input byte) are the
/// hottest hook, and what one does with a given value never changes: per hashed site, the
/// values *settled* — their closeness feature already committed, so nothing new can come of
/// them — and which of those matched a case. A settled value costs two bit tests instead of
/// a pass over every case. Values are settled only once committed: a feature seen first by an
/// input that was not kept must still count when it comes again.
const SW_SITES: usize = 1 << 11;
static SW_SETTLED: [[AtomicU64; 4]; SW_SITES] = [const { [const { AtomicU64::new(0) }; 4] }; SW_SITES];
static SW_MATCHED: [[AtomicU64; 4]; SW_SITES] = [const { [const { AtomicU64::new(0) }; 4] }; SW_SITES];
/// Measuring switch (`PROTOCRASH_DISABLE=switch-cache`): every byte switch takes the full pass.
static SW_CACHE: AtomicBool = AtomicBool::new(true);
/// Where the next recorded switch starts its window of cases (see `switch`).
static SW_TURN: AtomicUsize = AtomicUsize::new(0);
static SW_WINDOW: AtomicBool = AtomicBool::new(true);

/// Turns the byte-switch cache off (see `SW_SETTLED`).
pub fn disable_switch_cache() {
    SW_CACHE.store(false, Relaxed);
}

/// Records a switch's first eight cases only, every time (see `switch`).
pub fn disable_switch_window() {
    SW_WINDOW.store(false, Relaxed);
}

/// Notes equal operands for the first of the first 8 `cases` equal to `val` (as `record` does).
fn switch_equal(val: u64, cases: *const u64, n: u64, pc: usize) {
    for i in 0..n.min(8) as usize {
        // SAFETY: `i < count`, inside the table `switch` describes.
        if unsafe { *cases.add(2 + i) } == val {
            equal_at(pc.wrapping_add(i));
            return;
        }
    }
}

extern "C" fn switch(val: u64, cases: *const u64, pc: usize) {
    if !ACTIVE.load(Relaxed) || cases.is_null() {
        return;
    }
    // SAFETY: sancov passes `cases` = [count, bit width, case values…], a constant table.
    let (n, bits) = unsafe { (*cases, *cases.add(1)) };
    let width = (bits / 8).clamp(1, 8) as u8;
    let cached = width == 1 && val < 256 && !RECORDING.load(Relaxed) && SW_CACHE.load(Relaxed);
    let (slot, word, bit) = ((site(pc) >> 48) as usize % SW_SITES, (val / 64) as usize % 4, 1u64 << (val % 64));
    if cached && SW_SETTLED[slot][word].load(Relaxed) & bit != 0 {
        if SW_MATCHED[slot][word].load(Relaxed) & bit != 0 {
            switch_equal(val, cases, n, pc);
        }
        return;
    }
    let mut best = 0;
    let mut matched = false;
    let n = n.min(64) as usize;
    // Pairs for eight cases per recorded execution, eight more each time (sancov sorts the
    // cases, so always the first eight would never offer a parser's higher tags: ASN.1's
    // UTCTime, 0x17, is the thirteenth case of `simple_asn1`'s). Equal sites stay the first
    // eight cases', recording or not (a feature must not depend on sampling).
    let recording = RECORDING.load(Relaxed);
    let first = if n > 8 && recording && SW_WINDOW.load(Relaxed) { SW_TURN.fetch_add(8, Relaxed) % n } else { 0 };
    for i in 0..n {
        // SAFETY: `i < count`, inside the table described above.
        let case = unsafe { *cases.add(2 + i) };
        best = best.max(64 - (val ^ case).count_ones());
        matched |= case == val;
        if i < 8 && case == val {
            equal_at(pc.wrapping_add(i));
        } else if recording && case != val && (i + n - first) % n < 8 {
            store_pair(pc.wrapping_add(i), val, case, width);
        }
    }
    let committed = profile(pc, best, width == 8);
    if cached && committed {
        if matched {
            SW_MATCHED[slot][word].fetch_or(bit, Relaxed);
        }
        SW_SETTLED[slot][word].fetch_or(bit, Relaxed);
    }
}

fn mem_hook(a: *const u8, b: *const u8, n: usize, pc: usize) {
    let len = n.min(MEM_LEN);
    if len < 2 {
        return;
    }
    // SAFETY: the caller of memcmp/bcmp promises `n` readable bytes at both pointers.
    let (x, y) = unsafe { (std::slice::from_raw_parts(a, len), std::slice::from_raw_parts(b, len)) };
    let same = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    profile(pc, same as u32, true);
    if same == len {
        equal_at(pc);
        return;
    }
    if !RECORDING.load(Relaxed) {
        return;
    }
    let slot = (site(pc) >> 59) as usize % MEM_SLOTS;
    for i in 0..len {
        MEM.a[slot][i].store(x[i], Relaxed);
        MEM.b[slot][i].store(y[i], Relaxed);
    }
    MEM.len[slot].store(len as u8, Relaxed);
    if FILLED_MEM.load(Relaxed) & (1 << slot) == 0 {
        FILLED_MEM.fetch_or(1 << slot, Relaxed);
    }
}

type MemcmpFn = unsafe extern "C" fn(*const u8, *const u8, usize) -> i32;

fn real_memcmp() -> Option<MemcmpFn> {
    let mut f = REAL_MEMCMP.load(Relaxed);
    if f == 0 {
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name; it returns the C library's
        // memcmp (the next definition after this executable's), or null.
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"memcmp".as_ptr()) } as usize;
        REAL_MEMCMP.store(f, Relaxed);
    }
    // SAFETY: a non-null result of dlsym("memcmp") is the C library's memcmp.
    (f != 0).then(|| unsafe { std::mem::transmute::<usize, MemcmpFn>(f) })
}

extern "C" fn memcmp_hook(a: *const u8, b: *const u8, n: usize, pc: usize) -> i32 {
    if ACTIVE.load(Relaxed) {
        mem_hook(a, b, n, pc);
    }
    match real_memcmp() {
        // SAFETY: forwarded unchanged: the caller's pointers are valid for `n` bytes.
        Some(f) => unsafe { f(a, b, n) },
        None => {
            // SAFETY: as above.
            let (x, y) = unsafe { (std::slice::from_raw_parts(a, n), std::slice::from_raw_parts(b, n)) };
            x.iter().zip(y).find(|(p, q)| p != q).map_or(0, |(p, q)| i32::from(*p) - i32::from(*q))
        }
    }
}

/// Trampolines: pass the caller's return address as an extra last argument.
macro_rules! trampoline {
    ($name:ident, $target:ident, $x86_reg:literal, $arm_reg:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[unsafe(naked)]
        #[no_mangle]
        /// SanitizerCoverage / libc entry point (see the module docs).
        pub extern "C" fn $name() {
            core::arch::naked_asm!(concat!("mov ", $x86_reg, ", [rsp]"), "jmp {f}", f = sym $target);
        }
        #[cfg(target_arch = "aarch64")]
        #[unsafe(naked)]
        #[no_mangle]
        /// SanitizerCoverage / libc entry point (see the module docs).
        pub extern "C" fn $name() {
            core::arch::naked_asm!(concat!("mov ", $arm_reg, ", x30"), "b {f}", f = sym $target);
        }
    };
}

trampoline!(__sanitizer_cov_trace_cmp1, cmp1, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_cmp2, cmp2, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_cmp4, cmp4, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_cmp8, cmp8, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_const_cmp1, const_cmp1, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_const_cmp2, const_cmp2, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_const_cmp4, const_cmp4, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_const_cmp8, const_cmp8, "rdx", "x2");
trampoline!(__sanitizer_cov_trace_switch, switch, "rdx", "x2");
trampoline!(memcmp, memcmp_hook, "rcx", "x3");
trampoline!(bcmp, memcmp_hook, "rcx", "x3");

/// An operand pair from the tables of recent compares.
#[derive(Clone, Copy)]
pub enum Pair {
    /// Integer operands of `width` bytes.
    Int { a: u64, b: u64, width: u8 },
    /// Memory operands (`len` bytes each).
    Mem { a: [u8; MEM_LEN], b: [u8; MEM_LEN], len: usize },
}

/// Every recorded pair (integer tables, then memory tables).
pub fn snapshot(out: &mut Vec<Pair>) {
    out.clear();
    let ints = FILLED_INT.load(Relaxed);
    for slot in (0..TORC_LEN).filter(|s| ints & (1 << s) != 0) {
        let width = TORC.width[slot].load(Relaxed);
        out.push(Pair::Int { a: TORC.a[slot].load(Relaxed), b: TORC.b[slot].load(Relaxed), width });
    }
    let mems = FILLED_MEM.load(Relaxed);
    for slot in (0..MEM_SLOTS).filter(|s| mems & (1 << s) != 0) {
        out.push(mem_pair(slot));
    }
}

fn mem_pair(slot: usize) -> Pair {
    let len = MEM.len[slot].load(Relaxed) as usize;
    let mut a = [0u8; MEM_LEN];
    let mut b = [0u8; MEM_LEN];
    for i in 0..len {
        a[i] = MEM.a[slot][i].load(Relaxed);
        b[i] = MEM.b[slot][i].load(Relaxed);
    }
    Pair::Mem { a, b, len }
}

/// The `n`-th set bit of `mask` (`n < mask.count_ones()`).
fn nth_set_bit(mut mask: u64, n: u32) -> usize {
    for _ in 0..n {
        mask &= mask - 1;
    }
    mask.trailing_zeros() as usize
}

/// A random recorded pair, if any (`r` is a random number choosing table and slot).
pub fn pick(r: u64) -> Option<Pair> {
    let ints = FILLED_INT.load(Relaxed);
    let mems = u64::from(FILLED_MEM.load(Relaxed));
    // Memory compares are few and each is a whole token: give them a third of the picks.
    let use_mem = mems != 0 && (ints == 0 || r.is_multiple_of(3));
    let mask = if use_mem { mems } else { ints };
    if mask == 0 {
        return None;
    }
    let slot = nth_set_bit(mask, ((r >> 8) % u64::from(mask.count_ones())) as u32);
    if use_mem {
        Some(mem_pair(slot))
    } else {
        let width = TORC.width[slot].load(Relaxed);
        Some(Pair::Int { a: TORC.a[slot].load(Relaxed), b: TORC.b[slot].load(Relaxed), width })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nth_set_bit_walks_the_mask() {
        assert_eq!(super::nth_set_bit(0b1011_0000, 0), 4);
        assert_eq!(super::nth_set_bit(0b1011_0000, 1), 5);
        assert_eq!(super::nth_set_bit(0b1011_0000, 2), 7);
    }
}
