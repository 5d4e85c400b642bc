//! Embeds the runtime's source (`runtime/`, `proto/`) in the CLI, so `cargo install` gives a
//! CLI that always builds harnesses against the runtime of its own version. The runtime's
//! `libfuzzer-compat.toml` (the runtime under the name libfuzzer-sys, for cargo-fuzz
//! projects) comes along as `libfuzzer-compat/Cargo.toml`. The sources are found through
//! the two crates' build-script metadata, so a CLI built from crates.io embeds them too.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("runtime source dir").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("rs" | "toml")) {
            out.push(p);
        }
    }
}

/// A dependency's source directory, as its build script announces it (`links` metadata): the
/// checkout's `runtime/` and `proto/` in the workspace, their registry copies when this CLI is
/// built from crates.io.
fn dependency_dir(var: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(var).unwrap_or_else(|| panic!("{var} not set: the dependency's build script did not run")),
    )
}

fn main() {
    // (path in the extracted runtime, file to embed)
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (krate, var) in [("runtime", "DEP_PROTOCRASH_SRC"), ("proto", "DEP_PROTOCRASH_PROTO_SRC")] {
        let dir = dependency_dir(var);
        println!("cargo::rerun-if-changed={}", dir.display());
        let mut sources = Vec::new();
        collect(&dir.join("src"), &mut sources);
        sources.push(dir.join("build.rs"));
        sources.extend(Some(dir.join("README.md")).filter(|p| p.exists()));
        for f in sources {
            let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/");
            files.push((format!("{krate}/{rel}"), f));
        }
        // A packaged crate's Cargo.toml is rewritten for the registry (path dependencies
        // dropped); the original, kept beside it, is what the extracted layout needs.
        let orig = dir.join("Cargo.toml.orig");
        let manifest = if orig.exists() { orig } else { dir.join("Cargo.toml") };
        files.push((format!("{krate}/Cargo.toml"), manifest));
        if krate == "runtime" {
            // The libfuzzer-sys stand-in: a manifest whose library is the runtime's source.
            files.push(("libfuzzer-compat/Cargo.toml".into(), dir.join("libfuzzer-compat.toml")));
        }
    }
    let mut code = String::from("/// The embedded runtime source: (path relative to the runtime root, contents).\npub const FILES: &[(&str, &str)] = &[\n");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (rel, f) in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()));
        for b in rel.bytes().chain(text.bytes()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        writeln!(code, "    ({rel:?}, include_str!({:?})),", f.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    writeln!(
        code,
        "/// Hash of the embedded source, naming its extracted copy.\npub const HASH: &str = \"{hash:016x}\";"
    )
    .unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("runtime_files.rs");
    std::fs::write(out, code).unwrap();
}
