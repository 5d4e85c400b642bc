//! One worker process as the master drives it: its directory, the harness process started
//! with its configuration in the environment, its mapped stats file, and its output, relayed
//! line by line. What happens to it next is decided by `lifecycle`.
//!
//! The worker's stdout and stderr are a pipe to the master, not a file: a relay thread
//! copies each line into `worker.log` *and* to the master, so what a worker says reaches the
//! user's terminal even when the disk under the sync dir is full.

use super::lifecycle::Life;
use super::CampaignConfig;
use crate::shm::StatsMap;
use anyhow::{Context, Result};
use protocrash_proto::config::{WorkerConfig, WORKER_ENV};
use protocrash_proto::files::{open_regular, Access};
use protocrash_proto::layout::WorkerDir;
use protocrash_proto::stats::{StatField, StatsView};
use protocrash_proto::PROTOCOL_VERSION;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a relay thread passes on: a line of the worker's output, a failure to keep the log,
/// or the end of the output (every writer closed its end).
enum Relayed {
    Line(String),
    LogFailed(String),
    End,
}

/// Longest line relayed; the rest of a longer one is cut.
const LINE_CAP: u64 = 16 << 10;
/// Lines kept for `log_tail`.
const TAIL_LINES: usize = 20;

/// A worker of this campaign.
pub struct Worker {
    /// Its index on this node.
    pub index: usize,
    /// Its directory in the sync dir.
    pub dir: WorkerDir,
    /// Its process, while one runs.
    pub child: Option<std::process::Child>,
    /// Its stats file, once the current process created it.
    pub stats: Option<StatsMap>,
    /// Its life cycle.
    pub life: Life,
    /// The current process's output, as its relay thread passes it on.
    output: Option<mpsc::Receiver<Relayed>>,
    /// Lines received but not yet shown, and the last lines (for error messages).
    pending: Vec<String>,
    tail: VecDeque<String>,
    /// Executions and finding hits recorded in this directory before this campaign began.
    base_execs: u64,
    base_hits: u64,
    /// Executions and hits of this campaign counted in a directory that was since removed.
    carried_execs: u64,
    carried_hits: u64,
    /// Its directory was lost while its process ran (which had reported, so it is a
    /// harness: its end is a restart, not a broken harness).
    pub carried: bool,
    /// Device and inode of its directory when its process started: another directory at
    /// the name means the one it writes to was removed or replaced.
    dir_id: Option<(u64, u64)>,
    /// Its part of `--runs` (u64::MAX = unbounded).
    pub share: u64,
}

impl Worker {
    /// The worker `index` of this node, its directory created; counters of earlier runs in
    /// it carry on (this campaign's figures are their growth).
    pub fn new(cfg: &CampaignConfig, index: usize, share: u64) -> Result<Worker> {
        let dir = cfg.sync.worker(&cfg.node, index);
        protocrash_proto::files::ensure_dir(dir.path()).context("cannot set up the worker directory")?;
        let before = StatsMap::open(&dir.stats())
            .with_context(|| {
                format!(
                    "worker {} cannot carry on from its stats file: delete {} to restart its counters from zero \
                     (its queue and findings are kept), or run with another --node",
                    dir.name(),
                    dir.stats().display()
                )
            })?
            .map(|s| s.view());
        Ok(Worker {
            index,
            dir,
            child: None,
            stats: None,
            life: Life::new(Instant::now()),
            output: None,
            pending: Vec::new(),
            tail: VecDeque::new(),
            base_execs: before.map_or(0, |v| v.execs()),
            base_hits: before.map_or(0, |v| v.hits()),
            carried_execs: 0,
            carried_hits: 0,
            carried: false,
            dir_id: None,
            share,
        })
    }

    /// `<node>-<i>`.
    pub fn name(&self) -> String {
        self.dir.name()
    }

    /// Its counters now: from the mapped file of the running process, else from the file.
    pub fn view(&self) -> Option<StatsView> {
        match &self.stats {
            Some(s) => Some(s.view()),
            None => StatsMap::open_read_only(&self.dir.stats()).ok().flatten().map(|s| s.view()),
        }
    }

    /// Executions in this campaign.
    pub fn execs(&self) -> u64 {
        self.carried_execs + self.view().map_or(0, |v| v.execs().saturating_sub(self.base_execs))
    }

    /// Finding hits in this campaign.
    pub fn hits(&self) -> u64 {
        self.carried_hits + self.stats.as_ref().map_or(0, |s| s.view().hits().saturating_sub(self.base_hits))
    }

