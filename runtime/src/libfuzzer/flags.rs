//! libFuzzer's command line, as ClusterFuzz, ClusterFuzzLite and OSS-Fuzz pass it:
//! `-name=value` flags in any order, then corpus directories or input files.

use std::path::PathBuf;

/// libFuzzer's exit code for a crash (`-error_exitcode`).
pub const CRASH_EXIT: i32 = 77;
/// libFuzzer's exit code for a timeout (`-timeout_exitcode`).
pub const TIMEOUT_EXIT: i32 = 70;
/// libFuzzer's exit code for an out-of-memory.
pub const OOM_EXIT: i32 = 71;
/// libFuzzer's exit code for an interrupted run (SIGINT, SIGTERM).
pub const INTERRUPT_EXIT: i32 = 72;
/// libFuzzer's exit code when it cannot do what it was asked (a bad flag value, a missing file).
pub const USAGE_EXIT: i32 = 1;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flags {
    /// `-runs`: executions in total (None: no bound; -1 also means none).
    pub runs: Option<u64>,
    /// `-max_total_time`, seconds (0: no bound).
    pub max_total_time: u64,
    /// `-timeout`, seconds per input.
    pub timeout: u64,
    /// `-rss_limit_mb` (0: none).
    pub rss_limit_mb: u64,
    /// `-malloc_limit_mb` (None: the rss limit).
    pub malloc_limit_mb: Option<u64>,
    /// `-max_len` (None: protocrash's default).
    pub max_len: Option<usize>,
    /// `-artifact_prefix`: prepended as is to `crash-<sha1>` (a directory needs its `/`).
    pub artifact_prefix: String,
    /// `-exact_artifact_path`: the one artifact's path, overriding the prefix.
    pub exact_artifact_path: Option<PathBuf>,
    /// `-dict`.
    pub dict: Option<PathBuf>,
    /// `-seed` (None or 0: from the clock).
    pub seed: Option<u64>,
    /// `-print_final_stats`.
    pub print_final_stats: bool,
    /// `-close_fd_mask`: 1 closes the target's stdout, 2 its stderr.
    pub close_fd_mask: u32,
    /// `-merge=1`.
    pub merge: bool,
    /// `-merge_control_file`.
    pub merge_control_file: Option<PathBuf>,
    /// `-minimize_crash=1`.
    pub minimize_crash: bool,
    /// `-cleanse_crash=1`.
    pub cleanse_crash: bool,
    /// `-fork`, `-workers`, `-jobs`: parallel protocrash workers (1 when none is given).
    pub workers: usize,
    /// `-help=1`.
    pub help: bool,
    /// `-error_exitcode`.
    pub error_exitcode: i32,
    /// `-timeout_exitcode`.
    pub timeout_exitcode: i32,
    /// Corpus directories or input files, in order.
    pub inputs: Vec<PathBuf>,
    /// Flags taken but without effect here, each with why (printed as warnings).
    pub ignored: Vec<String>,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            runs: None,
            max_total_time: 0,
            timeout: 1200,
            rss_limit_mb: 2048,
            malloc_limit_mb: None,
            max_len: None,
            artifact_prefix: String::new(),
            exact_artifact_path: None,
            dict: None,
            seed: None,
            print_final_stats: false,
            close_fd_mask: 0,
            merge: false,
            merge_control_file: None,
            minimize_crash: false,
            cleanse_crash: false,
            workers: 1,
            help: false,
            error_exitcode: CRASH_EXIT,
            timeout_exitcode: TIMEOUT_EXIT,
            inputs: Vec::new(),
            ignored: Vec::new(),
        }
    }
}

impl Flags {
    /// The one memory limit protocrash applies (resident size and single allocations alike):
    /// `-malloc_limit_mb` when it is the tighter, else `-rss_limit_mb` (0: none).
    pub fn memory_limit_mb(&self) -> u64 {
        match self.malloc_limit_mb {
            Some(m) if self.rss_limit_mb == 0 || m < self.rss_limit_mb => m,
            _ => self.rss_limit_mb,
        }
    }
}

