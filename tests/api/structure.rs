//! The source tree's dependencies run one way: no module of `src/` uses one that uses it back.
//!
//! A module is a file (`calls::store` is `src/calls/store.rs`). An edge is any `crate::` or
//! `super::` path in a file, outside its `#[cfg(test)]` block, resolved to the longest module
//! it names. Declaring a child module (`pub mod store;`) is not an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/calls/store.rs` → `calls::store`; `src/calls/mod.rs` → `calls`; `src/lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(src)
        .expect("under src/")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every path after `crate::`/`super::`, with `{a, b::c}` groups expanded.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        expand(rest, Vec::new(), &mut out);
    }
    out
}

fn expand(text: &str, base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = base;
    let mut s = text.trim_start();
    loop {
        if let Some(group) = s.strip_prefix('{') {
            for item in split_group(group) {
                expand(item, path.clone(), out);
            }
            return;
        }
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        if end == 0 {
            break;
        }
        path.push(s[..end].to_owned());
        s = &s[end..];
        match s.strip_prefix("::") {
            Some(next) => s = next,
            None => break,
        }
    }
    out.push(path);
}

/// The items of a `{…}` group, up to its closing brace.
fn split_group(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&text[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|candidate| modules.contains_key(candidate))
    };
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("read source file");
        let text = match text.find("#[cfg(test)]") {
            Some(at) => &text[..at],
            None => &text,
        };
        // `super::` in `a/b.rs` and in `a/b/mod.rs` alike is `a`.
        let parent = module[..module.len().saturating_sub(1)].to_vec();
        let mut targets = paths_after(text, "crate::");
        // A bare `store::…` inside `calls/mod.rs` names the child `calls::store`.
        for (child, _) in modules.range(module.clone()..) {
            if child.len() != module.len() + 1 || !child.starts_with(module) {
                continue;
            }
            let name = &child[module.len()];
            for p in paths_after(text, &format!("{name}::")) {
                let mut full = child.clone();
                full.extend(p);
                targets.push(full);
            }
        }
        targets.extend(paths_after(text, "super::").into_iter().map(|p| {
            let mut full = parent.clone();
            full.extend(p);
            full
        }));
        let deps: BTreeSet<String> = targets
            .iter()
            .filter_map(|p| resolve(p))
            .filter(|target| target != module && !target.is_empty())
            .map(|target| target.join("::"))
            .collect();
        graph.insert(module.join("::"), deps);
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_module_of_src_uses_a_module_that_uses_it_back() {
    let graph = dependency_graph();
    assert!(
        graph.contains_key("calls::store") && graph["transfers"].contains("calls::store"),
        "the scanner must see known edges, or this test proves nothing: {graph:#?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_scanner_finds_a_cycle_when_there_is_one() {
    let mut graph = BTreeMap::<String, BTreeSet<String>>::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle_from(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let paths = paths_after(
        "use crate::{calls::{model::Call, store}, error::ApiError};",
        "crate::",
    );
    assert_eq!(
        paths,
        vec![
            vec!["calls", "model", "Call"],
            vec!["calls", "store"],
            vec!["error", "ApiError"],
        ]
    );
}
