//! The security primitives of the MT5 gateway: API keys (format, generation, hashing,
//! verification, scopes, rotation) and the keys file that holds them, the lockout of clients
//! that keep presenting bad keys, and the redaction that makes untrusted text safe to log.
//!
//! This crate knows nothing of HTTP: it sees a presented key as a `&str`, a client as an IP
//! address, a clock as a value passed in. It must never let a secret reach a `Debug` or
//! `Display` output, an error message or a file other than the moment a key is created: every
//! type that holds one hides it when printed and wipes it when dropped.

pub mod key;
pub mod lockout;
mod private_file;
pub mod redact;
pub mod scope;
pub mod store;

pub use key::{ApiKey, KeyId};
pub use lockout::{ClientKey, FailureOutcome, Lockout, LockoutConfig};
pub use private_file::PrivateFileError;
pub use redact::{MAX_FIELD_CHARS, neutralize_csv, redact, sanitize_cell};
pub use scope::Scope;
pub use store::{AuthFailure, KeyStore, KeySummary, StoreError, Verified};