/// Flags protocrash's engine covers by itself: accepted without effect, said once.
const SUBSUMED: &[(&str, &str)] = &[
    ("use_value_profile", "comparison feedback is always on"),
    ("use_cmp", "comparison feedback is always on"),
    ("use_memmem", "comparison feedback is always on"),
    ("entropic", "protocrash has its own schedule"),
    ("entropic_feature_frequency_threshold", "protocrash has its own schedule"),
    ("entropic_number_of_rarest_features", "protocrash has its own schedule"),
    ("entropic_scale_per_exec_time", "protocrash has its own schedule"),
    ("focus_function", "protocrash has its own schedule"),
    ("len_control", "protocrash controls lengths itself"),
    ("reduce_inputs", "protocrash keeps the smallest input per feature itself"),
    ("prefer_small", "protocrash keeps the smallest input per feature itself"),
    ("shrink", "protocrash keeps the smallest input per feature itself"),
    ("reload", "workers import each other's finds through the sync dir"),
    ("keep_seed", "seeds are always kept"),
    ("cross_over", "crossover is one of protocrash's mutations"),
    ("mutate_depth", "protocrash stacks mutations itself"),
    ("data_flow_trace", "no data-flow tracing"),
    ("collect_data_flow", "no data-flow tracing"),
    ("verbosity", "one level of output"),
    ("report_slow_units", "slow inputs are not reported separately"),
    ("detect_leaks", "Rust harnesses run without LeakSanitizer"),
    ("handle_segv", "protocrash always handles fatal signals"),
    ("handle_abrt", "protocrash always handles fatal signals"),
    ("handle_bus", "protocrash always handles fatal signals"),
    ("handle_ill", "protocrash always handles fatal signals"),
    ("handle_fpe", "protocrash always handles fatal signals"),
    ("handle_int", "protocrash always handles SIGINT"),
    ("handle_term", "protocrash always handles SIGTERM"),
    ("handle_xfsz", "protocrash always handles fatal signals"),
    ("handle_usr1", "not used"),
    ("handle_usr2", "not used"),
    ("analyze_dict", "no dictionary analysis: nothing is recommended"),
    ("dict_file_on_fork", "not used"),
    ("ignore_crashes", "a crash ends the run (as without -fork)"),
    ("ignore_timeouts", "a timeout ends the run (as without -fork)"),
    ("ignore_ooms", "an out-of-memory ends the run (as without -fork)"),
    ("only_ascii", "not supported"),
    ("purge_allocations_after", "not supported"),
];

/// Parses libFuzzer's arguments (without the program name). Flags start with one `-`;
/// everything else is a corpus directory or an input file. A bad value is an error (what
/// libFuzzer does too); an unknown flag is kept in [`Flags::ignored`] with a warning.
pub fn parse(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let (mut fork, mut workers, mut jobs) = (None, None, None);
    for arg in args {
        let Some(flag) = arg.strip_prefix('-') else {
            f.inputs.push(PathBuf::from(arg));
            continue;
        };
        if flag.starts_with('-') {
            f.ignored.push(format!("{arg}: libFuzzer flags take one dash; ignored"));
            continue;
        }
        let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
        let int = || -> Result<i64, String> {
            value.parse::<i64>().map_err(|_| format!("-{name} takes a number, not {value:?}"))
        };
        let nonneg = || -> Result<u64, String> { int().map(|v| v.max(0) as u64) };
        let on = || -> Result<bool, String> { int().map(|v| v != 0) };
        match name {
            "runs" => f.runs = Some(int()?).filter(|&v| v >= 0).map(|v| v as u64),
            "max_total_time" => f.max_total_time = nonneg()?,
            "timeout" => f.timeout = nonneg()?.max(1),
            "rss_limit_mb" => f.rss_limit_mb = nonneg()?,
            "malloc_limit_mb" => f.malloc_limit_mb = Some(nonneg()?),
            "max_len" => f.max_len = Some(nonneg()? as usize).filter(|&n| n > 0),
            "artifact_prefix" => f.artifact_prefix = value.to_string(),
            "exact_artifact_path" => f.exact_artifact_path = Some(PathBuf::from(value)),
            "dict" => f.dict = Some(PathBuf::from(value)),
            "seed" => f.seed = Some(value.parse().map_err(|_| format!("-seed takes a number, not {value:?}"))?),
            "print_final_stats" => f.print_final_stats = on()?,
            "close_fd_mask" => f.close_fd_mask = nonneg()? as u32,
            "merge" => f.merge = on()?,
            "merge_control_file" => f.merge_control_file = Some(PathBuf::from(value)),
            "minimize_crash" => f.minimize_crash = on()?,
            "cleanse_crash" => f.cleanse_crash = on()?,
            "fork" => fork = Some(nonneg()?),
            "workers" => workers = Some(nonneg()?),
            "jobs" => jobs = Some(nonneg()?),
            "help" => f.help = on()?,
            "error_exitcode" => f.error_exitcode = int()? as i32,
            "timeout_exitcode" => f.timeout_exitcode = int()? as i32,
            _ => match SUBSUMED.iter().find(|(n, _)| *n == name) {
                Some((_, why)) => f.ignored.push(format!("{arg}: {why}; ignored")),
                None => f.ignored.push(format!("{arg}: not a flag protocrash knows; ignored")),
            },
        }
    }
    // libFuzzer's -jobs=N runs N jobs in -workers processes; -fork=N keeps N children busy.
    // Here each is that many protocrash workers sharing one sync dir.
    f.workers = fork.or(workers).or(jobs).filter(|&n| n > 0).map_or(1, |n| n.min(256) as usize);
    Ok(f)
}

