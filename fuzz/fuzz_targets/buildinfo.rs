//! OBS buildinfo XML: parsed into a job or refused with one line, never a panic or a hang.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("buildinfo"));

fuzz_target!(|data: &[u8]| {
    run_checked("buildinfo", &ARENA, data);
});
