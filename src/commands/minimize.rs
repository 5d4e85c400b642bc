//! `cargo protocrash minimize [TARGET]`: shrink the corpus (every edge kept) or, with
//! `--crash FILE`, one crashing input (the same crash kept).

use crate::cli::MinimizeArgs;
use crate::minimize::{self, Input, Replayed};
use crate::project::Project;
use anyhow::{bail, Context, Result};
use protocrash_proto::config::{MinimizeSpec, ReplayConfig};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub fn run(args: MinimizeArgs) -> Result<ExitCode> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let target = project.target(args.target.as_deref())?;
    if let Some(crash) = &args.crash {
        if !crash.is_file() {
            bail!("no such input file: {}", crash.display());
        }
    }
    let bins = crate::builder::build(&project, std::slice::from_ref(&target), &super::build_options(&args.build))?;
    let harness = &bins[&target];
    match args.crash.clone() {
        Some(crash) => minimize_crash(&args, &target, harness, &crash),
        None => minimize_corpus(&args, &project, &target, harness),
    }
}

fn replay_config(args: &MinimizeArgs) -> ReplayConfig {
    ReplayConfig { json: true, ..ReplayConfig::new(args.timeout.as_millis().max(1) as u64, args.rss_limit_mb) }
}

fn minimize_crash(args: &MinimizeArgs, target: &str, harness: &Path, crash: &Path) -> Result<ExitCode> {
    let out = args.out.clone().unwrap_or_else(|| {
        let name = crash.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        crash.with_file_name(format!("{name}.min"))
    });
    let spec = MinimizeSpec {
        runs: args.runs.unwrap_or(10_000),
        max_ms: args.max_total_time.map_or(u64::MAX, |d| d.as_millis() as u64),
        out: std::path::absolute(&out)?,
    };
    let (v, succeeded) = minimize::shrink_crash(harness, crash, spec, &replay_config(args))?;
    if args.json {
        println!("{v}");
    } else {
        let at = v["location"].as_str().filter(|s| !s.is_empty()).map(|l| format!(" at {l}")).unwrap_or_default();
        println!(
            "protocrash: minimised {}: {} -> {} bytes in {} runs, still the same {}{at}",
            crate::campaign::display_path(crash),
            v["before"],
            v["after"],
            v["runs"],
            v["kind"].as_str().unwrap_or("finding"),
        );
        if v["complete"] == false {
            println!("  the budget ran out first (--runs / --max-total-time): a longer run may shrink it further");
        }
        if let Some(others) = v["other_findings"].as_array().filter(|o| !o.is_empty()) {
            println!("  {} other finding(s) met on the way were not accepted (different signature)", others.len());
        }
        let mut repro = format!("cargo protocrash repro {target} {}", crate::campaign::display_path(&out));
        for o in super::repeated_options(&args.project, &args.build) {
            repro += &format!(" {o}");
        }
        println!("  saved: {}\n  reproduce: {repro}", crate::campaign::display_path(&out));
    }
    Ok(ExitCode::from(if succeeded { super::EXIT_OK } else { 2 }))
}

