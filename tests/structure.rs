//! The layering rules of the code base, checked on its source: the module graphs of the CLI
//! (`src/`) and of the runtime (`runtime/src/`) have no cycles, no file outside the protocol
//! crate spells a path segment of the sync-dir layout, and command files stay thin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source of a file without its `#[cfg(test)] mod tests` and without `//` comments.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// Module name of a file under `root`: `campaign/worker.rs` -> `campaign::worker`,
/// `commands/mod.rs` -> `commands`, `lib.rs` / `main.rs` -> `crate`.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod").collect();
    match parts.as_slice() {
        ["lib"] | ["main"] => "crate".into(),
        _ => parts.join("::"),
    }
}

/// The module graph: an edge from a module to every other module it names as `crate::…`
/// (or as a `super::` sibling), at the depth the module tree has.
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(root, f)).collect();
    let mut g = BTreeMap::new();
    for f in &files {
        let me = module_of(root, f);
        let code = code_of(f);
        let mut deps = BTreeSet::new();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + 7..];
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            // The longest prefix that is a module of ours.
            for n in (1..=segs.len()).rev() {
                let m = segs[..n].join("::");
                if modules.contains(&m) {
                    deps.insert(m);
                    break;
                }
            }
        }
        deps.remove(&me);
        deps.remove("crate");
        // A parent module naming its own children is the tree, not a dependency.
        deps.retain(|d| !d.starts_with(&format!("{me}::")) || me == "crate");
        g.insert(me, deps);
    }
    g
}

fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == d).unwrap();
                    return Some(stack[from..].to_vec());
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_cli_and_the_runtime_have_no_module_cycles() {
    for dir in ["src", "runtime/src"] {
        let g = graph(&root().join(dir));
        assert!(g.len() > 10, "{dir}: the graph was not read: {g:?}");
        assert_eq!(find_cycle(&g), None, "{dir} has an import cycle");
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(3));
}

#[test]
fn no_sync_dir_path_segment_is_spelled_outside_the_protocol_crate() {
    let segments = [
        "queue",
        "stats",
        "coverage",
        "findings.json",
        "crashes",
        "hangs",
        "ooms",
        "worker.log",
        "fuzzer_stats",
        "plot_data",
        "learned.dict",
        "campaign.json",
        "plot.svg",
    ];
    let mut files = Vec::new();
    for dir in ["src", "runtime/src", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut found = Vec::new();
    // `project.rs` owns the fuzz dir's layout (`fuzz/coverage/<target>` is not the sync dir's).
    for f in files.iter().filter(|f| !f.ends_with("tests/structure.rs") && !f.ends_with("src/project.rs")) {
        let code = std::fs::read_to_string(f).unwrap();
        for (i, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap();
            for s in segments {
                if line.contains(&format!(".join(\"{s}\")")) || line.contains(&format!("join(\"{s}/")) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "use protocrash_proto::layout instead:\n{}", found.join("\n"));
}

#[test]
fn command_files_are_thin() {
    let mut files = Vec::new();
    rust_files(&root().join("src/commands"), &mut files);
    for f in files {
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(lines <= 150, "{} has {lines} lines: move its behaviour into a module", f.display());
    }
}
