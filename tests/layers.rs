//! The shape of the source tree, checked so that it cannot drift:
//!
//! * no import cycle between the crate's top-level modules (a room never imports
//!   the room that imports it), and they keep their layers;
//! * `unsafe` is allowed only in the four rooms that own a kernel interface;
//! * no source file is over ~700 lines, in-file tests aside;
//! * the module map in `docs/design.md` names every source file, and only those;
//! * nothing in `src/` prints with `eprintln!`/`println!`, which panic (and
//!   so abort the release build) when the output is gone: lines go through
//!   `ringvs::log!` or the CLI's `out`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// "~700 lines": the longest file may run a little over.
const MAX_FILE_LINES: usize = 750;
/// The modules allowed `unsafe`, one kernel interface each.
const UNSAFE_ROOMS: [&str; 4] = ["src/io/ring", "src/io/xdp", "src/io/cred", "src/io/sockopt"];
/// The layers, bottom first: a top-level module imports only modules before it
/// (the order of `docs/design.md`'s module map).
const LAYERS: [&str; 14] = [
    "wire",
    "proto",
    "config",
    "sched",
    "nat",
    "neigh",
    "stats",
    "io",
    "observe",
    "dataplane",
    "health",
    "sync",
    "control",
    "lab",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source files of the product and of the dev crate, relative to the root.
fn sources() -> Vec<String> {
    let mut files = Vec::new();
    for d in ["src", "tools/ringvs-bench/src"] {
        rust_files(&Path::new(ROOT).join(d), &mut files);
    }
    let mut v: Vec<String> = files
        .iter()
        .filter_map(|p| p.strip_prefix(ROOT).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A file's code: everything before its in-file test module, without comments.
fn code(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).expect("readable source");
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .map(|l| l.split("//").next().unwrap_or("").to_string())
        .collect()
}

/// The top-level module a file of `src/` belongs to (`None` for the crate root
/// and the binary's files: `main.rs` and its modules `demo`, `genhash`, `run`).
fn top_module(path: &str) -> Option<String> {
    let rest = path.strip_prefix("src/")?;
    let first = rest.split('/').next()?.trim_end_matches(".rs");
    (!matches!(first, "lib" | "main" | "demo" | "genhash" | "run")).then(|| first.to_string())
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = sources().iter().filter_map(|p| top_module(p)).collect();
    for file in sources() {
        let Some(m) = top_module(&file) else { continue };
        let entry = deps.entry(m.clone()).or_default();
        for line in code(&file) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name != m && modules.contains(&name) {
                    entry.insert(name);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in deps.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, deps, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        let cycle = visit(m, &deps, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap_or_default().join(" -> ")
        );
    }
    // Stricter than no cycle: the layers keep their order.
    assert_eq!(
        modules,
        LAYERS.iter().map(|m| m.to_string()).collect(),
        "a new top-level module needs its place in LAYERS and in the module map"
    );
    for (m, ds) in &deps {
        let at = LAYERS.iter().position(|l| l == m);
        for d in ds {
            let dat = LAYERS.iter().position(|l| l == d);
            assert!(dat < at, "{m} imports {d}, which sits above it");
        }
    }
}

#[test]
fn unsafe_is_allowed_only_in_the_kernel_interface_rooms() {
    for file in sources() {
        let allows = code(&file).iter().any(|l| l.contains("allow(unsafe_code)"));
        let room = UNSAFE_ROOMS.iter().any(|r| file.starts_with(r));
        assert!(
            !allows || room,
            "{file} allows unsafe code outside the rooms"
        );
    }
    for room in UNSAFE_ROOMS {
        let file = format!("{room}.rs");
        let path = if Path::new(ROOT).join(&file).exists() {
            file
        } else {
            format!("{room}/mod.rs")
        };
        assert!(
            code(&path)
                .iter()
                .any(|l| l.contains("#![allow(unsafe_code)]")),
            "{path}: a room declares its unsafe at the top"
        );
    }
}

/// A director whose stderr reader went (`ringvs run 2>&1 | logger`, logger
/// gone) must not die of its next log line: `eprintln!` panics on EPIPE and
/// the release profile aborts. Test modules (`tests.rs`, after
/// `#[cfg(test)]`) may print.
#[test]
fn nothing_prints_with_a_macro_that_panics() {
    for file in sources() {
        if !file.starts_with("src/") || file.ends_with("/tests.rs") {
            continue;
        }
        for (n, line) in code(&file).iter().enumerate() {
            for m in ["eprintln!", "println!", "eprint!", "print!", "dbg!"] {
                let bare = line
                    .match_indices(m)
                    .any(|(i, _)| !line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
                assert!(
                    !bare,
                    "{file}:{}: `{m}` panics on a closed output; use `ringvs::log!` \
                     (stderr) or `out` (stdout)",
                    n + 1
                );
            }
        }
    }
}

#[test]
fn no_source_file_is_over_about_700_lines() {
    for file in sources() {
        let n = code(&file).len();
        assert!(n <= MAX_FILE_LINES, "{file}: {n} lines before its tests");
    }
}

#[test]
fn module_map_names_every_source_file() {
    let design =
        std::fs::read_to_string(Path::new(ROOT).join("docs/design.md")).expect("design.md");
    let start = design
        .find("## Module map")
        .expect("docs/design.md has a Module map section");
    let section = &design[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let mut mapped = BTreeSet::new();
    for line in section[..end].lines() {
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let Some((path, what)) = rest.split_once('`') else {
            continue;
        };
        assert!(
            what.trim_start_matches([' ', ':', '—', '-']).len() > 10,
            "{path}: one line that says what the file holds"
        );
        assert!(mapped.insert(path.to_string()), "{path} mapped twice");
    }
    let files: BTreeSet<String> = sources().into_iter().collect();
    let missing: Vec<_> = files.difference(&mapped).collect();
    let stale: Vec<_> = mapped.difference(&files).collect();
    assert!(
        missing.is_empty(),
        "not in docs/design.md's module map: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "in the module map but not in the tree: {stale:?}"
    );
}
