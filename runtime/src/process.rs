//! Process control for the fork server: `fork`, waiting on a child with a timeout (a pidfd
//! where the kernel has one, polling `waitpid` where not), signals, and the child's resident
//! memory. Wraps the libc calls so the rest of the runtime sees safe functions.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Exit code of a fuzzing child that stopped because it was asked to (budget, stop flag).
pub const CHILD_DONE: i32 = 79;
/// Exit code of a child that recorded a hang/OOM capture requested by the parent.
pub const CHILD_CAPTURED: i32 = 80;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

/// Which side of a `fork` we are on.
pub enum Forked {
    /// In the new child.
    Child,
    /// In the parent, with the child's handle.
    Parent(Child),
}

/// Forks the process.
///
/// The fork server calls this from its only thread (harness `init` code that started threads
/// leaves them behind in the parent: the child runs single-threaded, as with any fork server).
pub fn fork() -> io::Result<Forked> {
    // SAFETY: `fork` has no memory-safety preconditions of its own; the child only continues
    // on this thread, and glibc resets its allocator locks in the child.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Child::new(pid))),
    }
}

/// Asks the kernel to SIGKILL this process when its parent dies, so no child outlives a
/// killed fork server (and no worker outlives a killed master).
pub fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
}

/// Turns core dumps off: with `ulimit -c unlimited` every crash would otherwise write a core
/// file (slow, and litter in the user's directory).
pub fn disable_core_dumps() {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `zero` is a valid rlimit; lowering a limit needs no privilege.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
}

/// Ends the process at once, without destructors or atexit handlers (a forked child must not
/// flush buffers or run cleanups it inherited from the parent).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// A child process of the fork server.
pub struct Child {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
}

impl Child {
    fn new(pid: libc::pid_t) -> Self {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        // SAFETY: a non-negative return is a fresh descriptor that nothing else owns.
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        Child { pid, pidfd }
    }

    /// Reaps the child if it has ended.
    pub fn try_wait(&self) -> io::Result<Option<Exit>> {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; the pid is our own unreaped child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match r {
            -1 => Err(io::Error::last_os_error()),
            0 => Ok(None),
            _ if libc::WIFSIGNALED(status) => Ok(Some(Exit::Signal(libc::WTERMSIG(status)))),
            _ => Ok(Some(Exit::Code(libc::WEXITSTATUS(status)))),
        }
    }

    /// Waits up to `timeout` for the child to end; `None` if it still runs.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<Exit>> {
        if let Some(exit) = self.try_wait()? {
            return Ok(Some(exit));
        }
        match &self.pidfd {
            Some(fd) => {
                let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd; poll only writes its `revents`.
                let r = unsafe { libc::poll(&mut pfd, 1, ms) };
                if r < 0 {
                    let err = io::Error::last_os_error();
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
                self.try_wait()
            }
            None => {
                // No pidfd (old kernel): poll waitpid in small steps.
                let end = Instant::now() + timeout;
                loop {
                    if let Some(exit) = self.try_wait()? {
                        return Ok(Some(exit));
                    }
                    if Instant::now() >= end {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Waits until the child ends.
    pub fn wait(&self) -> io::Result<Exit> {
        loop {
            if let Some(exit) = self.wait_timeout(Duration::from_secs(1))? {
                return Ok(exit);
            }
        }
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill takes a pid and a signal number; our child cannot have been reaped
        // (and its pid reused) while we hold its unreaped handle.
        unsafe { libc::kill(self.pid, signal) };
    }

    /// Resident memory of the child in bytes, from /proc.
    pub fn rss_bytes(&self) -> Option<u64> {
        statm_rss(&format!("/proc/{}/statm", self.pid))
    }
}

/// Resident memory of this process in bytes, from /proc.
pub fn own_rss_bytes() -> Option<u64> {
    statm_rss("/proc/self/statm")
}

/// The resident size of process `pid`, in bytes.
pub fn pid_rss_bytes(pid: u32) -> Option<u64> {
    statm_rss(&format!("/proc/{pid}/statm"))
}

/// The resident size in a `/proc/<pid>/statm` file, in bytes.
fn statm_rss(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// Points stdout and stderr at /dev/null, returning a duplicate of the old stderr for the
/// runtime's own messages. Used in fuzzing children: a target that prints on every input
/// must not flood the campaign log.
pub fn silence_output() -> io::Result<OwnedFd> {
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: dup/dup2 on descriptors we own or that the process always has (1, 2); the
    // duplicate is a fresh descriptor handed to an OwnedFd exactly once.
    unsafe {
        let saved = libc::dup(2);
        if saved < 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = OwnedFd::from_raw_fd(saved);
        libc::dup2(devnull.as_raw_fd(), 1);
        libc::dup2(devnull.as_raw_fd(), 2);
        Ok(saved)
    }
}
