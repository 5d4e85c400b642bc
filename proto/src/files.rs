//! The file operations both sides do in corpus and sync-dir directories: writing a file so
//! no reader ever sees it half-written, opening and reading a file others may have planted,
//! making a directory, listing the inputs a corpus directory holds. The sync dir is hostile
//! ground: a write never follows a symlink planted at its temporary name (`O_EXCL`) and
//! replaces, never follows, one at its final name (`rename`); an open never follows a
//! symlink and never blocks on a FIFO; a directory that is a symlink is never entered.
//!
//! Below a root registered with [`guard`] (the sync dir), paths are not resolved by the
//! kernel from the top each time: each component under the root is opened with `openat`
//! relative to its parent's descriptor, `O_NOFOLLOW | O_DIRECTORY`, and the final open,
//! `mkdirat` or `renameat` is relative to the last one. A peer who swaps a directory for a
//! symlink between a check and a use finds nothing to swap: there is no later look-up by
//! path. Above the root the user's own path is followed as given.

use crate::naming::TEMP_PREFIX;
use rustix::fs::{AtFlags, Mode, OFlags};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// Roots below which nothing is ever resolved by path (see the module comment).
static GUARDED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Treats everything below `root` (a sync dir) as hostile ground for the rest of the process:
/// the functions of this module then walk it one `openat` at a time, never following a
/// symlink below `root`, and create or write only into directories of this user.
pub fn guard(root: &Path) {
    let mut roots = GUARDED.lock().unwrap_or_else(|e| e.into_inner());
    if !roots.iter().any(|r| r == root) {
        roots.push(root.to_path_buf());
    }
}

/// The guarded root `path` lies below, and the components under it.
fn beneath(path: &Path) -> Option<(PathBuf, Vec<std::ffi::OsString>)> {
    let roots = GUARDED.lock().unwrap_or_else(|e| e.into_inner());
    // The longest root that is a prefix: nested roots resolve from the innermost.
    let root = roots.iter().filter(|r| path.starts_with(r)).max_by_key(|r| r.as_os_str().len())?;
    let mut parts = Vec::new();
    for c in path.strip_prefix(root).ok()?.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::CurDir => {}
            // `..` below a guarded root would climb out of it: resolve such a path as given.
            _ => return None,
        }
    }
    Some((root.clone(), parts))
}

fn errno(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

/// Says what `name` in `dir` is, for an error about why it was not opened.
fn what_is(dir: &OwnedFd, name: &std::ffi::OsStr) -> &'static str {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode))
    {
        Ok(rustix::fs::FileType::Symlink) => "a symbolic link",
        Ok(rustix::fs::FileType::Fifo) => "a FIFO",
        Ok(rustix::fs::FileType::Directory) => "a directory",
        Ok(rustix::fs::FileType::RegularFile) => "a regular file",
        Ok(_) => "not a regular file",
        Err(_) => "missing",
    }
}

/// Opens the directory `root/parts…` one component at a time, never following a symlink
/// below `root`. With `create`, missing components are made, and every component below the
/// root must belong to this user (a directory someone else owns is not written into).
fn open_dir_beneath(root: &Path, parts: &[std::ffi::OsString], create: bool) -> std::io::Result<OwnedFd> {
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(root, dir_flags, Mode::empty())
        .map_err(|e| std::io::Error::new(errno(e).kind(), format!("cannot open {}: {e}", root.display())))?;
    let mut at = root.to_path_buf();
    for part in parts {
        at.push(part);
        if create {
            match rustix::fs::mkdirat(&dir, part.as_os_str(), Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => {
                    return Err(std::io::Error::new(errno(e).kind(), format!("cannot create {}: {e}", at.display())))
                }
            }
        }
        let next = match rustix::fs::openat(&dir, part.as_os_str(), dir_flags | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => fd,
            Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)) => {
                let what = what_is(&dir, part);
                return Err(std::io::Error::new(
                    errno(e).kind(),
                    format!("{} is {what}; protocrash enters only real directories in the sync dir", at.display()),
                ));
            }
            Err(e) => return Err(std::io::Error::new(errno(e).kind(), format!("cannot open {}: {e}", at.display()))),
        };
        if create {
            let owner = rustix::fs::fstat(&next).map_err(errno)?.st_uid;
            if owner != rustix::process::geteuid().as_raw() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{} belongs to another user (uid {owner}); the campaign writes only into directories of its own",
                        at.display()
                    ),
                ));
            }
        }
        dir = next;
    }
    Ok(dir)
}

