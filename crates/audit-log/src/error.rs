//! The one error type of the crate: what can go wrong opening, writing and verifying logs.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::schema::Sink;

/// Everything this crate can fail with. Messages are lowercase and carry the values involved;
/// none ever contains a chain key or a cell's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file or folder could not be read, written, synced, renamed or removed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("open", "write", "sync", ...).
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The chain key file can be read by other users, so anyone on the machine could forge rows.
    #[error(
        "chain key file {path} has mode {mode:o}; it must be readable by its owner only (0600)"
    )]
    KeyFileExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The chain key file exists but does not hold a key in the expected format.
    #[error("chain key file {path} is not a 64-digit hex key: {reason}")]
    KeyFileInvalid {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The chain key file was placed inside the logs folder, where whoever receives a copy of
    /// the logs would also receive the means to forge them.
    #[error("chain key file {key_file} must not be inside the logs folder {logs_dir}")]
    KeyInsideLogs {
        /// The key file.
        key_file: PathBuf,
        /// The logs folder.
        logs_dir: PathBuf,
    },

    /// A retention setting is shorter than the law of the sink allows.
    #[error("retention of {days} days for {sink} is below the minimum of {minimum} days")]
    RetentionTooShort {
        /// The sink the setting applies to.
        sink: Sink,
        /// The configured number of days.
        days: u32,
        /// The smallest number of days accepted.
        minimum: u32,
    },

    /// A setting has a value the writer cannot work with.
    #[error("invalid audit setting {name}: {reason}")]
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },

    /// The current file of a sink does not start with the header this version writes. The
    /// writer refuses to append to a file it does not understand.
    #[error("{path} does not start with the {sink} header")]
    BadHeader {
        /// The sink.
        sink: Sink,
        /// The file.
        path: PathBuf,
    },

    /// A row before the last one of the current file is damaged. A crash tears at most the last
    /// line, so this is not crash damage and the writer will not guess how to continue.
    #[error("{path} line {line} is damaged ({reason}); move the file aside and run audit verify")]
    DamagedFile {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
        /// What is wrong with the line.
        reason: String,
    },

    /// A durable append could not be queued before its deadline because the writer is behind.
    #[error("audit queue of {sink} still full after {} ms", waited.as_millis())]
    QueueFull {
        /// The sink.
        sink: Sink,
        /// How long the caller waited.
        waited: Duration,
    },

    /// The rows of a batch were not confirmed on disk. They may or may not be in the file.
    #[error("audit write to {sink} failed: {reason}")]
    WriteFailed {
        /// The sink.
        sink: Sink,
        /// The operating system's description of the failure.
        reason: String,
    },

    /// The sink was closed, or its writer thread ended.
    #[error("audit sink {sink} is closed")]
    Closed {
        /// The sink.
        sink: Sink,
    },

    /// The writer thread could not be started.
    #[error("could not start the writer thread of {sink}: {source}")]
    Spawn {
        /// The sink.
        sink: Sink,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl AuditError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { action, path: path.into(), source }
    }
}
