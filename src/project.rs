//! The user's fuzz project: the `fuzz/` directory next to a crate, its Cargo package and its
//! targets (found with `cargo metadata`), and the places campaign state lives under it.

use anyhow::{bail, Context, Result};
use cargo_metadata::MetadataCommand;
use std::path::{Path, PathBuf};

/// A located fuzz project.
#[derive(Clone, Debug)]
pub struct Project {
    /// The `fuzz/` directory.
    pub fuzz_dir: PathBuf,
    /// `fuzz/Cargo.toml`.
    pub manifest: PathBuf,
    /// Fuzz targets (binary names), sorted.
    pub targets: Vec<String>,
    /// Targets whose package depends on neither the protocrash runtime nor libfuzzer-sys.
    pub foreign: Vec<String>,
    /// True when a package uses libfuzzer-sys (a cargo-fuzz project): its builds get the
    /// protocrash stand-in for it, and must leave the project's Cargo.lock as it was.
    pub uses_libfuzzer_sys: bool,
    /// True when a package depends on the protocrash runtime.
    pub uses_protocrash: bool,
    /// The Cargo.lock the fuzz package's builds use (its workspace's).
    pub lock_file: PathBuf,
}

impl Project {
    /// Finds `fuzz/Cargo.toml` at `fuzz_dir`, or in the current directory or one of its
    /// parents.
    pub fn locate(fuzz_dir: Option<&Path>) -> Result<Project> {
        let fuzz_dir = match fuzz_dir {
            Some(d) => d.to_path_buf(),
            None => find_fuzz_dir()?,
        };
        let manifest = fuzz_dir.join("Cargo.toml");
        if !manifest.is_file() {
            bail!(
                "no fuzz project at {} (no Cargo.toml there); create one with `cargo protocrash init`",
                fuzz_dir.display()
            );
        }
        let meta = MetadataCommand::new()
            .manifest_path(&manifest)
            .no_deps()
            .exec()
            .with_context(|| format!("cannot read the fuzz project {}", manifest.display()))?;
        let mut targets = Vec::new();
        let mut foreign = Vec::new();
        let (mut uses_libfuzzer_sys, mut uses_protocrash) = (false, false);
        for pkg in meta.workspace_packages() {
            let uses = |name: &str| pkg.dependencies.iter().any(|d| d.name == name);
            let libfuzzer = uses("libfuzzer-sys");
            uses_libfuzzer_sys |= libfuzzer;
            uses_protocrash |= uses("protocrash");
            for t in pkg.targets.iter().filter(|t| t.is_bin()) {
                targets.push(t.name.clone());
                if !uses("protocrash") && !libfuzzer {
                    foreign.push(t.name.clone());
                }
            }
        }
        targets.sort();
        let fuzz_dir = fuzz_dir.canonicalize().unwrap_or(fuzz_dir);
        Ok(Project {
            manifest: fuzz_dir.join("Cargo.toml"),
            fuzz_dir,
            targets,
            foreign,
            uses_libfuzzer_sys,
            uses_protocrash,
            lock_file: meta.workspace_root.join("Cargo.lock").into(),
        })
    }

    /// Resolves the target a command works on: the one named, or the only one.
    pub fn target(&self, name: Option<&str>) -> Result<String> {
        let t = match name {
            Some(n) if self.targets.iter().any(|t| t == n) => n.to_string(),
            Some(n) => bail!("no fuzz target named '{n}'; {}", self.describe_targets()),
            None if self.targets.len() == 1 => self.targets[0].clone(),
            None if self.targets.is_empty() => {
                bail!("the fuzz project has no targets; add one with `cargo protocrash add NAME`")
            }
            None => bail!("several fuzz targets; name one: {}", self.targets.join(", ")),
        };
        if self.foreign.contains(&t) {
            bail!(
                "target '{t}' uses neither the protocrash runtime nor libfuzzer-sys: add `protocrash = \"0.1\"` to the \
                 [dependencies] of {} and define the target with `protocrash::fuzz_target!`",
                self.manifest.display()
            );
        }
        Ok(t)
    }

    fn describe_targets(&self) -> String {
        if self.targets.is_empty() {
            "the project has no targets yet".into()
        } else {
            format!("the targets are: {}", self.targets.join(", "))
        }
    }

    /// `fuzz/corpus/<target>` (cargo-fuzz's place for the seed corpus).
    pub fn corpus_dir(&self, target: &str) -> PathBuf {
        self.fuzz_dir.join("corpus").join(target)
    }

    /// `fuzz/artifacts/<target>` (crash reproducers, as cargo-fuzz users expect).
    pub fn artifact_dir(&self, target: &str) -> PathBuf {
        self.fuzz_dir.join("artifacts").join(target)
    }

    /// `fuzz/coverage/<target>`: where `coverage` writes its report.
    pub fn coverage_dir(&self, target: &str) -> PathBuf {
        self.fuzz_dir.join("coverage").join(target)
    }

    /// `fuzz/sync/<target>`: the campaign's sync dir.
    pub fn sync_dir(&self, target: &str) -> protocrash_proto::layout::SyncDir {
        protocrash_proto::layout::SyncDir::new(self.fuzz_dir.join("sync").join(target))
    }
}

fn find_fuzz_dir() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    for dir in cwd.ancestors() {
        if dir.join("fuzz").join("Cargo.toml").is_file() {
            return Ok(dir.join("fuzz"));
        }
        // Inside fuzz/ itself.
        if dir.file_name().is_some_and(|n| n == "fuzz") && dir.join("Cargo.toml").is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    bail!("no fuzz/ directory here or in a parent of {}; create one with `cargo protocrash init`", cwd.display())
}
