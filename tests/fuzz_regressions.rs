//! Every input with which fuzzing (`integration/fuzz.sh`) made obsbox crash, hang, write
//! outside the target root or answer with more than one line, replayed through the fuzz
//! targets' own code and checks (`fuzz/src/lib.rs`): `tests/fixtures/fuzz/TARGET/NAME` is
//! the input, `NAME.expect` what obsbox must answer now: `ok`, or a piece of its one-line
//! error. Package inputs are unpacked into a root holding symlinks and a hard link that
//! lead out of it, and nothing outside that root may change.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

/// The inputs of `target`, with what each must give, in name order.
fn fixtures(target: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "expect"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{}: no inputs", dir.display());
    inputs
        .into_iter()
        .map(|input| {
            let mut expect = input.clone().into_os_string();
            expect.push(".expect");
            let expect = std::fs::read_to_string(&expect)
                .unwrap_or_else(|e| panic!("{}.expect: {e}", input.display()));
            (input, expect.trim().to_string())
        })
        .collect()
}

/// Replays every input of `target`: no panic, one-line errors, nothing outside the root,
/// and the expected answer.
fn replay(target: &str) {
    for (input, expect) in fixtures(target) {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&input).unwrap();
        let arena = harness::Arena::new(target);
        let errors: Vec<String> = harness::run_checked(target, &arena, &data)
            .iter()
            .map(|e| format!("{e:#}"))
            .collect();
        if expect == "ok" {
            assert!(errors.is_empty(), "{target}/{name}: refused: {errors:?}");
        } else {
            assert!(
                errors.iter().any(|e| e.contains(&expect)),
                "{target}/{name}: want an error with `{expect}`, got {errors:?}"
            );
        }
    }
}

#[test]
fn deb() {
    replay("deb");
}

#[test]
fn layer() {
    replay("layer");
}

#[test]
fn buildinfo() {
    replay("buildinfo");
}

#[test]
fn constraints() {
    replay("constraints");
}

#[test]
fn rpmlist() {
    replay("rpmlist");
}
