//! Source coverage from a corpus replay, on stable Rust and without llvm-tools: the harness
//! hands over its SanitizerCoverage PC table (one block address per counter), the replay
//! tells which counters each input hit, and the executable's DWARF line tables (read with
//! `addr2line`) turn block addresses into source lines. A line is *instrumented* when some
//! block starts on it, *covered* when one of those blocks ran; its count is the number of
//! corpus inputs that ran it (inline counters saturate, so execution counts would lie).
//!
//! Line-level precision is that of the optimised build's line table: a block is attributed
//! to the line of its first instruction after the counter increment, so a line whose code was
//! merged into a neighbour's block shows as not instrumented rather than as missed.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How far past a block's start to look for its first line (the counter increment before it
/// is 7 bytes on x86-64).
const BLOCK_LOOKAHEAD: u64 = 32;

/// Per file, per instrumented line: how many inputs ran it (0 = none).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LineCoverage {
    pub files: BTreeMap<PathBuf, BTreeMap<u32, u64>>,
}

/// Where each counter's block is: `None` for blocks without a usable line (or only in files
/// the report leaves out).
///
/// A block starts with its counter increment, which the instrumentation gives line 0 (all but
/// function entries), so the block's line is that of the first instruction after it that has
/// one. Code inlined from elsewhere (a slice index from core, say) is attributed to the kept
/// line that called it: the innermost inlined frame `keep` accepts. The standard library's
/// own lines (`/rustc/…`) are never kept: it is not instrumented, only inlined.
pub fn locate_counters(
    harness: &Path,
    pcs: &[u64],
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<Option<(PathBuf, u32)>>> {
    let loader = addr2line::Loader::new(harness)
        .map_err(|e| anyhow::anyhow!("cannot read the debug info of {}: {e}", harness.display()))?;
    let mut kept: HashMap<String, Option<PathBuf>> = HashMap::new();
    let mut keep_file = |file: &str| -> Option<PathBuf> {
        kept.entry(file.to_string())
            .or_insert_with(|| {
                let p = PathBuf::from(file);
                (!file.starts_with("/rustc/") && keep(&p)).then_some(p)
            })
            .clone()
    };
    let mut out = Vec::with_capacity(pcs.len());
    for &pc in pcs {
        let mut addrs: Vec<u64> = match loader.find_location_range(pc, pc + BLOCK_LOOKAHEAD) {
            Ok(rows) => rows.map(|(addr, _, _)| addr.max(pc)).collect(),
            Err(_) => Vec::new(),
        };
        addrs.push(pc);
        addrs.sort_unstable();
        addrs.dedup();
        let mut place = None;
        'addrs: for addr in addrs {
            let Ok(mut frames) = loader.find_frames(addr) else { continue };
            while let Ok(Some(frame)) = frames.next() {
                let Some(loc) = frame.location else { continue };
                let (Some(file), Some(line)) = (loc.file, loc.line) else { continue };
                if line == 0 {
                    // A line-0 row: look at the next address rather than the caller.
                    continue 'addrs;
                }
                if let Some(path) = keep_file(file) {
                    place = Some((path, line));
                    break 'addrs;
                }
            }
        }
        out.push(place);
    }
    Ok(out)
}

/// Decodes the harness's PC table file: (file address, flags) per counter.
pub fn parse_pc_table(bytes: &[u8]) -> Result<Vec<u64>> {
    anyhow::ensure!(bytes.len() % 16 == 0, "the PC table is {} bytes, not a whole number of entries", bytes.len());
    Ok(bytes.chunks_exact(16).map(|c| u64::from_le_bytes(c[..8].try_into().expect("8 bytes"))).collect())
}

/// Line coverage of inputs given as their hit counters (`edges` per input).
pub fn line_coverage<'a>(
    locations: &[Option<(PathBuf, u32)>],
    inputs: impl Iterator<Item = &'a [u32]>,
) -> LineCoverage {
    let mut cov = LineCoverage::default();
    for (file, line) in locations.iter().flatten() {
        cov.files.entry(file.clone()).or_default().entry(*line).or_insert(0);
    }
    let mut seen: HashMap<(&Path, u32), usize> = HashMap::new();
    for (i, edges) in inputs.enumerate() {
        for &e in edges {
            let Some(Some((file, line))) = locations.get(e as usize) else { continue };
            // Count each line once per input, however many of its blocks ran.
            if seen.insert((file.as_path(), *line), i) == Some(i) {
                continue;
            }
            *cov.files.get_mut(file).and_then(|m| m.get_mut(line)).expect("registered above") += 1;
        }
    }
    cov
}

