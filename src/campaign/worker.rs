//! One worker process as the master drives it: its directory, the harness process started
//! with its configuration in the environment, its mapped stats file, and its log, relayed
//! line by line. What happens to it next is decided by `lifecycle`.

use super::lifecycle::Life;
use super::CampaignConfig;
use crate::shm::StatsMap;
use anyhow::{Context, Result};
use protocrash_proto::config::{WorkerConfig, WORKER_ENV};
use protocrash_proto::files::{open_regular, Access};
use protocrash_proto::layout::WorkerDir;
use protocrash_proto::stats::{StatField, StatsView};
use protocrash_proto::PROTOCOL_VERSION;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::time::Instant;

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
    log_pos: u64,
    /// Executions and finding hits recorded in this directory before this campaign began.
    base_execs: u64,
    base_hits: u64,
    /// Its part of `--runs` (u64::MAX = unbounded).
    pub share: u64,
}

impl Worker {
    /// The worker `index` of this node, its directory created; counters of earlier runs in
    /// it carry on (this campaign's figures are their growth).
    pub fn new(cfg: &CampaignConfig, index: usize, share: u64) -> Result<Worker> {
        let dir = cfg.sync.worker(&cfg.node, index);
        protocrash_proto::files::ensure_dir(dir.path()).context("cannot set up the worker directory")?;
        let before = StatsMap::open(&dir.stats())?.map(|s| s.view());
        Ok(Worker {
            index,
            dir,
            child: None,
            stats: None,
            life: Life::new(Instant::now()),
            log_pos: 0,
            base_execs: before.map_or(0, |v| v.execs()),
            base_hits: before.map_or(0, |v| v.hits()),
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
        self.view().map_or(0, |v| v.execs().saturating_sub(self.base_execs))
    }

    /// Finding hits in this campaign.
    pub fn hits(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| s.view().hits().saturating_sub(self.base_hits))
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
        let log = self.dir.log();
        let access = if first { Access::Truncate } else { Access::Append };
        let log_file = open_regular(&log, access).with_context(|| format!("cannot create {}", log.display()))?;
        if first {
            self.log_pos = 0;
        }
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
        };
        let child = std::process::Command::new(&cfg.harness)
            .env(WORKER_ENV, wc.encode())
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: a terminal's Ctrl-C reaches only the master, which stops
            // the workers gracefully.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start the harness {}", cfg.harness.display()))?;
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

    /// Kills its process.
    pub fn kill(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
        }
    }

    /// New complete lines of the worker's log.
    pub fn new_log_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = open_regular(&self.dir.log(), Access::Read) else {
            return Vec::new();
        };
        let mut buf = String::new();
        if f.seek(SeekFrom::Start(self.log_pos)).is_err() || f.read_to_string(&mut buf).is_err() {
            return Vec::new();
        }
        let Some(end) = buf.rfind('\n') else {
            return Vec::new();
        };
        self.log_pos += end as u64 + 1;
        buf[..end].lines().map(str::to_string).collect()
    }

    /// The last 20 lines of its log.
    pub fn log_tail(&self) -> String {
        // The end of the log only: it may be long, and another user's file is not trusted.
        let bytes = open_regular(&self.dir.log(), Access::Read)
            .and_then(|mut f| {
                let len = f.metadata()?.len();
                f.seek(SeekFrom::Start(len.saturating_sub(64 << 10)))?;
                let mut b = Vec::new();
                f.read_to_end(&mut b).map(|_| b)
            })
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}
