//! Havoc mutation: a short random stack of byte-level edits — bit and byte flips,
//! interesting 8/16/32/64-bit values in both byte orders, arithmetic, random bytes, block
//! insert/delete/duplicate/overwrite, splicing with another corpus entry, and two edits for
//! text and sizes: an ASCII integer changed in place (doubled, halved, ±k, negated, padded,
//! replaced by many random digits or a boundary value), runs of one repeated byte
//! inserted or written over (1 to thousands long: nesting depth, counters, run lengths), and
//! a short block repeated in place thousands of times (multi-byte nesting openers). Works in place
//! on a buffer whose capacity is reserved up front, so it does not allocate per execution.

use crate::rng::Rng;

const INTERESTING_8: [u8; 9] = [0x80, 0xff, 0, 1, 16, 32, 64, 100, 127];
const INTERESTING_16: [u16; 10] = [0x8000, 0xff7f, 128, 255, 256, 512, 1000, 1024, 4096, 0x7fff];
const INTERESTING_32: [u32; 8] =
    [0x8000_0000, 0xfa00_00fa, 0xffff_7fff, 0x8000, 0xffff, 0x1_0000, 0x05ff_ff05, 0x7fff_ffff];
const INTERESTING_64: [u64; 4] = [0x8000_0000_0000_0000, 0x7fff_ffff_ffff_ffff, u64::MAX, 0x1_0000_0000];

/// Number of distinct edit kinds.
const OPS: usize = 18;

/// Mechanisms that can be turned off, one bit each, to measure what each one brings (the
/// control runs of tests/depth.rs; `PROTOCRASH_DISABLE=name,name`).
pub mod switch {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The block-repeat edit (`repeat_block`).
    pub const BLOCK_REPEAT: u32 = 1;
    /// The ASCII-integer edit (`ascii_integer`).
    pub const ASCII_INTEGER: u32 = 2;
    /// The byte-run edit (`byte_run`).
    pub const BYTE_RUN: u32 = 4;
    /// The length limit's ramp driven by executions (`len_ramp` in the fuzzer).
    pub const LEN_RAMP: u32 = 8;
    /// The character probe of a new entry's stage (`char_probe` in the fuzzer).
    pub const CHAR_PROBE: u32 = 16;
    /// The input-to-state stage's length-field candidate (`length_field_target`).
    pub const LENGTH_FIELD: u32 = 32;
    /// Stage order: entries that grew the edges before those that only brought a compare
    /// closer (the fuzzer's `stage_queue`).
    pub const EDGES_FIRST: u32 = 64;

    static OFF: AtomicU32 = AtomicU32::new(0);

    /// Whether `bit` is on.
    #[inline]
    pub fn on(bit: u32) -> bool {
        OFF.load(Ordering::Relaxed) & bit == 0
    }

