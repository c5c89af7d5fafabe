//! The source layout: every module lives in a layer folder, imports go only sideways or down,
//! and the module graph has no circle. Reads `src/` as text (every `crate::` path outside a
//! comment), so it proves the rule for the code as written, tests included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top to bottom: a module may use its own layer and the ones after it.
const LAYERS: [&str; 6] = ["app", "engine", "aws", "cache", "host", "util"];

/// Files that sit above every layer: the crate root, the binary's `main` and its ELF entry stub
/// (`entry`, a module of the binary, which runs before `main`).
const ROOTS: [&str; 3] = ["lib", "main", "entry"];

/// A module's name: its path under `src/` without `.rs` (`engine/token`); `x/mod.rs` is `x`.
fn module_name(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("file under src/")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("/")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a `crate::a::b::c` path names: the longest prefix that is a module.
fn target(modules: &BTreeSet<String>, segments: &[&str]) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("/"))
        .find(|m| modules.contains(m))
}

/// Every `crate::...` path in code (comment lines skipped), as its segments.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let preceded = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `$crate::` or an identifier ending in `crate`
            }
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let segments = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            paths.push(segments);
        }
    }
    paths
}

fn layer_of(module: &str) -> Option<usize> {
    let first = module.split('/').next()?;
    LAYERS.iter().position(|l| *l == first)
}

/// The circles: strongly connected components with more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn imports_go_down_the_layers_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().map(|f| module_name(&src, f)).collect();

    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_name(&src, file);
        let from_layer = layer_of(&from);
        let is_root = ROOTS.contains(&from.as_str());
        if from_layer.is_none() && !is_root && !LAYERS.contains(&from.as_str()) {
            problems.push(format!(
                "{from}: not in a layer folder ({})",
                LAYERS.join(", ")
            ));
        }
        let text = std::fs::read_to_string(file).expect("read a source file");
        for segments in crate_paths(&text) {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let Some(to) = target(&modules, &segments) else {
                continue; // a name defined in lib.rs (`crate::for_benches`, a macro)
            };
            if to == from {
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to.clone());
            if let (Some(f), Some(t)) = (from_layer, layer_of(&to))
                && t < f
            {
                problems.push(format!(
                    "{from} ({}) uses crate::{} from a higher layer ({})",
                    LAYERS[f],
                    segments.join("::"),
                    LAYERS[t]
                ));
            }
        }
    }
    for circle in circles(&graph) {
        problems.push(format!("circle: {}", circle.join(" <-> ")));
    }
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} layering problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
