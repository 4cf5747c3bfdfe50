//! Constraint sources: every input is read as `_constraints` XML and, when it is text, as
//! a project config's `Constraint:` lines and a spec's `#!BuildConstraint:` lines. Each is
//! parsed or refused with one line, never a panic or a hang.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("constraints"));

fuzz_target!(|data: &[u8]| {
    run_checked("constraints", &ARENA, data);
});
