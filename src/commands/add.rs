//! `cargo protocrash add NAME`.

use crate::cli::AddArgs;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: AddArgs) -> Result<ExitCode> {
    let dir = match args.path {
        Some(p) => p,
        None => std::env::current_dir()?,
    };
    let created = crate::scaffold::add(&dir, &args.name)?;
    println!("added target '{}' ({})", args.name, created.display());
    Ok(ExitCode::from(super::EXIT_OK))
}
