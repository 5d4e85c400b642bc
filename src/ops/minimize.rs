//! Corpus minimisation end to end: gather every input of a target (corpus, `--corpus`
//! directories, the sync dir's queues), replay them all for their features, keep a smallest
//! covering set, and swap it in for the corpus all or nothing.

use crate::minimize::{self, Input};
use crate::shell::display_path;
use anyhow::{bail, Context, Result};
use protocrash_proto::config::ReplayConfig;
use protocrash_proto::layout::SyncDir;
use protocrash_proto::replay::ReplayOutcome;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What to minimise and how.
pub struct CorpusJob<'a> {
    /// The target.
    pub target: &'a str,
    /// Its built harness.
    pub harness: &'a Path,
    /// `fuzz/corpus/<target>`.
    pub corpus_dir: PathBuf,
    /// Extra `--corpus` directories.
    pub extra: &'a [PathBuf],
    /// The sync dir whose queues are read too.
    pub sync: SyncDir,
    /// Where the result goes (None: replace the corpus directory).
    pub out: Option<PathBuf>,
    /// Inputs over this size are set aside.
    pub max_len: u64,
    /// Harness processes.
    pub jobs: usize,
    /// Replay limits.
    pub replay: ReplayConfig,
}

/// An input left out of the result, and why.
#[derive(Debug, Serialize)]
pub struct SetAside {
    /// The file.
    pub file: PathBuf,
    /// `panic`, `hang`, … or `unreadable` / `too-big`.
    pub kind: String,
    /// Message.
    pub message: String,
    /// Location of a finding.
    pub location: String,
}

/// What minimisation did (`minimize --json` prints this).
#[derive(Debug, Serialize)]
pub struct CorpusMinimized {
    /// Files read.
    pub files_before: usize,
    /// Distinct contents among them.
    pub distinct_before: usize,
    /// Their bytes.
    pub bytes_before: u64,
    /// Files kept.
    pub files_after: usize,
    /// Their bytes.
    pub bytes_after: u64,
    /// Features (edge and hit-count bucket) covered, before and after.
    pub features: usize,
    /// Edges covered, before and after.
    pub edges: usize,
    /// Where the result was written.
    pub out: PathBuf,
    /// Wall time.
    pub seconds: f64,
    /// The harness used.
    pub harness: PathBuf,
    /// Inputs left out.
    pub set_aside: Vec<SetAside>,
}

