//! The end of a run as the CI sees it: one row per target (figures, findings, how to
//! reproduce each), the summary table, the Markdown for GitHub's step summary, and the
//! `--report` JSON (`"schema": "protocrash-run-report"`, fields only ever added within a
//! version).

use crate::cli::FailOn;
use crate::display::{clock, human};
use anyhow::{Context, Result};
use protocrash_proto::finding::FindingKind;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Version of the `--report` JSON schema (README, "CI report").
pub const REPORT_VERSION: u32 = 1;

/// One finding in the summary and the report.
#[derive(Clone, Debug, Serialize)]
pub struct FindingRow {
    /// Signature id.
    pub id: String,
    /// Kind.
    pub kind: FindingKind,
    /// Panic message or description.
    pub message: String,
    /// Where it happens.
    pub location: String,
    /// Known before this run (sync dir or a reproducer in fuzz/artifacts).
    pub known: bool,
    /// Hit during this run.
    pub seen_this_run: bool,
    /// Hits over the campaign.
    pub hits: u64,
    /// The reproducer in `fuzz/artifacts/<target>/`.
    pub artifact: String,
    /// Its minimised copy (CI runs).
    pub minimized: Option<String>,
    /// The command that replays it.
    pub reproduce: String,
}

/// How a target's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetStatus {
    /// Nothing found in this run.
    Clean,
    /// Something was hit in this run.
    Findings,
    /// It could not be fuzzed.
    Error,
}

/// One target in the summary and the report.
#[derive(Clone, Debug, Serialize)]
pub struct TargetRow {
    /// Target name.
    pub name: String,
    /// How it ended.
    pub status: TargetStatus,
    /// The error, for `Error`.
    pub error: Option<String>,
    /// Executions in this run.
    pub execs: u64,
    /// Executions per second.
    pub execs_per_sec: f64,
    /// Wall time.
    pub seconds: f64,
    /// Edges (union over workers).
    pub edges: u64,
    /// Corpus entries.
    pub corpus: u64,
    /// Distinct crashes seen in this run.
    pub crashes: u64,
    /// Distinct hangs seen in this run.
    pub hangs: u64,
    /// Distinct OOMs seen in this run.
    pub ooms: u64,
    /// Finding hits of any kind in this run (not unique).
    pub hits: u64,
    /// Every finding of the campaign.
    pub findings: Vec<FindingRow>,
}

impl TargetStatus {
    /// Lower-case name, as in the report.
    pub fn name(self) -> &'static str {
        match self {
            TargetStatus::Clean => "clean",
            TargetStatus::Findings => "findings",
            TargetStatus::Error => "error",
        }
    }
}

impl TargetRow {
    /// A row with no figures yet.
    pub fn empty(name: &str) -> TargetRow {
        TargetRow {
            name: name.into(),
            status: TargetStatus::Clean,
            error: None,
            execs: 0,
            execs_per_sec: 0.0,
            seconds: 0.0,
            edges: 0,
            corpus: 0,
            crashes: 0,
            hangs: 0,
            ooms: 0,
            hits: 0,
            findings: Vec::new(),
        }
    }

    /// Whether this target fails the run under `fail_on`.
    pub fn fails(&self, fail_on: FailOn) -> bool {
        match fail_on {
            FailOn::Any => self.hits > 0 || self.findings.iter().any(|f| f.seen_this_run),
            FailOn::New => self.findings.iter().any(|f| f.seen_this_run && !f.known),
        }
    }
}

/// The run's exit code: 2 if a target could not be fuzzed, 1 if one fails under `fail_on`.
pub fn exit_code(rows: &[TargetRow], fail_on: FailOn) -> u8 {
    if rows.iter().any(|r| r.status == TargetStatus::Error) {
        crate::EXIT_ERROR
    } else if rows.iter().any(|r| r.fails(fail_on)) {
        crate::commands::EXIT_FINDING
    } else {
        crate::commands::EXIT_OK
    }
}

/// The `--report` document.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// Always `protocrash-run-report`.
    pub schema: &'static str,
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The run's exit code.
    pub exit_code: u8,
    /// What fails the run.
    pub fail_on: FailOn,
    /// The seed.
    pub seed: u64,
    /// Per target.
    pub targets: &'a [TargetRow],
}

impl RunReport<'_> {
    /// Writes the report as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("the report always serialises");
        std::fs::write(path, text).with_context(|| format!("cannot write the report {}", path.display()))
    }
}

