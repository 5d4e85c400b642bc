//! Source coverage from a corpus replay, on stable Rust and without llvm-tools: the harness
//! hands over its SanitizerCoverage PC table (one block address per counter), the replay
//! tells which counters each input hit, and the executable's DWARF line tables (read with
//! `addr2line`) turn block addresses into source lines. Each counter stands for the machine
//! code from its block's start to the next counter's block (blocks the instrumentation pruned
//! ride with the one before them): every line that code comes from — through inlined frames,
//! the innermost line in the user's files — is *instrumented*, and *covered* when the counter
//! ran; its count is the number of corpus inputs that ran it (inline counters saturate, so
//! execution counts would lie). A line is "not instrumented" only when no machine code of it
//! is left in the build.
//!
//! Line-level precision is that of the optimised build's line table: code the optimiser moved
//! (hoisted out of a loop, merged into a neighbour) counts where it landed.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How far past a block's start to look for its first line (the counter increment before it
/// is 7 bytes on x86-64).
const BLOCK_LOOKAHEAD: u64 = 32;
/// The longest stretch of code one counter is taken to stand for (its block up to the next
/// counter's): past the last counter of the user's code lies code that is not theirs.
const BLOCK_SPAN_MAX: u64 = 4096;

/// Per file, per instrumented line: how many inputs ran it (0 = none); and per file, per
/// function (by name): its line and how many inputs entered it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LineCoverage {
    pub files: BTreeMap<PathBuf, BTreeMap<u32, u64>>,
    pub functions: BTreeMap<PathBuf, BTreeMap<String, (u32, u64)>>,
}

/// Where a counter's block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub file: PathBuf,
    pub line: u32,
    /// The function's name, for the block that enters it.
    pub function: Option<String>,
    /// The other lines the counter's code comes from (its span up to the next counter).
    pub also: Vec<(PathBuf, u32)>,
}

/// Where each counter's block is: `None` for blocks without a usable line (or only in files
/// the report leaves out).
///
/// A block starts with its counter increment, which the instrumentation gives line 0 (all but
/// function entries), so the block's line is that of the first instruction after it that has
/// one. Code inlined from elsewhere (a slice index from core, say) is attributed to the kept
/// line that called it: the innermost inlined frame `keep` accepts. The standard library's
/// own lines (`/rustc/…`, and its vendored crates under `/rust/deps/`) are never kept: it is
/// not instrumented, only inlined.
pub fn locate_counters(harness: &Path, pcs: &[(u64, u64)], keep: impl Fn(&Path) -> bool) -> Result<Vec<Option<Block>>> {
    let loader = addr2line::Loader::new(harness)
        .map_err(|e| anyhow::anyhow!("cannot read the debug info of {}: {e}", harness.display()))?;
    let mut kept: HashMap<String, Option<PathBuf>> = HashMap::new();
    let mut keep_file = |file: &str| -> Option<PathBuf> {
        kept.entry(file.to_string())
            .or_insert_with(|| {
                let p = PathBuf::from(file);
                // The standard library and the crates it vendors (`/rust/deps/hashbrown…`).
                (!file.starts_with("/rustc/") && !file.starts_with("/rust/deps/") && keep(&p)).then_some(p)
            })
            .clone()
    };
    // Where each counter's code ends: the next counter's block.
    let mut starts: Vec<u64> = pcs.iter().map(|&(pc, _)| pc).collect();
    starts.sort_unstable();
    starts.dedup();
    let span_end = |pc: u64| {
        let next = starts.partition_point(|&s| s <= pc);
        starts.get(next).copied().unwrap_or(u64::MAX).min(pc + BLOCK_SPAN_MAX)
    };
    // The kept lines of the code at `addr`, innermost first: the line itself and, when it
    // was inlined, the call sites it was inlined at (running the code ran those calls).
    let mut user_lines = |addr: u64| -> Vec<(PathBuf, u32)> {
        let mut lines = Vec::new();
        let Ok(mut frames) = loader.find_frames(addr) else { return lines };
        while let Ok(Some(frame)) = frames.next() {
            let Some(loc) = frame.location else { continue };
            let (Some(file), Some(line)) = (loc.file, loc.line) else { continue };
            if line == 0 {
                // Compiler-made code: no line of its own, but its callers' are real.
                continue;
            }
            if let Some(path) = keep_file(file) {
                lines.push((path, line));
            }
        }
        lines
    };
    let mut out = Vec::with_capacity(pcs.len());
    for &(pc, flags) in pcs {
        // One look-up of the line rows and of each row's lines serves both the block's own
        // line (the first within BLOCK_LOOKAHEAD) and the rest of its span.
        let end = span_end(pc);
        let mut addrs: Vec<u64> = match loader.find_location_range(pc, end.max(pc + BLOCK_LOOKAHEAD)) {
            Ok(rows) => rows.map(|(addr, _, _)| addr.max(pc)).collect(),
            Err(_) => Vec::new(),
        };
        addrs.push(pc);
        addrs.sort_unstable();
        addrs.dedup();
        let rows: Vec<(u64, Vec<(PathBuf, u32)>)> = addrs.into_iter().map(|a| (a, user_lines(a))).collect();
        // A line-0 row (the counter increment): the next address says where the block is.
        let place = rows.iter().filter(|(a, _)| *a < pc + BLOCK_LOOKAHEAD).find_map(|(_, l)| l.first().cloned());
        let function = match (&place, flags & PC_FLAG_FUNCTION_ENTRY) {
            (Some(_), 1) => function_at(&loader, pc),
            _ => None,
        };
        let mut also: Vec<(PathBuf, u32)> = rows
            .into_iter()
            .filter(|(a, _)| *a < end)
            .flat_map(|(_, l)| l)
            .filter(|l| place.as_ref() != Some(l))
            .collect();
        also.sort();
        also.dedup();
        out.push(match place {
            Some((file, line)) => Some(Block { file, line, function, also }),
            // No line at the block's start, but its code has some: the first stands for it.
            None if !also.is_empty() => {
                let (file, line) = also.remove(0);
                Some(Block { file, line, function: None, also })
            }
            None => None,
        });
    }
    Ok(out)
}

