//! The runtime's source, embedded at build time and extracted once per version into the
//! user's cache directory; harness builds point `protocrash` at it with
//! `--config patch.crates-io.protocrash.path=…`, so the CLI and runtime never drift apart and
//! nothing has to be published or fetched.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/runtime_files.rs"));
}

/// Where extracted runtimes live: `$PROTOCRASH_CACHE_DIR`, else `$XDG_CACHE_HOME/protocrash`,
/// else `~/.cache/protocrash`, else the temp dir.
fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROTOCRASH_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("protocrash");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("protocrash");
    }
    std::env::temp_dir().join("protocrash")
}

/// Makes sure this version's runtime is extracted; returns the `runtime` crate directory.
pub fn ensure() -> Result<PathBuf> {
    let root = cache_root();
    let dir = root.join(format!("runtime-{}-{}", env!("CARGO_PKG_VERSION"), embedded::HASH));
    if dir.join(".complete").exists() {
        return Ok(dir.join("runtime"));
    }
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create the runtime cache {}", root.display()))?;
    // Write into a temp dir beside the final one, then rename: a concurrent or interrupted
    // extraction never leaves a half-written runtime behind.
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(&root)
        .with_context(|| format!("cannot write to the runtime cache {}", root.display()))?;
    write_files(tmp.path())?;
    std::fs::write(tmp.path().join(".complete"), b"")?;
    let tmp = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join(".complete").exists() {
            return Err(e).with_context(|| format!("cannot install the runtime into {}", dir.display()));
        }
    }
    Ok(dir.join("runtime"))
}

fn write_files(base: &Path) -> Result<()> {
    for (rel, text) in embedded::FILES {
        let path = base.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn embeds_both_crates() {
        let names: Vec<&str> = super::embedded::FILES.iter().map(|f| f.0).collect();
        for must in ["runtime/Cargo.toml", "runtime/src/lib.rs", "proto/Cargo.toml", "proto/src/lib.rs"] {
            assert!(names.contains(&must), "{must} missing from {names:?}");
        }
    }
}