/// (lines hit, lines instrumented).
pub fn totals(lines: &BTreeMap<u32, u64>) -> (usize, usize) {
    (lines.values().filter(|&&c| c > 0).count(), lines.len())
}

/// The LCOV tracefile (`lcov.info`): one record per file, `DA:<line>,<inputs>`.
pub fn lcov(cov: &LineCoverage, test_name: &str) -> String {
    let mut out = String::new();
    for (file, lines) in &cov.files {
        let (hit, found) = totals(lines);
        let _ = writeln!(out, "TN:{test_name}\nSF:{}", file.display());
        for (line, count) in lines {
            let _ = writeln!(out, "DA:{line},{count}");
        }
        let _ = writeln!(out, "LF:{found}\nLH:{hit}\nend_of_record");
    }
    out
}

/// What the HTML report says about the run besides the lines.
pub struct ReportInfo<'a> {
    pub target: &'a str,
    pub inputs: usize,
    pub findings: usize,
    /// Shown paths are relative to this directory when under it.
    pub root: &'a Path,
}

/// Writes `index.html` and one page per file under `dir`; returns the index path.
pub fn write_html(cov: &LineCoverage, info: &ReportInfo<'_>, dir: &Path) -> Result<PathBuf> {
    let files_dir = dir.join("files");
    std::fs::create_dir_all(&files_dir).with_context(|| format!("cannot create {}", files_dir.display()))?;
    let (mut all_hit, mut all_found) = (0, 0);
    let mut rows = String::new();
    for (n, (file, lines)) in cov.files.iter().enumerate() {
        let (hit, found) = totals(lines);
        all_hit += hit;
        all_found += found;
        let shown = file.strip_prefix(info.root).unwrap_or(file).display().to_string();
        let page = format!("{n}.html");
        std::fs::write(files_dir.join(&page), file_page(file, &shown, lines, info))
            .with_context(|| format!("cannot write {}", files_dir.join(&page).display()))?;
        let _ = writeln!(
            rows,
            "<tr><td><a href=\"files/{page}\">{}</a></td>{}</tr>",
            escape(&shown),
            ratio_cells(hit, found)
        );
    }
    let findings = match info.findings {
        0 => String::new(),
        n => format!(
            "<p class=\"note\">{n} input(s) crashed, hung or ran out of memory during the replay; their coverage is \
             not counted (see <code>cargo protocrash repro {}</code>).</p>",
            escape(info.target)
        ),
    };
    let index = format!(
        "{head}<h1>Coverage of <code>{target}</code></h1>\n<p>{inputs} corpus input(s) replayed.</p>\n{findings}\
         <table>\n<tr><th>File</th><th>Lines hit</th><th>Instrumented</th><th>Coverage</th></tr>\n\
         <tr class=\"total\"><td>Total ({files} files)</td>{total}</tr>\n{rows}</table>\n{foot}",
        head = head(&format!("coverage: {}", info.target)),
        target = escape(info.target),
        inputs = info.inputs,
        files = cov.files.len(),
        total = ratio_cells(all_hit, all_found),
        foot = FOOT,
    );
    let path = dir.join("index.html");
    std::fs::write(&path, index).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn file_page(file: &Path, shown: &str, lines: &BTreeMap<u32, u64>, info: &ReportInfo<'_>) -> String {
    let (hit, found) = totals(lines);
    let mut body = String::new();
    match std::fs::read(file) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            for (i, src) in text.lines().enumerate() {
                let n = i as u32 + 1;
                let (class, count) = match lines.get(&n) {
                    Some(0) => ("miss", "0".to_string()),
                    Some(c) => ("hit", c.to_string()),
                    None => ("none", String::new()),
                };
                let _ = writeln!(
                    body,
                    "<tr class=\"{class}\"><td class=\"n\">{n}</td><td class=\"c\">{count}</td><td><pre>{}</pre></td></tr>",
                    escape(src)
                );
            }
        }
        Err(e) => {
            let _ =
                writeln!(body, "<tr><td colspan=\"3\">cannot read the source ({})</td></tr>", escape(&e.to_string()));
        }
    }
    format!(
        "{head}<p><a href=\"../index.html\">&larr; {target}</a></p>\n<h1><code>{name}</code></h1>\n\
         <table class=\"sum\"><tr><th>Lines hit</th><th>Instrumented</th><th>Coverage</th></tr><tr>{cells}</tr></table>\n\
         <p class=\"legend\"><span class=\"hit\">covered</span> <span class=\"miss\">not covered</span> \
         <span class=\"none\">not instrumented</span>; the count is the number of inputs that ran the line.</p>\n\
         <table class=\"src\">\n{body}</table>\n{foot}",
        head = head(shown),
        target = escape(info.target),
        name = escape(shown),
        cells = ratio_cells(hit, found),
        foot = FOOT,
    )
}

