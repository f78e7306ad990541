//! Tamper-evident CSV audit logs for the MT5 gateway: `security.csv`, `errors.csv`,
//! `orders.csv` and `deals.csv`, each a hash chain of sanitized rows, written by one thread per
//! file with group commit, rotated daily and by size into `archive/`, kept per retention, and
//! verifiable offline.
//!
//! The crate knows nothing of HTTP and stands alone: any Rust program can open the sinks,
//! append rows and verify a folder.
//!
//! What it must never do:
//!
//! - **Lose an acknowledged row.** [`AuditSink::append_durable`] resolves `Ok` only after the
//!   `fdatasync` covering the row returned; a crash after that cannot take the row away. A
//!   crash before it can leave at most a torn last line, which the next open cuts (and
//!   reports) without touching any acknowledged row.
//! - **Write a secret.** Every value from outside the gateway is a [`Cell::Text`] and passes
//!   through `security_core::redact::sanitize_cell` (redaction before truncation) on its way
//!   to the file. The chain key is never written to a log, an error or a `Debug` string.
//! - **Let a row become two lines or a formula.** Control characters are removed from text
//!   and text starting with `=`, `+`, `-`, `@`, tab or CR gets a `'` prefix; numbers and times
//!   are built only by the gateway ([`Number`], [`Cell::Time`]) and cannot hold anything else.
//! - **Block a request on a full queue forever.** Fire-and-forget rows are dropped and counted
//!   when the queue is full; durable appends give up after a deadline.
//!
//! How a server uses it:
//!
//! ```no_run
//! use audit_log::{AuditConfig, AuditLogs, OrderEntry, OrderPhase, SecurityEvent, SecurityEventKind};
//!
//! # async fn serve() -> Result<(), audit_log::AuditError> {
//! let config = AuditConfig::new("logs", "config/audit-chain.key");
//! let (logs, _report) = AuditLogs::open(&config)?; // repairs and deletions already recorded
//!
//! // A security event: fire-and-forget, never blocks the request.
//! logs.security.record(SecurityEvent::new(SecurityEventKind::AuthFailure).detail("bad key"));
//!
//! // An order intent: on disk before anything reaches the terminal, or 503 AUDIT_UNAVAILABLE.
//! let intent = OrderEntry::new("req-1", OrderPhase::Intent, "place");
//! let receipt = logs.orders.append_durable(intent).await?;
//! # let _ = receipt;
//! logs.close();
//! # Ok(())
//! # }
//! ```
//!
//! The chain, link rows and retention are described in `chain.rs`; `BENCHMARKS.md` holds the
//! measured cost of an append.
//!
//! On Windows the key file's permissions are not checked (there are no mode bits); keep the
//! key's folder private to the gateway's user.

mod archive;
mod cell;
mod chain;
mod clock;
mod config;
mod error;
mod fsutil;
mod health;
mod key;
mod line;
mod logs;
mod notice;
mod read;
mod schema;
mod segment;
mod sink;
mod verify;
mod writer;

pub use archive::{ARCHIVE_DIR, ArchiveName, archive_dir};
pub use cell::{Cell, Number, format_timestamp, parse_timestamp};
pub use chain::{ChainValue, GENESIS, Link};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuditConfig, MIN_TRADE_RETENTION_DAYS};
pub use error::AuditError;
pub use health::{HealthSnapshot, HealthStatus};
pub use key::{ChainKey, KEY_LEN};
pub use logs::{AuditHealth, AuditLogs};
pub use notice::{DeletedArchive, Notice, NoticeHandler, OpenReport, Repair};
pub use read::{
    MAX_SECURITY_EVENTS, SecurityRecord, newest_security_events, recorded_deal_tickets,
};
pub use schema::{
    DealEntry, ErrorEntry, LINK_MARKER, OrderEntry, OrderPhase, OrderStatus, Record, SecurityEvent,
    SecurityEventKind, Sink,
};
pub use sink::AuditSink;
pub use verify::{
    Break, BreakKind, SinkReport, VerifyOptions, VerifyReport, verify_dir, verify_dir_with,
};
pub use writer::Receipt;
