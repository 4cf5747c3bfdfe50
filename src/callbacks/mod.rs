//! Work the runtime does for a build job around the build itself.

pub mod compare;
