//! One master per node: `run` holds an exclusive `flock` on `<sync>/.lock-<node>` for the
//! whole campaign, so a second `run` with the same sync dir and `--node` (another terminal,
//! a CI job started twice) is refused instead of driving the same worker directories. The
//! kernel drops the lock when the holder dies however it dies, so a lock left by a killed
//! run is no obstacle; `status` uses the same lock to tell a live node from one whose
//! master was killed. On NFS, Linux maps `flock` onto the server's byte-range locks.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use protocrash_proto::files::{open_regular, Access};
use protocrash_proto::layout::SyncDir;
use std::fs::File;
use std::io::{Read, Seek, Write};

/// The node's lock, held until dropped.
pub struct NodeLock {
    _held: Flock<File>,
}

/// Takes the node's lock, or says who holds it.
pub fn acquire(sync: &SyncDir, node: &str) -> Result<NodeLock> {
    let path = sync.node_lock(node);
    // Never through a symlink: a planted link must not make us create or truncate a victim.
    let file =
        open_regular(&path, Access::ReadWriteCreate).with_context(|| format!("cannot open {}", path.display()))?;
    let mut held = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => held,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = (&mut file).take(256).read_to_string(&mut holder);
            let holder = holder.trim();
            bail!(
                "another `cargo protocrash run` is using node '{node}' of the sync dir {} ({}); \
                 its workers are left alone. Stop it first, or give this run another name with `--node`",
                sync.root().display(),
                if holder.is_empty() { "holder unknown".to_string() } else { holder.to_string() }
            );
        }
        Err((_, e)) => bail!("cannot lock {}: {e}", path.display()),
    };
    // Who holds it, for the message above (best effort: the lock itself is what counts).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let text = format!("pid {} on {}", std::process::id(), host.trim());
    let _ = held.set_len(0).and_then(|_| held.rewind()).and_then(|_| held.write_all(text.as_bytes()));
    Ok(NodeLock { _held: held })
}

/// Whether a master holds `node`'s lock now: None when the node has no lock file (a
/// campaign of an older protocrash) or it cannot be checked.
pub fn is_held(sync: &SyncDir, node: &str) -> Option<bool> {
    let file = open_regular(&sync.node_lock(node), Access::Read).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => Some(false),
        Err((_, Errno::EWOULDBLOCK)) => Some(true),
        Err(_) => None,
    }
}
