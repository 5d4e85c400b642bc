//! What the user sees during a campaign: a live status block redrawn in place on a terminal
//! (console crate), or one plain line every few seconds in logs; messages (findings,
//! warnings) are printed above the status block.

use crate::aggregate::WorkerStatus;
use console::{style, Term};
use std::time::{Duration, Instant};

/// Campaign figures at one instant.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Target name.
    pub target: String,
    /// Wall time since start.
    pub elapsed: Duration,
    /// Executions in this run.
    pub execs: u64,
    /// Executions per second in this run.
    pub execs_per_sec: f64,
    /// Edges in the union of all coverage maps.
    pub edges: u64,
    /// Instrumented edges.
    pub map_size: u64,
    /// Corpus entries.
    pub corpus: u64,
    /// Unique crashes, hangs, OOMs.
    pub crashes: u64,
    /// Unique hangs.
    pub hangs: u64,
    /// Unique out-of-memory findings.
    pub ooms: u64,
    /// Time since the last new coverage.
    pub since_last_find: Option<Duration>,
    /// Current input length limit (largest over workers).
    pub len_limit: u64,
    /// Per-worker breakdown.
    pub workers: Vec<WorkerRow>,
}

/// One worker's line in the breakdown.
#[derive(Clone, Debug, Default)]
pub struct WorkerRow {
    /// `<node>-<i>`.
    pub name: String,
    /// starting / running / inactive / restarting / done / dead.
    pub state: WorkerStatus,
    /// Executions in this run.
    pub execs: u64,
    /// Executions per second in this run.
    pub execs_per_sec: f64,
    /// Edges in its own map.
    pub edges: u64,
    /// Corpus entries.
    pub corpus: u64,
    /// Unique findings.
    pub finds: u64,
    /// Entries imported from other workers.
    pub imports: u64,
    /// Times the master restarted it.
    pub restarts: u32,
}

/// Renders the status.
pub struct Display {
    term: Term,
    live: bool,
    drawn: usize,
    last_plain: Option<Instant>,
    plain_every: Duration,
}

impl Display {
    /// Live on a terminal unless `plain` is asked for.
    pub fn new(plain: bool) -> Display {
        let term = Term::stdout();
        let live = !plain && term.is_term();
        Display { term, live, drawn: 0, last_plain: None, plain_every: Duration::from_secs(3) }
    }

    /// Prints a message above the status.
    pub fn message(&mut self, text: &str) {
        self.clear();
        let _ = self.term.write_line(text);
    }

    fn clear(&mut self) {
        if self.live && self.drawn > 0 {
            let _ = self.term.clear_last_lines(self.drawn);
            self.drawn = 0;
        }
    }

    /// Shows the current figures (redraw, or a plain line when one is due).
    pub fn update(&mut self, s: &Snapshot) {
        if self.live {
            self.clear();
            let lines = live_lines(s);
            for l in &lines {
                let _ = self.term.write_line(l);
            }
            self.drawn = lines.len();
        } else if self.last_plain.is_none_or(|t| t.elapsed() >= self.plain_every) {
            self.last_plain = Some(Instant::now());
            let _ = self.term.write_line(&plain_line(s));
        }
    }

    /// Removes the live block before the final summary.
    pub fn finish(&mut self) {
        self.clear();
    }
}

/// `1.23M`, `45.6k`, `789`.
pub fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// `1:02:03` or `2:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn since(d: Option<Duration>) -> String {
    d.map(|d| format!("{} ago", clock(d))).unwrap_or_else(|| "never".into())
}

fn live_lines(s: &Snapshot) -> Vec<String> {
    let findings = format!("crashes {}  hangs {}  ooms {}", s.crashes, s.hangs, s.ooms);
    let findings = if s.crashes + s.hangs + s.ooms > 0 { style(findings).red().bold().to_string() } else { findings };
    let mut lines = vec![
        format!(
            "{} {} {}",
            style("protocrash").bold(),
            style(&s.target).cyan(),
            style(format!("· {} elapsed", clock(s.elapsed))).dim()
        ),
        format!(
            "  execs {}  ({}/s)   edges {} / {}   corpus {}   max len {}",
            human(s.execs as f64),
            human(s.execs_per_sec),
            s.edges,
            s.map_size,
            s.corpus,
            s.len_limit
        ),
        format!("  {findings}   last new edge {}", since(s.since_last_find)),
    ];
    if s.workers.len() > 1 {
        lines.push(
            style(format!(
                "  {:<14} {:>10} {:>9} {:>7} {:>7} {:>7} {:>6} {:>8}",
                "worker", "state", "execs", "exec/s", "edges", "corpus", "finds", "imports"
            ))
            .dim()
            .to_string(),
        );
        for w in &s.workers {
            let restarts = if w.restarts > 0 { format!("  ({} restarts)", w.restarts) } else { String::new() };
            let state = match w.state {
                WorkerStatus::Inactive | WorkerStatus::Dead | WorkerStatus::Restarting => {
                    style(w.state.name()).yellow().to_string()
                }
                _ => w.state.name().to_string(),
            };
            lines.push(format!(
                "  {:<14} {:>10} {:>9} {:>7} {:>7} {:>7} {:>6} {:>8}{restarts}",
                w.name,
                state,
                human(w.execs as f64),
                human(w.execs_per_sec),
                w.edges,
                w.corpus,
                w.finds,
                w.imports
            ));
        }
    }
    lines
}

/// The line printed every few seconds when stdout is not a terminal.
pub fn plain_line(s: &Snapshot) -> String {
    let mut line = format!(
        "[{}] {}: execs {} ({}/s) edges {}/{} corpus {} crashes {} hangs {} ooms {} last-new-edge {}",
        clock(s.elapsed),
        s.target,
        human(s.execs as f64),
        human(s.execs_per_sec),
        s.edges,
        s.map_size,
        s.corpus,
        s.crashes,
        s.hangs,
        s.ooms,
        since(s.since_last_find)
    );
    if s.workers.len() > 1 {
        let running = s.workers.iter().filter(|w| w.state == WorkerStatus::Running).count();
        let odd: Vec<String> = s
            .workers
            .iter()
            .filter(|w| matches!(w.state, WorkerStatus::Inactive | WorkerStatus::Restarting | WorkerStatus::Dead))
            .map(|w| format!("{} {}", w.name, w.state.name()))
            .collect();
        line += &format!(" workers {running}/{} running", s.workers.len());
        if !odd.is_empty() {
            line += &format!(" ({})", odd.join(", "));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_clocks_read_well() {
        assert_eq!(human(999.0), "999");
        assert_eq!(human(12_345.0), "12.3k");
        assert_eq!(human(2_260_000.0), "2.26M");
        assert_eq!(clock(Duration::from_secs(62)), "1:02");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn plain_line_snapshot() {
        let s = Snapshot {
            target: "parse".into(),
            elapsed: Duration::from_secs(75),
            execs: 1_500_000,
            execs_per_sec: 20_000.0,
            edges: 120,
            map_size: 900,
            corpus: 33,
            crashes: 1,
            hangs: 0,
            ooms: 2,
            since_last_find: Some(Duration::from_secs(4)),
            len_limit: 64,
            workers: Vec::new(),
        };
        assert_eq!(
            plain_line(&s),
            "[1:15] parse: execs 1.50M (20.0k/s) edges 120/900 corpus 33 crashes 1 hangs 0 ooms 2 last-new-edge 0:04 ago"
        );
    }
}
