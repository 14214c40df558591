//! The shape of src/: no import cycle between modules, at any level. Every path a file names
//! (`crate::a::b`, `super::c`, `use` trees) is an edge from the file's module to the module it
//! names; an edge is counted between the two siblings under their closest common module (so
//! `server::front::render` → `server::model::layout` is `front` → `model` inside `server`),
//! and edges between a module and its own ancestors are not (a parent declares and re-exports
//! its children). Within every module, the graph of its children must have no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source text without comments and string literals (which may mention paths).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"')) && !prev_ident(b, i) {
            // raw string r"…" / r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // a char literal such as '"'
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn prev_ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The module path of a source file: src/server/front/render.rs → ["server", "front", "render"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// The longest prefix of `path` that is a module with a file of its own.
fn resolve(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p))
}

/// Paths named in `code`, each as written: starting with `crate` or `super` (use trees expanded).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let words: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < words.len() {
        let starts = ["crate::", "super::"].iter().find(|s| code_at(&words, i, s) && !ident_before(&words, i));
        if let Some(s) = starts {
            let (paths, end) = path_tree(&words, i, s.trim_end_matches(':'));
            out.extend(paths);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn code_at(w: &[char], i: usize, s: &str) -> bool {
    s.chars().enumerate().all(|(k, c)| w.get(i + k) == Some(&c))
}

fn ident_before(w: &[char], i: usize) -> bool {
    i > 0 && (w[i - 1].is_alphanumeric() || w[i - 1] == '_' || w[i - 1] == ':')
}

/// A path starting at `i` (`crate::a::{b, c::d}`), expanded into its leaves.
fn path_tree(w: &[char], i: usize, _root: &str) -> (Vec<Vec<String>>, usize) {
    let mut j = i;
    let mut prefix: Vec<String> = Vec::new();
    loop {
        let start = j;
        while j < w.len() && (w[j].is_alphanumeric() || w[j] == '_') {
            j += 1;
        }
        let seg: String = w[start..j].iter().collect();
        if !seg.is_empty() {
            prefix.push(seg);
        }
        if code_at(w, j, "::{") {
            j += 3;
            let mut leaves = Vec::new();
            loop {
                while j < w.len() && (w[j].is_whitespace() || w[j] == ',') {
                    j += 1;
                }
                if j >= w.len() || w[j] == '}' {
                    j += 1;
                    break;
                }
                let (sub, end) = path_tree(w, j, "");
                for s in sub {
                    let mut p = prefix.clone();
                    p.extend(s);
                    leaves.push(p);
                }
                j = end;
            }
            return (leaves, j);
        }
        if code_at(w, j, "::") {
            j += 2;
            continue;
        }
        return (vec![prefix], j);
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Module-level edges (from, to), collapsed to siblings under their common module.
fn edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<(String, String)>> {
    let mut all = Vec::new();
    files(src, &mut all);
    let modules: BTreeSet<Vec<String>> = all.iter().map(|f| module_of(src, f)).collect();
    let mut scopes: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
    for file in &all {
        let me = module_of(src, file);
        let mut code = code_only(&std::fs::read_to_string(file).unwrap());
        // A file's tests (at its end) may use what its module does not.
        if let Some(at) = code.find("#[cfg(test)]\nmod tests") {
            code.truncate(at);
        }
        for path in paths_in(&code) {
            let absolute: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                Some("super") => {
                    // `super` is the parent of the file's module (a mod.rs is its directory's module).
                    let mut base = me.clone();
                    let mut rest = &path[..];
                    while rest.first().map(String::as_str) == Some("super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                }
                _ => continue,
            };
            let Some(target) = resolve(&modules, &absolute) else { continue };
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == me.len() || common == target.len() {
                continue; // an ancestor or descendant
            }
            scopes.entry(me[..common].to_vec()).or_default().insert((me[common].clone(), target[common].clone()));
        }
    }
    scopes
}

/// A cycle in `edges`, if there is one.
fn cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    fn visit<'a>(
        n: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| *s == n) {
            let mut c: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n);
        for m in next.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in next.keys() {
        if let Some(c) = visit(n, &next, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_of_src_imports_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (scope, edges) in edges(&src) {
        if std::env::var_os("SBX_STRUCTURE").is_some() {
            eprintln!("{scope:?}: {edges:?}");
        }
        if let Some(c) = cycle(&edges) {
            let at = if scope.is_empty() { "crate".to_string() } else { scope.join("::") };
            found.push(format!("in {at}: {}", c.join(" → ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_paths_and_cycles() {
    let code = code_only("use crate::a::{b, c::d};\n// crate::x::y\nlet s = \"crate::z\"; super::e::f();");
    let paths = paths_in(&code);
    let words = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(paths.contains(&words(&["crate", "a", "b"])) && paths.contains(&words(&["crate", "a", "c", "d"])));
    assert!(paths.contains(&words(&["super", "e", "f"])));
    assert!(!paths.iter().any(|p| p.contains(&"x".to_string()) || p.contains(&"z".to_string())));
    let e: BTreeSet<(String, String)> =
        [("a", "b"), ("b", "c"), ("c", "a")].iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
    assert!(cycle(&e).is_some());
    let e: BTreeSet<(String, String)> =
        [("a", "b"), ("b", "c")].iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
    assert!(cycle(&e).is_none());
}
