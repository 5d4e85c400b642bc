//! `cargo protocrash completions SHELL` and `cargo protocrash man`: generated from the same
//! clap definitions that parse the command line, so they never drift from it.

use crate::cli::{standalone_command, CompletionsArgs, ManArgs};
use anyhow::{Context, Result};
use std::process::ExitCode;

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = standalone_command();
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "cargo-protocrash", &mut text);
    print_all(&text)
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(ExitCode::from(super::EXIT_OK)),
    }
}

pub fn man(args: ManArgs) -> Result<ExitCode> {
    let cmd = standalone_command();
    let Some(dir) = args.out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page).context("cannot render the man page")?;
        return print_all(&page);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("cargo-protocrash".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("cargo-protocrash-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page).render(&mut bytes).context("cannot render a man page")?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
