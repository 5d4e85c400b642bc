//! The runtime's source, embedded at build time and extracted once per version into the
//! user's cache directory; harness builds point `protocrash` (and, for cargo-fuzz projects,
//! `libfuzzer-sys`) at it with `--config patch.crates-io.<name>.path=…`, so the CLI and
//! runtime never drift apart and nothing has to be published or fetched.

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

/// The extracted packages.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// The directory holding `runtime/`, `proto/` and `libfuzzer-compat/`.
    pub root: PathBuf,
}

impl Runtime {
    /// The `protocrash` package.
    pub fn runtime(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// The `libfuzzer-sys` stand-in package.
    pub fn libfuzzer_compat(&self) -> PathBuf {
        self.root.join("libfuzzer-compat")
    }
}

/// Makes sure this version's runtime is extracted.
pub fn ensure() -> Result<Runtime> {
    let root = cache_root();
    let dir = root.join(format!("runtime-{}-{}", env!("CARGO_PKG_VERSION"), embedded::HASH));
    if dir.join(".complete").exists() {
        return Ok(Runtime { root: dir });
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
    Ok(Runtime { root: dir })
}

/// Writes the named packages (of `runtime`, `proto`, `libfuzzer-compat`) under `dir`.
pub fn write_packages(dir: &Path, packages: &[&str]) -> Result<()> {
    for (rel, text) in embedded::FILES {
        if !packages.iter().any(|p| rel.split('/').next() == Some(p)) {
            continue;
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn write_files(base: &Path) -> Result<()> {
    write_packages(base, &["runtime", "proto", "libfuzzer-compat"])
}

#[cfg(test)]
mod tests {
    #[test]
    fn embeds_both_crates() {
        let names: Vec<&str> = super::embedded::FILES.iter().map(|f| f.0).collect();
        for must in [
            "runtime/Cargo.toml",
            "runtime/src/lib.rs",
            "proto/Cargo.toml",
            "proto/src/lib.rs",
            "libfuzzer-compat/Cargo.toml",
        ] {
            assert!(names.contains(&must), "{must} missing from {names:?}");
        }
    }

    /// The stand-in must depend on what the runtime depends on (it compiles the same source).
    #[test]
    fn compat_dependencies_match_the_runtime() {
        let deps = |rel: &str| -> Vec<String> {
            let text = super::embedded::FILES.iter().find(|f| f.0 == rel).expect(rel).1;
            let section = text.split("[dependencies]").nth(1).expect("[dependencies]");
            let section = section.split("\n[").next().unwrap_or(section);
            let mut names: Vec<String> = section
                .lines()
                .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
                .map(|l| l.split('=').next().unwrap().trim().to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(deps("runtime/Cargo.toml"), deps("libfuzzer-compat/Cargo.toml"));
    }
}