/// The directory `path`'s last component lives in, opened, and that component's name. Below
/// a guarded root the directory is reached one `openat` at a time (see the module comment);
/// elsewhere it is the user's own path, opened as given.
fn open_parent(path: &Path) -> std::io::Result<(OwnedFd, std::ffi::OsString)> {
    if let Some((root, mut parts)) = beneath(path) {
        if let Some(name) = parts.pop() {
            return open_dir_beneath(&root, &parts, false).map(|dir| (dir, name));
        }
    }
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} names no file", path.display()))
    })?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir =
        rustix::fs::open(parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(errno)?;
    Ok((dir, name.to_os_string()))
}

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
    let symlink = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            std::io::Error::new(e.kind(), format!("{} is a symbolic link; it is never followed", path.display()))
        } else {
            e
        }
    };
    let (dir, name) = open_parent(path)?;
    // Truncated only after the checks below: O_TRUNC would empty a victim first.
    let flags = match access {
        Access::Read => OFlags::RDONLY,
        Access::ReadWrite => OFlags::RDWR,
        Access::ReadWriteCreate => OFlags::RDWR | OFlags::CREATE,
        Access::Truncate => OFlags::WRONLY | OFlags::CREATE,
        Access::Append => OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE,
    };
    let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let f = fs::File::from(
        rustix::fs::openat(&dir, name.as_os_str(), flags, Mode::from_raw_mode(0o666)).map_err(|e| symlink(errno(e)))?,
    );
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
    if let Some((root, parts)) = beneath(dir) {
        fs::create_dir_all(&root)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", root.display())))?;
        return open_dir_beneath(&root, &parts, true).map(drop);
    }
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
    open_parent(path)
        .and_then(|(dir, name)| write_atomic_at(&dir, &name, data))
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// [`write_atomic`] relative to an open directory: the temporary file is created exclusively
/// and never through a link, then renamed over `name` within the same directory.
fn write_atomic_at(dir: &OwnedFd, name: &std::ffi::OsStr, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = std::ffi::OsString::from(TEMP_PREFIX);
    tmp.push(name);
    tmp.push(format!("-{}", std::process::id()));
    // A temp file a dead writer with our pid left behind (pid reuse) is ours to replace;
    // unlinkat removes a symlink itself, never its target.
    let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let result = (|| {
        let fd = rustix::fs::openat(dir, tmp.as_os_str(), flags, Mode::from_raw_mode(0o666)).map_err(errno)?;
        fs::File::from(fd).write_all(data)?;
        rustix::fs::renameat(dir, tmp.as_os_str(), dir, name).map_err(errno)
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
    }
    result
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
    fn below_a_guarded_root_no_directory_link_is_followed() {
        let root = scratch("guarded");
        let outside = scratch("guarded-outside");
        let victim = outside.join("stats");
        fs::write(&victim, b"precious").unwrap();
        guard(&root);
        // A worker dir, and a queue inside a real one, swapped for links to elsewhere.
        std::os::unix::fs::symlink(&outside, root.join("w-1")).unwrap();
        fs::create_dir_all(root.join("w-0")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("w-0").join("queue")).unwrap();
        for access in [Access::Read, Access::ReadWrite, Access::ReadWriteCreate, Access::Truncate, Access::Append] {
            let err = open_regular(&root.join("w-1").join("stats"), access).unwrap_err();
            assert!(err.to_string().contains("w-1 is a symbolic link"), "{err}");
        }
        let err = write_atomic(&root.join("w-0").join("queue").join("id_x"), b"entry").unwrap_err();
        assert!(err.to_string().contains("queue is a symbolic link"), "{err}");
        assert!(ensure_dir(&root.join("w-1").join("crashes")).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1, "nothing created through a link");
        // Real directories below the root work as before, and are created as needed.
        ensure_dir(&root.join("w-2").join("queue")).unwrap();
        write_atomic(&root.join("w-2").join("queue").join("id_y"), b"entry").unwrap();
        assert_eq!(read_regular(&root.join("w-2").join("queue").join("id_y"), 10).unwrap(), b"entry");
        let mut f = open_regular(&root.join("w-2").join("log"), Access::Append).unwrap();
        f.write_all(b"line").unwrap();
        assert_eq!(fs::read(root.join("w-2").join("log")).unwrap(), b"line");
        fs::remove_dir_all(&root).unwrap();
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
