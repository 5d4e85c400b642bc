//! libFuzzer's output, which fleet engines parse: the crash report (sanitizer frame format,
//! so ClusterFuzz's stack analyzer takes its crash state from the user's frames), artifact
//! names, status lines.

use crate::report::Report;
use protocrash_proto::finding::FindingKind;
use std::fmt::Write;

/// The artifact prefix of a finding kind: `crash-`, `timeout-`, `oom-` (libFuzzer's names).
pub fn artifact_kind(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Hang => "timeout",
        FindingKind::Oom => "oom",
        FindingKind::Panic | FindingKind::Signal | FindingKind::StackOverflow => "crash",
    }
}

/// SHA-1 of `data` in hex: libFuzzer names corpus files and artifacts by it, and ClusterFuzz
/// relies on it (a merged file whose name is a SHA-1 already in the corpus is not copied twice).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// The numbers in a message, in order (the sizes an out-of-memory message carries).
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect()
}

/// The report of a finding as libFuzzer prints it: the `ERROR: libFuzzer:` line, the stack
/// in sanitizer frame format (`#0 0x… in function file:line:col`, user frames first), the
/// `SUMMARY:` line. A panic comes first as the `thread '…' panicked at '<message>', <place>`
/// line ClusterFuzz's analyzer reads Rust assertions from (its crash state is then the
/// message and the top user frame, where libFuzzer alone gives `NULL` for a Rust panic).
pub fn render(report: &Report, pid: u32, timeout_s: u64, rss_limit_mb: u64) -> String {
    let mut s = String::new();
    let summary = match report.kind {
        FindingKind::Panic => {
            let message = report.message.replace(['\n', '\r'], " ");
            let _ = writeln!(s, "thread '<unnamed>' panicked at '{message}', {}", report.location);
            let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: deadly signal");
            "deadly signal"
        }
        FindingKind::Signal if report.message.starts_with("the target called exit(") => {
            let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: fuzz target exited");
            let _ = writeln!(s, "protocrash: {}", report.message);
            "fuzz target exited"
        }
        FindingKind::Signal => {
            let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: deadly signal");
            let _ = writeln!(s, "protocrash: {} (signal {})", report.message, report.signal);
            "deadly signal"
        }
        FindingKind::StackOverflow => {
            let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: deadly signal");
            let _ = writeln!(s, "protocrash: stack overflow (signal {})", report.signal);
            "deadly signal"
        }
        FindingKind::Hang => {
            let _ = writeln!(s, "ALARM: working on the last Unit for {timeout_s} seconds");
            let _ = writeln!(s, "       and the timeout value is {timeout_s} (use -timeout=N to change)");
            let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: timeout after {timeout_s} seconds");
            "timeout"
        }
        FindingKind::Oom => {
            let n = numbers(&report.message);
            if report.message.starts_with("allocation of ") {
                let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: out-of-memory (malloc({}))", n.first().unwrap_or(&0));
            } else {
                let used = if report.message.starts_with("live heap") {
                    n.first().map_or(0, |b| b >> 20)
                } else {
                    n.first().copied().unwrap_or(0)
                };
                let _ = writeln!(s, "=={pid}== ERROR: libFuzzer: out-of-memory (used: {used}Mb; exceeds: {rss_limit_mb}Mb)");
            }
            let _ = writeln!(s, "protocrash: {}", report.message);
            let _ = writeln!(s, "   To change the out-of-memory limit use -rss_limit_mb=<N>");
            "out-of-memory"
        }
    };
    for (i, f) in report.frames.iter().enumerate() {
        let _ = write!(s, "    #{i} {:#x} in {}", f.addr, f.func);
        match (&f.place, f.col) {
            (Some(place), Some(col)) => {
                let _ = writeln!(s, " {place}:{col}");
            }
            (Some(place), None) => {
                let _ = writeln!(s, " {place}");
            }
            (None, _) => s.push('\n'),
        }
    }
    let _ = writeln!(s, "\nSUMMARY: libFuzzer: {summary}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::Frame;

    fn report(kind: FindingKind, message: &str) -> Report {
        let frame = |func: &str, place: &str, addr| Frame {
            func: func.into(),
            place: Some(place.into()),
            user: true,
            addr,
            col: Some(16),
        };
        Report {
            kind,
            signal: 6,
            message: message.into(),
            location: "src/lib.rs:13:16".into(),
            frames: vec![frame("cluster::parse_record", "/x/src/lib.rs:13", 0x55aa), frame("record::__protocrash_target", "/x/fuzz/record.rs:6", 0x55bb)],
            signature: String::new(),
        }
    }

    #[test]
    fn a_panic_reads_as_a_rust_assertion_and_frames_as_sanitizer_frames() {
        let text = render(&report(FindingKind::Panic, "index out of bounds:\nthe len is 3"), 42, 25, 2560);
        assert!(text.starts_with("thread '<unnamed>' panicked at 'index out of bounds: the len is 3', src/lib.rs:13:16\n"), "{text}");
        assert!(text.contains("==42== ERROR: libFuzzer: deadly signal\n"), "{text}");
        assert!(text.contains("    #0 0x55aa in cluster::parse_record /x/src/lib.rs:13:16\n"), "{text}");
        assert!(text.contains("    #1 0x55bb in record::__protocrash_target /x/fuzz/record.rs:6:16\n"), "{text}");
        assert!(text.ends_with("SUMMARY: libFuzzer: deadly signal\n"), "{text}");
    }

    #[test]
    fn timeouts_and_out_of_memory_in_libfuzzer_words() {
        let t = render(&report(FindingKind::Hang, "an execution ran longer than the 2000 ms timeout"), 7, 2, 0);
        assert!(t.contains("==7== ERROR: libFuzzer: timeout after 2 seconds"), "{t}");
        let m = render(&report(FindingKind::Oom, "allocation of 3221225472 bytes: over 1024x the input"), 7, 2, 2560);
        assert!(m.contains("==7== ERROR: libFuzzer: out-of-memory (malloc(3221225472))"), "{m}");
        let r = render(&report(FindingKind::Oom, "resident memory 3000 MiB over the 2560 MiB limit"), 7, 2, 2560);
        assert!(r.contains("out-of-memory (used: 3000Mb; exceeds: 2560Mb)"), "{r}");
    }

    #[test]
    fn artifact_names_are_libfuzzer_names() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(artifact_kind(FindingKind::StackOverflow), "crash");
        assert_eq!(artifact_kind(FindingKind::Hang), "timeout");
    }
}
