//! How paths and commands are shown to the user: paths relative to the current directory,
//! and commands quoted so they can be pasted into a shell as printed.

use protocrash_proto::finding::{Finding, FindingKind};
use std::path::Path;
use std::time::Duration;

/// A path relative to the current directory when it lies below it.
pub fn display_path(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf));
    rel.unwrap_or_else(|| p.to_path_buf()).display().to_string()
}

/// `s` quoted for a POSIX shell (left bare when it needs no quotes).
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command that replays one finding, as the user should type it.
#[derive(Clone, Debug)]
pub struct ReproCommand {
    /// `cargo protocrash repro <target>`.
    pub prefix: String,
    /// Options that must be repeated (build options, `--fuzz-dir`).
    pub options: Vec<String>,
    /// The campaign's timeout, repeated for hangs.
    pub timeout: Duration,
    /// The campaign's memory limit, repeated for OOMs.
    pub rss_limit_mb: u64,
}

impl ReproCommand {
    /// The full command for `finding`, with its path relative to the current directory.
    pub fn for_finding(&self, finding: &Finding) -> String {
        self.for_file(Path::new(&finding.artifact), finding.kind)
    }

    /// The command for a reproducer `file` of a finding of `kind`.
    pub fn for_file(&self, file: &Path, kind: FindingKind) -> String {
        let mut cmd = format!("{} {}", self.prefix, quote(&display_path(file)));
        match kind {
            FindingKind::Hang => cmd += &format!(" --timeout {}ms", self.timeout.as_millis()),
            FindingKind::Oom => cmd += &format!(" --rss-limit-mb {}", self.rss_limit_mb),
            _ => {}
        }
        for o in &self.options {
            cmd.push(' ');
            cmd += &quote(o);
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_shell() {
        assert_eq!(quote("fuzz/artifacts/p/crash-01"), "fuzz/artifacts/p/crash-01");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn hangs_and_ooms_repeat_their_limit() {
        let r = ReproCommand {
            prefix: "cargo protocrash repro t".into(),
            options: vec!["--features=x y".into()],
            timeout: Duration::from_millis(250),
            rss_limit_mb: 64,
        };
        assert_eq!(
            r.for_file(Path::new("/h"), FindingKind::Hang),
            "cargo protocrash repro t /h --timeout 250ms '--features=x y'"
        );
        assert!(r.for_file(Path::new("/o"), FindingKind::Oom).contains("--rss-limit-mb 64"));
        assert!(!r.for_file(Path::new("/p"), FindingKind::Panic).contains("--timeout"));
    }
}
