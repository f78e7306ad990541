//! Verification: walks each sink's archives, oldest first, then its current file, and reports
//! the first place the chain breaks.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use time::{Date, OffsetDateTime};

use crate::archive::{self, ArchiveName};
use crate::cell::parse_timestamp;
use crate::chain::{self, ChainValue, GENESIS, Link, parse_chain};
use crate::config::MIN_TRADE_RETENTION_DAYS;
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::schema::{LINK_MARKER, Sink};

/// What verification needs to know besides the files: the retention that explains missing
/// old archives, and today's date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Days security and error archives are kept.
    pub retention_days: u32,
    /// Days order and deal archives are kept.
    pub trade_retention_days: u32,
    /// The UTC day the retention horizon is measured from.
    pub today: Date,
}

impl VerifyOptions {
    /// The default retention (90 and 2555 days), measured from today.
    #[must_use]
    pub fn new() -> Self {
        Self {
            retention_days: 90,
            trade_retention_days: MIN_TRADE_RETENTION_DAYS,
            today: OffsetDateTime::now_utc().date(),
        }
    }

    fn retention_for(&self, sink: Sink) -> u32 {
        if sink.is_trading_record() { self.trade_retention_days } else { self.retention_days }
    }
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The kind of a break in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// The first line is not the sink's header.
    BadHeader,
    /// A line is not a row of this sink: wrong field count, bad timestamp, sequence number or
    /// chain, invalid UTF-8, or a last line without its newline.
    MalformedRow,
    /// A file does not start with a link row.
    MissingLink,
    /// A file's link row names a predecessor other than the file before it: a file was
    /// removed from the middle of the archive, moved, or copied in from elsewhere.
    BadLink,
    /// The oldest file links to a predecessor that is gone although retention would still
    /// keep it.
    MissingPredecessor,
    /// The sequence number skips ahead: rows were deleted or moved.
    SequenceGap,
    /// The sequence number repeats or goes back: a row was inserted, duplicated or moved.
    SequenceBack,
    /// The row's chain does not match its cells and the previous chain: a cell was edited or
    /// the row was forged or copied from elsewhere.
    ChainMismatch,
}

/// The first place a sink's chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line number (the header is line 1).
    pub line: u64,
    /// The kind of break.
    pub kind: BreakKind,
    /// What is wrong, for the operator.
    pub reason: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.file.display(), self.line, self.reason)
    }
}

/// The outcome of verifying one sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkReport {
    /// The sink.
    pub sink: Sink,
    /// Files read (archives and current).
    pub files: usize,
    /// Rows that verified before the first break (or in all, without one).
    pub rows: u64,
    /// The first break, if any.
    pub first_break: Option<Break>,
}

/// The outcome of verifying a logs folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// One report per sink, in [`Sink::ALL`] order.
    pub sinks: Vec<SinkReport>,
}

impl VerifyReport {
    /// True when no sink has a break.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.sinks.iter().all(|s| s.first_break.is_none())
    }

    /// The first break of the first broken sink.
    #[must_use]
    pub fn first_break(&self) -> Option<&Break> {
        self.sinks.iter().find_map(|s| s.first_break.as_ref())
    }
}

/// Verifies every sink in `logs_dir` with the default retention, measured from today.
///
/// An `Err` means the files could not be read; a break in the chain is an `Ok` report whose
/// [`VerifyReport::is_ok`] is false.
pub fn verify_dir(logs_dir: &Path, key: &ChainKey) -> Result<VerifyReport, AuditError> {
    verify_dir_with(logs_dir, key, &VerifyOptions::new())
}

/// Verifies every sink in `logs_dir`.
///
/// A file being appended to while it is read may end in half a row; verify a quiet folder, or
/// expect that row to be reported as malformed.
pub fn verify_dir_with(
    logs_dir: &Path,
    key: &ChainKey,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let mut sinks = Vec::with_capacity(Sink::ALL.len());
    for sink in Sink::ALL {
        sinks.push(verify_sink(logs_dir, key, sink, options)?);
    }
    Ok(VerifyReport { sinks })
}

/// The end of the chain so far: which file it was, its last seq and chain.
struct ChainEnd {
    file: String,
    seq: u64,
    chain: ChainValue,
}

fn verify_sink(
    logs_dir: &Path,
    key: &ChainKey,
    sink: Sink,
    options: &VerifyOptions,
) -> Result<SinkReport, AuditError> {
    let mut files: Vec<(String, PathBuf)> = archive::list(logs_dir, sink)?
        .into_iter()
        .map(|(name, path)| (name.file_name(), path))
        .collect();
    let current = logs_dir.join(sink.file_name());
    if current.exists() {
        files.push((sink.file_name().to_owned(), current));
    }

    let mut report = SinkReport { sink, files: 0, rows: 0, first_break: None };
    let mut end: Option<ChainEnd> = None;
    for (name, path) in files {
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(AuditError::io("read", &path, e)),
        };
        report.files += 1;
        let mut file = FileCheck { key, sink, options, path: &path, rows: 0 };
        let outcome = file.check(&bytes, end.as_ref());
        report.rows += file.rows;
        match outcome {
            Ok((seq, chain)) => end = Some(ChainEnd { file: name, seq, chain }),
            Err(broken) => {
                report.first_break = Some(broken);
                break;
            }
        }
    }
    Ok(report)
}

/// The check of one file.
struct FileCheck<'a> {
    key: &'a ChainKey,
    sink: Sink,
    options: &'a VerifyOptions,
    path: &'a Path,
    rows: u64,
}

