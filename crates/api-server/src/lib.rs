//! The MT5 Gateway server: the actix-web app and the commands of `mt5-gateway`.
//!
//! This is the only crate that knows about HTTP. It wires the library crates together:
//! `mt5-bridge` answers for the terminal; keys, risk and audit come from their own crates.
//! Nothing here decides a trade's fate by itself, and nothing here writes a secret to a log.

pub mod app;
pub mod audit;
pub mod audit_cli;
pub mod auth;
pub mod check;
pub mod envelope;
pub mod error;
pub mod idempotency;
pub mod keys_api;
pub mod keys_cli;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod perimeter;
pub mod query;
pub mod ratelimit;
pub mod reads;
pub mod routes;
pub mod serve;
pub mod settings;
pub mod tls;
pub mod trading;
