//! `.build.rpmlist`: parsed into packages and flags or refused with one line, never a
//! panic or a hang. (The file reader refuses text that is not UTF-8 before parsing.)
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("rpmlist"));

fuzz_target!(|data: &[u8]| {
    run_checked("rpmlist", &ARENA, data);
});