/// The plain-text summary table printed at the end of a CI run.
pub fn summary_text(rows: &[TargetRow]) -> String {
    let mut s = String::from("\nprotocrash summary\n");
    s += &format!(
        "  {:<20} {:>9} {:>10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>5}  {}\n",
        "target", "execs", "exec/s", "time", "edges", "corpus", "crashes", "hangs", "ooms", "status"
    );
    for r in rows {
        s += &format!(
            "  {:<20} {:>9} {:>10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>5}  {}\n",
            r.name,
            human(r.execs as f64),
            human(r.execs_per_sec),
            clock(Duration::from_secs_f64(r.seconds)),
            r.edges,
            r.corpus,
            r.crashes,
            r.hangs,
            r.ooms,
            if r.error.is_some() { "ERROR".to_string() } else { r.status.name().to_uppercase() },
        );
    }
    for r in rows {
        if let Some(e) = &r.error {
            s += &format!("\n{}: {}\n", r.name, e.lines().next().unwrap_or_default());
        }
        for f in r.findings.iter().filter(|f| f.seen_this_run) {
            let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
            s += &format!(
                "\n{} [{}] {}: {}{at}\n  reproducer: {}\n",
                r.name,
                if f.known { "known" } else { "new" },
                f.kind.describe(),
                f.message,
                f.minimized.as_deref().unwrap_or(&f.artifact)
            );
            s += &format!("  reproduce:  {}\n", f.reproduce);
        }
    }
    s
}

/// The same summary as Markdown, for `$GITHUB_STEP_SUMMARY`.
pub fn summary_markdown(rows: &[TargetRow], code: u8) -> String {
    let verdict = match code {
        0 => "no findings",
        1 => "findings",
        _ => "errors",
    };
    let mut s = format!("## cargo protocrash: {verdict}\n\n");
    s += "| target | status | execs | exec/s | edges | corpus | crashes | hangs | ooms |\n";
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        s += &format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.status.name(),
            human(r.execs as f64),
            human(r.execs_per_sec),
            r.edges,
            r.corpus,
            r.crashes,
            r.hangs,
            r.ooms
        );
    }
    for r in rows {
        if let Some(e) = &r.error {
            s += &format!("\n**{}**: {}\n", r.name, md_escape(e.lines().next().unwrap_or_default()));
        }
        for f in r.findings.iter().filter(|f| f.seen_this_run) {
            let at = if f.location.is_empty() { String::new() } else { format!(" at `{}`", f.location) };
            s += &format!(
                "\n**{}** ({}): {} — {}{at}\n\n```sh\n{}\n```\n",
                r.name,
                if f.known { "known" } else { "new" },
                f.kind.describe(),
                md_escape(&f.message),
                f.reproduce
            );
        }
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

/// Appends `text` to GitHub's step summary file.
pub fn append_step_summary(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write the step summary {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: TargetStatus) -> TargetRow {
        TargetRow { status, execs: 1000, execs_per_sec: 500.0, seconds: 2.0, ..TargetRow::empty(name) }
    }

    #[test]
    fn summaries_name_every_target_and_every_finding() {
        let mut buggy = row("parse", TargetStatus::Findings);
        buggy.crashes = 1;
        buggy.findings.push(FindingRow {
            id: "00112233aabbccdd".into(),
            kind: FindingKind::Panic,
            message: "a | b".into(),
            location: "src/lib.rs:3:5".into(),
            known: false,
            seen_this_run: true,
            hits: 4,
            artifact: "fuzz/artifacts/parse/crash-00112233aabbccdd".into(),
            minimized: Some("fuzz/artifacts/parse/minimized-crash-00112233aabbccdd".into()),
            reproduce: "cargo protocrash repro parse fuzz/artifacts/parse/minimized-crash-00112233aabbccdd".into(),
        });
        let rows = vec![row("clean_one", TargetStatus::Clean), buggy];
        let text = summary_text(&rows);
        assert!(text.contains("clean_one") && text.contains("CLEAN"), "{text}");
        assert!(text.contains("parse [new] panic: a | b at src/lib.rs:3:5"), "{text}");
        assert!(
            text.contains("reproduce:  cargo protocrash repro parse fuzz/artifacts/parse/minimized-crash-"),
            "{text}"
        );
        let md = summary_markdown(&rows, 1);
        assert!(md.starts_with("## cargo protocrash: findings"), "{md}");
        assert!(md.contains("| `clean_one` | clean |"), "{md}");
        assert!(md.contains("a \\| b"), "table-breaking characters are escaped: {md}");
    }

    #[test]
    fn exit_code_follows_fail_on() {
        let mut known = row("k", TargetStatus::Findings);
        known.hits = 3;
        known.findings.push(FindingRow {
            id: "1".into(),
            kind: FindingKind::Hang,
            message: String::new(),
            location: String::new(),
            known: true,
            seen_this_run: true,
            hits: 3,
            artifact: String::new(),
            minimized: None,
            reproduce: String::new(),
        });
        let rows = [row("c", TargetStatus::Clean), known];
        assert_eq!(exit_code(&rows, FailOn::Any), 1);
        assert_eq!(exit_code(&rows, FailOn::New), 0, "a known finding seen again passes with --fail-on new");
        let mut broken = rows.to_vec();
        broken.push(TargetRow { status: TargetStatus::Error, ..TargetRow::empty("b") });
        assert_eq!(exit_code(&broken, FailOn::New), 2);
    }
}
