//! The writer thread of one sink: group commit, rotation, retention, and recovery after a
//! failed write.
//!
//! One thread owns each file, so rows need no lock and the sequence cannot fork. The thread
//! takes every row waiting in the queue, stamps and chains them, writes them with one
//! `write_all`, makes them durable with one `fdatasync`, and only then tells each waiter. A row
//! is acknowledged only after the sync that covers it returned, which is what lets the caller
//! promise "on disk" to a client.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use time::{Date, OffsetDateTime, UtcOffset};
use tokio::sync::{mpsc, oneshot};

use crate::archive::{self, archive_dir};
use crate::cell::format_timestamp;
use crate::chain::{self, ChainValue, Link, encode_hex};
use crate::clock::Clock;
use crate::error::AuditError;
use crate::fsutil::{sync_dir, write_atomically};
use crate::health::Health;
use crate::key::ChainKey;
use crate::notice::{Notice, NoticeHandler, OpenReport};
use crate::schema::{LINK_MARKER, Sink};
use crate::segment::{self, Scan, header_line};

/// The most rows written with one sync. Bounds the latency of the first row of a huge batch.
const MAX_BATCH: usize = 1024;

/// Proof that a row is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The row's sequence number in its sink.
    pub seq: u64,
    /// The row's timestamp as written.
    pub timestamp: OffsetDateTime,
}

pub(crate) type Waiter = oneshot::Sender<Result<Receipt, AuditError>>;

/// What the queue carries.
pub(crate) enum Message {
    /// A rendered row (cells between seq and chain) and, for durable appends, its waiter.
    Row { cells: Vec<String>, waiter: Option<Waiter> },
    /// Stop once the rows queued before this are written.
    Close,
}

/// The fixed facts a writer works with.
pub(crate) struct Context {
    pub sink: Sink,
    pub logs_dir: PathBuf,
    pub key: Arc<ChainKey>,
    pub clock: Arc<dyn Clock>,
    pub max_file_bytes: u64,
    pub retention_days: u32,
}

/// The open current file and where its chain stands (after the last synced row).
struct Current {
    file: File,
    size: u64,
    date: Date,
    rows: u64,
    last_seq: u64,
    last_chain: ChainValue,
}

impl Context {
    fn path(&self) -> PathBuf {
        self.logs_dir.join(self.sink.file_name())
    }

    fn now(&self) -> OffsetDateTime {
        let now = self.clock.now();
        now.checked_to_offset(UtcOffset::UTC).unwrap_or(now)
    }

    /// Opens (creating, repairing or linking as needed) the current file, then applies
    /// retention to the archive.
    fn open(&self) -> Result<(Current, OpenReport), AuditError> {
        let path = self.path();
        let archive = archive_dir(&self.logs_dir);
        fs::create_dir_all(&archive).map_err(|e| AuditError::io("create folder", &archive, e))?;

        let now = self.now();
        let mut report = OpenReport::default();
        let scan = segment::scan_and_repair(self.sink, &path)?;
        if let Some(repair) = scan.as_ref().and_then(|s| s.repair.clone()) {
            report.repairs.push(repair);
        }

        let current = match scan {
            Some(Scan { size, first_date: Some(date), last: Some(last), rows, .. }) => Current {
                file: open_append(&path)?,
                size,
                date,
                rows,
                last_seq: last.seq,
                last_chain: last.chain,
            },
            Some(Scan { size, .. }) => {
                // A header without rows: only the link row is missing.
                let link = self.link_to_newest_archive()?;
                let (row, seq, chain) = self.link_row(&link, now);
                let mut file = open_append(&path)?;
                file.write_all(&row).map_err(|e| AuditError::io("write", &path, e))?;
                file.sync_data().map_err(|e| AuditError::io("sync", &path, e))?;
                let size = size + row.len() as u64;
                Current { file, size, date: now.date(), rows: 1, last_seq: seq, last_chain: chain }
            }
            None => {
                let link = self.link_to_newest_archive()?;
                self.create_linked(&link, now)?
            }
        };

        report.deleted =
            archive::apply_retention(&self.logs_dir, self.sink, now.date(), self.retention_days)?;
        Ok((current, report))
    }

