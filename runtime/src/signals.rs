//! The fuzzing child's last words: a panic hook and fatal-signal handlers that write what
//! happened (kind, message, location, raw frames) into the shared [`ExecRecord`] before the
//! child dies, and a SIGUSR2 handler the fork server uses to capture where a hang or a
//! memory blow-up was. Handlers only store to atomics and walk the stack without allocating.

use crate::process::{exit_now, CHILD_CAPTURED};
use crate::shared::{ExecRecord, MAX_FRAMES};
use crate::warm::WarmState;
use std::cell::Cell;
use protocrash_proto::finding::FindingKind;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

static RECORD: AtomicPtr<ExecRecord> = AtomicPtr::new(std::ptr::null_mut());
/// The worker's known-panic table (fuzzing children only).
static WARM: AtomicPtr<WarmState> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// Set while this thread runs the target inside the fuzzing loop's `catch_unwind`.
    static RECOVERING: Cell<bool> = const { Cell::new(false) };
    /// Set by the panic hook when it let a known panic unwind to that `catch_unwind`.
    static RECOVERED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this build can catch panics at all (a harness built with `panic = "abort"`
/// cannot: every panic then ends the child, as with libFuzzer).
pub const CAN_RECOVER: bool = cfg!(panic = "unwind");

/// Lets known panics on this thread unwind (true) or abort (false) from now on.
#[inline]
pub fn set_recovering(on: bool) {
    RECOVERING.set(on);
}

/// Whether the hook let a known panic unwind since the last call (and clears the flag).
pub fn take_recovered() -> bool {
    RECOVERED.replace(false)
}

/// Gives the panic hook the worker's table of known panics.
pub fn set_known_table(warm: &'static WarmState) {
    WARM.store(warm as *const WarmState as *mut WarmState, Ordering::Release);
}

fn known_table() -> Option<&'static WarmState> {
    let p = WARM.load(Ordering::Acquire);
    // SAFETY: WARM only ever holds null or a pointer from `set_known_table`, which is `'static`.
    unsafe { p.as_ref() }
}

/// The signature a panic at `location` is deduplicated by, as the fork server's finding
/// store computes it from the shared record (which keeps the location's first bytes only).
fn panic_signature(location: &str) -> String {
    let cut = &location.as_bytes()[..location.len().min(crate::shared::LOC_CAP)];
    crate::symbols::panic_signature(&String::from_utf8_lossy(cut))
}
static STACK_TOP: AtomicUsize = AtomicUsize::new(0);
static STACK_LIMIT: AtomicUsize = AtomicUsize::new(0);

const FATAL: [libc::c_int; 7] =
    [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT, libc::SIGTRAP, libc::SIGSYS];

/// Signal the fork server sends to ask for a stack capture before it kills a child.
pub const CAPTURE_SIGNAL: libc::c_int = libc::SIGUSR2;

fn record() -> Option<&'static ExecRecord> {
    let p = RECORD.load(Ordering::Acquire);
    // SAFETY: RECORD only ever holds null or a pointer from `SharedRegion::record`, which is
    // `'static` (the mapping is never unmapped).
    unsafe { p.as_ref() }
}

/// Installs the panic hook and the signal handlers in a fuzzing (or replay) child.
pub fn install(record: &'static ExecRecord) -> std::io::Result<()> {
    crate::process::disable_core_dumps();
    RECORD.store(record as *const ExecRecord as *mut ExecRecord, Ordering::Release);
    let here = 0u8;
    STACK_TOP.store(&here as *const u8 as usize, Ordering::Relaxed);
    STACK_LIMIT.store(stack_limit(), Ordering::Relaxed);
    install_alt_stack()?;
    for sig in FATAL {
        set_handler(sig, on_fatal, libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESETHAND)?;
    }
    set_handler(CAPTURE_SIGNAL, on_capture, libc::SA_SIGINFO | libc::SA_ONSTACK)?;
    std::panic::set_hook(Box::new(on_panic));
    Ok(())
}

fn stack_limit() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid out-pointer.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) } == 0;
    if ok && lim.rlim_cur != libc::RLIM_INFINITY {
        lim.rlim_cur as usize
    } else {
        0
    }
}

