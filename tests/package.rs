//! End-to-end: the crates package and install the way cargo subcommands do. `cargo package
//! --workspace` builds and verifies all three crates from their packaged files, and a CLI
//! installed from those `.crate` files alone (no checkout: the two dependencies not yet on
//! crates.io are patched in from their packaged copies) builds the bundled example with the
//! runtime it carries and finds its bug.

mod common;

use common::{one_campaign_at_a_time, Fixture};
use std::path::Path;
use std::process::Command;

fn cargo(args: &[&str], dir: &Path) -> common::Out {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    common::Out::from(out)
}

/// `cargo package --workspace` verifies against a temporary registry at a fixed path, and
/// cargo keeps what it unpacks from there under `$CARGO_HOME/registry/src/-<hash>/`, by name
/// and version only: a later run with changed sources would build that stale copy. Those
/// unpacked copies of this workspace's crates are removed first (nothing else is touched).
fn forget_unpacked_packages() {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry/src")) else { return };
    let Ok(registries) = std::fs::read_dir(src) else { return };
    for registry in registries.flatten().filter(|r| r.file_name().to_string_lossy().starts_with('-')) {
        for krate in std::fs::read_dir(registry.path()).into_iter().flatten().flatten() {
            let name = krate.file_name().to_string_lossy().into_owned();
            if ["protocrash-", "cargo-protocrash-"].iter().any(|p| name.starts_with(p)) {
                std::fs::remove_dir_all(krate.path()).unwrap();
            }
        }
    }
}

#[test]
fn packaged_crates_verify_install_and_fuzz_the_example() {
    forget_unpacked_packages();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let target = scratch.join("target");
    let target_arg = target.to_str().unwrap();

    // Every crate packaged and verified (built from its .crate) in dependency order.
    let packaged = cargo(&["package", "--workspace", "--allow-dirty", "--target-dir", target_arg], repo);
    assert_eq!(packaged.code, Some(0), "{}", packaged.all());
    // Outside the checkout: a package inside it would count as part of its workspace.
    let outside = tempfile::Builder::new().prefix("pc-package-").tempdir().unwrap();
    let unpacked = outside.path().join("crates");
    std::fs::create_dir_all(&unpacked).unwrap();
    for krate in ["cargo-protocrash", "protocrash", "protocrash-proto"] {
        let file = target.join("package").join(format!("{krate}-{}.crate", env!("CARGO_PKG_VERSION")));
        let status = Command::new("tar").arg("xzf").arg(&file).arg("-C").arg(&unpacked).status().unwrap();
        assert!(status.success(), "cannot unpack {}", file.display());
    }
    let version = env!("CARGO_PKG_VERSION");
    let dir = |krate: &str| unpacked.join(format!("{krate}-{version}"));
    // What the CLI embeds must be in the runtime's package: its source, build script and the
    // libfuzzer-sys stand-in's manifest.
    for file in ["src/lib.rs", "build.rs", "libfuzzer-compat.toml", "Cargo.toml.orig"] {
        assert!(dir("protocrash").join(file).is_file(), "{file} missing from the runtime's package");
    }

    // Installed from the packaged files only; the same target dir reuses the verified build.
    let root = scratch.join("root");
    let patch = |krate: &str| format!("patch.crates-io.{krate}.path={:?}", dir(krate).display().to_string());
    let installed = cargo(
        &[
            "install",
            "--debug",
            "--path",
            dir("cargo-protocrash").to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--target-dir",
            target_arg,
            "--config",
            &patch("protocrash"),
            "--config",
            &patch("protocrash-proto"),
        ],
        outside.path(),
    );
    assert_eq!(installed.code, Some(0), "{}", installed.all());

    // The installed CLI fuzzes the example with the runtime it carries (a cache of its own,
    // so nothing extracted by the checkout's CLI is used).
    let fx = Fixture::new("example");
    let _slot = one_campaign_at_a_time();
    let out = Command::new(root.join("bin").join("cargo-protocrash"))
        .args(["protocrash", "run", "-j", "1", "--plain", "--seed", "1", "--fail-fast", "--runs", "2000000"])
        .current_dir(fx.path())
        .env("PROTOCRASH_CACHE_DIR", scratch.join("runtime-cache"))
        .env("CARGO_TARGET_DIR", scratch.join("harness-target"))
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CI")
        .output()
        .unwrap();
    let out = common::Out::from(out);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stdout.contains("found a new panic in 'parse'"), "{}", out.all());
    let extracted = std::fs::read_dir(scratch.join("runtime-cache")).unwrap().flatten().count();
    assert_eq!(extracted, 1, "the installed CLI extracted its own runtime");
}
