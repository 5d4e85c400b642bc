//! Turns a child's raw frame addresses into a report: symbolised frames (in the fork server,
//! which has the same address layout as the child it forked), the user's frames told apart
//! from the standard library's and the runtime's, and the signature that deduplicates bugs.

use protocrash_proto::finding::FindingKind;

/// One symbolised frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name without hash.
    pub func: String,
    /// `file:line`, when debug info has it.
    pub place: Option<String>,
    /// True for the user's code (the harness, the crate under test, its dependencies).
    pub user: bool,
    /// The return address this frame was resolved from (inlined frames share it).
    pub addr: usize,
    /// Column of `place`, when debug info has it (kept apart: signatures use `place`).
    pub col: Option<u32>,
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            Some(place) => write!(f, "{} at {place}", self.func),
            None => write!(f, "{}", self.func),
        }
    }
}

/// Symbolises addresses in a short-lived forked helper that reports back through a pipe.
///
/// Symbolising loads and caches the binary's debug info — tens of MiB of heap. Done in the
/// fork server itself, that heap would make every later `fork` (one per finding) copy its
/// page tables: measured here, 34 MiB of cache made each fork + reap cost ~1.8 ms instead of
/// ~0.1 ms. The helper has the same address layout (it is a fork), so the addresses resolve.
pub fn symbolize_isolated(ips: &[usize]) -> Vec<Frame> {
    use crate::process::{self, Forked};
    use std::io::{Read, Write};
    let Ok((mut reader, writer)) = std::io::pipe() else {
        return symbolize(ips);
    };
    match process::fork() {
        Ok(Forked::Child) => {
            drop(reader);
            let mut out = std::io::BufWriter::new(writer);
            for f in symbolize(ips) {
                let clean = |s: &str| s.replace(['\t', '\n'], " ");
                let _ = writeln!(
                    out,
                    "{}\t{:x}\t{}\t{}\t{}",
                    u8::from(f.user),
                    f.addr,
                    f.col.unwrap_or(0),
                    clean(&f.func),
                    f.place.as_deref().map(clean).unwrap_or_default()
                );
            }
            let _ = out.flush();
            process::exit_now(0)
        }
        Ok(Forked::Parent(child)) => {
            drop(writer);
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            let _ = child.wait();
            text.lines()
                .filter_map(|l| {
                    let mut parts = l.splitn(5, '\t');
                    let user = parts.next()? == "1";
                    let addr = usize::from_str_radix(parts.next()?, 16).ok()?;
                    let col = parts.next()?.parse().ok().filter(|&c| c > 0);
                    let func = parts.next()?.to_string();
                    let place = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
                    Some(Frame { func, place, user, addr, col })
                })
                .collect()
        }
        Err(_) => symbolize(ips),
    }
}

/// Symbolises addresses, inlined frames included, innermost first.
pub fn symbolize(ips: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for &ip in ips {
        let before = frames.len();
        // Return addresses point after the call; step back into the calling instruction.
        let addr = ip.saturating_sub(1) as *mut std::ffi::c_void;
        let own = in_executable(addr);
        backtrace::resolve(addr, |sym| {
            let func = sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| "<unknown>".into());
            let place = match (sym.filename(), sym.lineno()) {
                (Some(file), Some(line)) => Some(format!("{}:{line}", file.display())),
                _ => None,
            };
            let user = own && is_user(&func, place.as_deref());
            let col = sym.colno().filter(|_| place.is_some());
            frames.push(Frame { func, place, user, addr: ip, col });
        });
        if frames.len() == before {
            frames.push(Frame { func: format!("{ip:#x}"), place: None, user: false, addr: ip, col: None });
        }
    }
    frames
}

/// The start of the object (executable or shared library) `addr` lies in.
fn object_base(addr: *const std::ffi::c_void) -> Option<usize> {
    // SAFETY: an all-zero Dl_info is a valid out-value (null pointers); dladdr only reads
    // its own loader tables for `addr` and fills `info`.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `info` is a valid, writable Dl_info.
    (unsafe { libc::dladdr(addr, &mut info) } != 0).then_some(info.dli_fbase as usize)
}

/// Whether `addr` lies in the harness executable. The user's code is linked into it; a
/// frame in a shared library (libc's `memset`, `pthread_kill`) is never the user's line,
/// even when the library has line tables of its own.
fn in_executable(addr: *const std::ffi::c_void) -> bool {
    static OWN: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let own = *OWN.get_or_init(|| object_base(in_executable as *const std::ffi::c_void));
    match (object_base(addr), own) {
        (Some(a), Some(own)) => a == own,
        _ => true,
    }
}

const RUNTIME_PREFIXES: [&str; 16] = [
    "std::",
    "core::",
    "alloc::",
    "protocrash::",
    // The same runtime, built as the libfuzzer-sys stand-in for cargo-fuzz projects.
    "libfuzzer_sys::",
    "<libfuzzer_sys::",
    "backtrace::",
    "<std::",
    "<core::",
    "<alloc::",
    "<protocrash::",
    "<backtrace::",
    "__rust",
    "rust_begin_unwind",
    "rust_panic",
    "__libc",
];

