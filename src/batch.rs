//! Replaying many inputs fast: the harness's coverage replay (one child runs input after
//! input in process; a crash ends only that child) in several harness processes at once.
//! `minimize` uses it for every input's features, `repro --regression` for every input's
//! outcome.

use crate::minimize::{self, Input};
use anyhow::{bail, Context, Result};
use protocrash_proto::config::{ReplayConfig, REPLAY_ENV};
use protocrash_proto::layout::SyncDir;
use protocrash_proto::replay::ReplayOutcome;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The inputs of a corpus directory (see `files::corpus_files`): symlinks followed only
/// where the user pointed (`follow`); an unreadable directory is an error that names it.
pub fn corpus_files(dir: &Path, follow: bool) -> Result<Vec<PathBuf>> {
    protocrash_proto::files::corpus_files(dir, follow).with_context(|| format!("cannot read {}", dir.display()))
}

/// A target's corpus as `minimize` and `coverage` see it: `fuzz/corpus/<target>`, the
/// `extra` directories, and every worker queue of the sync dir (properly named entries only).
pub fn gather_corpus(corpus_dir: &Path, extra: &[PathBuf], sync: &SyncDir) -> Result<Vec<PathBuf>> {
    let mut paths = corpus_files(corpus_dir, true)?;
    for d in extra {
        if !d.is_dir() {
            bail!("--corpus {}: not a directory", d.display());
        }
        paths.extend(corpus_files(d, true)?);
    }
    paths.extend(queue_entries(sync)?);
    Ok(paths)
}

/// The properly named entries of every worker queue in the sync dir.
pub fn queue_entries(sync: &SyncDir) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for w in crate::aggregate::worker_dirs(sync) {
        paths.extend(corpus_files(&w.queue(), false)?.into_iter().filter(|p| {
            p.file_name().and_then(|n| n.to_str()).and_then(protocrash_proto::naming::parse_queue_name).is_some()
        }));
    }
    Ok(paths)
}

/// Replays every input through `jobs` harness processes; results in `inputs` order.
pub fn replay_all(
    base: &ReplayConfig,
    harness: &Path,
    inputs: &[Input],
    jobs: usize,
    interrupted: &AtomicBool,
) -> Result<Vec<ReplayOutcome>> {
    let tmp = tempfile::Builder::new().prefix("protocrash-minimize-").tempdir()?;
    let index: HashMap<&Path, usize> = inputs.iter().enumerate().map(|(i, x)| (x.path.as_path(), i)).collect();
    let results: Mutex<Vec<Option<ReplayOutcome>>> = Mutex::new(vec![None; inputs.len()]);
    let bar = indicatif::ProgressBar::new(inputs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("replaying {bar:40} {pos}/{len} inputs ({per_sec}, eta {eta})")
            .expect("the template is valid"),
    );
    if !console::Term::stdout().is_term() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let jobs = jobs.clamp(1, inputs.len());
    let mut children = Vec::new();
    for j in 0..jobs {
        // Interleaved chunks: big and small files spread evenly over the processes.
        let mut list = Vec::new();
        for x in inputs.iter().skip(j).step_by(jobs) {
            list.extend_from_slice(x.path.as_os_str().as_encoded_bytes());
            list.push(0);
        }
        let list_path = tmp.path().join(format!("list-{j}"));
        std::fs::write(&list_path, list)?;
        let cfg = ReplayConfig { coverage: true, files_from: Some(list_path), ..base.clone() };
        let child = std::process::Command::new(harness)
            .env(REPLAY_ENV, cfg.encode())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the harness {}", harness.display()))?;
        children.push(child);
    }
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let stdouts: Vec<_> = children.iter_mut().map(|c| c.stdout.take().expect("piped")).collect();
    std::thread::scope(|s| {
        for stdout in stdouts {
            let (results, bar, index, failures, done) = (&results, &bar, &index, &failures, &done);
            s.spawn(move || {
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    match minimize::parse_line(&line) {
                        Some((file, r)) => {
                            if let Some(&i) = index.get(file.as_path()) {
                                results.lock().expect("no panics while held")[i] = Some(r);
                                bar.inc(1);
                            }
                        }
                        None => failures.lock().expect("no panics while held").push(line),
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        // Ctrl-C or SIGTERM: end the replays; the readers finish when the pipes close.
        while done.load(Ordering::Relaxed) < jobs {
            if interrupted.load(Ordering::Relaxed) {
                for c in &mut children {
                    let _ = c.kill();
                }
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    bar.finish_and_clear();
    let mut errors = String::new();
    for c in &mut children {
        let status = c.wait()?;
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        if !status.success() && !interrupted.load(Ordering::Relaxed) {
            errors += &format!("{status}: {}\n", err.trim_end());
        }
    }
    if interrupted.load(Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    let results = results.into_inner().expect("no panics while held");
    let missing = results.iter().filter(|r| r.is_none()).count();
    if !errors.is_empty() || missing > 0 {
        let odd = failures.into_inner().expect("no panics while held").join("\n");
        bail!(
            "the harness failed while replaying the corpus ({missing} inputs without a result); nothing was \
             changed:\n{errors}{odd}"
        );
    }
    Ok(results.into_iter().map(|r| r.expect("checked above")).collect())
}
