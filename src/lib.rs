//! `cargo protocrash` as a library: the commands are thin files over these modules, so
//! the master's logic (worker life cycle, figures, minimisation, reports) is tested by
//! calling it, not only through processes. The binary is also the rustc wrapper of harness
//! builds (see `wrapper`).
#![deny(unsafe_code)]

pub mod aggregate;
pub mod autodict;
pub mod batch;
pub mod builder;
pub mod campaign;
pub mod cli;
pub mod commands;
pub mod coverage;
pub mod display;
pub mod lockfile;
pub mod minimize;
pub mod ops;
pub mod plot;
pub mod project;
pub mod report;
pub mod runtime_src;
pub mod scaffold;
pub mod shell;
#[allow(unsafe_code)]
pub mod shm;
pub mod wrapper;

/// Usage, build or setup error.
pub const EXIT_ERROR: u8 = 2;