/// The directory holding this runtime's crates (`runtime/`, `proto/`): frames whose source
/// lies there are the fuzzer's, whatever their (possibly inlined, unqualified) name.
fn runtime_root() -> &'static str {
    let dir = env!("CARGO_MANIFEST_DIR");
    dir.rsplit_once('/').map_or(dir, |(parent, _)| parent)
}

fn is_user(func: &str, place: Option<&str>) -> bool {
    if let Some(p) = place {
        // The standard library (/rustc/<hash>/…), the runtime, and the unwinder it uses.
        if p.starts_with("/rustc/") || p.starts_with(runtime_root()) || p.contains("/backtrace-0.") {
            return false;
        }
    }
    if RUNTIME_PREFIXES.iter().any(|p| func.starts_with(p)) {
        return false;
    }
    if matches!(func, "main" | "abort" | "raise" | "gsignal" | "_start" | "<unknown>" | "__restore_rt")
        || func.starts_with("0x")
    {
        return false;
    }
    // Frames of the standard library carry /rustc/<hash>/ paths.
    !matches!(place, Some(p) if p.starts_with("/rustc/"))
}

/// The frames worth showing: from the first user frame on, dropping the runtime's frames
/// below the target (the fuzzing loop, `main`). User frames come first; if there are none,
/// everything is kept.
pub fn user_view(frames: &[Frame]) -> Vec<Frame> {
    let Some(first) = frames.iter().position(|f| f.user) else {
        return frames.to_vec();
    };
    let last = frames.iter().rposition(|f| f.user).unwrap_or(first);
    frames[first..=last].to_vec()
}

/// The signature of a panic at `location` (`file:line:col`).
pub fn panic_signature(location: &str) -> String {
    format!("panic|{location}")
}

/// The deduplication key of a finding: the panic location for panics (the same assertion
/// is the same bug); for faults and out-of-memory, the top user frames with their lines (the
/// faulting access, the allocation site); for hangs and stack overflows, the top user
/// functions only, since where a loop or a recursion is interrupted varies.
pub fn signature(kind: FindingKind, signal: i32, location: &str, frames: &[Frame]) -> String {
    if kind == FindingKind::Panic && !location.is_empty() {
        return panic_signature(location);
    }
    let with_lines = matches!(kind, FindingKind::Signal | FindingKind::Oom | FindingKind::Panic);
    let top: Vec<String> = frames
        .iter()
        .filter(|f| f.user)
        .take(3)
        .map(|f| if with_lines { f.to_string() } else { f.func.clone() })
        .collect();
    let kind_key = match kind {
        FindingKind::Signal => format!("signal-{signal}"),
        other => format!("{other:?}").to_lowercase(),
    };
    format!("{kind_key}|{}", top.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(func: &str, place: Option<&str>) -> Frame {
        Frame { func: func.into(), place: place.map(Into::into), user: is_user(func, place), addr: 0, col: None }
    }

    #[test]
    fn std_and_runtime_frames_are_not_user_frames() {
        assert!(!frame("std::panicking::begin_panic", None).user);
        assert!(!frame("core::option::unwrap_failed", None).user);
        assert!(!frame("protocrash::fuzzer::Fuzzer::run", None).user);
        assert!(!frame("foo", Some("/rustc/abc/library/std/src/x.rs:1")).user);
        let inlined_runtime_frame = format!("{}/runtime/src/signals.rs:128", runtime_root());
        assert!(!frame("capture_frames", Some(&inlined_runtime_frame)).user);
        assert!(frame("my_crate::parse", Some("/src/lib.rs:3")).user);
    }

    #[test]
    fn user_view_starts_at_the_first_user_frame() {
        let frames = vec![
            frame("std::panicking::begin_panic", None),
            frame("my_crate::inner", Some("src/lib.rs:3")),
            frame("core::ops::function::FnOnce::call_once", None),
            frame("my_crate::outer", Some("src/lib.rs:9")),
            frame("protocrash::fuzzer::run", None),
            frame("main", None),
        ];
        let v = user_view(&frames);
        assert_eq!(v.first().unwrap().func, "my_crate::inner");
        assert_eq!(v.last().unwrap().func, "my_crate::outer");
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn signatures_key_panics_by_location_and_signals_by_frames() {
        let frames = vec![frame("a::f", Some("x:1")), frame("a::g", Some("x:2"))];
        assert_eq!(signature(FindingKind::Panic, 0, "src/lib.rs:3:5", &frames), "panic|src/lib.rs:3:5");
        assert_eq!(signature(FindingKind::Signal, 11, "", &frames), "signal-11|a::f at x:1;a::g at x:2");
        assert_eq!(signature(FindingKind::Oom, 0, "", &frames), "oom|a::f at x:1;a::g at x:2");
        assert_eq!(signature(FindingKind::Hang, 0, "", &frames), "hang|a::f;a::g");
        assert_eq!(signature(FindingKind::StackOverflow, 11, "", &frames), "stackoverflow|a::f;a::g");
    }
}