fn install_alt_stack() -> std::io::Result<()> {
    // Big enough for the unwinder walking an overflowed stack.
    const SIZE: usize = 256 * 1024;
    // SAFETY: a fresh anonymous private mapping, used only as this thread's signal stack and
    // never unmapped (the child lives no longer than it).
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let ss = libc::stack_t { ss_sp: stack, ss_flags: 0, ss_size: SIZE };
    // SAFETY: `ss` describes the mapping above, which outlives every handler invocation.
    if unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

fn set_handler(sig: libc::c_int, handler: Handler, flags: libc::c_int) -> std::io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid starting value; we fill the handler, flags and
    // an empty mask; `handler` has the SA_SIGINFO signature.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Records the current stack's return addresses. Allocation-free.
fn capture_frames(rec: &ExecRecord) {
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` requires that no other thread traces at the same time;
    // the child is single-threaded on this path and each report is captured once (`claim`).
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            n += 1;
            rec.push_ip(frame.ip() as usize) && n < MAX_FRAMES
        });
    }
}

fn is_stack_overflow(addr: usize) -> bool {
    let top = STACK_TOP.load(Ordering::Relaxed);
    let limit = STACK_LIMIT.load(Ordering::Relaxed);
    if limit == 0 || addr == 0 || addr > top {
        return false;
    }
    let depth = top - addr;
    // The fault lies in the guard gap just past the stack's maximum extent.
    depth + (1 << 20) >= limit && depth <= limit + (16 << 20)
}

fn signal_name(sig: libc::c_int) -> &'static [u8] {
    match sig {
        libc::SIGSEGV => b"SIGSEGV: invalid memory access",
        libc::SIGBUS => b"SIGBUS: bus error",
        libc::SIGILL => b"SIGILL: illegal instruction",
        libc::SIGFPE => b"SIGFPE: arithmetic exception",
        libc::SIGABRT => b"SIGABRT: aborted",
        libc::SIGTRAP => b"SIGTRAP: trap",
        libc::SIGSYS => b"SIGSYS: bad system call",
        _ => b"fatal signal",
    }
}

extern "C" fn on_fatal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if let Some(rec) = record() {
        if rec.claim() {
            let addr = if sig == libc::SIGSEGV || sig == libc::SIGBUS {
                // SAFETY: the kernel passes a valid siginfo to SA_SIGINFO handlers; si_addr
                // is defined for the two fault signals tested here.
                unsafe { (*info).si_addr() as usize }
            } else {
                0
            };
            if is_stack_overflow(addr) {
                rec.set_kind(FindingKind::StackOverflow, sig);
                rec.set_message(b"stack overflow");
            } else {
                rec.set_kind(FindingKind::Signal, sig);
                rec.set_message(signal_name(sig));
            }
            capture_frames(rec);
        }
    }
    // SA_RESETHAND restored the default action; the re-raised signal is delivered when this
    // handler returns and ends the process with the original signal.
    // SAFETY: raise is async-signal-safe.
    unsafe { libc::raise(sig) };
}

extern "C" fn on_capture(_sig: libc::c_int, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if let Some(rec) = record() {
        // A probe: where the execution is now, for the fork server to compare with the hangs
        // it knows. The execution goes on.
        if rec.take_probe_request() {
            let mut n = 0;
            // SAFETY: as in `capture_frames`: this thread is the only one tracing (the probe
            // handler is not re-entered: SIGUSR2 is blocked while it runs).
            unsafe {
                backtrace::trace_unsynchronized(|frame| {
                    n += 1;
                    rec.push_probe_ip(frame.ip() as usize) && n < crate::shared::PROBE_FRAMES
                });
            }
            rec.finish_probe();
            return;
        }
        if rec.claim() {
            let kind = rec.requested().unwrap_or(FindingKind::Hang);
            rec.set_kind(kind, 0);
            capture_frames(rec);
        }
    }
    exit_now(CHILD_CAPTURED);
}

fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    let location = info.location().map(|loc| format!("{}:{}:{}", loc.file(), loc.line(), loc.column()));
    // A panic the worker already knows, inside the target: counted, and left to unwind to the
    // fuzzing loop, which goes on with the next input (no report, no new child).
    if CAN_RECOVER && RECOVERING.get() {
        if let (Some(table), Some(loc)) = (known_table(), &location) {
            if table.hit_known(crate::util::hash64(panic_signature(loc).as_bytes())) {
                RECOVERED.set(true);
                return;
            }
        }
    }
    if let Some(rec) = record() {
        if rec.claim() {
            rec.set_kind(FindingKind::Panic, 0);
            // `PanicHookInfo::payload_as_str` does this too, but only from Rust 1.91 (MSRV 1.88).
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            rec.set_message(message.as_bytes());
            if let Some(loc) = &location {
                rec.set_location(loc.as_bytes());
            }
            capture_frames(rec);
        }
    }
    // A new panic is a crash: abort so the fork server sees it, whatever the panic strategy.
    std::process::abort();
}

/// A panic reached the fuzzing loop without passing through this hook (the target set its
/// own): recorded as a panic without details, then the child aborts.
pub fn report_foreign_panic() -> ! {
    if let Some(rec) = record() {
        if rec.claim() {
            rec.set_kind(FindingKind::Panic, 0);
            rec.set_message(b"the target panicked (it replaced the panic hook, so the message is unknown)");
            capture_frames(rec);
        }
    }
    std::process::abort();
}

/// Records an allocation failure or an allocation over the limit, then aborts.
pub fn report_oom(message: &[u8]) -> ! {
    if let Some(rec) = record() {
        if rec.claim() {
            rec.set_kind(FindingKind::Oom, 0);
            rec.set_message(message);
            capture_frames(rec);
        }
    }
    std::process::abort();
}
