//! Tells the crates that depend on this one where its source is (`DEP_PROTOCRASH_PROTO_SRC`):
//! the `cargo-protocrash` CLI embeds it, from a checkout or from the registry alike.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    println!("cargo::metadata=src={dir}");
    println!("cargo::rerun-if-changed=build.rs");
}
