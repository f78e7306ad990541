//! The handle callers append through: durable appends, fire-and-forget rows, health, close.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::oneshot;

use crate::config::AuditConfig;
use crate::error::AuditError;
use crate::health::{Health, HealthSnapshot};
use crate::key::ChainKey;
use crate::line::render_cells;
use crate::notice::{NoticeHandler, OpenReport};
use crate::schema::{Record, Sink};
use crate::writer::{Context, Message, Receipt, Writer};

/// What every handle of one sink shares.
struct Shared {
    sink: Sink,
    queue: mpsc::Sender<Message>,
    health: Arc<Health>,
    closing: Arc<AtomicBool>,
    deadline: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// One audit file and its writer thread. Cheap to clone; every clone appends to the same file.
///
/// The writer thread stops when [`AuditSink::close`] is called or the last handle is dropped,
/// after writing every row queued before that.
pub struct AuditSink<R> {
    shared: Arc<Shared>,
    record: PhantomData<fn(R)>,
}

impl<R> Clone for AuditSink<R> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared), record: PhantomData }
    }
}

impl<R> fmt::Debug for AuditSink<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSink").field("sink", &self.shared.sink).finish_non_exhaustive()
    }
}

impl<R: Record> AuditSink<R> {
    /// Opens the current file of `R::SINK` in `config.logs_dir` (creating, repairing and
    /// linking it as needed), applies retention, and starts its writer thread.
    ///
    /// Notices the writer produces later (repairs after a failure, retention deletions on
    /// daily rotation, drops) go to `on_notice`; those found while opening are returned in the
    /// report instead and are not passed to `on_notice`.
    pub fn open(
        config: &AuditConfig,
        key: Arc<ChainKey>,
        on_notice: Option<NoticeHandler>,
    ) -> Result<(Self, OpenReport), AuditError> {
        config.validate()?;
        let sink = R::SINK;
        let health = Health::new(sink);
        let closing = Arc::new(AtomicBool::new(false));
        let context = Context {
            sink,
            logs_dir: config.logs_dir.clone(),
            key,
            clock: Arc::clone(&config.clock),
            max_file_bytes: config.max_file_bytes,
            retention_days: config.retention_for(sink),
        };
        let (writer, report) =
            Writer::open(context, Arc::clone(&health), Arc::clone(&closing), on_notice)?;

        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let thread = std::thread::Builder::new()
            .name(format!("audit-{}", sink.name()))
            .spawn(move || writer.run(receiver))
            .map_err(|source| AuditError::Spawn { sink, source })?;

        let shared = Shared {
            sink,
            queue,
            health,
            closing,
            deadline: config.queue_deadline,
            thread: Mutex::new(Some(thread)),
        };
        Ok((Self { shared: Arc::new(shared), record: PhantomData }, report))
    }

    /// Queues a row and returns a future that resolves once the row is written and synced to
    /// disk, or with the reason it is not.
    ///
    /// The row is queued (or the wait for room starts) when this is called, not when the
    /// future is first polled, so rows keep the order of the calls. If the queue stays full
    /// past the configured deadline the future resolves to [`AuditError::QueueFull`]; waiting
    /// for room needs a Tokio runtime with its timer enabled.
    pub fn append_durable(
        &self,
        record: R,
    ) -> impl Future<Output = Result<Receipt, AuditError>> + Send + 'static {
        let sink = self.shared.sink;
        let (waiter, answer) = oneshot::channel();
        let message =
            Message::Row { cells: render_cells(&record.into_cells()), waiter: Some(waiter) };

        let queued = if self.shared.closing.load(Ordering::Acquire) {
            Err(TrySendError::Closed(message))
        } else {
            self.shared.queue.try_send(message)
        };
        let pending = match queued {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(message)) => Ok(Some((self.shared.queue.clone(), message))),
            Err(TrySendError::Closed(_)) => Err(AuditError::Closed { sink }),
        };
        let deadline = self.shared.deadline;

        async move {
            if let Some((queue, message)) = pending? {
                match tokio::time::timeout(deadline, queue.send(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(AuditError::Closed { sink }),
                    Err(_) => return Err(AuditError::QueueFull { sink, waited: deadline }),
                }
            }
            answer.await.map_err(|_| AuditError::Closed { sink })?
        }
    }

    /// Queues a row without waiting for anything. If the queue is full or the sink closed, the
    /// row is counted as dropped (see [`HealthSnapshot::dropped_rows`]) and logged once; the
    /// caller is never blocked. Returns whether the row was queued.
    #[allow(clippy::must_use_candidate, reason = "callers may ignore the answer by design")]
    pub fn record(&self, record: R) -> bool {
        let message = Message::Row { cells: render_cells(&record.into_cells()), waiter: None };
        let queued = !self.shared.closing.load(Ordering::Acquire)
            && self.shared.queue.try_send(message).is_ok();
        if !queued {
            self.shared.health.rows_dropped(1);
        }
        queued
    }
}

impl<R> AuditSink<R> {
    /// The sink this handle writes to.
    #[must_use]
    pub fn sink(&self) -> Sink {
        self.shared.sink
    }

    /// The sink's health, read without locks.
    #[must_use]
    pub fn health(&self) -> HealthSnapshot {
        let capacity = self.shared.queue.max_capacity();
        let depth = capacity - self.shared.queue.capacity();
        self.shared.health.snapshot(depth, capacity)
    }

    /// Stops accepting rows, lets the writer write every row already queued, and waits for its
    /// thread to end. Blocks: from async code, call it through `spawn_blocking`. Later appends
    /// fail with [`AuditError::Closed`]. Calling it twice is harmless.
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        // If the queue is full the writer sees the flag once it has drained the queue.
        let _ = self.shared.queue.try_send(Message::Close);
        let thread = self.shared.thread.lock().take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!(sink = %self.shared.sink, "audit writer thread panicked");
        }
    }

    pub(crate) fn downgrade(&self) -> WeakSink<R> {
        WeakSink { shared: Arc::downgrade(&self.shared), record: PhantomData }
    }
}

/// A handle that does not keep the writer alive; used where a writer reports to another sink
/// (or to itself) so that no cycle of handles outlives the caller's.
pub(crate) struct WeakSink<R> {
    shared: Weak<Shared>,
    record: PhantomData<fn(R)>,
}

impl<R> WeakSink<R> {
    pub(crate) fn upgrade(&self) -> Option<AuditSink<R>> {
        self.shared.upgrade().map(|shared| AuditSink { shared, record: PhantomData })
    }
}

impl<R> fmt::Debug for WeakSink<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakSink(..)")
    }
}
