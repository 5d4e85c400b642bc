//! The worker's figures in AFL++'s file formats, so tools written for AFL++ campaigns
//! (afl-whatsup, afl-plot, CASR and dashboards that read `fuzzer_stats`) read a protocrash
//! campaign too. The fork server writes them every few seconds from the worker's own stats
//! file; nothing here runs in the fuzzing child.
//!
//! - `fuzzer_stats`: `key : value` lines, rewritten atomically (temp name, then rename).
//! - `plot_data`: one comma-separated line per interval, appended, under AFL++'s header.

use crate::statsfile::{CoverageFile, StatsFile};
use crate::statsfile::write_failed;
use crate::util::write_atomic;
use protocrash_proto::layout::WorkerDir;
use protocrash_proto::stats::StatField;
use std::io::Write;


/// Milliseconds between writes.
const EVERY_MS: u64 = 5000;

/// A `plot_data` comment line recording that the worker started again, at `<t>` seconds.
const RESTART_MARK: &str = protocrash_proto::stats::PLOT_RESTART_MARK;
const PLOT_HEADER: &str = "# relative_time, cycles_done, cur_item, corpus_count, pending_total, pending_favs, \
                           map_size, saved_crashes, saved_hangs, max_depth, execs_per_sec, total_execs, edges_found\n";

/// Writer of one worker's AFL-format files.
pub struct AflStats {
    dir: WorkerDir,
    banner: String,
    campaign_start_ms: u64,
    start_ms: u64,
    start_execs: u64,
    last_write_ms: u64,
    last_ms: u64,
    last_execs: u64,
    plot: Option<std::fs::File>,
}

impl AflStats {
    /// Starts writing into `dir` (a worker directory); `banner` names the target; plot times
    /// count from `campaign_start_ms`.
    pub fn new(dir: &WorkerDir, banner: &str, stats: &StatsFile, campaign_start_ms: u64, now_ms: u64) -> AflStats {
        let path = dir.plot_data();
        let plot = protocrash_proto::files::open_regular(&path, protocrash_proto::files::Access::Append)
            .and_then(|mut f| {
                if f.metadata()?.len() == 0 {
                    f.write_all(PLOT_HEADER.as_bytes())?;
                } else {
                    // A worker started again (restarted by its master, or a resumed campaign):
                    // a comment AFL++'s tools skip, and `cargo protocrash plot` marks.
                    let t = now_ms.saturating_sub(campaign_start_ms) / 1000;
                    f.write_all(format!("{RESTART_MARK}{t}\n").as_bytes())?;
                }
                Ok(f)
            })
            .map_err(|e| write_failed(&format!("could not write {}: {e}", path.display())))
            .ok();
        AflStats {
            dir: dir.clone(),
            banner: banner.to_string(),
            campaign_start_ms,
            start_ms: now_ms,
            start_execs: stats.get(StatField::ExecSeq) / 2,
            last_write_ms: 0,
            last_ms: now_ms,
            last_execs: stats.get(StatField::ExecSeq) / 2,
            plot,
        }
    }

    /// Writes both files if the interval has passed (or `force`).
    pub fn tick(&mut self, stats: &StatsFile, coverage: &CoverageFile, now_ms: u64, force: bool) {
        if !force && now_ms.saturating_sub(self.last_write_ms) < EVERY_MS {
            return;
        }
        self.last_write_ms = now_ms;
        let f = Figures::read(stats, coverage, self.start_ms, self.start_execs, now_ms);
        let path = self.dir.fuzzer_stats();
        if let Err(e) = write_atomic(&path, f.fuzzer_stats(&self.banner).as_bytes()) {
            write_failed(&e.to_string());
        }
        let recent = rate(f.execs.saturating_sub(self.last_execs), now_ms.saturating_sub(self.last_ms));
        (self.last_ms, self.last_execs) = (now_ms, f.execs);
        if let Some(plot) = &mut self.plot {
            let t = now_ms.saturating_sub(self.campaign_start_ms) / 1000;
            if let Err(e) = plot.write_all(f.plot_line(t, recent).as_bytes()) {
                write_failed(&format!("could not write {}: {e}", self.dir.plot_data().display()));
                self.plot = None;
            }
        }
    }
}

/// Executions per second over `ms` milliseconds (0 when no time passed).
fn rate(execs: u64, ms: u64) -> f64 {
    if ms == 0 {
        0.0
    } else {
        execs as f64 * 1000.0 / ms as f64
    }
}

/// What the files report, read once per write.
#[derive(Clone, Debug, Default, PartialEq)]
struct Figures {
    start_s: u64,
    now_s: u64,
    pid: u64,
    execs: u64,
    execs_per_sec: f64,
    corpus: u64,
    imported: u64,
    crashes: u64,
    hangs: u64,
    edges: u64,
    map_size: u64,
    last_find_s: u64,
}

