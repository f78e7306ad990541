//! Where the logs live and how long they are kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::AuditError;
use crate::schema::Sink;

/// Trading records are kept at least this long (seven years).
pub const MIN_TRADE_RETENTION_DAYS: u32 = 2555;

/// The settings of the audit logs.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// The logs folder; the four current files live here and archives in `archive/` below it.
    pub logs_dir: PathBuf,
    /// The chain key file. It must not be inside `logs_dir`.
    pub key_file: PathBuf,
    /// Days security and error archives are kept (default 90).
    pub retention_days: u32,
    /// Days order and deal archives are kept (default and minimum 2555).
    pub trade_retention_days: u32,
    /// A current file rotates before it grows past this size (default 64 MiB).
    pub max_file_bytes: u64,
    /// Rows a sink's queue holds before fire-and-forget rows are dropped (default 4096).
    pub queue_capacity: usize,
    /// How long a durable append waits for room in a full queue (default 2 s).
    pub queue_deadline: Duration,
    /// The clock rows are stamped with; tests inject a manual one.
    pub clock: Arc<dyn Clock>,
}

impl AuditConfig {
    /// The defaults for a logs folder and a key file.
    pub fn new(logs_dir: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            logs_dir: logs_dir.into(),
            key_file: key_file.into(),
            retention_days: 90,
            trade_retention_days: MIN_TRADE_RETENTION_DAYS,
            max_file_bytes: 64 * 1024 * 1024,
            queue_capacity: 4096,
            queue_deadline: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
    }

    /// The retention in days that applies to `sink`.
    #[must_use]
    pub fn retention_for(&self, sink: Sink) -> u32 {
        if sink.is_trading_record() { self.trade_retention_days } else { self.retention_days }
    }

    /// Checks the settings against their limits.
    pub fn validate(&self) -> Result<(), AuditError> {
        if self.trade_retention_days < MIN_TRADE_RETENTION_DAYS {
            return Err(AuditError::RetentionTooShort {
                sink: Sink::Orders,
                days: self.trade_retention_days,
                minimum: MIN_TRADE_RETENTION_DAYS,
            });
        }
        if self.retention_days < 1 {
            return Err(AuditError::RetentionTooShort {
                sink: Sink::Security,
                days: self.retention_days,
                minimum: 1,
            });
        }
        if self.max_file_bytes < 4096 {
            return Err(AuditError::InvalidSetting {
                name: "max_file_bytes",
                reason: format!("{} is below the minimum of 4096", self.max_file_bytes),
            });
        }
        if self.queue_capacity == 0 || self.queue_capacity > 1 << 20 {
            return Err(AuditError::InvalidSetting {
                name: "queue_capacity",
                reason: format!("{} is outside 1..=1048576", self.queue_capacity),
            });
        }
        Ok(())
    }
}