/// Minimises; None when interrupted (nothing was changed).
pub fn minimize_corpus(job: &CorpusJob, interrupted: &AtomicBool) -> Result<Option<CorpusMinimized>> {
    let started = Instant::now();
    let mut paths = crate::batch::gather_corpus(&job.corpus_dir, job.extra, &job.sync)?;
    let files_before = paths.len();
    let mut set_aside = Vec::new();
    paths.retain(|p| {
        let big = std::fs::metadata(p).is_ok_and(|m| m.len() > job.max_len);
        if big {
            set_aside.push(SetAside {
                file: p.clone(),
                kind: "too-big".into(),
                message: format!("over --max-len {}", job.max_len),
                location: String::new(),
            });
        }
        !big
    });
    let (inputs, unreadable) = minimize::dedup(paths);
    if inputs.is_empty() {
        bail!(
            "no corpus to minimise for '{}': {} and the sync dir {} hold no inputs",
            job.target,
            display_path(&job.corpus_dir),
            display_path(job.sync.root())
        );
    }
    let runs = crate::batch::replay_all(&job.replay, job.harness, &inputs, job.jobs, interrupted)?;
    if interrupted.load(Ordering::Relaxed) {
        return Ok(None);
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
    let out = job.out.clone().unwrap_or_else(|| job.corpus_dir.clone());
    write_corpus(&out, &kept_inputs, job.out.is_none(), interrupted)?;
    for (input, run) in inputs.iter().zip(&runs) {
        let (kind, message, location) = match run {
            ReplayOutcome::Ok { .. } => continue,
            ReplayOutcome::Finding(f) => (
                serde_json::to_value(f.kind)?.as_str().unwrap_or_default().to_string(),
                f.message.clone(),
                f.location.clone(),
            ),
            ReplayOutcome::Unreadable { message } => ("unreadable".into(), message.clone(), String::new()),
        };
        set_aside.push(SetAside { file: input.path.clone(), kind, message, location });
    }
    for (file, message) in unreadable {
        set_aside.push(SetAside { file, kind: "unreadable".into(), message, location: String::new() });
    }
    Ok(Some(CorpusMinimized {
        files_before,
        distinct_before: inputs.len(),
        bytes_before: inputs.iter().map(|i| i.data.len() as u64).sum(),
        files_after: kept_inputs.len(),
        bytes_after: kept_inputs.iter().map(|i| i.data.len() as u64).sum(),
        features: all.len(),
        edges: all.iter().map(|f| f >> 3).collect::<std::collections::BTreeSet<u32>>().len(),
        out,
        seconds: started.elapsed().as_secs_f64(),
        harness: job.harness.to_path_buf(),
        set_aside,
    }))
}

/// Writes the minimised corpus to `out`, all or nothing: into a temporary directory beside
/// it, then swapped in with one atomic exchange (`renameat2(RENAME_EXCHANGE)`), so an
/// interrupted or failed write leaves `out` as it was and there is no moment without `out`.
/// The old corpus, swapped out under the temporary name, is removed last; what an
/// interruption leaves of it is removed by the next `minimize` ([`remove_leftovers`]).
pub fn write_corpus(out: &Path, kept: &[&Input], replace: bool, interrupted: &AtomicBool) -> Result<()> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "corpus".into());
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    if !replace && out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!("{} exists and is not empty; give --out a new directory (nothing was changed)", out.display());
    }
    remove_leftovers(parent, &name);
    let tmp = parent.join(format!("{}{}", leftover_prefix(&name), std::process::id()));
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
    if !out.exists() {
        return std::fs::rename(&tmp, out).with_context(|| format!("cannot create {}", out.display()));
    }
    use nix::fcntl::{renameat2, RenameFlags};
    match renameat2(None, &tmp, None, out, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => {}
        // A file system without the exchange (some network ones): two renames, with a
        // moment between them where `out` is missing.
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {
            let old = parent.join(format!("{}old-{}", leftover_prefix(&name), std::process::id()));
            std::fs::rename(out, &old).with_context(|| format!("cannot move {} aside", out.display()))?;
            if let Err(e) = std::fs::rename(&tmp, out) {
                let _ = std::fs::rename(&old, out);
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e).with_context(|| {
                    format!("cannot put the minimised corpus in place; {} was not changed", out.display())
                });
            }
            std::fs::rename(&old, &tmp).with_context(|| format!("cannot rename {}", old.display()))?;
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(std::io::Error::from(e)).with_context(|| {
                format!("cannot put the minimised corpus in place; {} was not changed", out.display())
            });
        }
    }
    // `tmp` now holds the old corpus: the new one is in place whatever happens next.
    std::fs::remove_dir_all(&tmp).with_context(|| {
        format!(
            "the minimised corpus is in {}, but the old one could not be removed from {} (remove it by hand)",
            out.display(),
            tmp.display()
        )
    })
}

/// The name prefix of `minimize`'s temporary directories for the corpus `name`, followed by
/// the pid of the `minimize` that made them.
fn leftover_prefix(name: &str) -> String {
    format!("{}minimize-{name}-", protocrash_proto::naming::TEMP_PREFIX)
}

/// Removes the temporary directories an interrupted `minimize` of `name` left in `parent`
/// (a half-written new corpus, or a half-removed old one): those whose `minimize` is no
/// longer running.
pub fn remove_leftovers(parent: &Path, name: &str) {
    let prefix = leftover_prefix(name);
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else { continue };
        let pid = rest.trim_start_matches("old-").parse::<i32>().ok();
        // Signal 0 checks that the process exists; ESRCH means it is gone.
        let gone = pid.is_some_and(|p| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None) == Err(nix::errno::Errno::ESRCH)
        });
        if gone && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