impl Figures {
    fn read(stats: &StatsFile, coverage: &CoverageFile, start_ms: u64, start_execs: u64, now_ms: u64) -> Figures {
        let execs = stats.get(StatField::ExecSeq) / 2;
        Figures {
            start_s: start_ms / 1000,
            now_s: now_ms / 1000,
            pid: stats.get(StatField::Pid),
            execs,
            execs_per_sec: rate(execs.saturating_sub(start_execs), now_ms.saturating_sub(start_ms)),
            corpus: stats.get(StatField::Corpus),
            imported: stats.get(StatField::Imports),
            // AFL++ has no out-of-memory category; it counts them as crashes.
            crashes: stats.get(StatField::UniqueCrashes) + stats.get(StatField::UniqueOoms),
            hangs: stats.get(StatField::UniqueHangs),
            edges: coverage.count_edges(),
            map_size: stats.get(StatField::MapSize),
            last_find_s: stats.get(StatField::LastFindMs) / 1000,
        }
    }

    fn coverage_percent(&self) -> f64 {
        if self.map_size == 0 {
            0.0
        } else {
            100.0 * self.edges as f64 / self.map_size as f64
        }
    }

    fn fuzzer_stats(&self, banner: &str) -> String {
        let rows: [(&str, String); 20] = [
            ("start_time", self.start_s.to_string()),
            ("last_update", self.now_s.to_string()),
            ("run_time", self.now_s.saturating_sub(self.start_s).to_string()),
            ("fuzzer_pid", self.pid.to_string()),
            ("cycles_done", "0".into()),
            ("execs_done", self.execs.to_string()),
            ("execs_per_sec", format!("{:.2}", self.execs_per_sec)),
            ("corpus_count", self.corpus.to_string()),
            ("corpus_found", self.corpus.saturating_sub(self.imported).to_string()),
            ("corpus_imported", self.imported.to_string()),
            ("pending_favs", "0".into()),
            ("pending_total", "0".into()),
            ("bitmap_cvg", format!("{:.2}%", self.coverage_percent())),
            ("saved_crashes", self.crashes.to_string()),
            ("saved_hangs", self.hangs.to_string()),
            ("last_find", self.last_find_s.to_string()),
            ("edges_found", self.edges.to_string()),
            ("total_edges", self.map_size.to_string()),
            ("afl_banner", banner.to_string()),
            ("afl_version", format!("protocrash-{}", env!("CARGO_PKG_VERSION"))),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            out += &format!("{k:<18}: {v}\n");
        }
        out += &format!("{:<18}: {}\n", "target_mode", "protocrash fork server, in-process loop");
        out
    }

    /// A `plot_data` line at `t` seconds into the campaign, with the recent exec/s.
    fn plot_line(&self, t: u64, execs_per_sec: f64) -> String {
        format!(
            "{t}, 0, 0, {}, 0, 0, {:.2}%, {}, {}, 0, {execs_per_sec:.2}, {}, {}\n",
            self.corpus,
            self.coverage_percent(),
            self.crashes,
            self.hangs,
            self.execs,
            self.edges
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Figures {
        Figures {
            start_s: 1000,
            now_s: 1060,
            pid: 42,
            execs: 6_000_000,
            execs_per_sec: 100_000.0,
            corpus: 30,
            imported: 5,
            crashes: 2,
            hangs: 1,
            edges: 250,
            map_size: 1000,
            last_find_s: 1055,
        }
    }

    #[test]
    fn fuzzer_stats_lines_are_afl_key_value_pairs() {
        let text = sample().fuzzer_stats("parse");
        let get = |k: &str| {
            text.lines().find_map(|l| {
                let (key, v) = l.split_once(':')?;
                (key.trim() == k).then(|| v.trim().to_string())
            })
        };
        assert_eq!(get("execs_done").as_deref(), Some("6000000"));
        assert_eq!(get("execs_per_sec").as_deref(), Some("100000.00"));
        assert_eq!(get("corpus_count").as_deref(), Some("30"));
        assert_eq!(get("corpus_found").as_deref(), Some("25"));
        assert_eq!(get("saved_crashes").as_deref(), Some("2"));
        assert_eq!(get("bitmap_cvg").as_deref(), Some("25.00%"));
        assert_eq!(get("run_time").as_deref(), Some("60"));
        assert!(text.lines().all(|l| l.as_bytes().get(18) == Some(&b':')), "{text}");
    }

    #[test]
    fn plot_line_has_the_header_columns() {
        let line = sample().plot_line(60, 1234.5);
        let cols: Vec<&str> = line.trim().split(", ").collect();
        let header: Vec<&str> = PLOT_HEADER.trim_start_matches("# ").trim().split(", ").collect();
        assert_eq!(cols.len(), header.len());
        assert_eq!(cols[0], "60");
        assert_eq!(cols[header.iter().position(|h| *h == "execs_per_sec").unwrap()], "1234.50");
        assert_eq!(cols[header.iter().position(|h| *h == "edges_found").unwrap()], "250");
        assert_eq!(cols[header.iter().position(|h| *h == "total_execs").unwrap()], "6000000");
    }
}
