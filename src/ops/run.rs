//! `run`: build the targets, fuzz each for its share of the time, and turn every campaign's
//! summary into a report row (in CI, every new finding's reproducer minimised).

use crate::campaign::{self, CampaignConfig, Summary};
use crate::cli::RunArgs;
use crate::project::Project;
use crate::report::{FindingRow, TargetRow, TargetStatus};
use crate::shell::{display_path, ReproCommand};
use anyhow::{bail, Result};
use protocrash_proto::finding::{Finding, FindingKind};
use protocrash_proto::layout::SyncDir;
use protocrash_proto::naming::sanitize_node;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a `run` did.
pub struct RunOutcome {
    /// One row per target fuzzed (or that failed).
    pub rows: Vec<TargetRow>,
    /// The seed used.
    pub seed: u64,
    /// Whether CI mode was on.
    pub ci: bool,
}

/// Whether `run` is in CI mode: `--ci`, or `CI=true` with stdout not a terminal.
pub fn ci_mode(args: &RunArgs) -> bool {
    args.ci || (std::env::var("CI").is_ok_and(|v| v == "true") && !console::Term::stdout().is_term())
}

/// Builds and fuzzes the targets `args` names; `on_summary` sees each campaign as it ends.
pub fn run(args: &RunArgs, mut on_summary: impl FnMut(&Summary, &CampaignConfig)) -> Result<RunOutcome> {
    let project = Project::locate(args.project.fuzz_dir.as_deref())?;
    let ci = ci_mode(args);
    let targets = targets(&project, args)?;
    for dir in &args.corpus {
        if !dir.is_dir() {
            bail!("--corpus {}: no such directory (a seed corpus is a directory of input files)", dir.display());
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(j) = args.jobs.filter(|&j| j > cores as u64) {
        eprintln!(
            "protocrash: warning: -j {j} is more than the {cores} cores here: the workers share them, each runs \
             slower, and starting them takes a while"
        );
    }
    let bins = crate::builder::build(&project, &targets, &crate::commands::build_options(&args.build))?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    });
    let per_target = match (args.time_per_target, args.max_total_time) {
        (Some(t), _) => Some(t),
        (None, Some(total)) => Some(total / targets.len() as u32),
        (None, None) => None,
    };
    let dict = read_dictionaries(&args.dict)?;
    let mut rows = Vec::new();
    for target in &targets {
        let cfg = CampaignConfig {
            harness: bins[target].clone(),
            sync: match (&args.sync_dir, args.all) {
                (Some(d), false) => SyncDir::new(d),
                (Some(d), true) => SyncDir::new(d.join(target)),
                (None, _) => project.sync_dir(target),
            },
            node: sanitize_node(&args.node.clone().unwrap_or_else(host_name)),
            seed_dirs: std::iter::once(project.corpus_dir(target)).chain(args.corpus.iter().cloned()).collect(),
            corpus_dir: project.corpus_dir(target),
            artifact_dir: project.artifact_dir(target),
            seed,
            timeout: args.timeout,
            rss_limit_mb: args.rss_limit_mb,
            max_len: args.max_len as usize,
            runs: args.runs,
            max_total_time: per_target,
            fail_fast: args.fail_fast,
            cmp: !args.no_cmp,
            dict: match args.no_auto_dict || args.no_cmp {
                true => dict.clone(),
                false => with_auto_tokens(&dict, &bins[target]),
            },
            plain: args.plain || ci,
            jobs: args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize),
            sync_interval: args.sync_interval,
            known: known_artifacts(&project.artifact_dir(target)),
            repro: ReproCommand {
                prefix: format!("cargo protocrash repro {target}"),
                options: crate::commands::repeated_options(&args.project, &args.build),
                timeout: args.timeout,
                rss_limit_mb: args.rss_limit_mb,
            },
            target: target.clone(),
        };
        println!(
            "protocrash: fuzzing '{}' with {} worker{} (seed {seed}, sync dir {}{})",
            cfg.target,
            cfg.jobs,
            if cfg.jobs == 1 { "" } else { "s" },
            display_path(cfg.sync.root()),
            per_target.map(|t| format!(", {}", crate::display::clock(t))).unwrap_or_default()
        );
        match campaign::run(&cfg) {
            Ok(summary) => {
                on_summary(&summary, &cfg);
                rows.push(target_row(&cfg, &summary, ci));
                if summary.interrupted {
                    break;
                }
            }
            Err(e) if args.all => {
                eprintln!("error: target '{target}': {e:#}");
                rows.push(TargetRow {
                    status: TargetStatus::Error,
                    error: Some(format!("{e:#}")),
                    ..TargetRow::empty(target)
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(RunOutcome { rows, seed, ci })
}

fn targets(project: &Project, args: &RunArgs) -> Result<Vec<String>> {
    if !args.all {
        return Ok(vec![project.target(args.target.as_deref())?]);
    }
    for f in &project.foreign {
        println!("protocrash: skipping '{f}': its package uses neither the protocrash runtime nor libfuzzer-sys");
    }
    let t: Vec<String> = project.targets.iter().filter(|t| !project.foreign.contains(t)).cloned().collect();
    if t.is_empty() {
        bail!("no protocrash targets in {}", project.fuzz_dir.display());
    }
    Ok(t)
}

fn target_row(cfg: &CampaignConfig, summary: &Summary, ci: bool) -> TargetRow {
    let seen = |f: &Finding| f.last_seen_ms >= summary.started_ms;
    let count =
        |kind: &[FindingKind]| summary.findings.iter().filter(|f| seen(f) && kind.contains(&f.kind)).count() as u64;
    let findings: Vec<FindingRow> = summary
        .findings
        .iter()
        .map(|f| {
            // In CI, the reproducer a developer downloads should be small: minimise it
            // (bounded), keeping the same crash.
            let minimized = if ci && seen(f) { minimize_reproducer(cfg, f) } else { None };
            FindingRow {
                id: f.id.clone(),
                kind: f.kind,
                message: f.message.clone(),
                location: f.location.clone(),
                known: !summary.new_ids.contains(&f.id),
                seen_this_run: seen(f),
                hits: f.count,
                artifact: display_path(Path::new(&f.artifact)),
                reproduce: match &minimized {
                    Some(m) => cfg.repro.for_file(m, f.kind),
                    None => cfg.repro.for_finding(f),
                },
                minimized: minimized.map(|m| display_path(&m)),
            }
        })
        .collect();
    let failing = summary.hits > 0 || findings.iter().any(|f| f.seen_this_run);
    TargetRow {
        name: cfg.target.clone(),
        status: if failing { TargetStatus::Findings } else { TargetStatus::Clean },
        hits: summary.hits,
        error: None,
        execs: summary.execs,
        execs_per_sec: summary.execs as f64 / summary.elapsed.as_secs_f64().max(1e-3),
        seconds: summary.elapsed.as_secs_f64(),
        edges: summary.edges,
        corpus: summary.corpus,
        crashes: count(&[FindingKind::Panic, FindingKind::Signal, FindingKind::StackOverflow]),
        hangs: count(&[FindingKind::Hang]),
        ooms: count(&[FindingKind::Oom]),
        findings,
    }
}

/// Shrinks a finding's reproducer with the harness's crash minimiser (at most 2,000 runs or
/// 30 s); the minimised file, or None if it could not be shrunk.
fn minimize_reproducer(cfg: &CampaignConfig, f: &Finding) -> Option<PathBuf> {
    let input = PathBuf::from(&f.artifact);
    let out = input.with_file_name(format!("minimized-{}", input.file_name()?.to_string_lossy()));
    let spec = protocrash_proto::config::MinimizeSpec { runs: 2000, max_ms: 30_000, out: out.clone(), cleanse: false };
    let limits = protocrash_proto::config::ReplayConfig::new(cfg.timeout.as_millis().max(1) as u64, cfg.rss_limit_mb);
    let (_, succeeded) = crate::minimize::shrink_crash(&cfg.harness, &input, spec, &limits).ok()?;
    (succeeded && out.is_file()).then_some(out)
}

/// Ids of findings whose reproducers are kept in `fuzz/artifacts/<target>` (named
/// `<kind>-<id>`, as protocrash saves them).
fn known_artifacts(dir: &Path) -> HashSet<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return HashSet::new() };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (kind, id) = name.rsplit_once('-')?;
            (["crash", "hang", "oom"].contains(&kind) && id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| id.to_string())
        })
        .collect()
}

/// The user's dictionary followed by the tokens the build read from wide compares.
fn with_auto_tokens(dict: &[Vec<u8>], harness: &std::path::Path) -> Vec<Vec<u8>> {
    let mut all = dict.to_vec();
    for t in crate::autodict::tokens_for(harness) {
        if !all.contains(&t) {
            all.push(t);
        }
    }
    all
}

fn read_dictionaries(files: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let mut tokens = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read the dictionary {}: {e}", f.display()))?;
        let parsed = protocrash_proto::dict::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}; fix the line or drop the file", f.display()))?;
        tokens.extend(parsed);
    }
    tokens.sort();
    tokens.dedup();
    Ok(tokens)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_reproducers_are_recognised_by_name() {
        let d = tempfile::tempdir().unwrap();
        for name in [
            "crash-00112233aabbccdd",
            "hang-0011223344556677",
            "minimized-crash-00112233aabbccdd",
            "notes.txt",
            "crash-xyz",
        ] {
            std::fs::write(d.path().join(name), b"x").unwrap();
        }
        let known = known_artifacts(d.path());
        let mut k: Vec<&str> = known.iter().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, vec!["0011223344556677", "00112233aabbccdd"]);
    }
}