fn ratio_cells(hit: usize, found: usize) -> String {
    let pct = if found == 0 { 0.0 } else { 100.0 * hit as f64 / found as f64 };
    format!(
        "<td class=\"num\">{hit}</td><td class=\"num\">{found}</td><td><span class=\"bar\"><span style=\"width:{pct:.0}%\">\
         </span></span> {pct:.1}%</td>"
    )
}

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{CSS}</style></head><body>\n",
        escape(title)
    )
}

const FOOT: &str = "<footer>cargo protocrash coverage</footer>\n</body></html>\n";

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}th,td{padding:2px 10px;text-align:left}\
tr.total{font-weight:bold;border-bottom:1px solid #999}td.num{text-align:right}\
.bar{display:inline-block;width:120px;height:10px;background:#e99;vertical-align:middle}\
.bar span{display:block;height:100%;background:#5b5}\
table.src td{padding:0 6px}table.src pre{margin:0;font:13px ui-monospace,monospace}\
td.n,td.c{text-align:right;color:#777;user-select:none}\
tr.hit td{background:#dfd}tr.miss td{background:#fdd}\
.legend span{padding:1px 6px}.legend .hit{background:#dfd}.legend .miss{background:#fdd}\
.legend .none{border:1px solid #ccc}.note{color:#a40}footer{margin-top:2em;color:#999}";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locs() -> Vec<Option<(PathBuf, u32)>> {
        vec![
            Some(("/c/src/a.rs".into(), 3)),
            Some(("/c/src/a.rs".into(), 3)),
            Some(("/c/src/a.rs".into(), 5)),
            None,
            Some(("/c/src/b.rs".into(), 1)),
        ]
    }

    #[test]
    fn a_line_counts_each_input_once() {
        let inputs: Vec<Vec<u32>> = vec![vec![0, 1], vec![1, 3], vec![4]];
        let cov = line_coverage(&locs(), inputs.iter().map(|v| v.as_slice()));
        let a = &cov.files[Path::new("/c/src/a.rs")];
        assert_eq!(a[&3], 2, "two inputs ran line 3 (one of them through both its blocks)");
        assert_eq!(a[&5], 0, "line 5 is instrumented but never ran");
        assert_eq!(cov.files[Path::new("/c/src/b.rs")][&1], 1);
        assert_eq!(totals(a), (1, 2));
    }

    #[test]
    fn lcov_has_one_record_per_file() {
        let inputs: Vec<Vec<u32>> = vec![vec![2]];
        let text = lcov(&line_coverage(&locs(), inputs.iter().map(|v| v.as_slice())), "t");
        assert_eq!(
            text,
            "TN:t\nSF:/c/src/a.rs\nDA:3,0\nDA:5,1\nLF:2\nLH:1\nend_of_record\n\
             TN:t\nSF:/c/src/b.rs\nDA:1,0\nLF:1\nLH:0\nend_of_record\n"
        );
    }

    #[test]
    fn pc_tables_decode_and_reject_torn_files() {
        let mut bytes = Vec::new();
        for (pc, flags) in [(0x1000u64, 1u64), (0x1010, 0)] {
            bytes.extend_from_slice(&pc.to_le_bytes());
            bytes.extend_from_slice(&flags.to_le_bytes());
        }
        assert_eq!(parse_pc_table(&bytes).unwrap(), vec![0x1000, 0x1010]);
        assert!(parse_pc_table(&bytes[..20]).is_err());
    }

    #[test]
    fn html_escapes_source() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
