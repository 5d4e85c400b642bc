//! Small pieces several runtime modules share: wall-clock milliseconds and atomic writes
//! (both the protocol crate's, so CLI and runtime write and time alike), and the runtime's
//! 64-bit hash.

pub use protocrash_proto::files::write_atomic;
pub use protocrash_proto::time::now_ms;

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
