//! One thin file per subcommand: read the arguments, call the library, render, and return
//! the documented exit code (0 clean, 1 finding, 2 usage/build/setup error).

pub mod add;
pub mod build;
pub mod coverage;
pub mod crashes;
pub mod docs;
pub mod init;
pub mod list;
pub mod minimize;
pub mod plot;
pub mod repro;
pub mod run;
pub mod status;
pub mod vendor;

use crate::builder::BuildOptions;
use crate::cli::{BuildFlags, Command};
use std::process::ExitCode;

/// Nothing found / success.
pub const EXIT_OK: u8 = 0;
/// Something found.
pub const EXIT_FINDING: u8 = 1;

/// Runs a parsed command.
pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init(a) => init::run(a),
        Command::Add(a) => add::run(a),
        Command::List(a) => list::run(a),
        Command::Build(a) => build::run(a),
        Command::Run(a) => run::run(a),
        Command::Repro(a) => repro::run(a),
        Command::Minimize(a) => minimize::run(a),
        Command::Crashes(a) => crashes::run(a),
        Command::Status(a) => status::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Coverage(a) => coverage::run(a),
        Command::Vendor(a) => vendor::run(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    }
}

/// The sync dir a read-only command looks at: `--sync-dir`, or the target's default one.
fn sync_dir_of(
    sync_dir: Option<std::path::PathBuf>,
    project: &crate::cli::ProjectArgs,
    target: Option<&str>,
) -> anyhow::Result<protocrash_proto::layout::SyncDir> {
    if let Some(d) = sync_dir {
        return Ok(protocrash_proto::layout::SyncDir::new(d));
    }
    let p = crate::project::Project::locate(project.fuzz_dir.as_deref())?;
    let t = p.target(target)?;
    Ok(p.sync_dir(&t))
}

pub fn build_options(flags: &BuildFlags) -> BuildOptions {
    BuildOptions {
        features: flags.features.clone(),
        no_default_features: flags.no_default_features,
        dev: flags.dev,
        target_dir: flags.target_dir.clone(),
    }
}

/// The options to repeat in a printed command so it builds the same harness.
pub fn repeated_options(project: &crate::cli::ProjectArgs, flags: &BuildFlags) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(d) = &project.fuzz_dir {
        v.push(format!("--fuzz-dir={}", d.display()));
    }
    if let Some(f) = &flags.features {
        v.push(format!("--features={f}"));
    }
    if flags.no_default_features {
        v.push("--no-default-features".into());
    }
    if flags.dev {
        v.push("--dev".into());
    }
    if let Some(d) = &flags.target_dir {
        v.push(format!("--target-dir={}", d.display()));
    }
    v
}
