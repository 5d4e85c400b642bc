//! The two file operations both sides do on corpus and sync-dir directories: writing a file
//! so no reader ever sees it half-written, and listing the inputs a corpus directory holds.
//! The sync dir may be written by others: a write never follows a symlink planted at its
//! temporary name (`O_EXCL`) and replaces, never follows, one at its final name (`rename`).

use crate::naming::TEMP_PREFIX;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` atomically: to a `.tmp-` name in the same directory (created
/// exclusively, so nothing already there — a file, a symlink, a FIFO — is opened), then
/// renamed into place. On error nothing is left behind and the error says which file.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!("{TEMP_PREFIX}{name}-{}", std::process::id()));
    // A temp file a dead writer with our pid left behind (pid reuse) is ours to replace;
    // remove_file removes a symlink itself, never its target.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// The inputs of a corpus directory, sorted by name: regular files whose name does not start
/// with `.` (temp files, editors' droppings). Symlinks are followed only when `follow` (the
/// user's own seed directories), never in the sync dir. A missing directory holds nothing;
/// another error is returned.
pub fn corpus_files(dir: &Path, follow: bool) -> std::io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| {
            let meta = if follow { fs::metadata(e.path()) } else { fs::symlink_metadata(e.path()) };
            meta.is_ok_and(|m| m.is_file())
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("protocrash-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn atomic_write_leaves_only_the_final_file() {
        let dir = scratch("atomic");
        write_atomic(&dir.join("entry"), b"complete").unwrap();
        write_atomic(&dir.join("entry"), b"replaced whole").unwrap();
        let names: Vec<String> =
            fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["entry"]);
        assert_eq!(fs::read(dir.join("entry")).unwrap(), b"replaced whole");
        let err = write_atomic(&dir.join("missing").join("x"), b"y").unwrap_err();
        assert!(err.to_string().contains("missing/x"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_at_either_name_is_never_written_through() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("entry")).unwrap();
        let tmp = dir.join(format!("{TEMP_PREFIX}other-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        write_atomic(&dir.join("entry"), b"new").unwrap();
        write_atomic(&dir.join("other"), b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(!fs::symlink_metadata(dir.join("entry")).unwrap().file_type().is_symlink());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corpus_listing_skips_dot_files_dirs_and_unfollowed_links() {
        let dir = scratch("list");
        fs::write(dir.join("b"), b"1").unwrap();
        fs::write(dir.join("a"), b"2").unwrap();
        fs::write(dir.join(".tmp-c"), b"3").unwrap();
        fs::create_dir(dir.join("d")).unwrap();
        std::os::unix::fs::symlink(dir.join("a"), dir.join("e")).unwrap();
        let names = |follow| -> Vec<String> {
            corpus_files(&dir, follow)
                .unwrap()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(false), ["a", "b"]);
        assert_eq!(names(true), ["a", "b", "e"]);
        assert!(corpus_files(&dir.join("none"), false).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
