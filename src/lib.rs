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
