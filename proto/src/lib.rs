//! What the `cargo-protocrash` CLI and the `protocrash` runtime must agree on: the worker
//! configuration passed through the environment, the layouts of the shared `stats` and
//! `coverage` files, the names of sync-dir entries and the finding records. Pure code, no
//! unsafe; every format carries a version and every encoder has a round-trip test.
#![forbid(unsafe_code)]

pub mod config;
pub mod coverage;
pub mod dict;
pub mod finding;
pub mod naming;
pub mod stats;

/// Version of the runtime/CLI pair. Both sides are built from the same source, so a mismatch
/// means a harness built by another protocrash: it is refused with a message saying so.
pub const PROTOCOL_VERSION: u32 = 1;

/// Exit code the harness uses when its setup failed (bad config, unwritable sync dir): the
/// master reports the message the harness printed instead of restarting it.
pub const EXIT_SETUP_ERROR: i32 = 78;
