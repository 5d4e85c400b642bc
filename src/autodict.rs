//! Tokens from the compares SanitizerCoverage cannot trace. Rust compares a byte array of 3
//! to 16 bytes (`head == *b"PROTOCRASH!!"`) as one integer of that width (`icmp eq i96`), and
//! sancov only hooks compares of 1, 2, 4 and 8 bytes: the magic value is invisible at run
//! time. It is still in the compiled code, so the build asks rustc for the optimised LLVM IR
//! of every instrumented crate (the rustc wrapper, `--emit=llvm-ir=…`), reads the constant
//! operands of wide equality compares out of it, and keeps them beside the crate's outputs
//! (`<crate>-<hash>.cmp-tokens`, one hex token a line; the IR itself is deleted). `run` adds
//! them to the dictionary (`--no-auto-dict` leaves them out). The same idea as AFL++'s LTO
//! autodictionary, on stable rustc.

use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Suffix of the token file written beside a crate's outputs.
pub const TOKENS_SUFFIX: &str = "cmp-tokens";
/// Most tokens one crate contributes (a huge crate's constants are mostly not magic).
const PER_CRATE: usize = 256;
/// Most tokens a harness gets from all its crates.
const PER_HARNESS: usize = 1024;

/// The constant operands of `icmp eq`/`icmp ne` on integers of widths sancov does not trace
/// (3, 5, 6, 7 and 9 to 16 bytes), as the bytes they stand for in memory (little-endian):
/// the array literal the source compared with. All-zero and all-ones constants (masks,
/// emptiness tests) are left out.
pub fn wide_compare_tokens(ir: impl BufRead) -> Vec<Vec<u8>> {
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    for line in ir.lines().map_while(Result::ok) {
        let Some(at) = line.find("icmp eq i").or_else(|| line.find("icmp ne i")) else { continue };
        // `icmp eq i96 %a, 1234` or `icmp eq i96 1234, %a`.
        let rest = &line[at + "icmp eq i".len()..];
        let Some((width, operands)) = rest.split_once(' ') else { continue };
        let Ok(bits) = width.parse::<u32>() else { continue };
        if bits % 8 != 0 || !matches!(bits / 8, 3 | 5..=7 | 9..=16) {
            continue;
        }
        let constant = operands.split(',').map(str::trim).find_map(|o| o.parse::<i128>().ok());
        let Some(value) = constant else { continue };
        let bytes = value.to_le_bytes()[..(bits / 8) as usize].to_vec();
        if bytes.iter().all(|&b| b == 0) || bytes.iter().all(|&b| b == 0xff) || tokens.contains(&bytes) {
            continue;
        }
        tokens.push(bytes);
        if tokens.len() == PER_CRATE {
            break;
        }
    }
    tokens
}

/// Reads the LLVM IR rustc wrote at `ir`, writes its tokens to `out` (hex, one a line) and
/// deletes the IR. A failure only costs the tokens: the build itself succeeded.
pub fn extract(ir: &Path, out: &Path) {
    let Ok(file) = std::fs::File::open(ir) else { return };
    let tokens = wide_compare_tokens(std::io::BufReader::new(file));
    let _ = std::fs::remove_file(ir);
    let text: String = tokens.iter().map(|t| protocrash_proto::dict::to_hex(t) + "\n").collect();
    let _ = std::fs::write(out, text);
}

/// The file beside a harness naming the token files of the crates its build linked.
fn sources_file(harness: &Path) -> PathBuf {
    let mut name = harness.file_name().unwrap_or_default().to_os_string();
    name.push(".cmp-token-files");
    harness.with_file_name(name)
}

