//! A cargo-fuzz project's Cargo.lock, opened up for one build and put back.
//!
//! A lock that pins crates.io's libfuzzer-sys keeps cargo from using protocrash's stand-in,
//! so for the build that entry is dropped (cargo resolves it again; every other pin stays)
//! and afterwards the file gets its exact bytes back, or is removed if there was none. The
//! user's file must survive anything in between: the original is saved beside the build
//! output first (and put back by the next build if this one was killed outright), and Ctrl-C
//! or SIGTERM during the build stops cargo but not the restore.

use anyhow::{bail, Context, Result};
use signal_hook::SigId;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const BACKUP: &str = ".protocrash-lock-backup";

/// Restores the lock when finished or dropped.
pub struct LockGuard {
    path: PathBuf,
    saved: Option<Vec<u8>>,
    backup: PathBuf,
    interrupted: Arc<AtomicBool>,
    signals: Vec<SigId>,
    done: bool,
}

impl LockGuard {
    /// Saves `lock` (into `backup_dir`) and drops `package`'s entries from it.
    pub fn unpin(lock: &Path, package: &str, backup_dir: &Path) -> Result<LockGuard> {
        let backup = backup_dir.join(BACKUP);
        recover(lock, &backup)?;
        let saved = match std::fs::read(lock) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", lock.display())),
        };
        std::fs::create_dir_all(backup_dir).with_context(|| format!("cannot create {}", backup_dir.display()))?;
        let mut record = lock.as_os_str().as_encoded_bytes().to_vec();
        record.push(0);
        if let Some(bytes) = &saved {
            record.push(b'P');
            record.extend_from_slice(bytes);
        } else {
            record.push(b'A');
        }
        write_atomic(&backup, &record)?;

        // First signal: cargo (same process group) stops, and so does the build, and the lock
        // is restored; a second one ends at once (the backup then restores it next time).
        let interrupted = Arc::new(AtomicBool::new(false));
        let mut signals = Vec::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signals.push(signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&interrupted))?);
            signals.push(signal_hook::flag::register(sig, Arc::clone(&interrupted))?);
        }
        let guard = LockGuard { path: lock.to_path_buf(), saved, backup, interrupted, signals, done: false };
        if let Some(text) = guard.saved.as_deref().and_then(|b| std::str::from_utf8(b).ok()) {
            let unpinned = without_package(text, package);
            if unpinned != text {
                write_atomic(lock, unpinned.as_bytes())?;
            }
        }
        Ok(guard)
    }

    /// Puts the lock back; an error if that failed or the build was interrupted.
    pub fn finish(mut self) -> Result<()> {
        self.restore()?;
        if self.interrupted.load(Ordering::Relaxed) {
            bail!("interrupted; {} is as it was before the build", self.path.display());
        }
        Ok(())
    }

    fn restore(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        for id in self.signals.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        put_back(&self.path, self.saved.as_deref())?;
        let _ = std::fs::remove_file(&self.backup);
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            eprintln!("warning: {e:#}; the original is kept in {}", self.backup.display());
        }
    }
}

/// An earlier build that was killed before it could restore the lock left its backup: put
/// the original back first.
fn recover(lock: &Path, backup: &Path) -> Result<()> {
    let Ok(record) = std::fs::read(backup) else { return Ok(()) };
    let Some(nul) = record.iter().position(|&b| b == 0) else { return Ok(()) };
    // Only the lock it was taken from.
    if &record[..nul] != lock.as_os_str().as_encoded_bytes() {
        return Ok(());
    }
    let original = match record.get(nul + 1) {
        Some(b'P') => Some(&record[nul + 2..]),
        Some(b'A') => None,
        _ => return Ok(()),
    };
    put_back(lock, original)?;
    eprintln!("note: restored {} as it was before an interrupted build", lock.display());
    let _ = std::fs::remove_file(backup);
    Ok(())
}

fn put_back(lock: &Path, original: Option<&[u8]>) -> Result<()> {
    let now = std::fs::read(lock).ok();
    if now.as_deref() == original {
        return Ok(());
    }
    match original {
        Some(bytes) => write_atomic(lock, bytes),
        None => std::fs::remove_file(lock).with_context(|| format!("cannot remove {}", lock.display())),
    }
}

/// Temp file + rename: the file is never seen half-written.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write to {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Whether a Cargo.lock has `name` from a registry.
pub fn pins_registry_package(lock: &str, name: &str) -> bool {
    let line = format!("name = \"{name}\"");
    lock.split("\n\n")
        .any(|block| block.lines().any(|l| l == line) && block.lines().any(|l| l.starts_with("source = \"registry+")))
}

/// A Cargo.lock without the `[[package]]` entries of `name` (references to it may dangle;
/// cargo resolves them again).
fn without_package(lock: &str, name: &str) -> String {
    let line = format!("name = \"{name}\"");
    lock.split("\n\n").filter(|block| !block.lines().any(|l| l == line)).collect::<Vec<_>>().join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "version = 4\n\n[[package]]\nname = \"arbitrary\"\nversion = \"1.4.1\"\n\n[[package]]\n\
        name = \"libfuzzer-sys\"\nversion = \"0.4.13\"\nsource = \"registry+https://x\"\ndependencies = [\n \"arbitrary\",\n]\n\n\
        [[package]]\nname = \"x-fuzz\"\ndependencies = [\n \"libfuzzer-sys\",\n]\n";

    #[test]
    fn a_lock_entry_is_dropped_whole() {
        let out = without_package(LOCK, "libfuzzer-sys");
        assert!(!out.contains("0.4.13"), "{out}");
        assert!(out.contains("name = \"arbitrary\"") && out.contains("name = \"x-fuzz\""), "{out}");
        assert_eq!(without_package(LOCK, "absent"), LOCK);
        assert!(pins_registry_package(LOCK, "libfuzzer-sys"));
        assert!(!pins_registry_package(&out, "libfuzzer-sys"));
        assert!(!pins_registry_package(LOCK, "x-fuzz"), "no source line: a path package");
    }

    #[test]
    fn the_lock_comes_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("Cargo.lock");
        std::fs::write(&lock, LOCK).unwrap();
        let guard = LockGuard::unpin(&lock, "libfuzzer-sys", &dir.path().join("target")).unwrap();
        assert!(!std::fs::read_to_string(&lock).unwrap().contains("0.4.13"));
        std::fs::write(&lock, "rewritten by cargo").unwrap();
        guard.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), LOCK);
        assert!(!dir.path().join("target").join(BACKUP).exists());

        // No lock before: none after.
        std::fs::remove_file(&lock).unwrap();
        let guard = LockGuard::unpin(&lock, "libfuzzer-sys", &dir.path().join("target")).unwrap();
        std::fs::write(&lock, "made by cargo").unwrap();
        drop(guard);
        assert!(!lock.exists());
    }

    #[test]
    fn a_killed_build_is_undone_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("Cargo.lock");
        std::fs::write(&lock, LOCK).unwrap();
        let guard = LockGuard::unpin(&lock, "libfuzzer-sys", dir.path()).unwrap();
        std::fs::write(&lock, "half-way").unwrap();
        std::mem::forget(guard); // as if the process had been killed
        let guard = LockGuard::unpin(&lock, "libfuzzer-sys", dir.path()).unwrap();
        guard.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), LOCK);
    }
}