    /// Whether the directory its process writes to is no longer at its name (removed, or
    /// replaced by another directory or a link).
    pub fn dir_lost(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::symlink_metadata(self.dir.path()).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()));
        self.dir_id.is_some() && now != self.dir_id
    }

    /// After its directory was lost: keeps this campaign's counts so far (the stats file
    /// holding them is gone) and forgets the old mapping; the next process starts a new one.
    pub fn carry_over(&mut self) {
        self.carried_execs = self.execs();
        self.carried_hits = self.hits();
        (self.base_execs, self.base_hits) = (0, 0);
        self.carried = self.stats.is_some();
        self.stats = None;
        self.dir_id = None;
    }

    /// Unique findings this worker recorded.
    pub fn unique(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| s.view().unique_findings())
    }

    /// Starts (or restarts) its harness process.
    pub fn spawn(&mut self, cfg: &CampaignConfig, campaign_start_ms: u64) -> Result<()> {
        let remaining = self.share.saturating_sub(self.execs());
        // The first start of a campaign begins a fresh log; a restart appends to it.
        let first = self.life.restarts == 0;
        // Made again if it was removed since (the worker's counts were carried over).
        protocrash_proto::files::ensure_dir(self.dir.path()).context("cannot set up the worker directory")?;
        self.dir_id = {
            use std::os::unix::fs::MetadataExt;
            std::fs::symlink_metadata(self.dir.path()).ok().map(|m| (m.dev(), m.ino()))
        };
        let log = self.dir.log();
        let access = if first { Access::Truncate } else { Access::Append };
        let log_file = open_regular(&log, access).with_context(|| format!("cannot create {}", log.display()))?;
        let wc = WorkerConfig {
            version: PROTOCOL_VERSION,
            target: cfg.target.clone(),
            worker_dir: self.dir.path().to_path_buf(),
            sync_dir: cfg.sync.root().to_path_buf(),
            seed_dirs: cfg.seed_dirs.clone(),
            artifact_dir: cfg.artifact_dir.clone(),
            seed: cfg.seed.wrapping_add((self.index as u64) << 32).wrapping_add(u64::from(self.life.restarts)),
            timeout_ms: cfg.timeout.as_millis().max(1) as u64,
            rss_limit_mb: cfg.rss_limit_mb,
            max_len: cfg.max_len,
            max_execs: remaining,
            cmp: cfg.cmp,
            dict: cfg.dict.iter().map(|t| protocrash_proto::dict::to_hex(t)).collect(),
            sync_interval_ms: cfg.sync_interval.as_millis() as u64,
            variant: self.index as u32,
            campaign_start_ms,
            libfuzzer: false,
        };
        let (reader, writer) = std::io::pipe().context("cannot create a pipe for the worker's output")?;
        let child = std::process::Command::new(&cfg.harness)
            .env(WORKER_ENV, wc.encode())
            .stdin(std::process::Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            // Its own process group: a terminal's Ctrl-C reaches only the master, which stops
            // the workers gracefully, and the whole group (the target's own children too) is
            // killed when the worker ends.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start the harness {}", cfg.harness.display()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || relay(reader, log_file, log, tx));
        self.output = Some(rx);
        self.child = Some(child);
        self.stats = None;
        Ok(())
    }

    /// Maps the stats file once the current process created it.
    pub fn map_stats(&mut self) -> Result<()> {
        if self.stats.is_some() {
            return Ok(());
        }
        let Some(pid) = self.child.as_ref().map(|c| c.id()) else {
            return Ok(());
        };
        self.stats = StatsMap::open(&self.dir.stats())?.filter(|s| s.get(StatField::Pid) == u64::from(pid));
        Ok(())
    }

    /// Asks it to stop after the current execution (or ends it if it has not started yet).
    pub fn request_stop(&mut self) {
        match (&self.stats, &mut self.child) {
            (Some(s), Some(_)) => s.set(StatField::Stop, 1),
            // Not started yet: nothing to save, end it.
            (None, Some(child)) => {
                let _ = child.kill();
            }
            _ => {}
        }
    }

    /// Kills its process and everything in its process group.
    pub fn kill(&mut self) {
        if let Some(c) = &mut self.child {
            kill_group(c.id());
            let _ = c.kill();
        }
    }

    /// Lines the worker wrote since the last call.
    pub fn new_log_lines(&mut self) -> Vec<String> {
        while let Some(r) = self.output.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.take(r);
        }
        std::mem::take(&mut self.pending)
    }

    /// After its process ended: waits (briefly) for the rest of its output, so that the
    /// last lines (a setup error, a panic message) are there to show.
    pub fn drain_output(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Some(rx) = &self.output {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Relayed::End) | Err(_) => self.output = None,
                Ok(r) => self.take(r),
            }
        }
    }

    fn take(&mut self, r: Relayed) {
        match r {
            Relayed::Line(line) => {
                if self.tail.len() == TAIL_LINES {
                    self.tail.pop_front();
                }
                self.tail.push_back(line.clone());
                self.pending.push(line);
            }
            Relayed::LogFailed(why) => self
                .pending
                .push(format!("protocrash: warning: {why}; worker {}'s messages are shown here only", self.name())),
            Relayed::End => self.output = None,
        }
    }

    /// Its last lines of output.
    pub fn log_tail(&self) -> String {
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Kills the process group `pid` leads (the worker and the target's own children). Called
/// only while the leader is not yet reaped (running, or a zombie seen with `WNOWAIT`), so
/// the id cannot have been handed to an unrelated process. No group left (ESRCH) is fine.
pub fn kill_group(pid: u32) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
}

/// Whether the child `pid` has exited, without reaping it (so its group can still be
/// killed by id).
pub fn has_exited(pid: u32) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(nix::unistd::Pid::from_raw(pid as i32)), flags), Ok(WaitStatus::StillAlive) | Err(_))
}

/// Copies the worker's output into its log and to the master, line by line, until every
/// writer has closed the pipe. A log that cannot be written is reported once; the lines
/// still reach the master.
fn relay(reader: std::io::PipeReader, mut log: std::fs::File, path: std::path::PathBuf, tx: mpsc::Sender<Relayed>) {
    let mut reader = std::io::BufReader::new(reader);
    let mut log_ok = true;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match std::io::Read::take(&mut reader, LINE_CAP).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if log_ok {
            if let Err(e) = log.write_all(&buf) {
                log_ok = false;
                let _ = tx.send(Relayed::LogFailed(format!("cannot write {}: {e}", path.display())));
            }
        }
        let line = String::from_utf8_lossy(&buf).trim_end_matches('\n').to_string();
        if tx.send(Relayed::Line(line)).is_err() {
            break;
        }
    }
    let _ = tx.send(Relayed::End);
}