fn minimize_corpus(args: &MinimizeArgs, project: &Project, target: &str, harness: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    let corpus_dir = project.corpus_dir(target);
    let sync_dir = args.sync_dir.clone().unwrap_or_else(|| project.sync_dir(target));
    let mut paths = crate::batch::gather_corpus(&corpus_dir, &args.corpus, &sync_dir)?;
    let files_before = paths.len();
    let mut too_big = Vec::new();
    paths.retain(|p| {
        let big = std::fs::metadata(p).is_ok_and(|m| m.len() > args.max_len);
        if big {
            too_big.push(p.clone());
        }
        !big
    });
    let (inputs, unreadable) = minimize::dedup(paths);
    let bytes_before: u64 = inputs.iter().map(|i| i.data.len() as u64).sum();
    if inputs.is_empty() {
        bail!(
            "no corpus to minimise for '{target}': {} and the sync dir {} hold no inputs",
            crate::campaign::display_path(&corpus_dir),
            crate::campaign::display_path(&sync_dir)
        );
    }
    let jobs = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize);
    let runs = crate::batch::replay_all(&replay_config(args), harness, &inputs, jobs, &interrupted)?;
    if interrupted.load(Ordering::Relaxed) {
        println!("protocrash: interrupted; nothing was changed");
        return Ok(ExitCode::from(130));
    }
    let kept = minimize::cover(&inputs, &runs);
    let all = minimize::features_of(&runs, 0..runs.len());
    let covered = minimize::features_of(&runs, kept.iter().copied());
    if all != covered {
        bail!(
            "internal error: the minimised set lost coverage ({} of {} features); nothing was changed",
            covered.len(),
            all.len()
        );
    }
    let kept_inputs: Vec<&Input> = kept.iter().map(|&i| &inputs[i]).collect();
    let out = args.out.clone().unwrap_or_else(|| corpus_dir.clone());
    write_corpus(&out, &kept_inputs, args.out.is_none(), &interrupted)?;
    let bytes_after: u64 = kept_inputs.iter().map(|i| i.data.len() as u64).sum();
    let edges: std::collections::BTreeSet<u32> = all.iter().map(|f| f >> 3).collect();
    let set_aside: Vec<(&Input, &Replayed)> =
        inputs.iter().zip(&runs).filter(|(_, r)| !matches!(r, Replayed::Ok { .. })).collect();
    if args.json {
        let doc = serde_json::json!({
            "files_before": files_before, "distinct_before": inputs.len(), "bytes_before": bytes_before,
            "files_after": kept_inputs.len(), "bytes_after": bytes_after,
            "features": all.len(), "edges": edges.len(), "out": out, "seconds": started.elapsed().as_secs_f64(),
            "harness": harness,
            "set_aside": set_aside.iter().map(|(i, r)| match r {
                Replayed::Finding { kind, message, location } =>
                    serde_json::json!({"file": i.path, "kind": kind, "message": message, "location": location}),
                Replayed::Unreadable(e) => serde_json::json!({"file": i.path, "kind": "unreadable", "message": e}),
                Replayed::Ok { .. } => unreachable!(),
            }).collect::<Vec<_>>(),
            "too_big": too_big,
        });
        println!("{doc}");
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    println!(
        "protocrash: minimised '{target}' in {:.1}s: {files_before} files ({} distinct, {}) -> {} files ({}), \
         every one of {} edges ({} features) kept",
        started.elapsed().as_secs_f64(),
        inputs.len(),
        bytes(bytes_before),
        kept_inputs.len(),
        bytes(bytes_after),
        edges.len(),
        all.len()
    );
    println!("  written to {}", crate::campaign::display_path(&out));
    for (i, r) in &set_aside {
        match r {
            Replayed::Finding { kind, message, location } => {
                let at = if location.is_empty() { String::new() } else { format!(" at {location}") };
                println!("  set aside ({kind}): {}: {message}{at}", i.path.display());
            }
            Replayed::Unreadable(e) => println!("  set aside (unreadable): {}: {e}", i.path.display()),
            Replayed::Ok { .. } => {}
        }
    }
    for p in &too_big {
        println!("  set aside (over --max-len {}): {}", args.max_len, p.display());
    }
    for (p, e) in &unreadable {
        println!("  set aside (unreadable): {}: {e}", p.display());
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// Writes the minimised corpus to `out`, all or nothing: into a temporary directory beside
/// it, then swapped in with renames, so an interrupted or failed write leaves `out` as it was.
fn write_corpus(out: &Path, kept: &[&Input], replace: bool, interrupted: &AtomicBool) -> Result<()> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "corpus".into());
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    if !replace && out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!("{} exists and is not empty; give --out a new directory (nothing was changed)", out.display());
    }
    let pid = std::process::id();
    let tmp = parent.join(format!("{}minimize-{name}-{pid}", protocrash_proto::naming::TEMP_PREFIX));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| -> Result<()> {
        std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        for (input, file) in kept.iter().zip(minimize::output_names(kept)) {
            std::fs::write(tmp.join(&file), &input.data)
                .with_context(|| format!("cannot write {}", tmp.join(&file).display()))?;
        }
        if interrupted.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!("{} was not changed", out.display())));
    }
    if out.exists() {
        let old = parent.join(format!("{}old-{name}-{pid}", protocrash_proto::naming::TEMP_PREFIX));
        std::fs::rename(out, &old).with_context(|| format!("cannot move {} aside", out.display()))?;
        if let Err(e) = std::fs::rename(&tmp, out) {
            let _ = std::fs::rename(&old, out);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e).with_context(|| {
                format!("cannot put the minimised corpus in place; {} was not changed", out.display())
            });
        }
        std::fs::remove_dir_all(&old).with_context(|| format!("cannot remove the old corpus {}", old.display()))?;
    } else {
        std::fs::rename(&tmp, out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    Ok(())
}
