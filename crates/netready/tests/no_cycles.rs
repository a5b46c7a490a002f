//! No circle of files in any crate of the workspace: reads every crate's `src`, takes what each
//! module refers to (`use crate::…`, `super::…`, `self::…` paths anywhere in its code, and its own
//! submodules by name) and fails on two modules that import each other, directly or around a loop.
//! A module's `mod` lines are structure, not imports; its tests (`#[cfg(test)] mod tests`) and
//! comments are not read.
//!
//! None is left (issue 20 untied the last four). A circle someone is untying over several changes
//! can be listed in [`KNOWN`] with its exact members: a new circle anywhere fails, and a known one
//! that has gone is said so it can be removed.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles left to their owners (crate, the modules of the circle, who unties it).
const KNOWN: &[(&str, &[&str], &str)] = &[];

fn workspace_crates() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(crates).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("src").is_dir()).collect();
    out.sort();
    out
}

/// Every module of a crate (`a::b`; the root is ``), with its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// A module's code without its tests and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let end = text.find("#[cfg(test)]\nmod tests").or_else(|| text.find("#[cfg(test)]\n#[allow")).unwrap_or(text.len());
    text[..end].lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The paths a module's code names: (`crate`, `super` or `self`, the segments after it).
fn paths(code: &str, children: &[&str]) -> Vec<(String, Vec<String>)> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let boundary = i == 0 || !(is_ident(bytes[i - 1] as char) || bytes[i - 1] == b':');
        let rest = &code[i..];
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| rest.starts_with(h))
            .or_else(|| children.iter().copied().find(|c| rest.starts_with(c) && rest[c.len()..].starts_with("::")));
        match head {
            Some(h) if boundary => {
                let base = h.trim_end_matches("::").to_owned();
                let tail = &rest[base.len()..];
                // `a::b::{c, d::e}`: one path per item of a group.
                let end = tail.find(|c: char| !(is_ident(c) || c == ':')).unwrap_or(tail.len());
                let mut prefix: Vec<String> =
                    tail[..end].split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
                let (base, first) =
                    if children.contains(&base.as_str()) { ("self".to_owned(), Some(base)) } else { (base, None) };
                if let Some(f) = first {
                    prefix.insert(0, f);
                }
                if tail[end..].starts_with('{') {
                    let close = tail[end..].find('}').map_or(tail.len(), |j| end + j);
                    for item in tail[end + 1..close].split(',') {
                        let mut p = prefix.clone();
                        p.extend(
                            item.split("::")
                                .map(|s| s.trim().trim_matches(|c| c == '{' || c == '}').to_owned())
                                .filter(|s| !s.is_empty()),
                        );
                        out.push((base.clone(), p));
                    }
                } else {
                    out.push((base, prefix));
                }
                i += h.len();
            }
            _ => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    out
}

/// Which modules each module imports.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let mut g: BTreeMap<String, BTreeSet<String>> = mods.keys().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (module, file) in &mods {
        let here: Vec<&str> = if module.is_empty() { vec![] } else { module.split("::").collect() };
        let children: Vec<&str> = mods
            .keys()
            .filter_map(|k| {
                let parent = k.rsplit_once("::").map_or("", |(p, _)| p);
                (!k.is_empty() && parent == module && k != module).then(|| k.rsplit("::").next().unwrap())
            })
            .collect();
        for (base, segments) in paths(&code(file), &children) {
            let mut at: Vec<&str> = match base.as_str() {
                "crate" => vec![],
                "self" => here.clone(),
                _ => here[..here.len().saturating_sub(1)].to_vec(),
            };
            let mut segments = segments.iter().map(String::as_str).peekable();
            while segments.peek() == Some(&"super") {
                segments.next();
                at.pop();
            }
            let mut found = at.join("::");
            for s in segments {
                at.push(s);
                if mods.contains_key(&at.join("::")) {
                    found = at.join("::");
                } else {
                    break;
                }
            }
            if &found != module && mods.contains_key(&found) {
                g.get_mut(module).unwrap().insert(found);
            }
        }
    }
    g
}

/// The circles: strongly connected components of more than one module (Tarjan).
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        for w in &t.g[v] {
            if !t.index.contains_key(w.as_str()) {
                visit(t, w);
                let lw = t.low[w.as_str()];
                t.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if t.stack.contains(&w.as_str()) {
                let iw = t.index[w.as_str()];
                t.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut component = Vec::new();
            while let Some(w) = t.stack.pop() {
                component.push(if w.is_empty() { "<root>".to_owned() } else { w.to_owned() });
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                t.out.push(component);
            }
        }
    }
    let mut t = T { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), out: Vec::new() };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_crate_has_a_circle_of_files() {
    let crates = workspace_crates();
    assert!(crates.len() >= 8, "the workspace's crates were not found: {crates:?}");
    let mut new = Vec::new();
    for dir in &crates {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let found = circles(&graph(&dir.join("src")));
        for circle in &found {
            let known = KNOWN.iter().any(|(c, members, _)| *c == name && circle.iter().eq(members.iter()));
            if !known {
                new.push(format!("{name}: {}", circle.join(" → ")));
            }
        }
        for (_, members, owner) in KNOWN.iter().filter(|(c, _, _)| *c == name) {
            if !found.iter().any(|circle| circle.iter().eq(members.iter())) {
                eprintln!("{name}: the known circle {members:?} ({owner}) is gone: remove it from KNOWN");
            } else {
                eprintln!("{name}: known circle {members:?}, left to {owner}");
            }
        }
    }
    assert!(new.is_empty(), "modules that import each other, directly or around a loop:\n{}", new.join("\n"));
}

/// The reader itself, on a crate made up here: a loop through a grouped `use`, a `super::` path
/// and a child named from its parent is found; one-way imports are not a loop.
#[test]
fn the_reader_finds_loops_and_only_loops() {
    let dir = std::env::temp_dir().join(format!("netready-cycles-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("db")).unwrap();
    let write = |p: &str, t: &str| std::fs::write(src.join(p), t).unwrap();
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod db;\npub use a::X;\n");
    write("a.rs", "use crate::{b::Y, c};\n// use crate::db::Z; (a comment is not an import)\npub struct X;\n");
    write("b.rs", "pub struct Y;\nfn f() { crate::c::g() }\n");
    write("c.rs", "pub fn g() {}\n#[cfg(test)]\nmod tests { use crate::a::X; }\n");
    write("db/mod.rs", "pub mod store;\npub mod writer;\npub use store::Store;\n");
    write("db/store.rs", "use super::writer::run;\npub struct Store;\n");
    write("db/writer.rs", "pub fn run() { let _ = super::Store; }\n");
    let g = graph(&src);
    assert_eq!(g["a"], BTreeSet::from(["b".to_owned(), "c".to_owned()]), "{g:?}");
    assert!(g["c"].is_empty(), "tests are not read: {g:?}");
    assert_eq!(g["db"], BTreeSet::from(["db::store".to_owned()]), "{g:?}");
    // db::writer names db's re-export: db → db::store → db::writer → db.
    assert_eq!(circles(&g), vec![vec!["db".to_owned(), "db::store".to_owned(), "db::writer".to_owned()]]);
    write("db/writer.rs", "pub fn run() { let _ = super::store::Store; }\n");
    let g = graph(&src);
    // Now db::store and db::writer import each other directly.
    assert_eq!(circles(&g), vec![vec!["db::store".to_owned(), "db::writer".to_owned()]]);
    write("db/writer.rs", "pub fn run() {}\n");
    assert!(circles(&graph(&src)).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
