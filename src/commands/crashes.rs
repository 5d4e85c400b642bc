//! `cargo protocrash crashes [TARGET]`: the unique findings of one target or all, from the
//! sync dirs (every worker, every node) and the reproducers kept in fuzz/artifacts/.

use crate::cli::CrashesArgs;
use crate::project::Project;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: CrashesArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let targets = match &args.target {
        Some(t) => vec![project.target(Some(t))?],
        None => project.targets.clone(),
    };
    let mut all = Vec::new();
    for t in &targets {
        let dirs = crate::aggregate::worker_dirs(&project.sync_dir(t));
        for f in crate::aggregate::merged_findings(&dirs) {
            let repro =
                format!("cargo protocrash repro {t} {}", crate::shell::display_path(std::path::Path::new(&f.artifact)));
            let sync_file = dirs.iter().map(|d| d.path().join(&f.file)).find(|p| p.is_file());
            all.push((t.clone(), f, sync_file, repro));
        }
    }
    if args.json {
        let doc: Vec<serde_json::Value> = all
            .iter()
            .map(|(t, f, sync_file, repro)| {
                serde_json::json!({
                    "target": t, "id": f.id, "signature": f.signature, "kind": f.kind, "message": f.message,
                    "location": f.location, "first_seen_ms": f.first_seen_ms, "last_seen_ms": f.last_seen_ms,
                    "hits": f.count, "artifact": f.artifact, "sync_file": sync_file, "frames": f.frames,
                    "reproduce": repro,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    if all.is_empty() {
        println!("no findings recorded for {}", targets.join(", "));
    }
    for (t, f, sync_file, repro) in &all {
        let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
        println!("{t} {} {}: {}{at}", f.id, f.kind.describe(), f.message);
        println!("    first seen {}, hit {} times", when(f.first_seen_ms), f.count);
        println!("    files: {}", crate::shell::display_path(std::path::Path::new(&f.artifact)));
        if let Some(p) = sync_file {
            println!("           {}", crate::shell::display_path(p));
        }
        println!("    reproduce: {repro}");
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

/// `2026-11-26 13:45:07 UTC`, from Unix milliseconds (civil-from-days, no time crate).
fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02} {h:02}:{m:02}:{s:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_read_as_calendar_dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::when(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::when(1_795_700_000_000), "2026-11-26 13:33:20 UTC");
    }
}
