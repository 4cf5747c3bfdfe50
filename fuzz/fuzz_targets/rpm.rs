//! An `.rpm` (lead, signature and main header, cpio payload) read as the package store
//! reads it: headers, descriptive fields, then the payload through the safe extractor into
//! a root full of traps. It may fail, with one line, but never panic, hang, or touch
//! anything outside the root.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("rpm"));

fuzz_target!(|data: &[u8]| {
    run_checked("rpm", &ARENA, data);
});
