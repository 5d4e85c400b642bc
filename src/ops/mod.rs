//! The operations behind the commands, each returning a typed result the command renders
//! (cargo's `ops/` is the model): a command file parses, calls one of these, and prints.

pub mod history;
pub mod minimize;
pub mod run;
pub mod status;