/// Bit 0 of a PC table entry's flags: the block is a function's entry.
const PC_FLAG_FUNCTION_ENTRY: u64 = 1;

/// The (demangled, hash-free) name of the function whose entry is at `pc`: from the symbol
/// table (full path), else from the debug info. `None` for the harness's `init` wrapper: it
/// runs once before any input, so no input can be said to enter it.
fn function_at(loader: &addr2line::Loader, pc: u64) -> Option<String> {
    let name = match loader.find_symbol(pc) {
        Some(sym) => addr2line::demangle_auto(sym.into(), Some(addr2line::gimli::DW_LANG_Rust)).into_owned(),
        None => {
            let mut frames = loader.find_frames(pc).ok()?;
            let mut outermost = None;
            while let Ok(Some(frame)) = frames.next() {
                if let Some(name) = frame.function {
                    outermost = name.demangle().ok().map(|n| n.into_owned());
                }
            }
            outermost?
        }
    };
    (!name.ends_with("::__protocrash_init")).then_some(name)
}

/// Decodes the harness's PC table file: (file address, flags) per counter.
pub fn parse_pc_table(bytes: &[u8]) -> Result<Vec<(u64, u64)>> {
    anyhow::ensure!(
        bytes.len().is_multiple_of(16),
        "the PC table is {} bytes, not a whole number of entries",
        bytes.len()
    );
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    Ok(bytes.chunks_exact(16).map(|c| (word(&c[..8]), word(&c[8..]))).collect())
}

/// Line and function coverage of inputs given as their hit counters (`edges` per input).
///
/// A line where some block starts is judged by those blocks alone: code the optimiser shared
/// with another block (a bounds check two branches both do) must not mark a branch that
/// never ran as run. The other lines of a block's span count with the block.
pub fn line_coverage<'a>(locations: &[Option<Block>], inputs: impl Iterator<Item = &'a [u32]>) -> LineCoverage {
    let mut cov = LineCoverage::default();
    let own: std::collections::HashSet<(&Path, u32)> =
        locations.iter().flatten().map(|b| (b.file.as_path(), b.line)).collect();
    let spans: Vec<Vec<(&Path, u32)>> = locations
        .iter()
        .map(|b| match b {
            None => Vec::new(),
            Some(b) => std::iter::once((b.file.as_path(), b.line))
                .chain(b.also.iter().map(|(f, l)| (f.as_path(), *l)).filter(|l| !own.contains(l)))
                .collect(),
        })
        .collect();
    for b in locations.iter().flatten() {
        if let Some(name) = &b.function {
            cov.functions.entry(b.file.clone()).or_default().entry(name.clone()).or_insert((b.line, 0));
        }
    }
    for &(file, line) in spans.iter().flatten() {
        cov.files.entry(file.to_path_buf()).or_default().entry(line).or_insert(0);
    }
    // Each line (and function) counts once per input, however many of its blocks (or
    // monomorphised copies) ran.
    let mut seen_line: HashMap<(&Path, u32), usize> = HashMap::new();
    let mut seen_fn: HashMap<(&Path, &str), usize> = HashMap::new();
    for (i, edges) in inputs.enumerate() {
        for &e in edges {
            let Some(Some(b)) = locations.get(e as usize) else { continue };
            for &(file, line) in &spans[e as usize] {
                if seen_line.insert((file, line), i) != Some(i) {
                    *cov.files.get_mut(file).and_then(|m| m.get_mut(&line)).expect("registered above") += 1;
                }
            }
            if let Some(name) = &b.function {
                if seen_fn.insert((b.file.as_path(), name.as_str()), i) != Some(i) {
                    cov.functions.get_mut(&b.file).and_then(|m| m.get_mut(name)).expect("registered above").1 += 1;
                }
            }
        }
    }
    cov
}

