//! The gateway's view of a MetaTrader 5 terminal.
//!
//! [`Terminal`] is every call the gateway makes; [`sim::SimulatedTerminal`] answers them
//! with a paper account that behaves like MT5 on any machine. This crate knows nothing of
//! HTTP, keys or risk rules: it reports what the terminal says and never decides whether a
//! trade is wise.

mod retcode;
mod terminal;
pub mod types;

pub use retcode::Retcode;
pub use terminal::{Result, Terminal, TerminalError};
