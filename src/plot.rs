//! `cargo protocrash plot`: the campaign's history from every worker's `plot_data` (AFL++'s
//! format, written by the fork servers) drawn as one SVG: edges, corpus and exec/s over time.

use std::fmt::Write;

/// One `plot_data` sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the campaign started.
    pub t: f64,
    /// Corpus entries.
    pub corpus: f64,
    /// Executions per second.
    pub execs_per_sec: f64,
    /// Edges found.
    pub edges: f64,
}

/// Something that happened at a time of the campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the campaign started.
    pub t: f64,
    /// Which worker.
    pub worker: String,
    /// A finding (its kind and message), or None for a worker that started again.
    pub finding: Option<String>,
}

/// One worker's history: its samples and the times it started again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The worker's directory name.
    pub name: String,
    pub samples: Vec<Sample>,
    /// Seconds since the campaign started at which the worker started again.
    pub restarts: Vec<f64>,
}

/// Parses a `plot_data` file; comment and malformed lines are skipped. When the file holds
/// several campaigns (time goes back to 0 on a resumed run), only the last one is kept.
pub fn parse_plot_data(text: &str) -> Vec<Sample> {
    parse_series("", text).samples
}

/// Parses one worker's `plot_data`, with the restarts it marked.
pub fn parse_series(name: &str, text: &str) -> Series {
    let mut header: Vec<String> = Vec::new();
    let mut out = Series { name: name.to_string(), ..Series::default() };
    for line in text.lines() {
        if let Some(t) = line.strip_prefix(protocrash_proto::stats::PLOT_RESTART_MARK) {
            if let Ok(t) = t.trim().parse() {
                out.restarts.push(t);
            }
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            header = h.split(',').map(|c| c.trim().to_string()).collect();
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let col = |name: &str| -> Option<f64> {
            let i = header.iter().position(|h| h == name)?;
            cols.get(i)?.trim_end_matches('%').parse().ok()
        };
        let (Some(t), Some(corpus), Some(execs_per_sec), Some(edges)) =
            (col("relative_time"), col("corpus_count"), col("execs_per_sec"), col("edges_found"))
        else {
            continue;
        };
        if out.samples.last().is_some_and(|last| t < last.t) {
            // A new campaign in the same file: what came before belongs to the old one.
            out.samples.clear();
            out.restarts.retain(|&r| r <= t);
        }
        out.samples.push(Sample { t, corpus, execs_per_sec, edges });
    }
    out
}

/// The campaign at regular times: edges and corpus of the best worker, exec/s summed over
/// workers (each worker's latest sample at or before the time).
pub fn combine(workers: &[Vec<Sample>], step: f64) -> Vec<Sample> {
    let end = workers.iter().filter_map(|w| w.last()).map(|s| s.t).fold(0.0, f64::max);
    if workers.iter().all(Vec::is_empty) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut t = 0.0;
    loop {
        let mut s = Sample { t, ..Sample::default() };
        for w in workers {
            if let Some(last) = w.iter().rev().find(|x| x.t <= t) {
                s.edges = s.edges.max(last.edges);
                s.corpus = s.corpus.max(last.corpus);
                // A worker whose samples stopped well before t is no longer running.
                if t - last.t <= step * 2.0 {
                    s.execs_per_sec += last.execs_per_sec;
                }
            }
        }
        out.push(s);
        if t >= end {
            break;
        }
        t = (t + step).min(end);
    }
    out
}

/// A panel: its label, and the value it shows.
type Panel = (&'static str, fn(&Sample) -> f64);

/// Colours of the workers' lines (cycled); the campaign's line is black.
const PALETTE: [&str; 10] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8"];

/// A round step for about `n` ticks over `0..=max` (1, 2 or 5 times a power of ten; for
/// times, whole seconds, minutes or hours).
fn tick_step(max: f64, n: f64, time: bool) -> f64 {
    if time {
        let steps =
            [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0];
        return steps.into_iter().find(|s| max / s <= n).unwrap_or(86400.0);
    }
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow)
}

/// The campaign as an SVG: three panels (edges, corpus, exec/s) sharing a time axis with
/// ticks, the campaign's line (exec/s summed; edges and corpus of the best worker) over one
/// thin line per worker, findings (red) and worker restarts (grey) marked across the panels.
/// `log_rate` draws exec/s on a log scale.
pub fn svg(title: &str, workers: &[Series], events: &[Event], log_rate: bool) -> String {
    const W: f64 = 900.0;
    const PANEL: f64 = 170.0;
    const GAP: f64 = 52.0;
    const LEFT: f64 = 84.0;
    const TOP: f64 = 72.0;
    let series: Vec<&Series> = workers.iter().filter(|s| !s.samples.is_empty()).collect();
    let total = combine(&series.iter().map(|s| s.samples.clone()).collect::<Vec<_>>(), 5.0);
    let panels: [Panel; 3] = [("edges", |s| s.edges), ("corpus", |s| s.corpus), ("exec/s", |s| s.execs_per_sec)];
    let height = TOP + panels.len() as f64 * (PANEL + GAP) + 10.0;
    let plot_w = W - LEFT - 20.0;
    let t_max = total.iter().map(|s| s.t).chain(events.iter().map(|e| e.t)).fold(1.0, f64::max);
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="22" font-size="16">{}</text>"#, escape(title));
    // Legend: the campaign, each worker, the event marks.
    let mut lx = LEFT;
    let mut legend = |out: &mut String, color: &str, width: f64, dash: &str, label: &str, class: &str| {
        let _ = writeln!(
            out,
            r#"<g class="legend {class}"><line x1="{lx}" y1="40" x2="{}" y2="40" stroke="{color}" stroke-width="{width}" stroke-dasharray="{dash}"/><text x="{}" y="44">{}</text></g>"#,
            lx + 18.0,
            lx + 22.0,
            escape(label)
        );
        lx += 30.0 + 7.0 * label.len() as f64;
    };
    legend(&mut out, "#000", 2.5, "", "campaign", "total");
    for (i, s) in series.iter().enumerate().take(16) {
        legend(&mut out, PALETTE[i % PALETTE.len()], 1.2, "", &s.name, "worker");
    }
    if series.len() > 16 {
        legend(&mut out, "#ccc", 1.2, "", &format!("+{} workers", series.len() - 16), "worker");
    }
    legend(&mut out, "#d62728", 1.5, "4 3", "finding", "finding");
    legend(&mut out, "#888", 1.0, "1 3", "restart", "restart");
    let t_step = tick_step(t_max, 8.0, true);
    for (i, (name, value)) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL + GAP);
        let log = log_rate && *name == "exec/s";
        let v_max = total
            .iter()
            .map(value)
            .chain(series.iter().flat_map(|s| s.samples.iter().map(value)))
            .fold(0.0, f64::max)
            .max(1.0);
        let y = |v: f64| {
            let frac = if log { (v.max(1.0)).log10() / v_max.log10().max(1.0) } else { v / v_max };
            y0 + PANEL - frac.clamp(0.0, 1.0) * PANEL
        };
        let _ = writeln!(out, r#"<g class="panel" data-panel="{name}">"#);
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>"##
        );
        let label = if log { format!("{name} (log)") } else { name.to_string() };
        let _ = writeln!(out, r#"<text x="{LEFT}" y="{}" font-weight="bold">{label}</text>"#, y0 - 6.0);
        // Value ticks.
        let values: Vec<f64> = if log {
            (0..=v_max.log10().ceil() as i32).map(|p| 10f64.powi(p)).filter(|v| *v <= v_max * 1.0001).collect()
        } else {
            let step = tick_step(v_max, 4.0, false);
            (0..).map(|k| k as f64 * step).take_while(|v| *v <= v_max * 1.0001).collect()
        };
        for v in values {
            let yy = y(v);
            let _ = writeln!(
                out,
                r##"<g class="ytick"><line x1="{}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text></g>"##,
                LEFT,
                LEFT + plot_w,
                LEFT - 4.0,
                yy + 4.0,
                fmt(v)
            );
        }
        // Time ticks, labelled under each panel.
        let mut t = 0.0;
        while t <= t_max + 1e-9 {
            let xx = x(t);
            let _ = writeln!(
                out,
                r##"<g class="tick"><line x1="{xx:.1}" y1="{y0}" x2="{xx:.1}" y2="{}" stroke="#eee"/><text x="{xx:.1}" y="{}" text-anchor="middle">{}</text></g>"##,
                y0 + PANEL,
                y0 + PANEL + 16.0,
                crate::display::clock(std::time::Duration::from_secs_f64(t))
            );
            t += t_step;
        }
        let line = |samples: &[Sample]| -> String {
            samples.iter().map(|s| format!("{:.1},{:.1}", x(s.t), y(value(s)))).collect::<Vec<_>>().join(" ")
        };
        for (k, s) in series.iter().enumerate() {
            let _ = writeln!(
                out,
                r#"<polyline class="worker" data-worker="{}" fill="none" stroke="{}" stroke-width="1.2" stroke-opacity="0.8" points="{}"/>"#,
                escape(&s.name),
                PALETTE[k % PALETTE.len()],
                line(&s.samples)
            );
        }
        let _ = writeln!(
            out,
            r##"<polyline class="total" fill="none" stroke="#000" stroke-width="2.5" points="{}"/>"##,
            line(&total)
        );
        for e in events {
            let xx = x(e.t);
            let (class, color, dash, what) = match &e.finding {
                Some(text) => ("finding", "#d62728", "4 3", format!("{} ({})", text, e.worker)),
                None => ("restart", "#888", "1 3", format!("{} started again", e.worker)),
            };
            let _ = writeln!(
                out,
                r#"<line class="{class}" x1="{xx:.1}" y1="{y0}" x2="{xx:.1}" y2="{}" stroke="{color}" stroke-width="1.5" stroke-dasharray="{dash}"><title>{} at {}</title></line>"#,
                y0 + PANEL,
                escape(&what),
                crate::display::clock(std::time::Duration::from_secs_f64(e.t))
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn fmt(v: f64) -> String {
    crate::display::human(v)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = "# relative_time, cycles_done, cur_item, corpus_count, pending_total, pending_favs, map_size, saved_crashes, saved_hangs, max_depth, execs_per_sec, total_execs, edges_found
5, 0, 0, 10, 0, 0, 1.00%, 0, 0, 0, 1000.00, 5000, 40
10, 0, 0, 12, 0, 0, 1.20%, 0, 0, 0, 2000.00, 15000, 48
garbage line
";

    #[test]
    fn plot_data_parses_by_header_and_keeps_the_last_campaign() {
        let s = parse_plot_data(DATA);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1], Sample { t: 10.0, corpus: 12.0, execs_per_sec: 2000.0, edges: 48.0 });
        let resumed = format!("{DATA}3, 0, 0, 13, 0, 0, 1.3%, 0, 0, 0, 500.00, 16000, 50\n");
        let s = parse_plot_data(&resumed);
        assert_eq!(s.len(), 1, "time went back: a new campaign");
        assert_eq!(s[0].edges, 50.0);
    }

    #[test]
    fn combine_sums_rates_and_takes_the_best_coverage() {
        let a = parse_plot_data(DATA);
        let b = vec![Sample { t: 5.0, corpus: 20.0, execs_per_sec: 500.0, edges: 30.0 }];
        let c = combine(&[a, b], 5.0);
        assert_eq!(c.iter().map(|s| s.t).collect::<Vec<_>>(), vec![0.0, 5.0, 10.0]);
        assert_eq!(c[1].execs_per_sec, 1500.0);
        assert_eq!(c[1].edges, 40.0);
        assert_eq!(c[1].corpus, 20.0);
        assert_eq!(c[2].execs_per_sec, 2500.0, "b's last sample is one step old: still counted");
        assert!(combine(&[], 5.0).is_empty());
    }

    #[test]
    fn restarts_are_read_from_their_comment_lines() {
        let text = format!(
            "{DATA}{}12\n15, 0, 0, 14, 0, 0, 1.4%, 0, 0, 0, 900.00, 20000, 52\n",
            protocrash_proto::stats::PLOT_RESTART_MARK
        );
        let s = parse_series("t-1", &text);
        assert_eq!(s.restarts, vec![12.0]);
        assert_eq!(s.samples.len(), 3, "the mark is not a header: later rows still parse");
    }

    #[test]
    fn svg_draws_ticks_a_line_per_worker_and_the_events() {
        let series = [parse_series("a<-0", DATA), parse_series("a-1", DATA)];
        let events = [
            Event { t: 7.0, worker: "a-1".into(), finding: Some("panic: boom".into()) },
            Event { t: 8.0, worker: "a-0".into(), finding: None },
        ];
        let s = svg("a<b", &series, &events, true);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches(r#"<polyline class="worker""#).count(), 6, "two workers, three panels");
        assert_eq!(s.matches(r#"<polyline class="total""#).count(), 3);
        assert_eq!(s.matches(r#"<line class="finding""#).count(), 3);
        assert_eq!(s.matches(r#"<line class="restart""#).count(), 3);
        assert!(s.matches(r#"<g class="tick">"#).count() >= 9, "time ticks under every panel");
        assert!(s.contains("exec/s (log)") && s.contains("a&lt;b") && s.contains("a&lt;-0"));
        assert!(s.contains("panic: boom (a-1) at 0:07"), "{s}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(600.0, 8.0, true), 120.0);
        assert_eq!(tick_step(40.0, 8.0, true), 5.0);
        assert_eq!(tick_step(690.0, 4.0, false), 200.0);
        assert_eq!(tick_step(3.0, 4.0, false), 1.0);
    }
}
