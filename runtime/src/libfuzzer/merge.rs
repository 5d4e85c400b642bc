//! `-merge=1 OUT IN…`: copies into OUT the inputs of the IN directories that add coverage to
//! what OUT already has, smallest first, named by SHA-1; ends with libFuzzer's
//! `MERGE-OUTER: N new files with F new features added; E new coverage edges` line, which
//! ClusterFuzz's two-step merge takes its corpus statistics from.
//!
//! The features come from protocrash's coverage replay (this binary again, one child running
//! input after input, a fresh child after an input that crashes, hangs or runs out of memory).

use super::flags::{Flags, USAGE_EXIT};
use super::output::sha1_hex;
use super::FILE_LIMIT;
use protocrash_proto::config::REPLAY_ENV;
use protocrash_proto::replay::{ReplayOutcome, ReplayRecord};
use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;

/// Runs the merge; returns the exit code (0 when it completed).
pub fn merge(flags: &Flags) -> i32 {
    let [out, inputs @ ..] = &flags.inputs[..] else {
        eprintln!("ERROR: protocrash: -merge=1 needs an output corpus directory and input directories");
        return USAGE_EXIT;
    };
    if inputs.is_empty() {
        eprintln!("ERROR: protocrash: -merge=1 needs at least one input directory after {}", out.display());
        return USAGE_EXIT;
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("ERROR: protocrash: cannot create {}: {e}", out.display());
        return USAGE_EXIT;
    }
    let list = |dir: &PathBuf| protocrash_proto::files::corpus_files(dir, true).unwrap_or_default();
    let initial = list(out);
    let mut candidates: Vec<(u64, PathBuf)> = inputs
        .iter()
        .flat_map(list)
        .map(|p| (std::fs::metadata(&p).map_or(u64::MAX, |m| m.len()), p))
        .collect();
    // Smallest first: of two inputs with the same features the smaller one is kept.
    candidates.sort();
    eprintln!(
        "MERGE-OUTER: {} files, {} in the initial corpus, 0 processed earlier",
        initial.len() + candidates.len(),
        initial.len()
    );
    let files: Vec<PathBuf> = initial.iter().cloned().chain(candidates.into_iter().map(|(_, p)| p)).collect();
    let records = match replay(&files, flags) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ERROR: protocrash: {e}");
            return USAGE_EXIT;
        }
    };
    let mut features: HashSet<u32> = HashSet::new();
    let mut edges: HashSet<u32> = HashSet::new();
    let mut initial_features = 0;
    let mut initial_edges = 0;
    let mut chosen = Vec::new();
    let mut crashed = 0;
    for (i, path) in files.iter().enumerate() {
        let Some(ReplayOutcome::Ok { features: f, .. }) = records.get(i).map(|r| &r.outcome) else {
            if matches!(records.get(i).map(|r| &r.outcome), Some(ReplayOutcome::Finding(_))) {
                crashed += 1;
            }
            continue;
        };
        let before = features.len();
        for &feature in f {
            features.insert(feature);
            edges.insert(feature >> 3);
        }
        if i < initial.len() {
            initial_features = features.len();
            initial_edges = edges.len();
        } else if features.len() > before {
            chosen.push(path.clone());
        }
    }
    let mut written = 0;
    let mut control = String::from("protocrash merge: inputs that added features, in the order taken\n");
    for path in &chosen {
        let data = match protocrash_proto::files::read_regular(path, FILE_LIMIT) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("WARNING: protocrash: cannot read {} again: {e}; not merged", path.display());
                continue;
            }
        };
        let dest = out.join(sha1_hex(&data));
        if !dest.exists() {
            if let Err(e) = protocrash_proto::files::write_atomic(&dest, &data) {
                eprintln!("ERROR: protocrash: cannot write {}: {e}", dest.display());
                return USAGE_EXIT;
            }
            written += 1;
        }
        control.push_str(&format!("{}\n", path.display()));
    }
    if let Some(mcf) = &flags.merge_control_file {
        if let Err(e) = std::fs::write(mcf, control) {
            eprintln!("WARNING: protocrash: cannot write the merge control file {}: {e}", mcf.display());
        }
    }
    if crashed > 0 {
        eprintln!("MERGE-OUTER: {crashed} inputs crashed, hung or ran out of memory and were left out");
    }
    eprintln!(
        "MERGE-OUTER: {written} new files with {} new features added; {} new coverage edges",
        features.len() - initial_features,
        edges.len() - initial_edges
    );
    0
}

/// Coverage replay of `files` in a child of this binary; one record per file, in order
/// (None-like gaps are impossible: a file whose record is missing reads as not replayed).
fn replay(files: &[PathBuf], flags: &Flags) -> Result<Vec<ReplayRecord>, String> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let list_dir = std::env::temp_dir();
    let list = list_dir.join(format!("protocrash-merge-{}.list", std::process::id()));
    let mut bytes = Vec::new();
    for f in files {
        bytes.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(f.as_os_str()));
        bytes.push(0);
    }
    std::fs::write(&list, bytes).map_err(|e| format!("cannot write {}: {e}", list.display()))?;
    let mut cfg = super::replay_config(flags);
    cfg.coverage = true;
    cfg.files_from = Some(list.clone());
    let exe = super::self_exe().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(exe)
        .env(REPLAY_ENV, cfg.encode())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let result = (|| {
        let mut child = child.map_err(|e| format!("cannot start the coverage replay: {e}"))?;
        let stdout = child.stdout.take().ok_or("no replay output")?;
        let mut by_file = std::collections::HashMap::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            if let Ok(r) = ReplayRecord::decode(&line) {
                by_file.insert(r.file.clone(), r);
            }
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the coverage replay failed ({status})"));
        }
        Ok(files
            .iter()
            .map(|f| {
                by_file.remove(f).unwrap_or(ReplayRecord {
                    file: f.clone(),
                    outcome: ReplayOutcome::Unreadable { message: "not replayed".into() },
                })
            })
            .collect())
    })();
    let _ = std::fs::remove_file(&list);
    result
}