/// Records, beside the harness `exe` of target `target`, the token files of the crates the
/// build linked (`artifacts`: cargo's output files of every unit, fresh ones included) and of
/// the target itself. Only those are read: `deps/` also holds the tokens of crates other
/// builds left there (other fixtures, older versions of a dependency), which are not in this
/// harness and would make its dictionary depend on the directory's history.
pub fn record_sources(exe: &Path, target: &str, artifacts: &[PathBuf]) {
    let Some(deps) = exe.parent().map(|d| d.join("deps")) else { return };
    let mut files: Vec<PathBuf> = artifacts
        .iter()
        .filter(|a| a.extension().is_some_and(|x| x == "rlib"))
        .filter_map(|a| {
            let stem = a.file_stem()?.to_str()?.strip_prefix("lib")?;
            Some(a.with_file_name(format!("{stem}.{TOKENS_SUFFIX}")))
        })
        .filter(|t| t.is_file())
        .collect();
    // The target's own crate: `deps/<target>-<hash>`, the newest (the one just linked).
    let prefix = format!("{}-", target.replace('-', "_"));
    let own = std::fs::read_dir(&deps)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(&format!(".{TOKENS_SUFFIX}"))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    files.extend(own.map(|e| e.path()));
    files.sort();
    files.dedup();
    let text: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    let _ = std::fs::write(sources_file(exe), text);
}

/// The tokens of the crates built into the harness at `harness` (the token files
/// `record_sources` named beside it), deduplicated, at most [`PER_HARNESS`].
pub fn tokens_for(harness: &Path) -> Vec<Vec<u8>> {
    let list = std::fs::read_to_string(sources_file(harness)).unwrap_or_default();
    let files: Vec<PathBuf> = list.lines().map(PathBuf::from).collect();
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for t in text.lines().filter_map(protocrash_proto::dict::from_hex) {
            if tokens.len() < PER_HARNESS && !tokens.contains(&t) {
                tokens.push(t);
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_array_compares_give_their_literals() {
        // What rustc 1.95 emits for `a == *b"HELLO_WORLD!"`, a 16-byte array, a 5-byte one
        // compared with `!=`, and compares that are no magic value.
        let ir = "\
  %0 = icmp eq i96 %_25.sroa.0.0.copyload, 10295572698041037235174524232
  %1 = icmp eq i128 %_35.sroa.0.0.copyload, 136107713667768957684761770045455085872
  %.not = icmp ne i40 %_44.sroa.0.0.copyload, 297498001985
  %2 = icmp eq i64 %x, 12345
  %3 = icmp eq i96 %y, 0
  %4 = icmp eq i128 %z, -1
  %5 = icmp ult i96 %w, 77
  %6 = icmp eq i96 %_25.sroa.0.0.copyload, 10295572698041037235174524232
";
        let tokens = wide_compare_tokens(ir.as_bytes());
        assert_eq!(tokens, [b"HELLO_WORLD!".to_vec(), b"0123456789abcdef".to_vec(), b"ABCDE".to_vec()]);
    }

    #[test]
    fn a_harness_gets_the_tokens_of_its_own_crates_only() {
        let dir = tempfile::tempdir().unwrap();
        let deps = dir.path().join("deps");
        std::fs::create_dir_all(&deps).unwrap();
        let exe = dir.path().join("parse");
        std::fs::write(&exe, b"").unwrap();
        let hex = |t: &[u8]| protocrash_proto::dict::to_hex(t) + "\n";
        std::fs::write(deps.join("libmy_lib-1a.rlib"), b"").unwrap();
        std::fs::write(deps.join("my_lib-1a.cmp-tokens"), hex(b"MAGIC")).unwrap();
        std::fs::write(deps.join("parse-9f.cmp-tokens"), hex(b"OWN!!")).unwrap();
        // Left by another build: not linked into this harness.
        std::fs::write(deps.join("other_fixture-77.cmp-tokens"), hex(b"STALE")).unwrap();
        record_sources(&exe, "parse", &[deps.join("libmy_lib-1a.rlib"), deps.join("libmy_lib-1a.rmeta")]);
        assert_eq!(tokens_for(&exe), [b"MAGIC".to_vec(), b"OWN!!".to_vec()]);
        // No record (a harness built by an older version): no tokens rather than anyone's.
        std::fs::remove_file(dir.path().join("parse.cmp-token-files")).unwrap();
        assert!(tokens_for(&exe).is_empty());
    }
}
