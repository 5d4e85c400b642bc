//! The file operations both sides do in corpus and sync-dir directories: writing a file so
//! no reader ever sees it half-written, opening and reading a file others may have planted,
//! making a directory, listing the inputs a corpus directory holds. The sync dir is hostile
//! ground: a write never follows a symlink planted at its temporary name (`O_EXCL`) and
//! replaces, never follows, one at its final name (`rename`); an open never follows a
//! symlink and never blocks on a FIFO; a directory that is a symlink is never entered.

use crate::naming::TEMP_PREFIX;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How a sync-dir file is opened by [`open_regular`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write, never created (the master's view of a worker's stats).
    ReadWrite,
    /// Read and write, created if missing (the worker's mapped files).
    ReadWriteCreate,
    /// Written from the start, created if missing, truncated (a fresh log).
    Truncate,
    /// Appended to, created if missing (a log carried on, `plot_data`).
    Append,
}

/// Opens a file of the sync dir, where others may have planted anything: a symlink at the
/// name is never followed (`O_NOFOLLOW`), a FIFO or device is never waited on (`O_NONBLOCK`,
/// then refused), and anything but a regular file is an error saying what it is.
pub fn open_regular(path: &Path, access: Access) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    match access {
        Access::Read => o.read(true),
        Access::ReadWrite => o.read(true).write(true),
        Access::ReadWriteCreate => o.read(true).write(true).create(true),
        // Truncated only after the checks below: O_TRUNC would empty a victim first.
        Access::Truncate => o.write(true).create(true),
        Access::Append => o.append(true).create(true),
    };
    let f = o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            std::io::Error::new(e.kind(), format!("{} is a symbolic link; it is never followed", path.display()))
        } else {
            e
        }
    })?;
    let meta = f.metadata()?;
    let t = meta.file_type();
    if !t.is_file() {
        let what = if t.is_fifo() {
            "a FIFO"
        } else if t.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is {what}; only regular files are read or written in the sync dir", path.display()),
        ));
    }
    if access != Access::Read {
        use std::os::unix::fs::MetadataExt;
        let me = nix::unistd::geteuid().as_raw();
        let refuse = if meta.uid() != me {
            Some(format!("belongs to another user (uid {})", meta.uid()))
        } else if meta.nlink() > 1 {
            // A hard link planted to a file elsewhere is as dangerous as a symlink.
            Some(format!("has {} hard links", meta.nlink()))
        } else {
            None
        };
        if let Some(why) = refuse {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{} {why}; the campaign writes only files of its own", path.display()),
            ));
        }
        if access == Access::Truncate {
            f.set_len(0)?;
        }
    }
    Ok(f)
}

/// Reads a small sync-dir file (an index, a dictionary, `campaign.json`) through
/// [`open_regular`], refusing one over `limit` bytes rather than loading it.
pub fn read_regular(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = open_regular(path, Access::Read)?;
    let mut data = Vec::new();
    f.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is over {limit} bytes; not read", path.display()),
        ));
    }
    Ok(data)
}

/// Makes sure `dir` is a real directory, creating it (and missing parents) if needed: a
/// symlink or a file planted at its name is refused, so nothing is written through it.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_dir() => return Ok(()),
        Ok(m) => {
            let what = if m.file_type().is_symlink() { "a symbolic link" } else { "not a directory" };
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} is {what}; protocrash writes only into real directories", dir.display()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        // Created by another worker meanwhile: check what it is.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => ensure_dir(dir),
        Err(e) => Err(std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))),
    }
}

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
    fn planted_links_fifos_and_dirs_are_refused_without_blocking() {
        let dir = scratch("hostile");
        let victim = dir.join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("log")).unwrap();
        for access in [Access::Read, Access::ReadWrite, Access::ReadWriteCreate, Access::Truncate, Access::Append] {
            let err = open_regular(&dir.join("log"), access).unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        let fifo = dir.join("coverage");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Would block forever without O_NONBLOCK (no writer ever opens it).
        let err = open_regular(&fifo, Access::Read).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        assert!(read_regular(&fifo, 10).is_err());
        fs::create_dir(dir.join("d")).unwrap();
        assert!(open_regular(&dir.join("d"), Access::Read).is_err());
        fs::write(dir.join("big"), vec![1u8; 11]).unwrap();
        assert!(read_regular(&dir.join("big"), 10).unwrap_err().to_string().contains("over 10 bytes"));
        assert_eq!(read_regular(&victim, 10).unwrap(), b"precious");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ensure_dir_refuses_a_planted_symlink() {
        let dir = scratch("ensure");
        let outside = scratch("ensure-outside");
        std::os::unix::fs::symlink(&outside, dir.join("w-1")).unwrap();
        let err = ensure_dir(&dir.join("w-1").join("queue")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "nothing created through the link");
        ensure_dir(&dir.join("w-0").join("queue")).unwrap();
        ensure_dir(&dir.join("w-0").join("queue")).unwrap();
        assert!(dir.join("w-0/queue").is_dir());
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&outside).unwrap();
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
