//! A bundle's `config.json`, loaded as `create`, `run` and the phase runner load it
//! (`runtime::container::open_bundle`): a spec or one line naming the file, never a panic
//! or a hang.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use obsbox_fuzz::{Arena, run_checked};

static ARENA: LazyLock<Arena> = LazyLock::new(|| Arena::new("config_json"));

fuzz_target!(|data: &[u8]| {
    run_checked("config_json", &ARENA, data);
});
