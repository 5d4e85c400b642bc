//! The runtime's own messages (`protocrash: warning: …`, `protocrash: error: …`), written with
//! one `write(2)` each to stderr — or, in a fuzzing child, to the saved stderr the target's
//! silenced output does not reach.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

static LOG_FD: AtomicI32 = AtomicI32::new(2);

/// Routes the runtime's messages to `fd` (a fuzzing child's saved stderr).
pub fn set_log_fd(fd: OwnedFd) {
    LOG_FD.store(fd.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(fd); // Lives as long as the process.
}

fn emit(prefix: &str, msg: &str) {
    let line = format!("protocrash: {prefix}{msg}\n");
    let fd = LOG_FD.load(Ordering::Relaxed);
    // SAFETY: `fd` is stderr or a descriptor handed to `set_log_fd` and never closed; the
    // buffer is valid for `line.len()` bytes. A short or failed write only loses a message.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}

/// A warning: something was skipped, nothing was lost.
pub fn warn(msg: &str) {
    emit("warning: ", msg);
}

/// An error that stops the worker.
pub fn error(msg: &str) {
    emit("error: ", msg);
}

