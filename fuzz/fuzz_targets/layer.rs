//! An OCI image layer (tar, tar+gzip, tar+zstd, with whiteouts and opaque directories)
//! applied through the safe extractor onto a root full of traps: it may fail, with one
//! line, but never panic, hang, or touch anything outside the root.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("layer"));

fuzz_target!(|data: &[u8]| {
    run_checked("layer", &ARENA, data);
});
