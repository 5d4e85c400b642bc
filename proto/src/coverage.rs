//! Layout of a worker's `coverage` file — a 64-byte header then one byte per instrumented
//! edge holding the hit-count buckets ever seen there — and the bucketing itself, shared so
//! the master, minimize and the runtime count edges the same way.

/// First 8 header bytes.
pub const COVERAGE_MAGIC: [u8; 8] = *b"PCCOVMAP";
/// Layout version.
pub const COVERAGE_VERSION: u32 = 1;
/// Header size; the map starts here (64 keeps the map cache-line aligned in the mapping).
pub const COVERAGE_HEADER: usize = 64;

/// The header of a coverage file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoverageHeader {
    /// Number of edges (map bytes after the header).
    pub map_len: u64,
    /// Identity of the harness build that wrote the map; a map from another build is stale.
    pub build_id: u64,
}

impl CoverageHeader {
    /// Encodes into the first [`COVERAGE_HEADER`] bytes.
    pub fn encode(&self) -> [u8; COVERAGE_HEADER] {
        let mut out = [0u8; COVERAGE_HEADER];
        out[..8].copy_from_slice(&COVERAGE_MAGIC);
        out[8..12].copy_from_slice(&COVERAGE_VERSION.to_le_bytes());
        out[16..24].copy_from_slice(&self.map_len.to_le_bytes());
        out[24..32].copy_from_slice(&self.build_id.to_le_bytes());
        out
    }

    /// Decodes a header, refusing foreign files and other versions.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < COVERAGE_HEADER || bytes[..8] != COVERAGE_MAGIC {
            return Err("not a protocrash coverage file".into());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != COVERAGE_VERSION {
            return Err(format!("coverage layout {version}, this protocrash reads {COVERAGE_VERSION}"));
        }
        Ok(CoverageHeader {
            map_len: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
            build_id: u64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes")),
        })
    }
}

/// Maps a raw 8-bit hit counter to its bucket bit: 1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128+.
pub const BUCKET: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 1;
    while i < 256 {
        t[i] = match i {
            1 => 1,
            2 => 2,
            3 => 4,
            4..=7 => 8,
            8..=15 => 16,
            16..=31 => 32,
            32..=127 => 64,
            _ => 128,
        };
        i += 1;
    }
    t
};

/// Edges covered in a map of bucket bytes.
pub fn count_edges(map: &[u8]) -> u64 {
    map.iter().filter(|&&b| b != 0).count() as u64
}

/// ORs the bucket map `map` into `union`, growing it to fit (maps of one build have one
/// length; a shorter map must not truncate the union). The campaign's edges are the union's,
/// never a sum over workers.
pub fn union_into(union: &mut Vec<u8>, map: &[u8]) {
    if union.len() < map.len() {
        union.resize(map.len(), 0);
    }
    for (u, &b) in union.iter_mut().zip(map) {
        *u |= b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_is_an_or_not_a_sum() {
        let a = [1u8, 0, 4, 0];
        let b = [1u8, 2, 0];
        let mut u = Vec::new();
        union_into(&mut u, &a);
        union_into(&mut u, &b);
        assert_eq!(u, vec![1, 2, 4, 0]);
        assert_eq!(count_edges(&u), 3, "two workers sharing an edge count it once");
        let mut shorter = vec![0u8; 1];
        union_into(&mut shorter, &a);
        assert_eq!(shorter, a, "grows to the longer map");
    }

    #[test]
    fn header_round_trips() {
        let h = CoverageHeader { map_len: 1234, build_id: 0xdead_beef };
        assert_eq!(CoverageHeader::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn foreign_or_short_header_is_refused() {
        assert!(CoverageHeader::decode(b"short").is_err());
        let mut bytes = CoverageHeader { map_len: 1, build_id: 1 }.encode();
        bytes[8] = 9;
        assert!(CoverageHeader::decode(&bytes).unwrap_err().contains("layout 9"));
    }

    #[test]
    fn buckets_are_single_bits_and_monotone() {
        assert_eq!(BUCKET[0], 0);
        let mut last = 0;
        for &b in &BUCKET[1..] {
            assert_eq!(b.count_ones(), 1);
            assert!(b >= last);
            last = b;
        }
        assert_eq!((BUCKET[3], BUCKET[4], BUCKET[7], BUCKET[8]), (4, 8, 8, 16));
    }
}
