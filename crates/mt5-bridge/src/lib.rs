//! The gateway's view of an MT5 terminal.
//!
//! [`Terminal`] is every call the gateway makes; [`sim::SimulatedTerminal`] answers them
//! with a paper account that behaves like MT5 on any machine. This crate knows nothing of
//! HTTP, keys or risk rules: it reports what the terminal says and never decides whether a
//! trade is wise.

// A failed `unwrap` in a test is a failed test, with the value in the message.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod retcode;
pub mod sim;
mod terminal;
pub mod types;

pub use retcode::Retcode;
pub use terminal::{Result, Terminal, TerminalError};
