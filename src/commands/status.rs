//! `cargo protocrash status [TARGET]`: a campaign's figures read from its sync dir alone,
//! during or after a run.

use crate::cli::StatusArgs;
use crate::display::{clock, human};
use crate::shell::display_path;
use anyhow::Result;
use protocrash_proto::time::now_ms;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let sync = super::sync_dir_of(args.sync_dir, &args.project, args.target.as_deref())?;
    let st = crate::ops::status::read(&sync)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    let now = now_ms();
    println!("campaign in {}", display_path(&st.sync_dir));
    println!(
        "  execs {}   edges {} / {}   corpus {}   workers {} running of {}   last new edge {}",
        human(st.execs as f64),
        st.edges,
        st.map_size,
        st.corpus,
        st.running_workers,
        st.workers.len(),
        if st.last_find_ms == 0 {
            "never".into()
        } else {
            format!("{} ago", clock(Duration::from_millis(now.saturating_sub(st.last_find_ms))))
        }
    );
    if st.running_workers > 0 {
        println!("  {}/s now (running workers, averaged since each started)", human(st.execs_per_sec));
    }
    println!(
        "  {:<16} {:>9} {:>9} {:>7} {:>7} {:>8} {:>6}",
        "worker", "state", "execs", "edges", "corpus", "imports", "finds"
    );
    for w in &st.workers {
        println!(
            "  {:<16} {:>9} {:>9} {:>7} {:>7} {:>8} {:>6}",
            w.name,
            w.state.name(),
            human(w.execs as f64),
            w.edges,
            w.corpus,
            w.imports,
            w.crashes + w.hangs + w.ooms
        );
    }
    // The same events `plot` marks, in time order.
    let history = crate::ops::history::read(&sync);
    if !history.events.is_empty() {
        println!("  events:");
        for e in &history.events {
            let what = match &e.finding {
                Some(text) => format!("found {text}"),
                None => "started again".to_string(),
            };
            println!("    {:>8}  {:<16} {what}", clock(Duration::from_secs_f64(e.t)), e.worker);
        }
    }
    if st.findings.is_empty() {
        println!("no crashes, hangs or out-of-memory inputs found");
    }
    for f in &st.findings {
        let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
        println!("  {}: {}{at} (hit {} times)\n      {}", f.kind.describe(), f.message, f.count, f.artifact);
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
