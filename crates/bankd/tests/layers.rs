//! The house has one direction: imports flow from `startup` down to `domain`, never back up, and the
//! files of one room import each other without a circle. This test reads every `use crate::…`,
//! `super::…` and inline `crate::…` path of `src/` (test modules aside) and checks both rules, so a
//! new arrow that climbs back up fails here rather than in a review.
//!
//! To add a room, give it a layer in [`LAYERS`]: the lowest it can sit is just above everything it
//! imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rooms of `src/`, bottom-up. A room imports only rooms of lower layers; rooms sharing a layer
/// do not import each other.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["config", "crypto", "telemetry", "https"],
    &["catalog", "limits"],
    &["sources", "directory"],
    &["store", "simulators"],
    &["sync", "import", "wire"],
    &["state", "webhooks", "export"],
    &["usecases"],
    &["http"],
    &["api", "webview", "simplefin"],
    &["startup"],
    // Above startup, not beside it: it checks with startup's own catalog and woob runtime.
    &["doctor"],
];

/// Files outside the rooms: the crate root declares them all, the binary imports through `bankd::`.
const OUTSIDE: &[&str] = &["lib.rs", "main.rs"];

fn layer(room: &str) -> Option<usize> {
    LAYERS.iter().position(|rooms| rooms.contains(&room))
}

/// A module's path from the crate root: `store/rows.rs` → `[store, rows]`, `store/mod.rs` → `[store]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut segments: Vec<String> = relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let file = segments.pop().unwrap();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" {
        segments.push(stem.to_owned());
    }
    segments
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The code of a file without comment lines and without its `#[cfg(test)]` modules. rustfmt puts a
/// module's closing brace alone on a line at the module's indentation, which is where one ends.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed == "#[cfg(test)]" && lines.peek().is_some_and(|next| next.contains("mod ") && next.ends_with('{')) {
            let indent = &line[..line.len() - trimmed.len()];
            let end = format!("{indent}}}");
            for inner in lines.by_ref() {
                if inner == end {
                    break;
                }
            }
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Expands a use tree (`crate::{a::b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else { return vec![tree] };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut depth, mut start, mut paths) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                paths.extend(expand(&inner[start..i]).into_iter().map(|p| format!("{prefix}{p}")));
                start = i + 1;
            }
            _ => {}
        }
    }
    paths.extend(expand(&inner[start..]).into_iter().map(|p| format!("{prefix}{p}")));
    paths.into_iter().filter(|p| !p.ends_with("::")).collect()
}

/// Every module path a file refers to, resolved from the crate root.
fn references(module: &[String], code: &str) -> Vec<Vec<String>> {
    let uses = regex::Regex::new(r"(?s)\buse\s+((?:\$?crate|super|self)\b[^;]*);").unwrap();
    let inline = regex::Regex::new(r"(?:\$?crate|super)(?:::\w+)+").unwrap();
    let alias = regex::Regex::new(r"\s+as\s+\w+").unwrap();
    let mut paths: Vec<String> = uses.captures_iter(code).flat_map(|c| expand(&alias.replace_all(&c[1], ""))).collect();
    paths.extend(inline.find_iter(&uses.replace_all(code, "")).map(|m| m.as_str().to_owned()));
    paths
        .iter()
        .filter_map(|path| {
            let mut segments = path.split("::").peekable();
            let mut resolved: Vec<String> = match *segments.peek()? {
                "crate" | "$crate" => {
                    segments.next();
                    Vec::new()
                }
                _ => module.to_vec(),
            };
            while let Some(&step) = segments.peek() {
                match step {
                    "super" => drop(resolved.pop()),
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
            resolved.extend(segments.map(str::to_owned));
            Some(resolved)
        })
        .collect()
}

struct Source {
    module: Vec<String>,
    references: Vec<Vec<String>>,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(&src).unwrap();
            if OUTSIDE.contains(&relative.to_str().unwrap()) {
                return None;
            }
            let module = module_path(relative);
            let code = production_code(&std::fs::read_to_string(file).unwrap());
            Some(Source { references: references(&module, &code), module })
        })
        .collect()
}

#[test]
fn no_room_imports_a_room_above_it() {
    let mut climbing = BTreeSet::new();
    for source in sources() {
        let room = &source.module[0];
        let Some(own) = layer(room) else { panic!("`{room}` has no layer: give it one in LAYERS") };
        for target in source.references.iter().filter_map(|r| r.first()).filter(|t| *t != room) {
            match layer(target) {
                Some(theirs) if theirs < own => {}
                _ => {
                    climbing.insert(format!("{} imports {target}", source.module.join("::")));
                }
            }
        }
    }
    assert!(climbing.is_empty(), "imports that climb or cross a layer:\n{}", Vec::from_iter(climbing).join("\n"));
}

#[test]
fn the_files_of_a_room_import_each_other_without_a_circle() {
    // Within each room: which of its submodules each submodule imports (the room's own mod.rs,
    // which declares them all, is its front door rather than a sibling).
    let sources = sources();
    let children: BTreeSet<(String, String)> =
        sources.iter().filter(|s| s.module.len() >= 2).map(|s| (s.module[0].clone(), s.module[1].clone())).collect();
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for source in sources.iter().filter(|s| s.module.len() >= 2) {
        let (room, me) = (&source.module[0], &source.module[1]);
        for reference in &source.references {
            let sibling = reference.len() >= 2 && &reference[0] == room && &reference[1] != me;
            if sibling && children.contains(&(room.clone(), reference[1].clone())) {
                edges.entry((room.clone(), me.clone())).or_default().insert(reference[1].clone());
            }
        }
    }
    for (room, start) in &children {
        // A depth-first walk from each file: reaching it again is a circle.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&(room.clone(), at)).into_iter().flatten() {
                assert!(next != start, "a circle in {room}/: {} → {next}", trail.join(" → "));
                if !trail.contains(next) {
                    stack.push((next.clone(), [trail.clone(), vec![next.clone()]].concat()));
                }
            }
        }
    }
}

#[test]
fn the_reader_sees_through_groups_aliases_and_test_modules() {
    let module = vec!["store".to_owned(), "accounts".to_owned()];
    let code = production_code(
        "use super::rows::{Account, ACCOUNT_COLUMNS};\nuse crate::{domain::bank, sync::{engine, worker as w}};\n\
         // use crate::api::wire;\nfn f() { $crate::store::outbox::emit!(); super::super::config::x(); }\n\
         #[cfg(test)]\nmod tests {\n    use crate::webview::Anything;\n}\n",
    );
    let mut found: Vec<String> = references(&module, &code).iter().map(|r| r.join("::")).collect();
    found.sort();
    let expected = [
        "config::x",
        "domain::bank",
        "store::outbox::emit",
        "store::rows::ACCOUNT_COLUMNS",
        "store::rows::Account",
        "sync::engine",
        "sync::worker",
    ];
    assert_eq!(found, expected);
}
