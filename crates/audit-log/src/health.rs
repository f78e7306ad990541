//! A sink's health, shared between its writer thread and anyone who asks, without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwapOption;

use crate::schema::Sink;

/// Whether a sink is currently writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    /// The last write and sync succeeded (or nothing was written yet).
    Ok,
    /// The last write or sync failed; `last_error` says why. Durable appends are failing.
    Failing {
        /// The most recent failure.
        last_error: String,
    },
}

/// A point-in-time copy of a sink's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// The sink.
    pub sink: Sink,
    /// Ok or failing.
    pub status: HealthStatus,
    /// Rows queued and not yet written.
    pub queue_depth: usize,
    /// The queue's bound.
    pub queue_capacity: usize,
    /// Batches whose write or sync failed, since open.
    pub write_failures: u64,
    /// Fire-and-forget rows that never reached the file (queue full or write failed), since open.
    pub dropped_rows: u64,
    /// Rows written and synced, since open.
    pub rows_written: u64,
}

impl HealthSnapshot {
    /// True when the sink is writing.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.status == HealthStatus::Ok
    }
}

/// The shared, lock-free state behind [`HealthSnapshot`].
#[derive(Debug)]
pub(crate) struct Health {
    sink: Sink,
    failing: AtomicBool,
    last_error: ArcSwapOption<String>,
    write_failures: AtomicU64,
    dropped_rows: AtomicU64,
    rows_written: AtomicU64,
    /// Set on the first drop after a quiet period, so the drop is logged once, not per row.
    drop_reported: AtomicBool,
}

impl Health {
    pub(crate) fn new(sink: Sink) -> Arc<Self> {
        Arc::new(Self {
            sink,
            failing: AtomicBool::new(false),
            last_error: ArcSwapOption::empty(),
            write_failures: AtomicU64::new(0),
            dropped_rows: AtomicU64::new(0),
            rows_written: AtomicU64::new(0),
            drop_reported: AtomicBool::new(false),
        })
    }

    pub(crate) fn snapshot(&self, queue_depth: usize, queue_capacity: usize) -> HealthSnapshot {
        let status = if self.failing.load(Ordering::Acquire) {
            let last_error =
                self.last_error.load_full().map(|e| e.as_ref().clone()).unwrap_or_default();
            HealthStatus::Failing { last_error }
        } else {
            HealthStatus::Ok
        };
        HealthSnapshot {
            sink: self.sink,
            status,
            queue_depth,
            queue_capacity,
            write_failures: self.write_failures.load(Ordering::Relaxed),
            dropped_rows: self.dropped_rows.load(Ordering::Relaxed),
            rows_written: self.rows_written.load(Ordering::Relaxed),
        }
    }

    /// Records a failed batch; logs only on the transition from ok to failing.
    pub(crate) fn write_failed(&self, error: &str) {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
        self.last_error.store(Some(Arc::new(error.to_owned())));
        if !self.failing.swap(true, Ordering::AcqRel) {
            tracing::error!(
                sink = %self.sink,
                error,
                "audit log is failing to write; durable appends are refused until it recovers"
            );
        }
    }

    /// Records a successful batch; logs only on the transition from failing to ok.
    pub(crate) fn write_succeeded(&self, rows: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
        if self.failing.swap(false, Ordering::AcqRel) {
            tracing::info!(sink = %self.sink, "audit log is writing again");
        }
    }

    /// Counts fire-and-forget rows that will never be written.
    pub(crate) fn rows_dropped(&self, rows: u64) {
        self.dropped_rows.fetch_add(rows, Ordering::Relaxed);
        if !self.drop_reported.swap(true, Ordering::AcqRel) {
            tracing::error!(sink = %self.sink, "audit rows are being dropped");
        }
    }

    /// Called by the writer once its queue is empty again; returns the total dropped so far if
    /// drops were reported since the last call.
    pub(crate) fn drops_settled(&self) -> Option<u64> {
        self.drop_reported
            .swap(false, Ordering::AcqRel)
            .then(|| self.dropped_rows.load(Ordering::Relaxed))
    }
}
