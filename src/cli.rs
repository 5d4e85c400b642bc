//! The command line, parsed once into plain values (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `cargo protocrash …` (cargo passes the subcommand name as the first argument).
#[derive(Parser, Debug)]
#[command(name = "cargo", bin_name = "cargo", disable_help_subcommand = true)]
pub enum CargoCli {
    /// Coverage-guided fuzzing for Rust on stable.
    Protocrash(Cli),
}

/// Coverage-guided fuzzing for Rust on stable: fork-server workers, in-process speed.
#[derive(Args, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create fuzz/ in the current crate, with one target.
    Init(InitArgs),
    /// Add a fuzz target (creating fuzz/ if needed).
    Add(AddArgs),
    /// List the fuzz targets.
    List(ProjectArgs),
    /// Build instrumented harnesses (all targets, or the one named).
    Build(BuildArgs),
    /// Build (if needed) and fuzz a target until Ctrl-C or a bound.
    Run(RunArgs),
    /// Replay inputs outside the fuzzer: outcome, panic message, backtrace.
    Repro(ReproArgs),
    /// Shrink the corpus keeping every edge, or (--crash FILE) one input keeping its crash.
    Minimize(MinimizeArgs),
    /// List the unique findings: kind, message, location, hits, files, repro command.
    Crashes(CrashesArgs),
    /// Show a campaign's figures from its sync dir (during or after a run).
    Status(StatusArgs),
    /// Draw a campaign's edges, corpus and exec/s over time as an SVG.
    Plot(PlotArgs),
    /// Replay the corpus and write a source coverage report (LCOV and HTML).
    Coverage(CoverageArgs),
    /// Copy the runtime into fuzz/ and patch it in, so `cargo fuzz build` (OSS-Fuzz,
    /// ClusterFuzzLite) builds protocrash targets without cargo-protocrash installed.
    Vendor(VendorArgs),
    /// Print shell completions for `cargo-protocrash` (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Write the man pages (cargo-protocrash.1 and one per subcommand), or print the main one.
    Man(ManArgs),
}

/// `completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write every page into DIR (e.g. ~/.local/share/man/man1) instead of printing the main one.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The command line as a standalone `cargo-protocrash` command (for completions and man pages).
pub fn standalone_command() -> clap::Command {
    use clap::Args as _;
    Cli::augment_args(clap::Command::new("cargo-protocrash").version(env!("CARGO_PKG_VERSION")))
        .about("Coverage-guided fuzzing for Rust on stable: fork-server workers, in-process speed")
}

/// `vendor`.
#[derive(Args, Debug)]
pub struct VendorArgs {
    /// Where to put the runtime's packages, relative to the fuzz directory.
    #[arg(long, default_value = "protocrash")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `coverage`.
#[derive(Args, Debug)]
pub struct CoverageArgs {
    /// The target (may be omitted when there is only one).
    pub target: Option<String>,
    /// Extra corpus directories or files to replay (besides fuzz/corpus/<target> and the
    /// campaign's queues).
    #[arg(long, value_name = "PATH")]
    pub corpus: Vec<PathBuf>,
    /// Where to write lcov.info and the HTML report (default: fuzz/coverage/<target>).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Report every instrumented source file, dependencies included (default: only files
    /// under the fuzzed crate's directory).
    #[arg(long)]
    pub all_files: bool,
    /// Harness processes replaying at once (default: cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Per-input timeout, as for `run`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Memory limit in MiB per harness process (0 = none).
    #[arg(long, default_value_t = 2048)]
    pub rss_limit_mb: u64,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub build: BuildFlags,
}

/// Where the fuzz project is.
#[derive(Args, Debug, Clone, Default)]
pub struct ProjectArgs {
    /// The fuzz project directory (default: fuzz/ here or in a parent directory).
    #[arg(long, value_name = "DIR")]
    pub fuzz_dir: Option<PathBuf>,
}

/// How harnesses are built.
#[derive(Args, Debug, Clone, Default)]
pub struct BuildFlags {
    /// Space- or comma-separated features to enable.
    #[arg(long, short = 'F')]
    pub features: Option<String>,
    /// Do not enable the default features.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build unoptimised (debug profile) instead of release.
    #[arg(long)]
    pub dev: bool,
    /// Cargo target directory (default: fuzz/target).
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
}

/// `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Name of the first target.
    #[arg(long, default_value = "fuzz_target_1")]
    pub target: String,
    /// The crate to fuzz (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

/// `add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// Name of the new target.
    pub name: String,
    /// The crate to fuzz (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

/// `build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Target to build (default: all).
    pub target: Option<String>,
    /// Also copy each harness into DIR (`$OUT` in an OSS-Fuzz or ClusterFuzzLite build.sh):
    /// the binaries speak libFuzzer's command line with protocrash's engine behind it.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub build: BuildFlags,
}