    fn link_to_newest_archive(&self) -> Result<Link, AuditError> {
        let archives = archive::list(&self.logs_dir, self.sink)?;
        let Some((name, path)) = archives.last() else {
            return Ok(Link::genesis());
        };
        let tail = segment::archive_tail(self.sink, path)?;
        Ok(Link { prev_file: Some(name.file_name()), prev_seq: tail.seq, prev_chain: tail.chain })
    }

    /// Creates a new current file holding the header and a link row, atomically.
    fn create_linked(&self, link: &Link, now: OffsetDateTime) -> Result<Current, AuditError> {
        let path = self.path();
        let (row, seq, chain) = self.link_row(link, now);
        let mut contents = header_line(self.sink).into_bytes();
        contents.extend_from_slice(&row);
        write_atomically(&path, &contents)?;
        Ok(Current {
            file: open_append(&path)?,
            size: contents.len() as u64,
            date: now.date(),
            rows: 1,
            last_seq: seq,
            last_chain: chain,
        })
    }

    /// The link row that starts a file: marker and detail columns set, the rest empty.
    fn link_row(&self, link: &Link, now: OffsetDateTime) -> (Vec<u8>, u64, ChainValue) {
        let seq = link.prev_seq + 1;
        let (marker, detail) = self.sink.link_columns();
        let mut fields = vec![String::new(); self.sink.header().len() - 1];
        fields[0] = format_timestamp(now);
        fields[1] = seq.to_string();
        LINK_MARKER.clone_into(&mut fields[marker]);
        fields[detail] = link.to_detail();
        let chain = chain::compute(&self.key, self.sink, &link.prev_chain, &fields);
        fields.push(encode_hex(&chain));
        (crate::line::encode(&fields), seq, chain)
    }

    /// A data row: timestamp, seq, the record's cells, chain.
    fn data_row(
        &self,
        cells: &[String],
        seq: u64,
        previous: &ChainValue,
        now: OffsetDateTime,
    ) -> (Vec<u8>, ChainValue) {
        let mut fields = Vec::with_capacity(cells.len() + 3);
        fields.push(format_timestamp(now));
        fields.push(seq.to_string());
        fields.extend(cells.iter().cloned());
        let chain = chain::compute(&self.key, self.sink, previous, &fields);
        fields.push(encode_hex(&chain));
        (crate::line::encode(&fields), chain)
    }
}

fn open_append(path: &std::path::Path) -> Result<File, AuditError> {
    OpenOptions::new().append(true).open(path).map_err(|e| AuditError::io("open", path, e))
}

/// Rows staged for the next write, with where the chain will stand once they are synced.
struct Staged {
    bytes: Vec<u8>,
    rows: Vec<(Option<Waiter>, Receipt)>,
    last_seq: u64,
    last_chain: ChainValue,
}

/// The state the writer thread owns.
pub(crate) struct Writer {
    context: Context,
    /// `None` after a failure: the next batch reopens the file from disk first.
    current: Option<Current>,
    health: Arc<Health>,
    closing: Arc<AtomicBool>,
    on_notice: Option<NoticeHandler>,
}

impl Writer {
    /// Opens the current file of a sink and returns the writer ready to run, with what opening
    /// found.
    pub(crate) fn open(
        context: Context,
        health: Arc<Health>,
        closing: Arc<AtomicBool>,
        on_notice: Option<NoticeHandler>,
    ) -> Result<(Self, OpenReport), AuditError> {
        let (current, report) = context.open()?;
        let writer = Self { context, current: Some(current), health, closing, on_notice };
        Ok((writer, report))
    }

