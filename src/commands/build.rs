//! `cargo protocrash build [TARGET]`.

use crate::cli::BuildArgs;
use crate::project::Project;
use anyhow::{Context, Result};
use std::process::ExitCode;

pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let targets = match args.target.as_deref() {
        Some(t) => vec![project.target(Some(t))?],
        None => {
            for t in &project.foreign {
                eprintln!("note: skipping '{t}': it uses neither the protocrash runtime nor libfuzzer-sys");
            }
            let ours: Vec<String> = project.targets.iter().filter(|t| !project.foreign.contains(t)).cloned().collect();
            if ours.is_empty() {
                anyhow::bail!("no protocrash targets to build; add one with `cargo protocrash add NAME`");
            }
            ours
        }
    };
    for (name, path) in crate::builder::build(&project, &targets, &super::build_options(&args.build))? {
        let shown = match &args.out_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let to = dir.join(&name);
                std::fs::copy(&path, &to)
                    .with_context(|| format!("cannot copy {} to {}", path.display(), to.display()))?;
                to
            }
            None => path,
        };
        println!("{name}: {}", shown.display());
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
