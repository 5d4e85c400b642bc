//! What the `cargo-protocrash` CLI and the `protocrash` runtime must agree on: the worker
//! configuration passed through the environment, the layouts of the shared `stats` and
//! `coverage` files, the sync-dir layout and names, the finding records and the replay
//! messages. Pure code, no unsafe; every format carries a version and every encoder has a
//! round-trip test.
#![forbid(unsafe_code)]

pub mod campaign;
pub mod config;
pub mod coverage;
pub mod dict;
pub mod files;
pub mod finding;
pub mod layout;
pub mod naming;
pub mod replay;
pub mod stats;
pub mod time;

/// Version of the runtime/CLI pair. Both sides are built from the same source, so a mismatch
/// means a harness built by another protocrash: it is refused with a message saying so.
pub const PROTOCOL_VERSION: u32 = 2;

/// Exit code the harness uses when its setup failed (bad config, unwritable sync dir): the
/// master reports the message the harness printed instead of restarting it.
pub const EXIT_SETUP_ERROR: i32 = 78;
