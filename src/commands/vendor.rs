//! `cargo protocrash vendor`: puts this CLI's runtime (`protocrash`, `protocrash-proto`) into
//! the fuzz directory and adds a `[patch.crates-io]` entry for it, so that `cargo fuzz build`
//! — on a laptop, on OSS-Fuzz, in ClusterFuzzLite — resolves `protocrash = "0.1"` from the
//! repository itself. `cargo protocrash` builds keep using the CLI's own copy (its `--config`
//! patch takes precedence over the manifest's), so the two never disagree about the protocol.

use crate::cli::VendorArgs;
use crate::project::Project;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;

pub fn run(args: VendorArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    if args.dir.is_absolute() || args.dir.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        bail!("--dir must be a plain relative path inside the fuzz directory, not {}", args.dir.display());
    }
    let dest = project.fuzz_dir.join(&args.dir);
    // Written beside the destination and swapped in: an interrupted vendor leaves the old
    // copy (or none) in place, never half of one.
    let tmp = tempfile::Builder::new()
        .prefix(".protocrash-vendor-")
        .tempdir_in(&project.fuzz_dir)
        .with_context(|| format!("cannot write to {}", project.fuzz_dir.display()))?;
    crate::runtime_src::write_packages(tmp.path(), &["runtime", "proto"])?;
    if dest.exists() {
        if !dest.join("runtime").join("Cargo.toml").is_file() {
            bail!("{} exists and is not a vendored runtime; pick another --dir", dest.display());
        }
        std::fs::remove_dir_all(&dest).with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    std::fs::rename(tmp.keep(), &dest).with_context(|| format!("cannot create {}", dest.display()))?;

    let mut manifest = std::fs::read_to_string(&project.manifest)
        .with_context(|| format!("cannot read {}", project.manifest.display()))?;
    // `cargo fuzz` only takes a manifest marked as its own.
    if !manifest.lines().any(|l| l.trim() == "cargo-fuzz = true") {
        let mark = "cargo-fuzz = true\n";
        manifest = match manifest.find("[package.metadata]\n") {
            Some(at) => {
                let after = at + "[package.metadata]\n".len();
                format!("{}{mark}{}", &manifest[..after], &manifest[after..])
            }
            None => {
                let sep = if manifest.ends_with('\n') { "" } else { "\n" };
                format!("{manifest}{sep}\n[package.metadata]\n{mark}")
            }
        };
        std::fs::write(&project.manifest, &manifest)
            .with_context(|| format!("cannot write {}", project.manifest.display()))?;
        println!("marked {} as a cargo-fuzz project too (cargo-fuzz = true)", project.manifest.display());
    }
    let rel = args.dir.join("runtime").display().to_string().replace('\\', "/");
    let entry = format!("protocrash = {{ path = \"{rel}\" }}");
    if manifest.lines().any(|l| l.trim_start().starts_with("protocrash = { path")) {
        println!(
            "vendored the runtime into {}; {} already patches protocrash",
            dest.display(),
            project.manifest.display()
        );
    } else {
        let text = match manifest.find("[patch.crates-io]\n") {
            Some(at) => {
                let after = at + "[patch.crates-io]\n".len();
                format!("{}{entry}\n{}", &manifest[..after], &manifest[after..])
            }
            None => {
                let sep = if manifest.ends_with('\n') { "" } else { "\n" };
                format!(
                    "{manifest}{sep}\n# The protocrash runtime, vendored by `cargo protocrash vendor` so `cargo fuzz build`\n\
                     # (OSS-Fuzz, ClusterFuzzLite) finds it without cargo-protocrash installed.\n[patch.crates-io]\n{entry}\n"
                )
            }
        };
        std::fs::write(&project.manifest, text)
            .with_context(|| format!("cannot write {}", project.manifest.display()))?;
        println!("vendored the runtime into {} and patched it in ({})", dest.display(), project.manifest.display());
    }
    println!("commit both; `cargo fuzz build -O` (nightly, or `-s none` on stable) now builds every protocrash target with libFuzzer");
    Ok(ExitCode::from(super::EXIT_OK))
}
