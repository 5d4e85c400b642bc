//! `init` and `add`: the fuzz/ directory a user starts from — its own Cargo workspace with a
//! path dependency on the crate, a `.gitignore` for build output and campaign state, and
//! harnesses that compile and run as they are.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Creates `<crate>/fuzz` with one target; returns the fuzz directory.
pub fn init(crate_dir: &Path, target: &str) -> Result<PathBuf> {
    check_target_name(target)?;
    let crate_name = crate_name(crate_dir)?;
    let fuzz = crate_dir.join("fuzz");
    if fuzz.join("Cargo.toml").exists() {
        bail!("{} already exists; add targets with `cargo protocrash add NAME`", fuzz.join("Cargo.toml").display());
    }
    std::fs::create_dir_all(fuzz.join("fuzz_targets")).with_context(|| format!("cannot create {}", fuzz.display()))?;
    let manifest = format!(
        r#"[package]
name = "{crate_name}-fuzz"
version = "0.0.0"
publish = false
edition = "2021"

[package.metadata]
protocrash = true
# `cargo fuzz` accepts the project too: the same targets build with libFuzzer (OSS-Fuzz).
cargo-fuzz = true

[dependencies]
protocrash = "0.1"

[dependencies.{crate_name}]
path = ".."

# Its own workspace, so fuzzing flags and campaign state stay apart from the crate's.
[workspace]
members = ["."]
"#
    );
    write_new(&fuzz.join("Cargo.toml"), &manifest)?;
    write_new(&fuzz.join(".gitignore"), "target/\nsync/\n")?;
    add_target(&fuzz, &crate_name, target)?;
    Ok(fuzz)
}

/// Adds a target to `<crate>/fuzz`, creating fuzz/ first if needed.
pub fn add(crate_dir: &Path, target: &str) -> Result<PathBuf> {
    check_target_name(target)?;
    let fuzz = crate_dir.join("fuzz");
    if !fuzz.join("Cargo.toml").exists() {
        return init(crate_dir, target);
    }
    let crate_name = crate_name(crate_dir)?;
    add_target(&fuzz, &crate_name, target)?;
    Ok(fuzz.join("fuzz_targets").join(format!("{target}.rs")))
}

fn add_target(fuzz: &Path, crate_name: &str, target: &str) -> Result<()> {
    let file = fuzz.join("fuzz_targets").join(format!("{target}.rs"));
    if file.exists() {
        bail!("{} already exists", file.display());
    }
    let manifest_path = fuzz.join("Cargo.toml");
    let manifest =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("cannot read {}", manifest_path.display()))?;
    if manifest.contains(&format!("name = \"{target}\"\npath = \"fuzz_targets/")) {
        bail!("{} already declares a target '{target}'", manifest_path.display());
    }
    std::fs::create_dir_all(fuzz.join("fuzz_targets"))?;
    let lib = crate_name.replace('-', "_");
    // In a project made by `cargo fuzz init`, a new target speaks libfuzzer-sys like its
    // siblings (and builds against protocrash's stand-in for it).
    let runtime = if depends_on(&manifest, "libfuzzer-sys") && !depends_on(&manifest, "protocrash") {
        "libfuzzer_sys"
    } else {
        "protocrash"
    };
    write_new(
        &file,
        &format!(
            r#"#![no_main]

use {runtime}::fuzz_target;

fuzz_target!(|data: &[u8]| {{
    // Call the code under test with the fuzzer's input, for example:
    //     let _ = {lib}::parse(data);
    // A panic, a crash, a hang or running out of memory is a finding.
    let _ = data;
}});
"#
        ),
    )?;
    let sep = if manifest.ends_with('\n') { "" } else { "\n" };
    let entry = format!("{sep}\n[[bin]]\nname = \"{target}\"\npath = \"fuzz_targets/{target}.rs\"\ntest = false\ndoc = false\nbench = false\n");
    std::fs::write(&manifest_path, manifest + &entry)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    Ok(())
}

/// Whether a manifest's text declares a dependency on `name` (`name = …` or `[dependencies.name]`).
fn depends_on(manifest: &str, name: &str) -> bool {
    manifest.lines().map(str::trim_start).any(|l| {
        l.strip_prefix(name).is_some_and(|rest| rest.trim_start().starts_with('='))
            || l == format!("[dependencies.{name}]")
    })
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn crate_name(crate_dir: &Path) -> Result<String> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("no Cargo.toml in {}; run this inside the crate to fuzz (or pass --path)", crate_dir.display());
    }
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .exec()
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    match meta.root_package() {
        Some(p) => Ok(p.name.to_string()),
        None => bail!(
            "{} is a workspace without a root package; run this inside the member crate to fuzz",
            manifest.display()
        ),
    }
}

fn check_target_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if !ok {
        bail!("'{name}' is not a valid target name (letters, digits, '_' and '-', not starting with a digit)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dependencies_are_recognised() {
        let m = "[dependencies]\nlibfuzzer-sys = { version = \"0.4\" }\n\n[dependencies.my-crate]\npath = \"..\"\n";
        assert!(super::depends_on(m, "libfuzzer-sys"));
        assert!(super::depends_on(m, "my-crate"));
        assert!(!super::depends_on(m, "protocrash"));
        assert!(!super::depends_on("libfuzzer-sys-extra = 1", "libfuzzer-sys"));
    }

    #[test]
    fn target_names_are_checked() {
        assert!(super::check_target_name("parse_json").is_ok());
        assert!(super::check_target_name("a-b").is_ok());
        for bad in ["", "1x", "a b", "../x", "-x"] {
            assert!(super::check_target_name(bad).is_err(), "{bad}");
        }
    }
}