    pub(super) fn turn_off(bit: u32) {
        OFF.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Turns off, for this process, the mechanisms named in `list` (comma-separated:
/// `block-repeat`, `ascii-integer`, `byte-run`, `len-ramp`, `char-probe`, `length-field`,
/// `edges-first`, `switch-cache`, `switch-window`): a switch for measuring what each one
/// brings. Unknown names are ignored.
pub fn disable(list: &str) {
    for name in list.split(',').map(str::trim) {
        match name {
            "block-repeat" => switch::turn_off(switch::BLOCK_REPEAT),
            "ascii-integer" => switch::turn_off(switch::ASCII_INTEGER),
            "byte-run" => switch::turn_off(switch::BYTE_RUN),
            "len-ramp" => switch::turn_off(switch::LEN_RAMP),
            "char-probe" => switch::turn_off(switch::CHAR_PROBE),
            "length-field" => switch::turn_off(switch::LENGTH_FIELD),
            "edges-first" => switch::turn_off(switch::EDGES_FIRST),
            "switch-cache" => crate::cmp::disable_switch_cache(),
            "switch-window" => crate::cmp::disable_switch_window(),
            _ => {}
        }
    }
}

/// Applies 1, 2, 4 … 2^(depth-1) random edits to `buf`, never growing it past `max_len`
/// (an entry already longer, kept while the length limit was higher, may stay that long).
/// `other` is another corpus entry for splicing (may be empty).
pub fn havoc(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize, other: &[u8], depth: u32) {
    let start = buf.len();
    let stack = 1 << rng.below(depth as usize);
    for _ in 0..stack {
        edit(buf, rng, max_len, other);
    }
    debug_assert!(buf.len() <= max_len.max(start), "{} > max({max_len}, {start})", buf.len());
}

fn edit(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize, other: &[u8]) {
    if buf.is_empty() {
        insert_bytes(buf, rng, max_len, other);
        return;
    }
    let len = buf.len();
    match rng.below(OPS) {
        0 => {
            let i = rng.below(len * 8);
            buf[i / 8] ^= 1 << (i % 8);
        }
        1 => {
            let i = rng.below(len);
            buf[i] = pick(rng, &INTERESTING_8);
        }
        2 => {
            let v = u64::from(pick(rng, &INTERESTING_16));
            put_word(buf, rng, 2, v)
        }
        3 => {
            let v = u64::from(pick(rng, &INTERESTING_32));
            put_word(buf, rng, 4, v)
        }
        4 => {
            let v = pick(rng, &INTERESTING_64);
            put_word(buf, rng, 8, v)
        }
        5 => {
            let i = rng.below(len);
            let delta = 1 + rng.below(35) as u8;
            buf[i] = if rng.one_in(2) { buf[i].wrapping_add(delta) } else { buf[i].wrapping_sub(delta) };
        }
        6 => add_word(buf, rng, 2),
        7 => add_word(buf, rng, 4),
        8 => add_word(buf, rng, 8),
        9 => {
            let i = rng.below(len);
            buf[i] = rng.next() as u8;
        }
        10 => {
            // Delete a block (keep at least one byte).
            if len > 1 {
                let n = block_size(len - 1, rng);
                let at = rng.below(len - n + 1);
                buf.drain(at..at + n);
            }
        }
        11 => insert_bytes(buf, rng, max_len, other),
        12 => {
            // Duplicate a block of the input inside itself.
            if len < max_len {
                let n = block_size(len, rng).min(max_len - len);
                let from = rng.below(len - n + 1);
                let at = rng.below(len + 1);
                buf.extend_from_within(from..from + n);
                buf[at..].rotate_right(n);
            }
        }
        13 => {
            // Overwrite a block with a copy of another part.
            let n = block_size(len, rng);
            let from = rng.below(len - n + 1);
            let to = rng.below(len - n + 1);
            buf.copy_within(from..from + n, to);
        }
        14 => splice(buf, rng, max_len, other),
        16 if switch::on(switch::ASCII_INTEGER) => ascii_integer(buf, rng, max_len),
        17 if switch::on(switch::BYTE_RUN) => byte_run(buf, rng, max_len),
        _ => {
            // Overwrite with a block of another input.
            if !other.is_empty() {
                let n = block_size(len.min(other.len()), rng);
                let from = rng.below(other.len() - n + 1);
                let to = rng.below(len - n + 1);
                buf[to..to + n].copy_from_slice(&other[from..from + n]);
            }
        }
    }
}

/// A block size in `1..=limit` that favours small blocks: half the time up to 4 bytes, a
/// quarter up to 32, a quarter up to the whole input.
fn block_size(limit: usize, rng: &mut Rng) -> usize {
    let cap = match rng.below(4) {
        0 | 1 => 4,
        2 => 32,
        _ => limit,
    };
    1 + rng.below(cap.clamp(1, limit.max(1)))
}

fn pick<T: Copy>(rng: &mut Rng, values: &[T]) -> T {
    values[rng.below(values.len())]
}

fn put_word(buf: &mut [u8], rng: &mut Rng, width: usize, value: u64) {
    if buf.len() < width {
        return;
    }
    let at = rng.below(buf.len() - width + 1);
    let bytes = if rng.one_in(2) { value.to_le_bytes() } else { (value << (64 - 8 * width)).to_be_bytes() };
    buf[at..at + width].copy_from_slice(&bytes[..width]);
}

fn add_word(buf: &mut [u8], rng: &mut Rng, width: usize) {
    if buf.len() < width {
        return;
    }
    let at = rng.below(buf.len() - width + 1);
    let big_endian = rng.one_in(2);
    let v = read_word(&buf[at..at + width], big_endian);
    let delta = 1 + rng.below(35) as u64;
    let v = if rng.one_in(2) { v.wrapping_add(delta) } else { v.wrapping_sub(delta) };
    let mut out = v.to_le_bytes();
    if big_endian {
        out[..width].reverse();
    }
    buf[at..at + width].copy_from_slice(&out[..width]);
}

/// The number up to 8 `bytes` hold, in either byte order.
fn read_word(bytes: &[u8], big_endian: bool) -> u64 {
    let mut raw = [0u8; 8];
    raw[..bytes.len()].copy_from_slice(bytes);
    if big_endian {
        raw[..bytes.len()].reverse();
    }
    u64::from_le_bytes(raw)
}

fn insert_bytes(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize, other: &[u8]) {
    let len = buf.len();
    if len >= max_len {
        return;
    }
    let n = block_size(16, rng).min(max_len - len);
    let at = rng.below(len + 1);
    match rng.below(3) {
        0 => {
            let b = rng.next() as u8;
            buf.extend(std::iter::repeat_n(b, n));
        }
        1 if !other.is_empty() => {
            let n = n.min(other.len());
            let from = rng.below(other.len() - n + 1);
            buf.extend_from_slice(&other[from..from + n]);
        }
        _ => {
            for _ in 0..n {
                buf.push(rng.next() as u8);
            }
        }
    }
    let added = buf.len() - len;
    buf[at..].rotate_right(added);
}

/// Decimal strings at the edges of the integer types (and one past them).
const BOUNDARY_NUMBERS: [&[u8]; 10] = [
    b"0",
    b"-1",
    b"127",
    b"255",
    b"65536",
    b"2147483648",
    b"4294967296",
    b"9223372036854775808",
    b"18446744073709551616",
    b"340282366920938463463374607431768211456",
];

/// Changes an ASCII decimal integer of the input in place — the one found from a random
/// position on, or (none there) one inserted: the number, parsed as far as it fits in a
/// u128, is doubled, halved, moved by ±k, negated, padded with zeros, given many more
/// digits, or replaced by random digits or a boundary value.
fn ascii_integer(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize) {
    let from = rng.below(buf.len());
    let Some(start) = buf[from..].iter().position(u8::is_ascii_digit).map(|i| from + i) else {
        // No number after this point: write one in.
        let mut digits = [0u8; 40];
        let n = random_digits(&mut digits, rng);
        splice_in(buf, rng.below(buf.len() + 1), 0, &digits[..n], max_len);
        return;
    };
    let end = buf[start..].iter().position(|b| !b.is_ascii_digit()).map_or(buf.len(), |i| start + i);
    let value =
        buf[start..end].iter().try_fold(0u128, |v, &d| v.checked_mul(10)?.checked_add(u128::from(d - b'0')));
    let negative = start > 0 && buf[start - 1] == b'-';
    let mut out = [0u8; 48];
    let n = match (rng.below(8), value) {
        (0, Some(v)) => write_decimal(&mut out, v.saturating_mul(2)),
        (1, Some(v)) => write_decimal(&mut out, v / 2),
        (2, Some(v)) => {
            let k = 1 + rng.below(1000) as u128;
            write_decimal(&mut out, if rng.one_in(2) { v.saturating_add(k) } else { v.saturating_sub(k) })
        }
        (3, _) => {
            // Sign: drop a '-' before the number, or put one there.
            if negative {
                buf.remove(start - 1);
            } else {
                splice_in(buf, start, 0, b"-", max_len);
            }
            return;
        }
        (4, _) => {
            // Leading zeros.
            let zeros = [b'0'; 16];
            splice_in(buf, start, 0, &zeros[..1 + rng.below(16)], max_len);
            return;
        }
        (5, _) => {
            // Many more digits: past every fixed-width integer.
            let mut more = [0u8; 40];
            let n = random_digits(&mut more, rng);
            splice_in(buf, end, 0, &more[..n], max_len);
            return;
        }
        (6, _) => {
            let b = pick(rng, &BOUNDARY_NUMBERS);
            out[..b.len()].copy_from_slice(b);
            b.len()
        }
        _ => random_digits(&mut out, rng),
    };
    splice_in(buf, start, end - start, &out[..n], max_len);
}

/// Random decimal digits, 1 to 40 of them (as many long ones as short): returns the count.
fn random_digits(out: &mut [u8], rng: &mut Rng) -> usize {
    let n = if rng.one_in(2) { 1 + rng.below(4) } else { 1 + rng.below(out.len().min(40)) };
    out[0] = b'1' + rng.below(9) as u8;
    for d in &mut out[1..n] {
        *d = b'0' + rng.below(10) as u8;
    }
    n
}

/// `v` in decimal at the start of `out`; returns its length.
fn write_decimal(out: &mut [u8; 48], mut v: u128) -> usize {
    let mut tmp = [0u8; 48];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

/// Replaces `buf[at..at + remove]` with `with`, unless that would pass `max_len`.
fn splice_in(buf: &mut Vec<u8>, at: usize, remove: usize, with: &[u8], max_len: usize) {
    if buf.len() - remove + with.len() > max_len.max(buf.len()) {
        return;
    }
    buf.splice(at..at + remove, with.iter().copied());
}

/// A run of one byte, inserted or written over the input: the byte is one of the input's
/// (most often), a random one, or 0/0xff; the length is log-uniform from 1 to 8,192 (capped
/// by the room left), so runs of 255, 256 or 3,000 come up as often as runs of 3.
fn byte_run(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize) {
    let len = buf.len();
    let byte = match rng.below(4) {
        0 | 1 => buf[rng.below(len)],
        2 => rng.next() as u8,
        _ => pick(rng, &[0u8, 0xff]),
    };
    let bits = 1 + rng.below(13);
    let run = (1usize << (bits - 1)) + rng.below(1 << (bits - 1));
    let at = rng.below(len + 1);
    if rng.one_in(3) {
        // Overwrite from `at` on (growing the input if the run goes past its end).
        let n = run.min(max_len.max(len).saturating_sub(at));
        let end = at + n;
        if end > len {
            buf.resize(end, byte);
        }
        buf[at..end].fill(byte);
    } else {
        let n = run.min(max_len.saturating_sub(len));
        if n == 0 {
            return;
        }
        buf.splice(at..at, std::iter::repeat_n(byte, n));
    }
}

/// A short block of the input (1 to 16 bytes: a nesting opener such as `{"k":` or `<a>`, a
/// record) repeated in place, log-uniformly 1 to 4,096 more times (capped by the room
/// left): nesting depth grows by thousands in one edit instead of one level per mutation.
///
/// Not one of havoc's stacked edits: its inputs are long and slow to run, so the fuzzer
/// applies it alone, to one mutation in `BLOCK_REPEAT_ONE_IN` (measured: as a havoc edit it
/// cost `fast` a quarter of its executions per second).
pub fn repeat_block(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize) {
    if !switch::on(switch::BLOCK_REPEAT) || buf.is_empty() {
        return;
    }
    let len = buf.len();
    let n = 1 + rng.below(len.min(16));
    let room = max_len.saturating_sub(len) / n;
    if room == 0 {
        return;
    }
    let from = rng.below(len - n + 1);
    let bits = 1 + rng.below(12);
    let copies = ((1usize << (bits - 1)) + rng.below(1 << (bits - 1))).min(room);
    let end = from + n;
    buf.resize(len + n * copies, 0);
    buf.copy_within(end..len, end + n * copies);
    for i in 0..copies {
        buf.copy_within(from..end, end + i * n);
    }
}

/// Crossover: keep a prefix of `buf`, append a suffix of `other`.
fn splice(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize, other: &[u8]) {
    if other.is_empty() {
        return;
    }
    let cut = rng.below(buf.len() + 1);
    let from = rng.below(other.len());
    buf.truncate(cut);
    let room = max_len.saturating_sub(buf.len());
    let take = (other.len() - from).min(room);
    buf.extend_from_slice(&other[from..from + take]);
}

/// Input-to-state replacement: where one operand of a recorded compare appears in the input
/// (little- or big-endian, at its own width or a narrower one it fits, or off by one), write
/// the other operand there. Returns the bytes written, or `None` if the operand is not in
/// the input.
pub fn replace_compare<'a>(
    buf: &mut [u8],
    rng: &mut Rng,
    pair: &'a crate::cmp::Pair,
    scratch: &'a mut [u8; 32],
) -> Option<&'a [u8]> {
    match pair {
        crate::cmp::Pair::Int { a, b, width } => {
            let (from, to) = if rng.one_in(2) { (*a, *b) } else { (*b, *a) };
            let delta = [0u64, 1, u64::MAX][rng.below(3)];
            let (from, to) = (from.wrapping_add(delta), to.wrapping_add(delta));
            let fits = |w: usize| w == 8 || (from >> (8 * w) == 0 && to >> (8 * w) == 0);
            let widths = [8usize, 4, 2, 1];
            let mut w = usize::from(*width);
            // Sometimes a narrower width the values fit in (a u64 compare of a u16 field).
            if rng.one_in(2) {
                if let Some(&narrow) = widths.iter().rfind(|&&x| x < w && fits(x)) {
                    w = narrow;
                }
            }
            if !fits(w) {
                return None;
            }
            let big = rng.one_in(2);
            let enc = |v: u64, out: &mut [u8]| {
                if big {
                    out[..w].copy_from_slice(&v.to_be_bytes()[8 - w..]);
                } else {
                    out[..w].copy_from_slice(&v.to_le_bytes()[..w]);
                }
            };
            let mut pat = [0u8; 8];
            enc(from, &mut pat);
            enc(to, &mut scratch[..]);
            let at = find_random(buf, &pat[..w], rng)?;
            buf[at..at + w].copy_from_slice(&scratch[..w]);
            Some(&scratch[..w])
        }
        crate::cmp::Pair::Mem { a, b, len } => {
            let (from, to) = if rng.one_in(2) { (&a[..*len], &b[..*len]) } else { (&b[..*len], &a[..*len]) };
            let at = find_random(buf, from, rng)?;
            buf[at..at + len].copy_from_slice(to);
            scratch[..*len].copy_from_slice(to);
            Some(&scratch[..*len])
        }
    }
}

/// One way to write a compare's wanted operand where the other one stands in an input.
pub struct Form {
    /// The bytes to look for (the operand the input holds, in this form).
    pub from: [u8; 32],
    /// The bytes to write there instead.
    pub to: [u8; 32],
    pub width: usize,
    /// Whether it comes from an integer compare (not a memory one).
    pub int: bool,
}

/// Every (pattern, replacement) form of a compare's operands worth trying in an input:
/// both directions, off by -1/0/+1, each width both values fit in, both byte orders.
pub fn replacement_forms(pair: &crate::cmp::Pair, out: &mut Vec<Form>) {
    out.clear();
    match pair {
        crate::cmp::Pair::Int { a, b, width } => {
            for (from, to) in [(*a, *b), (*b, *a)] {
                for delta in [0u64, 1, u64::MAX] {
                    let (from, to) = (from.wrapping_add(delta), to.wrapping_add(delta));
                    for w in [8usize, 4, 2, 1] {
                        let fits = w == 8 || (from >> (8 * w) == 0 && to >> (8 * w) == 0);
                        if w > usize::from(*width) || !fits {
                            continue;
                        }
                        for big in [false, true] {
                            if big && w == 1 {
                                continue;
                            }
                            let (mut p, mut q) = ([0u8; 32], [0u8; 32]);
                            if big {
                                p[..w].copy_from_slice(&from.to_be_bytes()[8 - w..]);
                                q[..w].copy_from_slice(&to.to_be_bytes()[8 - w..]);
                            } else {
                                p[..w].copy_from_slice(&from.to_le_bytes()[..w]);
                                q[..w].copy_from_slice(&to.to_le_bytes()[..w]);
                            }
                            out.push(Form { from: p, to: q, width: w, int: true });
                        }
                    }
                }
            }
        }
        crate::cmp::Pair::Mem { a, b, len } => {
            out.push(Form { from: *a, to: *b, width: *len, int: false });
            out.push(Form { from: *b, to: *a, width: *len, int: false });
        }
    }
}

/// The length a length field at `at` in `input` asks for, when writing `to` over `from`
/// there (an integer compare's forms, `width` bytes) makes it one the input is too short to
/// hold: the field held a length of what follows it (no more than follows) and is to hold
/// one that does not fit (a TLV parser that checks `body.len() == 13` needs 13 bytes behind
/// the field before the check is even reached). Either byte order: compilers fold a
/// `from_be_bytes` into a byte-swapped constant, so a compare's value is not always the
/// number the input holds. Not a field that held 0: zeros are everywhere (they made most of
/// the false candidates on a JSON parser, and on a DNS parser, whose zero counts are fields
/// but not lengths, taking them doubled the median time to its bug). The input's new length, at most `max_len`; None when the replacement does
/// not look like that.
pub fn length_field_target(input: &[u8], at: usize, width: usize, from: &[u8], to: &[u8], max_len: usize) -> Option<usize> {
    let rest = input.len().checked_sub(at + width)? as u64;
    [false, true].into_iter().find_map(|big| {
        let (found, wanted) = (read_word(&from[..width], big), read_word(&to[..width], big));
        let need = (at + width) as u64 + wanted;
        (found > 0 && found <= rest && wanted > rest && wanted <= LENGTH_FIELD_MAX && need <= max_len as u64)
            .then_some(need as usize)
    })
}

/// The largest length a length-field replacement grows an input to hold (a compare with a
/// big constant is rarely a length, and a long input makes every later execution dearer).
const LENGTH_FIELD_MAX: u64 = 4096;

/// Where each byte value occurs in an input, for the input-to-state stage: it looks up
/// hundreds of operand forms in the same input, most of which are not there, and a scan of
/// the whole input per form was most of a campaign's time on a real parser (measured: 46 %
/// of CPU on `real`). With the index, a form whose first byte is absent costs nothing and one
/// that is there costs its candidate positions.
pub struct ByteIndex {
    /// Positions of byte `b` are `pos[starts[b]..starts[b + 1]]`, in increasing order.
    starts: [u32; 257],
    pos: Vec<u32>,
}

/// Most candidate positions one lookup checks (a pattern starting with the input's most
/// common byte must not cost a scan of a long input either).
const MAX_CANDIDATES: usize = 4096;

impl ByteIndex {
    /// Indexes `buf` (at most 4 GiB).
    pub fn new(buf: &[u8]) -> ByteIndex {
        let mut starts = [0u32; 257];
        for &b in buf {
            starts[b as usize + 1] += 1;
        }
        for i in 1..257 {
            starts[i] += starts[i - 1];
        }
        let mut next = starts;
        let mut pos = vec![0u32; buf.len()];
        for (i, &b) in buf.iter().enumerate() {
            pos[next[b as usize] as usize] = i as u32;
            next[b as usize] += 1;
        }
        ByteIndex { starts, pos }
    }

    /// Positions where `pat` occurs in `buf` (the input indexed), at most `max`, in order.
    pub fn occurrences(&self, buf: &[u8], pat: &[u8], max: usize, out: &mut Vec<usize>) {
        out.clear();
        let Some((&first, rest)) = pat.split_first() else { return };
        let (lo, hi) = (self.starts[first as usize] as usize, self.starts[first as usize + 1] as usize);
        for &i in self.pos[lo..hi].iter().take(MAX_CANDIDATES) {
            let i = i as usize;
            if i + pat.len() > buf.len() {
                break;
            }
            if rest.iter().zip(&buf[i + 1..]).all(|(x, y)| x == y) {
                out.push(i);
                if out.len() == max {
                    return;
                }
            }
        }
    }
}

/// A random occurrence of `pat` in `buf`.
///
/// Compares by hand, first byte first: a slice `==` here would call `bcmp`, which in a
/// harness is the runtime's own compare hook (a trampoline and an indirect call per window).
fn find_random(buf: &[u8], pat: &[u8], rng: &mut Rng) -> Option<usize> {
    let (&first, rest) = pat.split_first()?;
    if buf.len() < pat.len() {
        return None;
    }
    // Long inputs: search a random 4 KiB window, so the cost does not grow with the input.
    const WINDOW: usize = 4096;
    let last = buf.len() - pat.len();
    let start = if last > WINDOW { rng.below(last - WINDOW + 1) } else { 0 };
    let end = last.min(start + WINDOW);
    let mut found = None;
    let mut seen = 0;
    for i in start..=end {
        if buf[i] == first && rest.iter().zip(&buf[i + 1..]).all(|(a, b)| a == b) {
            seen += 1;
            if rng.below(seen) == 0 {
                found = Some(i);
            }
        }
    }
    found
}

/// Inserts `token` at a random place, or overwrites with it (dictionary use).
pub fn put_token(buf: &mut Vec<u8>, rng: &mut Rng, max_len: usize, token: &[u8]) {
    if token.is_empty() || token.len() > max_len {
        return;
    }
    if buf.len() >= token.len() && (rng.one_in(2) || buf.len() + token.len() > max_len) {
        let at = rng.below(buf.len() - token.len() + 1);
        buf[at..at + token.len()].copy_from_slice(token);
    } else {
        let at = rng.below(buf.len() + 1);
        buf.extend_from_slice(token);
        buf[at..].rotate_right(token.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_field_grows_the_input_only_when_it_looks_like_one() {
        let target = |input: &[u8], at, width, from: u64, to: u64, max_len| {
            let (f, t) = (from.to_le_bytes(), to.to_le_bytes());
            length_field_target(input, at, width, &f, &t, max_len)
        };
        // 17 03 a b c d e f: a length byte at 1 holding 3 of the 6 bytes behind it; the
        // compare wants 13: the input must reach 2 + 13 bytes.
        let tlv = b"\x17\x03abcdef";
        assert_eq!(target(tlv, 1, 1, 3, 13, 65536), Some(15));
        // Already long enough: the plain replacement does it.
        assert_eq!(target(&[0x17, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], 1, 1, 3, 13, 65536), None);
        // What the field held does not fit behind it: not a length.
        assert_eq!(target(b"\x17\x07abcdef", 1, 1, 7, 13, 65536), None);
        // Past --max-len, or a big constant: left alone.
        assert_eq!(target(tlv, 1, 1, 3, 13, 12), None);
        assert_eq!(target(b"\x17\x03\x00abcdef", 1, 2, 3, 60000, 1 << 20), None);
        // A big-endian field the compiler compares byte-swapped: 07 | 00 01 | 80 with the
        // constant 0xe803 (1000 big-endian, read little-endian): a length of 1000.
        assert_eq!(target(&[7, 0, 1, 0x80], 1, 2, 0x100, 0xe803, 65536), Some(1003));
        // Zero is no evidence of a length.
        assert_eq!(target(&[7, 0, 0, 0x80], 1, 2, 0, 0xe803, 65536), None);
    }

    #[test]
    fn the_byte_index_finds_what_a_scan_finds() {
        let mut rng = Rng::new(9);
        for len in [0usize, 1, 5, 64, 1000] {
            let buf: Vec<u8> = (0..len).map(|_| b"ab\x00c"[rng.below(4)]).collect();
            let index = ByteIndex::new(&buf);
            for pat in [&b"a"[..], b"ab", b"b\x00c", b"zz", b"", b"abab"] {
                let naive: Vec<usize> = if pat.is_empty() || buf.len() < pat.len() {
                    Vec::new()
                } else {
                    (0..=buf.len() - pat.len()).filter(|&i| &buf[i..i + pat.len()] == pat).take(8).collect()
                };
                let mut got = Vec::new();
                index.occurrences(&buf, pat, 8, &mut got);
                assert_eq!(got, naive, "len {len}, pattern {pat:?}");
            }
        }
    }

    #[test]
    fn never_exceeds_max_len_and_is_deterministic() {
        for max in [1usize, 2, 7, 64, 300] {
            let mut rng = Rng::new(max as u64);
            let mut twin = Rng::new(max as u64);
            let other: Vec<u8> = (0..500u32).map(|i| i as u8).collect();
            let mut buf = Vec::with_capacity(max);
            let mut copy = Vec::with_capacity(max);
            for _ in 0..20_000 {
                havoc(&mut buf, &mut rng, max, &other, 4);
                havoc(&mut copy, &mut twin, max, &other, 4);
                assert!(buf.len() <= max, "len {} > {max}", buf.len());
                assert_eq!(buf, copy);
            }
        }
    }

    #[test]
    fn input_to_state_finds_the_operand_in_either_byte_order() {
        use crate::cmp::Pair;
        let pair = Pair::Int { a: 0x0102_0304, b: 0x4142_4344, width: 4 };
        let mut hits = 0;
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let mut buf = b"xx\x04\x03\x02\x01yy".to_vec();
            let mut scratch = [0u8; 32];
            if replace_compare(&mut buf, &mut rng, &pair, &mut scratch).is_some() {
                assert_eq!(&buf[2..6], b"\x44\x43\x42\x41");
                hits += 1;
            }
        }
        assert!(hits > 10, "{hits}");
    }

    #[test]
    fn tokens_stay_within_max_len() {
        let mut rng = Rng::new(1);
        let mut buf = Vec::new();
        for _ in 0..100 {
            put_token(&mut buf, &mut rng, 20, b"KEYWORD");
            assert!(buf.len() <= 20);
        }
        assert!(buf.windows(7).any(|w| w == b"KEYWORD"));
    }

    #[test]
    fn ascii_integers_are_changed_in_place_and_grow_past_u64() {
        let mut rng = Rng::new(7);
        let (mut longest, mut changed) = (0, 0);
        for _ in 0..2000 {
            let mut buf = b"size=1234;".to_vec();
            ascii_integer(&mut buf, &mut rng, 64);
            assert!(buf.len() <= 64);
            if buf != b"size=1234;" {
                changed += 1;
            }
            let digits = buf.iter().filter(|b| b.is_ascii_digit()).count();
            longest = longest.max(digits);
            if buf.starts_with(b"size=") && buf.ends_with(b";") && buf != b"size=1234;" {
                let n = &buf[5..buf.len() - 1];
                assert!(n.iter().all(|b| b.is_ascii_digit() || *b == b'-'), "{:?}", String::from_utf8_lossy(&buf));
            }
        }
        assert!(changed > 1800, "{changed}");
        assert!(longest >= 20, "numbers past u64::MAX come up: {longest}");
        let mut out = [0u8; 48];
        let n = write_decimal(&mut out, u128::from(u64::MAX) + 1);
        assert_eq!(&out[..n], b"18446744073709551616");
    }

    #[test]
    fn byte_runs_reach_hundreds_and_thousands_within_max_len() {
        let mut rng = Rng::new(3);
        let mut seen_255 = false;
        let mut seen_2600 = false;
        for _ in 0..4000 {
            let mut buf = b"RUN:x".to_vec();
            byte_run(&mut buf, &mut rng, 8192);
            assert!(buf.len() <= 8192);
            let mut best = 0;
            let mut cur = 0;
            for w in buf.windows(2) {
                cur = if w[0] == w[1] { cur + 1 } else { 0 };
                best = best.max(cur + 1);
            }
            seen_255 |= (255..1024).contains(&best);
            seen_2600 |= best >= 2600;
        }
        assert!(seen_255 && seen_2600);
    }

    #[test]
    fn repeated_blocks_nest_thousands_deep_within_max_len() {
        let mut rng = Rng::new(5);
        let mut deepest = 0;
        for _ in 0..4000 {
            let mut buf = br#"{"k":1}"#.to_vec();
            repeat_block(&mut buf, &mut rng, 32 << 10);
            assert!(buf.len() <= 32 << 10);
            assert!(buf.ends_with(b"1}") || buf.ends_with(b"}"), "the tail is kept: {:?}", &buf[buf.len() - 2..]);
            let depth = buf.windows(5).filter(|w| w == br#"{"k":"#).count();
            deepest = deepest.max(depth);
        }
        assert!(deepest > 3000, "deepest nesting {deepest}");
        let mut full = vec![7u8; 100];
        repeat_block(&mut full, &mut rng, 100);
        assert_eq!(full.len(), 100, "no room, no change");
    }

    #[test]
    fn reaches_many_different_outputs_from_one_input() {
        let mut rng = Rng::new(3);
        let seed = b"hello world".to_vec();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let mut b = seed.clone();
            havoc(&mut b, &mut rng, 64, b"OTHER", 4);
            seen.insert(b);
        }
        assert!(seen.len() > 1500, "only {} distinct mutants", seen.len());
    }
}
