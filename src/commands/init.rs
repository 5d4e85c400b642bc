//! `cargo protocrash init`.

use crate::cli::InitArgs;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = match args.path {
        Some(p) => p,
        None => std::env::current_dir()?,
    };
    let fuzz = crate::scaffold::init(&dir, &args.target)?;
    println!("created {} with target '{}'", fuzz.display(), args.target);
    println!("next: edit fuzz/fuzz_targets/{}.rs, then `cargo protocrash run {}`", args.target, args.target);
    Ok(ExitCode::from(super::EXIT_OK))
}
