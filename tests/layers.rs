//! The kernel's modules form layers (STYLE.md §13): no module imports a
//! module that imports it back, directly or through others. A module is a
//! file under `kernel/src`; an import is any `crate::a::b` or `super::x`
//! path in its code (comments aside) that names another module's file.
//! Declaring a child (`mod x;`) is not an import.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            modules(&path, &p, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if prefix.is_empty() && stem == "lib" {
                continue;
            }
            let mut p = prefix.to_vec();
            p.push(stem.to_string());
            out.insert(p, fs::read_to_string(&path).unwrap());
        }
    }
}

/// The code without `//` comments (doc comments name modules freely).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::b::{c, d::e}` after a `crate::` or `super::` at `rest`: every path.
fn paths_at(rest: &str) -> Vec<Vec<String>> {
    let mut head = Vec::new();
    if rest.starts_with('{') {
        return braced(&head, rest);
    }
    let mut chars = rest.char_indices().peekable();
    let mut word = String::new();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if c == ':' && rest[i..].starts_with("::") {
            chars.next();
            head.push(std::mem::take(&mut word));
            if rest[i + 2..].starts_with('{') {
                return braced(&head, &rest[i + 2..]);
            }
        } else {
            break;
        }
    }
    if !word.is_empty() {
        head.push(word);
    }
    vec![head]
}

/// `{c, d::e}` (one level of braces) after `head`.
fn braced(head: &[String], rest: &str) -> Vec<Vec<String>> {
    let close = rest.find('}').unwrap_or(rest.len());
    rest[1..close]
        .split(',')
        .map(|part| {
            let mut p = head.to_vec();
            p.extend(part.trim().split("::").map(|s| s.trim().to_string()));
            p
        })
        .collect()
}

fn resolve(mods: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
}

fn graph(root: &Path) -> Graph {
    let mut mods = BTreeMap::new();
    modules(root, &[], &mut mods);
    let mut g = Graph::new();
    for (m, text) in &mods {
        let text = code(text);
        let mut to = BTreeSet::new();
        for (marker, base) in [
            ("crate::", Vec::new()),
            ("super::", m[..m.len() - 1].to_vec()),
        ] {
            for (i, _) in text.match_indices(marker) {
                let before = text[..i].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                for p in paths_at(&text[i + marker.len()..]) {
                    let mut full = base.clone();
                    full.extend(p);
                    let target = resolve(&mods, &full).or_else(|| {
                        (!base.is_empty() && mods.contains_key(&base)).then(|| base.clone())
                    });
                    if let Some(t) = target.filter(|t| t != m) {
                        to.insert(t.join("/"));
                    }
                }
            }
        }
        g.insert(m.join("/"), to);
    }
    g
}

/// The cycles of `g`: its strongly connected components of two or more.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    fn visit(g: &Graph, v: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(v.to_string()) {
            return;
        }
        for w in g.get(v).into_iter().flatten() {
            visit(g, w, seen, order);
        }
        order.push(v.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in g.keys() {
        visit(g, v, &mut seen, &mut order);
    }
    let mut rev = Graph::new();
    for (v, ws) in g {
        for w in ws {
            rev.entry(w.clone()).or_default().insert(v.clone());
        }
    }
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for v in order.iter().rev() {
        let mut comp = Vec::new();
        visit(&rev, v, &mut done, &mut comp);
        if comp.len() > 1 {
            comp.sort();
            found.push(comp);
        }
    }
    found
}

#[test]
fn no_kernel_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel/src");
    let g = graph(&root);
    assert!(g.contains_key("spawn") && g.contains_key("launch/pipeline"));
    assert!(
        g["launch/fresh"].contains("launch/pipeline"),
        "{:?}",
        g["launch/fresh"]
    );
    let found = cycles(&g);
    assert!(found.is_empty(), "module cycles: {found:?}");
}

#[test]
fn the_check_finds_a_cycle_through_a_braced_import() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("a")).unwrap();
    fs::write(
        dir.path().join("lib.rs"),
        "pub mod a; pub mod b; pub mod c;",
    )
    .unwrap();
    fs::write(
        dir.path().join("a.rs"),
        "mod x;\nuse crate::{b::Thing, c};\n",
    )
    .unwrap();
    fs::write(dir.path().join("a/x.rs"), "use super::y; // crate::c\n").unwrap();
    fs::write(dir.path().join("b.rs"), "pub fn f() { crate::a::g() }\n").unwrap();
    fs::write(dir.path().join("c.rs"), "// use crate::a;\n").unwrap();
    let g = graph(dir.path());
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    assert!(g["a/x"].contains("a"), "{:?}", g["a/x"]);
    assert!(g["c"].is_empty());
}
