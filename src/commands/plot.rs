//! `cargo protocrash plot [TARGET]`: writes the campaign's history as an SVG.

use crate::cli::PlotArgs;
use crate::plot;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;

pub fn run(args: PlotArgs) -> Result<ExitCode> {
    let sync_dir = super::sync_dir_of(args.sync_dir, &args.project, args.target.as_deref())?;
    let history = crate::ops::history::read(&sync_dir);
    if history.series.iter().all(|s| s.samples.is_empty()) {
        bail!(
            "no plot data in {} yet: workers write a sample every 5 seconds; run the campaign a little longer",
            sync_dir.root().display()
        );
    }
    let title = format!("protocrash campaign in {}", crate::shell::display_path(sync_dir.root()));
    let out = args.output.unwrap_or_else(|| sync_dir.plot_svg());
    std::fs::write(&out, plot::svg(&title, &history.series, &history.events, args.log_scale))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", crate::shell::display_path(&out));
    Ok(ExitCode::from(super::EXIT_OK))
}
