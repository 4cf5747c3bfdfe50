//! libcontainer glue: the state directory, the executor, hooks, state and features documents.
//!
//! A plain bundle runs exactly as under runc; what only obsbox's own containers need travels
//! in `org.openbuildservice.*` annotations, which the callback hook entry reads, and never
//! changes the default path.

pub mod attach_warmup;
pub mod cgroup_mounts;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod creator;
pub mod delete;
pub mod executor;
pub mod features;
pub mod foreground;
pub mod hooks;
pub mod init_cause;
pub mod loopback;
pub mod oneshot;
pub mod resources;
pub mod seal;
pub mod spec;
pub mod state;

pub use container::{create_builder, load};
