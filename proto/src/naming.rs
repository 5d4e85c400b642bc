//! Names in the sync dir: queue entries (`id_<sha256 16 hex>_<coverage hash 8 hex>`), worker
//! directories (`<node>-<i>`) and findings (`crash-<signature 16 hex>`). Parsing is strict:
//! anything that does not parse is not ours and is skipped by readers.

use sha2::{Digest, Sha256};

/// First 8 bytes of the sha256 of `data`, as 16 lower-case hex digits.
pub fn content_id(data: &[u8]) -> String {
    hex(&Sha256::digest(data)[..8])
}

/// The name of a queue entry holding `data` whose coverage hashes to `cov_hash`.
pub fn queue_name(data: &[u8], cov_hash: u32) -> String {
    format!("id_{}_{cov_hash:08x}", content_id(data))
}

/// A parsed queue entry name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueName {
    /// 16 hex digits of the content's sha256.
    pub content: String,
    /// The coverage hash the writer computed.
    pub cov_hash: u32,
}

/// Parses a queue entry name; `None` for anything else (temp files, junk).
pub fn parse_queue_name(name: &str) -> Option<QueueName> {
    let rest = name.strip_prefix("id_")?;
    let (content, cov) = rest.split_once('_')?;
    if content.len() != 16 || !is_hex(content) || cov.len() != 8 || !is_hex(cov) {
        return None;
    }
    Some(QueueName { content: content.to_string(), cov_hash: u32::from_str_radix(cov, 16).ok()? })
}

/// Prefix of temporary files; readers skip them, the owner cleans them up.
pub const TEMP_PREFIX: &str = ".tmp-";

/// The directory name of worker `index` on `node`.
pub fn worker_dir_name(node: &str, index: usize) -> String {
    format!("{node}-{index}")
}

/// Parses a worker directory name into (node, index).
pub fn parse_worker_dir_name(name: &str) -> Option<(&str, usize)> {
    let (node, index) = name.rsplit_once('-')?;
    if node.is_empty() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((node, index.parse().ok()?))
}

/// Makes a host name safe as a node name: ASCII letters, digits, `_` and `.`, others as `_`.
pub fn sanitize_node(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '_' }).collect();
    if s.is_empty() {
        "node".into()
    } else {
        s
    }
}

/// 16 hex digits identifying a finding signature.
pub fn signature_id(signature: &str) -> String {
    hex(&Sha256::digest(signature.as_bytes())[..8])
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_round_trip() {
        let name = queue_name(b"hello", 0xabc);
        let parsed = parse_queue_name(&name).unwrap();
        assert_eq!(parsed.content, content_id(b"hello"));
        assert_eq!(parsed.cov_hash, 0xabc);
        assert_eq!(name.len(), 3 + 16 + 1 + 8);
    }

    #[test]
    fn malformed_queue_names_do_not_parse() {
        for bad in [
            "",
            "id_",
            "id_xyz_00000000",
            "id_0123456789abcdef_0000000",
            "id_0123456789ABCDEF_00000000",
            ".tmp-id_0123456789abcdef_00000000",
            "id_0123456789abcdef_00000000_extra",
            "README",
        ] {
            assert!(parse_queue_name(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn worker_dirs_round_trip_even_with_dashes_in_node() {
        let n = worker_dir_name("my-host", 3);
        assert_eq!(parse_worker_dir_name(&n), Some(("my-host", 3)));
        assert_eq!(parse_worker_dir_name("queue"), None);
        assert_eq!(parse_worker_dir_name("-1"), None);
        assert_eq!(parse_worker_dir_name("a-"), None);
    }

    #[test]
    fn node_names_are_sanitised() {
        assert_eq!(sanitize_node("web-01.example/x"), "web_01.example_x");
        assert_eq!(sanitize_node(""), "node");
    }
}