    /// The thread's body: wait for rows, write them in batches, stop on close.
    pub(crate) fn run(mut self, mut queue: mpsc::Receiver<Message>) {
        let mut batch = Vec::with_capacity(64);
        while let Some(first) = queue.blocking_recv() {
            let mut close = false;
            let mut next = Some(first);
            while let Some(message) = next {
                match message {
                    Message::Row { cells, waiter } => batch.push((cells, waiter)),
                    Message::Close => close = true,
                }
                next = if batch.len() < MAX_BATCH { queue.try_recv().ok() } else { None };
            }

            self.write_batch(&mut batch);

            if queue.is_empty()
                && let Some(total) = self.health.drops_settled()
            {
                self.notify(Notice::RowsDropped { sink: self.context.sink, total });
            }
            if close || (self.closing.load(Ordering::Acquire) && queue.is_empty()) {
                break;
            }
        }
        // Rows still queued after a close get their waiters dropped, which callers see as
        // `AuditError::Closed`.
    }

    fn notify(&self, notice: Notice) {
        if let Some(handler) = &self.on_notice {
            handler(notice);
        }
    }

    fn write_batch(&mut self, batch: &mut Vec<(Vec<String>, Option<Waiter>)>) {
        // 1. After a failure, start again from what the disk holds.
        if self.current.is_none()
            && let Err(error) = self.reopen()
        {
            self.health.write_failed(&error.to_string());
            self.fail(batch.drain(..).map(|(_, waiter)| waiter), &error.to_string());
            return;
        }

        let mut staged = self.start_staging();
        let mut rows = batch.drain(..);
        while let Some((cells, waiter)) = rows.next() {
            let now = self.context.now();

            // 2. A new UTC day, or a full file, closes the current file first.
            let rotation = self.current.as_ref().and_then(|current| {
                let size = current.size + staged.bytes.len() as u64;
                if now.date() > current.date {
                    Some(Rotation::Daily)
                } else if size >= self.context.max_file_bytes
                    && current.rows + staged.rows.len() as u64 > 1
                {
                    Some(Rotation::Size)
                } else {
                    None
                }
            });
            if let Some(rotation) = rotation {
                let committed = self.commit(std::mem::replace(&mut staged, self.start_staging()));
                let rotated = committed.and_then(|()| self.rotate(rotation, now));
                if let Err(reason) = rotated {
                    let waiters = std::iter::once(waiter).chain(rows.map(|(_, waiter)| waiter));
                    self.fail(waiters, &reason);
                    return;
                }
                staged = self.start_staging();
            }

            // 3. Stamp, number and chain the row.
            let seq = staged.last_seq + 1;
            let (line, chain) = self.context.data_row(&cells, seq, &staged.last_chain, now);
            staged.bytes.extend_from_slice(&line);
            staged.rows.push((waiter, Receipt { seq, timestamp: now }));
            staged.last_seq = seq;
            staged.last_chain = chain;
        }

        // 4. One write, one sync, then every waiter hears.
        // The error was already reported to the waiters and the health.
        let _ = self.commit(staged);
    }

    fn start_staging(&self) -> Staged {
        let (last_seq, last_chain) =
            self.current.as_ref().map_or((0, chain::GENESIS), |c| (c.last_seq, c.last_chain));
        Staged { bytes: Vec::new(), rows: Vec::new(), last_seq, last_chain }
    }

