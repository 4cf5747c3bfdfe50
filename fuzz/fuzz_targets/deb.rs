//! A `.deb` (ar, control.tar, data.tar in any compression) extracted through the safe
//! extractor into a root full of traps: it may fail, with one line, but never panic, hang,
//! or touch anything outside the root.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("deb"));

fuzz_target!(|data: &[u8]| {
    run_checked("deb", &ARENA, data);
});
