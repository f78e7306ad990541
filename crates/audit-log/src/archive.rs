//! Archived files: their names, their order, and retention.
//!
//! A current file moves to `archive/<sink>-<YYYY-MM-DD>-<NNN>.csv` when it rotates, the date
//! being the UTC day of its rows and the counter telling apart the files of one day that
//! rotated by size. Archives sort by (date, counter), which is the order they were written.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::error::AuditError;
use crate::notice::DeletedArchive;
use crate::schema::Sink;

/// The archive folder's name inside the logs folder.
pub const ARCHIVE_DIR: &str = "archive";

const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The name of an archived file, split into its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveName {
    /// The UTC day the file's rows were written.
    pub date: Date,
    /// 1 for the day's first file, then 2, 3, ... for files rotated by size.
    pub counter: u32,
    /// The sink.
    pub sink: Sink,
}

impl ArchiveName {
    /// The file name, e.g. `orders-2026-12-03-001.csv`.
    #[must_use]
    pub fn file_name(&self) -> String {
        let date = self.date.format(DATE).unwrap_or_default();
        format!("{}-{date}-{:03}.csv", self.sink.name(), self.counter)
    }

    /// Parses a file name of `sink`'s archive; `None` for anything else.
    #[must_use]
    pub fn parse(sink: Sink, file_name: &str) -> Option<Self> {
        let rest = file_name.strip_prefix(sink.name())?.strip_prefix('-')?;
        let rest = rest.strip_suffix(".csv")?;
        let (date, counter) = rest.split_at_checked(10)?;
        let counter = counter.strip_prefix('-')?;
        if counter.len() < 3 || !counter.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let date = Date::parse(date, DATE).ok()?;
        Some(Self { date, counter: counter.parse().ok()?, sink })
    }
}

/// The archive folder of a logs folder.
#[must_use]
pub fn archive_dir(logs_dir: &Path) -> PathBuf {
    logs_dir.join(ARCHIVE_DIR)
}

/// The archived files of `sink`, oldest first. Files whose names do not follow the pattern
/// are not the writer's and are left out.
pub fn list(logs_dir: &Path, sink: Sink) -> Result<Vec<(ArchiveName, PathBuf)>, AuditError> {
    let dir = archive_dir(logs_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io("list", dir, e)),
    };

    let mut archives = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io("list", &dir, e))?;
        let file_name = entry.file_name();
        if let Some(name) = file_name.to_str().and_then(|n| ArchiveName::parse(sink, n)) {
            archives.push((name, entry.path()));
        }
    }
    archives.sort();
    Ok(archives)
}

/// The name the current file of `sink` takes when it rotates away on `date`.
pub(crate) fn next_name(
    logs_dir: &Path,
    sink: Sink,
    date: Date,
) -> Result<ArchiveName, AuditError> {
    let taken = list(logs_dir, sink)?
        .iter()
        .filter(|(name, _)| name.date == date)
        .map(|(name, _)| name.counter)
        .max()
        .unwrap_or(0);
    Ok(ArchiveName { date, counter: taken + 1, sink })
}

/// The oldest day whose archives are still kept: archives dated before it may be deleted.
#[must_use]
pub fn horizon(today: Date, retention_days: u32) -> Date {
    today.checked_sub(time::Duration::days(i64::from(retention_days))).unwrap_or(Date::MIN)
}

/// Deletes the archives of `sink` dated before the retention horizon, oldest first, and says
/// which ones went.
pub(crate) fn apply_retention(
    logs_dir: &Path,
    sink: Sink,
    today: Date,
    retention_days: u32,
) -> Result<Vec<DeletedArchive>, AuditError> {
    let oldest_kept = horizon(today, retention_days);
    let mut deleted = Vec::new();
    for (name, path) in list(logs_dir, sink)? {
        if name.date >= oldest_kept {
            break;
        }
        fs::remove_file(&path).map_err(|e| AuditError::io("delete", &path, e))?;
        tracing::info!(file = %path.display(), "deleted audit archive past retention");
        deleted.push(DeletedArchive { sink, file: path, date: name.date });
    }
    if !deleted.is_empty() {
        crate::fsutil::sync_dir(&archive_dir(logs_dir))?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn names_round_trip_and_sort() {
        let name = ArchiveName { date: date!(2026 - 12 - 03), counter: 1, sink: Sink::Orders };
        assert_eq!(name.file_name(), "orders-2026-12-03-001.csv");
        assert_eq!(ArchiveName::parse(Sink::Orders, "orders-2026-12-03-001.csv"), Some(name));
        assert_eq!(ArchiveName::parse(Sink::Deals, "orders-2026-12-03-001.csv"), None);
        assert_eq!(ArchiveName::parse(Sink::Orders, "orders-2026-12-03-1.csv"), None);
        assert_eq!(ArchiveName::parse(Sink::Orders, "orders-2026-13-03-001.csv"), None);
        let later = ArchiveName { counter: 1000, ..name };
        assert_eq!(ArchiveName::parse(Sink::Orders, &later.file_name()), Some(later));
        assert!(name < later);
    }
}
