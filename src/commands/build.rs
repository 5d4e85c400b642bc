//! `cargo protocrash build [TARGET]`.

use crate::cli::BuildArgs;
use crate::project::Project;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let targets = match args.target.as_deref() {
        Some(t) => vec![project.target(Some(t))?],
        None => project
            .targets
            .iter()
            .map(|t| project.target(Some(t)))
            .collect::<Result<_>>()?,
    };
    for (name, path) in
        crate::builder::build(&project, &targets, &super::build_options(&args.build))?
    {
        println!("{name}: {}", path.display());
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