/// Whether a harness's arguments are libFuzzer's: any flag, or a directory to fuzz.
/// (`harness FILE…` alone stays protocrash's own replay.)
pub fn is_libfuzzer_command_line(args: &[String]) -> bool {
    args.iter().any(|a| a.starts_with('-') && !matches!(a.as_str(), "-h" | "--help"))
        || args.iter().any(|a| std::path::Path::new(a).is_dir())
}

/// `-help=1`.
pub const HELP: &str = "\
Usage (libFuzzer's command line, with protocrash's engine behind it):
  <harness> [-flag=value ...] [CORPUS_DIR ...]    fuzz; new inputs go to the first directory
  <harness> [-flag=value ...] FILE ...            run each file (reproduce)
  <harness> -merge=1 OUT_DIR IN_DIR ...           copy to OUT_DIR the inputs of IN_DIRs that add coverage
  <harness> -minimize_crash=1 -runs=N FILE        shrink a crashing input
  <harness> -cleanse_crash=1 FILE                 replace the bytes a crash does not need

Flags:
  -runs=N                 executions in total (-1: no bound)
  -max_total_time=S       stop fuzzing after S seconds
  -timeout=S              an input running longer than S seconds is a timeout (default 1200)
  -rss_limit_mb=M         resident memory limit (default 2048; 0: none)
  -malloc_limit_mb=M      largest single allocation (default: the rss limit)
  -max_len=N              largest input generated
  -artifact_prefix=P      crashes go to P + crash-<sha1> (timeout-, oom-)
  -exact_artifact_path=F  the artifact goes to F
  -dict=F                 dictionary (AFL/libFuzzer format)
  -seed=N                 random seed (0: from the clock)
  -print_final_stats=1    stat:: lines at the end
  -close_fd_mask=M        accepted: protocrash workers keep the target's output off the log
  -merge=1, -merge_control_file=F, -minimize_crash=1, -cleanse_crash=1
  -fork=N, -workers=N, -jobs=N   N protocrash workers sharing one sync dir
  -error_exitcode=C (77), -timeout_exitcode=C (70); out-of-memory exits 71, an interrupt 72
Other libFuzzer flags are accepted and ignored with a warning.
The run fuzzes with protocrash's engine: a fork server per worker, the fuzzing loop in its
child (a crash ends only the child), comparison feedback, parallel workers.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn clusterfuzz_fuzz_command_line() {
        let f = parse(&args(&[
            "-timeout=25",
            "-rss_limit_mb=2560",
            "-artifact_prefix=/w/reproducers/",
            "-max_total_time=20",
            "-print_final_stats=1",
            "-use_value_profile=1",
            "/w/new",
            "/w/corpus",
        ]))
        .unwrap();
        assert_eq!(f.timeout, 25);
        assert_eq!(f.rss_limit_mb, 2560);
        assert_eq!(f.artifact_prefix, "/w/reproducers/");
        assert_eq!(f.max_total_time, 20);
        assert!(f.print_final_stats);
        assert_eq!(f.inputs, vec![PathBuf::from("/w/new"), PathBuf::from("/w/corpus")]);
        assert_eq!(f.ignored.len(), 1);
        assert!(f.ignored[0].contains("use_value_profile"), "{:?}", f.ignored);
    }

    #[test]
    fn runs_minus_one_is_unbounded_and_bad_numbers_are_errors() {
        assert_eq!(parse(&args(&["-runs=-1"])).unwrap().runs, None);
        assert_eq!(parse(&args(&["-runs=100"])).unwrap().runs, Some(100));
        assert!(parse(&args(&["-runs=lots"])).unwrap_err().contains("-runs takes a number"));
    }

    #[test]
    fn parallel_flags_map_onto_workers() {
        assert_eq!(parse(&args(&[])).unwrap().workers, 1);
        assert_eq!(parse(&args(&["-jobs=4"])).unwrap().workers, 4);
        assert_eq!(parse(&args(&["-jobs=8", "-workers=2"])).unwrap().workers, 2);
        assert_eq!(parse(&args(&["-fork=3", "-workers=2"])).unwrap().workers, 3);
        assert_eq!(parse(&args(&["-fork=100000"])).unwrap().workers, 256);
    }

    #[test]
    fn unknown_flags_are_kept_as_warnings() {
        let f = parse(&args(&["-entropic=1", "-frobnicate=3", "--weird", "x"])).unwrap();
        assert_eq!(f.ignored.len(), 3, "{:?}", f.ignored);
        assert_eq!(f.inputs, vec![PathBuf::from("x")]);
    }

    #[test]
    fn what_counts_as_a_libfuzzer_command_line() {
        assert!(is_libfuzzer_command_line(&args(&["-runs=1", "f"])));
        assert!(is_libfuzzer_command_line(&args(&["/"])));
        assert!(!is_libfuzzer_command_line(&args(&["/nonexistent-file"])));
        assert!(!is_libfuzzer_command_line(&args(&["--help"])));
    }
}