    /// Writes and syncs staged rows, then completes their waiters. On failure the rows are
    /// reported failed, the file is cut back to its last synced length where possible, and the
    /// writer will reopen the file before the next batch.
    fn commit(&mut self, staged: Staged) -> Result<(), String> {
        if staged.rows.is_empty() {
            return Ok(());
        }
        let path = self.context.path();
        let Some(current) = self.current.as_mut() else {
            let reason = format!("{} is not open", path.display());
            self.fail(staged.rows.into_iter().map(|(waiter, _)| waiter), &reason);
            return Err(reason);
        };

        let written = current
            .file
            .write_all(&staged.bytes)
            .map_err(|e| format!("write {}: {e}", path.display()))
            .and_then(|()| {
                current.file.sync_data().map_err(|e| format!("sync {}: {e}", path.display()))
            });

        match written {
            Ok(()) => {
                current.size += staged.bytes.len() as u64;
                current.rows += staged.rows.len() as u64;
                current.last_seq = staged.last_seq;
                current.last_chain = staged.last_chain;
                self.health.write_succeeded(staged.rows.len() as u64);
                for (waiter, receipt) in staged.rows {
                    if let Some(waiter) = waiter {
                        // A waiter that stopped listening no longer needs the answer.
                        let _ = waiter.send(Ok(receipt));
                    }
                }
                Ok(())
            }
            Err(reason) => {
                // Best effort: take a partial write back out. If this fails too, reopening
                // will cut the torn line.
                let _ = current.file.set_len(current.size);
                self.current = None;
                self.health.write_failed(&reason);
                self.fail(staged.rows.into_iter().map(|(waiter, _)| waiter), &reason);
                Err(reason)
            }
        }
    }

    /// Tells each waiter its row failed, and counts fire-and-forget rows as dropped.
    fn fail(&self, waiters: impl Iterator<Item = Option<Waiter>>, reason: &str) {
        let mut dropped = 0;
        for waiter in waiters {
            match waiter {
                Some(waiter) => {
                    let error =
                        AuditError::WriteFailed { sink: self.context.sink, reason: reason.into() };
                    let _ = waiter.send(Err(error));
                }
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            self.health.rows_dropped(dropped);
        }
    }

    /// Reopens the current file after a failure, as on start: repair, link, retention.
    fn reopen(&mut self) -> Result<(), AuditError> {
        let (current, report) = self.context.open()?;
        self.current = Some(current);
        for repair in report.repairs {
            self.notify(Notice::Repaired(repair));
        }
        for deleted in report.deleted {
            self.notify(Notice::ArchiveDeleted(deleted));
        }
        Ok(())
    }

    /// Moves the (synced) current file into the archive and starts a new one linked to it.
    fn rotate(&mut self, rotation: Rotation, now: OffsetDateTime) -> Result<(), String> {
        let result = self.try_rotate(rotation, now);
        if let Err(error) = &result {
            self.health.write_failed(&error.to_string());
        }
        result.map_err(|e| e.to_string())
    }

    fn try_rotate(&mut self, rotation: Rotation, now: OffsetDateTime) -> Result<(), AuditError> {
        let sink = self.context.sink;
        let logs_dir = self.context.logs_dir.clone();
        // Whatever happens next, the old handle must not be written to again.
        let Some(old) = self.current.take() else {
            return Err(AuditError::Closed { sink });
        };
        drop(old.file);

        let name = archive::next_name(&logs_dir, sink, old.date)?;
        let archive = archive_dir(&logs_dir);
        let target = archive.join(name.file_name());
        let path = self.context.path();
        fs::rename(&path, &target).map_err(|e| AuditError::io("archive", &path, e))?;
        sync_dir(&archive)?;
        sync_dir(&logs_dir)?;
        tracing::info!(sink = %sink, archive = %target.display(), ?rotation, "rotated audit log");

        let link = Link {
            prev_file: Some(name.file_name()),
            prev_seq: old.last_seq,
            prev_chain: old.last_chain,
        };
        self.current = Some(self.context.create_linked(&link, now)?);

        // Retention failing must not fail the rows waiting behind the rotation: the archives
        // stay (longer than needed) and the operator hears about it.
        if rotation == Rotation::Daily {
            let retention_days = self.context.retention_days;
            match archive::apply_retention(&logs_dir, sink, now.date(), retention_days) {
                Ok(deleted) => {
                    for deleted in deleted {
                        self.notify(Notice::ArchiveDeleted(deleted));
                    }
                }
                Err(error) => {
                    tracing::error!(sink = %sink, %error, "could not apply audit log retention");
                }
            }
        }
        Ok(())
    }
}

/// Why a file rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rotation {
    /// The UTC day changed.
    Daily,
    /// The file reached its maximum size.
    Size,
}
