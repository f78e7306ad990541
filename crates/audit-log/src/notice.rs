//! What the writer did on its own that someone should hear about: repairs, deletions, drops.

use std::path::PathBuf;
use std::sync::Arc;

use time::Date;

use crate::schema::Sink;

/// A torn last line cut from a file on open (crash damage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The sink.
    pub sink: Sink,
    /// The file that was repaired.
    pub file: PathBuf,
    /// The 1-based line number of the line that was cut.
    pub line: u64,
    /// How many bytes were cut.
    pub bytes_cut: u64,
    /// Why the line counted as torn.
    pub reason: &'static str,
}

/// An archive deleted because it was older than its sink's retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedArchive {
    /// The sink.
    pub sink: Sink,
    /// The file that was deleted.
    pub file: PathBuf,
    /// The day of its rows.
    pub date: Date,
}

/// Something a writer did that belongs in another log (see [`crate::AuditLogs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A torn line was cut.
    Repaired(Repair),
    /// An archive was deleted by retention.
    ArchiveDeleted(DeletedArchive),
    /// Fire-and-forget rows were dropped; `total` counts all drops since open.
    RowsDropped {
        /// The sink that dropped them.
        sink: Sink,
        /// Drops since open.
        total: u64,
    },
}

/// Receives notices from a writer thread. It runs on that thread, so it must not block.
pub type NoticeHandler = Arc<dyn Fn(Notice) + Send + Sync>;

/// What opening a sink (or all four) found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Torn lines cut.
    pub repairs: Vec<Repair>,
    /// Archives deleted by retention.
    pub deleted: Vec<DeletedArchive>,
}

impl OpenReport {
    pub(crate) fn extend(&mut self, other: OpenReport) {
        self.repairs.extend(other.repairs);
        self.deleted.extend(other.deleted);
    }
}