/// (lines hit, lines instrumented).
pub fn totals(lines: &BTreeMap<u32, u64>) -> (usize, usize) {
    (lines.values().filter(|&&c| c > 0).count(), lines.len())
}

/// (functions entered, functions instrumented) of a file.
pub fn function_totals(cov: &LineCoverage, file: &Path) -> (usize, usize) {
    cov.functions.get(file).map_or((0, 0), |f| (f.values().filter(|v| v.1 > 0).count(), f.len()))
}

/// The LCOV tracefile (`lcov.info`): one record per file, `FN`/`FNDA` per function and
/// `DA:<line>,<inputs>` per line.
pub fn lcov(cov: &LineCoverage, test_name: &str) -> String {
    let mut out = String::new();
    for (file, lines) in &cov.files {
        let (hit, found) = totals(lines);
        let _ = writeln!(out, "TN:{test_name}\nSF:{}", file.display());
        let functions = cov.functions.get(file);
        for (name, (line, _)) in functions.into_iter().flatten() {
            let _ = writeln!(out, "FN:{line},{name}");
        }
        for (name, (_, count)) in functions.into_iter().flatten() {
            let _ = writeln!(out, "FNDA:{count},{name}");
        }
        let (fn_hit, fn_found) = function_totals(cov, file);
        let _ = writeln!(out, "FNF:{fn_found}\nFNH:{fn_hit}");
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
    // Pages of an earlier report (which may have had more files); only names this writes.
    for e in std::fs::read_dir(&files_dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.strip_suffix(".html").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let (mut all_hit, mut all_found, mut all_fn_hit, mut all_fn_found) = (0, 0, 0, 0);
    let mut rows = String::new();
    for (n, (file, lines)) in cov.files.iter().enumerate() {
        let (hit, found) = totals(lines);
        let (fn_hit, fn_found) = function_totals(cov, file);
        all_hit += hit;
        all_found += found;
        all_fn_hit += fn_hit;
        all_fn_found += fn_found;
        let shown = shown_path(file, info.root);
        let page = format!("{n}.html");
        std::fs::write(files_dir.join(&page), file_page(cov, file, &shown, lines, info))
            .with_context(|| format!("cannot write {}", files_dir.join(&page).display()))?;
        let _ = writeln!(
            rows,
            "<tr><td><a href=\"files/{page}\">{}</a></td>{}<td class=\"num\">{fn_hit}/{fn_found}</td></tr>",
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
         <p class=\"note\">How lines are counted: a line is instrumented when machine code of it is in an \
         instrumented block (a block runs up to the next counter; inlined code counts at its call site in your \
         files), covered when that block ran; a line where a block starts counts by that block alone. Lines \
         with no machine code left in the build are not counted.</p>\n\
         <table>\n<tr><th>File</th><th>Lines hit</th><th>Instrumented</th><th>Line coverage</th><th>Functions</th></tr>\n\
         <tr class=\"total\"><td>Total ({files} files)</td>{total}<td class=\"num\">{all_fn_hit}/{all_fn_found}</td></tr>\n\
         {rows}</table>\n{foot}",
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

fn file_page(
    cov: &LineCoverage,
    file: &Path,
    shown: &str,
    lines: &BTreeMap<u32, u64>,
    info: &ReportInfo<'_>,
) -> String {
    let (hit, found) = totals(lines);
    let mut missed: Vec<String> = cov
        .functions
        .get(file)
        .into_iter()
        .flatten()
        .filter(|(_, (_, count))| *count == 0)
        .map(|(name, (line, _))| format!("<li><a href=\"#L{line}\">{}</a> (line {line})</li>", escape(name)))
        .collect();
    if !missed.is_empty() {
        missed.insert(0, "<p>Functions never entered:</p><ul>".into());
        missed.push("</ul>".into());
    }
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
                    "<tr class=\"{class}\" id=\"L{n}\"><td class=\"n\">{n}</td><td class=\"c\">{count}</td><td><pre>{}</pre></td></tr>",
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
         {missed}\n<table class=\"src\">\n{body}</table>\n{foot}",
        head = head(shown),
        target = escape(info.target),
        name = escape(shown),
        cells = ratio_cells(hit, found),
        missed = missed.concat(),
        foot = FOOT,
    )
}

/// A file's name in the report: relative to the crate when under it, from the crate
/// directory for registry sources (`serde_json-1.0.140/src/de.rs`), else absolute.
fn shown_path(file: &Path, root: &Path) -> String {
    if let Ok(rel) = file.strip_prefix(root) {
        return rel.display().to_string();
    }
    let text = file.display().to_string();
    match text.find("/registry/src/") {
        Some(at) => {
            let rest = &text[at + "/registry/src/".len()..];
            rest.split_once('/').map_or(rest, |(_index, krate)| krate).to_string()
        }
        None => text,
    }
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
table{border-collapse:collapse}th,td{padding:2px 10px;text-align:left;white-space:nowrap}\
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

    fn block(file: &str, line: u32, function: Option<&str>) -> Option<Block> {
        Some(Block { file: file.into(), line, function: function.map(str::to_string), also: Vec::new() })
    }

    fn locs() -> Vec<Option<Block>> {
        vec![
            block("/c/src/a.rs", 3, Some("a::f")),
            block("/c/src/a.rs", 3, None),
            block("/c/src/a.rs", 5, None),
            None,
            block("/c/src/b.rs", 1, Some("b::g")),
        ]
    }

    #[test]
    fn a_blocks_span_marks_its_other_lines_but_never_another_blocks_own_line() {
        let f = PathBuf::from("/c/src/a.rs");
        let span = |line, also: &[u32]| {
            Some(Block { file: f.clone(), line, function: None, also: also.iter().map(|&l| (f.clone(), l)).collect() })
        };
        // Block 0 starts on line 3 and its code also comes from lines 4 and 5; block 1 starts
        // on line 5 (code both share, as two branches sharing a bounds check).
        let locations = vec![span(3, &[4, 5]), span(5, &[6])];
        let cov = line_coverage(&locations, [&[0u32][..]].into_iter());
        let lines = &cov.files[&f];
        assert_eq!(lines.get(&3), Some(&1));
        assert_eq!(lines.get(&4), Some(&1), "a line of the span counts with the block");
        assert_eq!(lines.get(&5), Some(&0), "line 5 is block 1's own: judged by block 1 alone");
        assert_eq!(lines.get(&6), Some(&0));
        let both = line_coverage(&locations, [&[0u32, 1][..]].into_iter());
        assert_eq!(both.files[&f].values().copied().collect::<Vec<_>>(), vec![1, 1, 1, 1]);
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
        assert_eq!(cov.functions[Path::new("/c/src/a.rs")]["a::f"], (3, 1), "entered by the first input only");
        assert_eq!(function_totals(&cov, Path::new("/c/src/b.rs")), (1, 1));
    }

    #[test]
    fn lcov_has_one_record_per_file() {
        let inputs: Vec<Vec<u32>> = vec![vec![2]];
        let text = lcov(&line_coverage(&locs(), inputs.iter().map(|v| v.as_slice())), "t");
        assert_eq!(
            text,
            "TN:t\nSF:/c/src/a.rs\nFN:3,a::f\nFNDA:0,a::f\nFNF:1\nFNH:0\nDA:3,0\nDA:5,1\nLF:2\nLH:1\nend_of_record\n\
             TN:t\nSF:/c/src/b.rs\nFN:1,b::g\nFNDA:0,b::g\nFNF:1\nFNH:0\nDA:1,0\nLF:1\nLH:0\nend_of_record\n"
        );
    }

    #[test]
    fn pc_tables_decode_and_reject_torn_files() {
        let mut bytes = Vec::new();
        for (pc, flags) in [(0x1000u64, 1u64), (0x1010, 0)] {
            bytes.extend_from_slice(&pc.to_le_bytes());
            bytes.extend_from_slice(&flags.to_le_bytes());
        }
        assert_eq!(parse_pc_table(&bytes).unwrap(), vec![(0x1000, 1), (0x1010, 0)]);
        assert!(parse_pc_table(&bytes[..20]).is_err());
    }

    #[test]
    fn registry_sources_are_named_from_their_crate() {
        let root = Path::new("/w/my-crate");
        assert_eq!(shown_path(Path::new("/w/my-crate/src/lib.rs"), root), "src/lib.rs");
        assert_eq!(
            shown_path(
                Path::new("/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.1/src/de.rs"),
                root
            ),
            "serde-1.0.1/src/de.rs"
        );
        assert_eq!(shown_path(Path::new("/elsewhere/x.rs"), root), "/elsewhere/x.rs");
    }

    #[test]
    fn html_escapes_source() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
