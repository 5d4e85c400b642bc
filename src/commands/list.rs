//! `cargo protocrash list`.

use crate::cli::ProjectArgs;
use crate::project::Project;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: ProjectArgs) -> Result<ExitCode> {
    let project = Project::locate(args.fuzz_dir.as_deref())?;
    for t in &project.targets {
        println!("{t}");
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