/// `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Target to fuzz (may be omitted when there is only one).
    #[arg(conflicts_with = "all")]
    pub target: Option<String>,
    /// Fuzz every target, one after the other, sharing the time budget.
    #[arg(long)]
    pub all: bool,
    /// With --all: this much time per target (default: --max-total-time divided evenly).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "all")]
    pub time_per_target: Option<Duration>,
    /// CI mode: plain progress lines, a summary table, reproducers minimised (default when
    /// CI=true and stdout is not a terminal).
    #[arg(long)]
    pub ci: bool,
    /// Write the run's summary as JSON (schema: README, "CI report").
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Which findings fail the run (exit 1): any, or only new ones (not recorded before this
    /// run, in the sync dir or as a reproducer in fuzz/artifacts/<target>).
    #[arg(long, value_enum, default_value = "any")]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub build: BuildFlags,
    /// Stop after this much wall time (e.g. 90s, 10m, 2h).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub max_total_time: Option<Duration>,
    /// Stop after this many executions of the target.
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    /// Random seed (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// An execution longer than this is a hang.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Memory limit of the target in MiB (resident memory, and any single allocation); 0 = none.
    #[arg(long, value_name = "MB", default_value_t = 2048)]
    pub rss_limit_mb: u64,
    /// Largest input the fuzzer generates; lengths start small and grow to this.
    #[arg(long, value_name = "BYTES", default_value_t = 65536, value_parser = clap::value_parser!(u64).range(1..=(64 << 20)))]
    pub max_len: u64,
    /// Extra seed corpus directory (repeatable); fuzz/corpus/<target>/ is always read.
    #[arg(long, value_name = "DIR")]
    pub corpus: Vec<PathBuf>,
    /// Stop at the first finding.
    #[arg(long)]
    pub fail_fast: bool,
    /// Dictionary file in the AFL++/libFuzzer format (repeatable).
    #[arg(long, value_name = "FILE")]
    pub dict: Vec<PathBuf>,
    /// Turn comparison feedback off (value profile, input-to-state, compare tokens).
    #[arg(long)]
    pub no_cmp: bool,
    /// Leave out the dictionary read from the build: magic values of byte-array compares
    /// (3 to 16 bytes) that run-time compare tracing cannot see.
    #[arg(long)]
    pub no_auto_dict: bool,
    /// The campaign's sync directory (default: fuzz/sync/<target>).
    #[arg(long, value_name = "DIR")]
    pub sync_dir: Option<PathBuf>,
    /// This machine's name in the sync dir (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Plain status lines instead of the live screen.
    #[arg(long)]
    pub plain: bool,
    /// Worker processes, each a fork server with its own fuzzing child (default: one per core).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// How often each worker imports the other workers' finds from the sync dir.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub sync_interval: Duration,
}

/// `minimize`.
#[derive(Args, Debug)]
pub struct MinimizeArgs {
    /// Target (may be omitted when there is only one).
    pub target: Option<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub build: BuildFlags,
    /// Shrink this crashing (or hanging, or out-of-memory) input instead of the corpus.
    #[arg(long, value_name = "FILE")]
    pub crash: Option<PathBuf>,
    /// Where the result goes: a new directory for a corpus (default: replace
    /// fuzz/corpus/<target>), a file for a crash (default: <FILE>.min beside it).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Extra corpus directories to include (repeatable).
    #[arg(long, value_name = "DIR")]
    pub corpus: Vec<PathBuf>,
    /// The campaign's sync directory, whose queues are included (default: fuzz/sync/<target>).
    #[arg(long, value_name = "DIR")]
    pub sync_dir: Option<PathBuf>,
    /// Harness processes replaying the corpus (default: one per core).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// An execution longer than this is a hang.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Memory limit in MiB; 0 = none.
    #[arg(long, value_name = "MB", default_value_t = 2048)]
    pub rss_limit_mb: u64,
    /// Corpus files larger than this are set aside.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_len: u64,
    /// Crash minimisation: most executions to spend (default 10000).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    /// Crash minimisation: most wall time to spend.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub max_total_time: Option<Duration>,
    /// The summary as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Which findings fail a run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Any finding hit in this run.
    Any,
    /// Only findings not known before this run.
    New,
}

/// `crashes`.
#[derive(Args, Debug)]
pub struct CrashesArgs {
    /// Target (default: every target).
    pub target: Option<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Target (may be omitted when there is only one).
    pub target: Option<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The campaign's sync directory (default: fuzz/sync/<target>); no fuzz project needed.
    #[arg(long, value_name = "DIR")]
    pub sync_dir: Option<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Target (may be omitted when there is only one).
    pub target: Option<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The campaign's sync directory (default: fuzz/sync/<target>); no fuzz project needed.
    #[arg(long, value_name = "DIR")]
    pub sync_dir: Option<PathBuf>,
    /// Where to write the SVG (default: <sync dir>/plot.svg).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw exec/s on a log scale (crash storms and restarts span orders of magnitude).
    #[arg(long)]
    pub log_scale: bool,
}

/// `repro`.
#[derive(Args, Debug)]
pub struct ReproArgs {
    /// [TARGET] FILE…: the target may be omitted when there is only one.
    #[arg(required_unless_present = "regression", value_name = "TARGET|FILE")]
    pub items: Vec<String>,
    /// Replay the whole corpus (fuzz/corpus/<target>, the sync dir's queues) and every
    /// reproducer in fuzz/artifacts/<target>, on all cores; exit 1 if any input fails now.
    #[arg(long)]
    pub regression: bool,
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub build: BuildFlags,
    /// An execution longer than this is a hang.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Memory limit in MiB; 0 = none.
    #[arg(long, value_name = "MB", default_value_t = 2048)]
    pub rss_limit_mb: u64,
    /// One JSON object per input on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Parses `250ms`, `90s`, `10m`, `2h`, `1d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("'{text}' is not a duration (try 90s, 10m, 250ms)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => return Err(format!("unknown unit '{other}' in '{text}' (use ms, s, m, h or d)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("'{text}' must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        CargoCli::command().debug_assert();
    }
}
