//! obsbox: the runtime of an openSUSE Build Service worker, built on OCI.
//!
//! The library holds everything; `src/main.rs` only parses and dispatches. See the README for
//! what each command does.

// `unsafe` lives in `sys` only, and every use there says why it is sound, in a
// `// SAFETY:` comment right above it.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc;
pub mod binfmt;
pub mod bundle;
pub mod callbacks;
pub mod cli;
pub mod config;
pub mod io;
pub mod job;
pub mod joblog;
pub mod lifecycle;
pub mod logging;
pub mod model;
pub mod mountinfo;
pub mod names;
pub mod obsworker;
pub mod oserror;
pub mod packages;
pub mod proc;
pub mod progress;
pub mod repo;
pub mod rootfs;
pub mod runtime;
#[allow(unsafe_code)]
pub mod sys;
pub mod text;
pub mod worker;
pub mod xmltree;

#[cfg(test)]
mod layout {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The top-level modules each module's code (tests aside) names as `crate::NAME`.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut todo = vec![src.clone()];
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let rel = path.strip_prefix(&src).unwrap();
                let module = rel.iter().next().unwrap().to_string_lossy();
                let module = module.trim_end_matches(".rs").to_string();
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap();
                let names = graph.entry(module.clone()).or_default();
                for line in code.lines().map(|l| l.split("//").next().unwrap()) {
                    let mut rest = line;
                    while let Some(at) = rest.find("crate::") {
                        rest = &rest[at + "crate::".len()..];
                        let group = rest.strip_prefix('{').unwrap_or(rest);
                        for part in group.split(',') {
                            let name: String = part
                                .trim()
                                .chars()
                                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                                .collect();
                            if !name.is_empty() && name != module {
                                names.insert(name);
                            }
                            if !rest.starts_with('{') {
                                break;
                            }
                        }
                    }
                }
            }
        }
        graph
    }

    /// No two top-level modules import each other, directly or through others: each
    /// concept has one home, and lower layers do not reach up (docs/ARCHITECTURE.md).
    #[test]
    fn modules_import_each_other_in_no_cycle() {
        let graph = imports();
        assert!(graph.len() > 20, "{graph:?}");
        assert!(graph["repo"].contains("packages"), "the scan sees imports");
        for start in graph.keys() {
            // Everything reachable from `start`; reaching `start` again is a cycle.
            let mut seen = BTreeSet::new();
            let mut todo: Vec<(&String, Vec<&String>)> = vec![(start, vec![start])];
            while let Some((at, path)) = todo.pop() {
                for next in graph.get(at).into_iter().flatten() {
                    assert!(next != start, "import cycle: {path:?} -> {next}");
                    if seen.insert(next) {
                        let mut longer = path.clone();
                        longer.push(next);
                        todo.push((next, longer));
                    }
                }
            }
        }
    }
}
