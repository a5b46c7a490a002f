//! The check's modules depend on each other one way only: no two modules import each other,
//! directly or around a loop (issue 20: `dial ↔ report ↔ tls` once did, for one helper). Read
//! from the sources: every `crate::<module>` a module names outside its tests is an edge; a
//! submodule counts as its parent (`report::v1` is `report`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crate-level module a source file belongs to: `src/dial.rs` → `dial`, `src/report/v1.rs` →
/// `report`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// The top-level modules named as `crate::<name>` or inside `crate::{…}`, before the file's tests.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's first level: `crate::{dial::X, report::{A, B}}` → dial, report.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).expect("read source");
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(imports(&text).into_iter().filter(|m| *m != module));
    }
    graph
}

/// A loop through `from`, if there is one: the modules in order.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_reader_sees_imports_in_every_form() {
    let text = "use crate::dial::X;\nuse crate::{report::{A, B}, tls,\n  types::millis};\nfn f() { crate::hints::x() }\n\
                #[cfg(test)]\nmod tests { use crate::check; }";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["dial", "hints", "report", "tls", "types"]);
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    g.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn no_module_of_the_check_imports_another_around_a_loop() {
    let graph = graph();
    assert!(graph.len() >= 10, "the sources were not found: {graph:?}");
    assert!(graph["check"].contains("dial"), "the reader misses imports: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("modules import each other around a loop: {}", cycle.join(" → "));
    }
}
