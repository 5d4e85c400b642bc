//! Embeds the runtime's source (`runtime/`, `proto/`) in the CLI, so `cargo install` gives a
//! CLI that always builds harnesses against the runtime of its own version. `libfuzzer-compat/`
//! (the runtime under the name libfuzzer-sys, for cargo-fuzz projects) comes along.

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

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    for krate in ["runtime", "proto"] {
        println!("cargo:rerun-if-changed={krate}");
        collect(&root.join(krate).join("src"), &mut files);
        files.push(root.join(krate).join("Cargo.toml"));
    }
    // The libfuzzer-sys stand-in: a manifest whose library is the runtime's source.
    println!("cargo:rerun-if-changed=libfuzzer-compat");
    files.push(root.join("libfuzzer-compat").join("Cargo.toml"));
    let mut code = String::from("/// The embedded runtime source: (path relative to the runtime root, contents).\npub const FILES: &[(&str, &str)] = &[\n");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(f).unwrap();
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
