//! Small pieces several runtime modules share: wall-clock milliseconds and atomic writes
//! (both the protocol crate's, so CLI and runtime write and time alike), and the runtime's
//! 64-bit hash.

pub use protocrash_proto::files::write_atomic;
pub use protocrash_proto::time::now_ms;

/// The coarse monotonic clock in microseconds: a read of the kernel's vDSO page, about 5 ns
/// (the time-stamp counter cost six times that per execution on the benchmark machine),
/// with the kernel tick's resolution (1–4 ms). Enough to tell an execution that took
/// milliseconds from the microsecond ones, which is all the scheduler asks of it.
#[inline(always)]
pub fn coarse_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE always exists on
    // Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// A 64-bit FNV-1a hash: entry ids, token ids and build ids (never 0, which means "none").
pub fn hash64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fnv1a_and_never_zero() {
        assert_eq!(hash64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(hash64(b"anything"), 0);
    }
}