impl FileCheck<'_> {
    fn broken(&self, line: u64, kind: BreakKind, reason: impl Into<String>) -> Break {
        Break { file: self.path.into(), line, kind, reason: reason.into() }
    }

    /// Checks the file and returns where its chain ends.
    fn check(
        &mut self,
        bytes: &[u8],
        before: Option<&ChainEnd>,
    ) -> Result<(u64, ChainValue), Break> {
        let header = self.sink.header();
        let width = header.len();
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut records = reader.records();

        // 1. The header.
        let header_ok = matches!(records.next(), Some(Ok(ref first)) if first.iter().eq(header.iter().copied()));
        if !header_ok {
            return Err(self.broken(
                1,
                BreakKind::BadHeader,
                format!("first line is not the {} header", self.sink),
            ));
        }

        // 2. The rows, the first of which must link to the file before.
        let mut previous: Option<(u64, ChainValue)> = None;
        for record in records {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, csv::Position::line);
                self.broken(line, BreakKind::MalformedRow, "not valid utf-8 csv")
            })?;
            let line = record.position().map_or(0, csv::Position::line);
            let fields: Vec<&str> = record.iter().collect();
            if fields.len() != width {
                let reason = format!("has {} fields, expected {width}", fields.len());
                return Err(self.broken(line, BreakKind::MalformedRow, reason));
            }
            let (seq, chain) = self.parse_row(&fields, line)?;
            let cells = &fields[..width - 1];

            let expected_previous = match previous {
                None => self.check_link(cells, seq, line, before)?,
                Some((last_seq, last_chain)) => {
                    if seq > last_seq + 1 {
                        let reason = format!(
                            "sequence jumps from {last_seq} to {seq}: rows missing or out of order"
                        );
                        return Err(self.broken(line, BreakKind::SequenceGap, reason));
                    }
                    if seq <= last_seq {
                        let reason = format!(
                            "sequence goes from {last_seq} back to {seq}: row inserted, repeated or out of order"
                        );
                        return Err(self.broken(line, BreakKind::SequenceBack, reason));
                    }
                    last_chain
                }
            };
            if chain::compute(self.key, self.sink, &expected_previous, cells) != chain {
                let reason = "row does not match its chain: a cell was edited or the row was forged or copied";
                return Err(self.broken(line, BreakKind::ChainMismatch, reason));
            }
            self.rows += 1;
            previous = Some((seq, chain));
        }

        // 3. A whole file ends with a newline; anything else is a torn or appended-to tail.
        if !bytes.ends_with(b"\n") {
            let line = 1 + crate::line::count_newlines(bytes) as u64;
            return Err(self.broken(
                line,
                BreakKind::MalformedRow,
                "last line has no newline (torn write)",
            ));
        }
        previous
            .ok_or_else(|| self.broken(2, BreakKind::MissingLink, "file has a header but no rows"))
    }

    fn parse_row(&self, fields: &[&str], line: u64) -> Result<(u64, ChainValue), Break> {
        if parse_timestamp(fields[0]).is_none() {
            return Err(self.broken(line, BreakKind::MalformedRow, "bad timestamp"));
        }
        let seq = fields[1]
            .parse()
            .map_err(|_| self.broken(line, BreakKind::MalformedRow, "bad sequence number"))?;
        let chain = fields
            .last()
            .and_then(|c| parse_chain(c))
            .ok_or_else(|| self.broken(line, BreakKind::MalformedRow, "bad chain"))?;
        Ok((seq, chain))
    }

    /// Checks a file's first row as a link row and returns the chain its HMAC starts from.
    fn check_link(
        &self,
        cells: &[&str],
        seq: u64,
        at: u64,
        before: Option<&ChainEnd>,
    ) -> Result<ChainValue, Break> {
        let (marker, detail) = self.sink.link_columns();
        let parsed = (cells[marker] == LINK_MARKER).then(|| Link::parse_detail(cells[detail]));
        let Some(link) = parsed.flatten() else {
            return Err(self.broken(at, BreakKind::MissingLink, "first row is not a link row"));
        };
        if seq != link.prev_seq + 1 {
            let reason = format!("link row has sequence {seq} after {}", link.prev_seq);
            return Err(self.broken(at, BreakKind::SequenceGap, reason));
        }

        match (before, &link.prev_file) {
            (Some(end), Some(prev_file)) if *prev_file == end.file => {
                if link.prev_seq != end.seq || link.prev_chain != end.chain {
                    let reason = format!("link does not match the last row of {}", end.file);
                    return Err(self.broken(at, BreakKind::BadLink, reason));
                }
            }
            (Some(end), named) => {
                let named = named.as_deref().unwrap_or("nothing");
                let reason = format!(
                    "links to {named} but follows {}: a file is missing, moved or copied in",
                    end.file
                );
                return Err(self.broken(at, BreakKind::BadLink, reason));
            }
            (None, None) => {
                if link.prev_seq != 0 || link.prev_chain != GENESIS {
                    let reason = "first file's link row does not start the chain";
                    return Err(self.broken(at, BreakKind::BadLink, reason));
                }
            }
            (None, Some(prev_file)) => self.check_expired(prev_file, at)?,
        }
        Ok(link.prev_chain)
    }

    /// The oldest file's predecessor may be missing only if retention has had the right to
    /// delete it.
    fn check_expired(&self, prev_file: &str, line: u64) -> Result<(), Break> {
        let Some(name) = ArchiveName::parse(self.sink, prev_file) else {
            let reason = format!("links to {prev_file}, which is not an archive of {}", self.sink);
            return Err(self.broken(line, BreakKind::BadLink, reason));
        };
        let days = self.options.retention_for(self.sink);
        let oldest_kept = archive::horizon(self.options.today, days);
        if name.date >= oldest_kept {
            let reason = format!(
                "links to {prev_file}, which is missing although the {days}-day retention keeps it"
            );
            return Err(self.broken(line, BreakKind::MissingPredecessor, reason));
        }
        Ok(())
    }
}
