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

/// Parses a `plot_data` file; comment and malformed lines are skipped. When the file holds
/// several campaigns (time goes back to 0 on a resumed run), only the last one is kept.
pub fn parse_plot_data(text: &str) -> Vec<Sample> {
    let mut header: Vec<String> = Vec::new();
    let mut out: Vec<Sample> = Vec::new();
    for line in text.lines() {
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
        if out.last().is_some_and(|last| t < last.t) {
            out.clear();
        }
        out.push(Sample { t, corpus, execs_per_sec, edges });
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

/// A panel: its label, its colour and the value it shows.
type Panel = (&'static str, &'static str, fn(&Sample) -> f64);

/// Draws three stacked panels (edges, corpus, exec/s) sharing the time axis.
pub fn svg(title: &str, samples: &[Sample]) -> String {
    const W: f64 = 800.0;
    const PANEL: f64 = 180.0;
    const LEFT: f64 = 80.0;
    const TOP: f64 = 40.0;
    let panels: [Panel; 3] = [
        ("edges", "#1f77b4", |s| s.edges),
        ("corpus", "#2ca02c", |s| s.corpus),
        ("exec/s", "#d62728", |s| s.execs_per_sec),
    ];
    let height = TOP + panels.len() as f64 * (PANEL + 40.0) + 20.0;
    let t_max = samples.iter().map(|s| s.t).fold(1.0, f64::max);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="24" font-size="16">{}</text>"#, escape(title));
    for (i, (name, color, value)) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL + 40.0);
        let v_max = samples.iter().map(value).fold(0.0, f64::max).max(1.0);
        let plot_w = W - LEFT - 20.0;
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>"##
        );
        let _ = writeln!(out, r#"<text x="8" y="{}">{name}</text>"#, y0 + PANEL / 2.0);
        let _ = writeln!(out, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, LEFT - 4.0, y0 + 12.0, fmt(v_max));
        let _ = writeln!(out, r#"<text x="{}" y="{}" text-anchor="end">0</text>"#, LEFT - 4.0, y0 + PANEL);
        let points: Vec<String> = samples
            .iter()
            .map(|s| {
                let x = LEFT + s.t / t_max * plot_w;
                let y = y0 + PANEL - value(s) / v_max * PANEL;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ =
            writeln!(out, r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#, points.join(" "));
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            W - 20.0,
            y0 + PANEL + 16.0,
            crate::display::clock(std::time::Duration::from_secs_f64(t_max))
        );
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
    fn svg_has_three_panels_and_escapes_the_title() {
        let s = svg("a<b", &combine(&[parse_plot_data(DATA)], 5.0));
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 3);
        assert!(s.contains("a&lt;b"));
    }
}
