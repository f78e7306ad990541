//! Reading a log file's structure: its header, its last whole row, and a torn tail to cut.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;

use time::{Date, OffsetDateTime};

use crate::cell::parse_timestamp;
use crate::chain::{ChainValue, parse_chain};
use crate::error::AuditError;
use crate::line::count_newlines;
use crate::notice::Repair;
use crate::schema::Sink;

/// The header line of a sink, with its newline.
pub(crate) fn header_line(sink: Sink) -> String {
    let mut line = sink.header().join(",");
    line.push('\n');
    line
}

/// What the writer needs from a row to continue the chain after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowTail {
    pub seq: u64,
    pub chain: ChainValue,
    pub timestamp: OffsetDateTime,
}

/// Parses the writer-owned cells of a row: field count, timestamp, seq and chain.
pub(crate) fn parse_row_tail(sink: Sink, line: &[u8]) -> Result<RowTail, &'static str> {
    let fields = crate::line::parse(line).ok_or("not a csv row")?;
    if fields.len() != sink.header().len() {
        return Err("wrong field count");
    }
    let timestamp = parse_timestamp(&fields[0]).ok_or("bad timestamp")?;
    let seq = fields[1].parse().map_err(|_| "bad sequence number")?;
    let chain = fields.last().and_then(|c| parse_chain(c)).ok_or("bad chain")?;
    Ok(RowTail { seq, chain, timestamp })
}

/// The state of a current file after [`scan_and_repair`].
#[derive(Debug)]
pub(crate) struct Scan {
    /// File length after any repair.
    pub size: u64,
    /// The UTC day of the first row, `None` if the file holds only its header.
    pub first_date: Option<Date>,
    /// The last whole row, `None` if the file holds only its header.
    pub last: Option<RowTail>,
    /// Rows after the header.
    pub rows: u64,
    /// The torn line that was cut, if any.
    pub repair: Option<Repair>,
}

/// Reads the current file of `sink`, cuts a torn last line, and says where the chain stands.
/// Returns `None` when the file does not exist or is empty.
pub(crate) fn scan_and_repair(sink: Sink, path: &Path) -> Result<Option<Scan>, AuditError> {
    let bytes = match fs::read(path) {
        Ok(bytes) if bytes.is_empty() => return Ok(None),
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io("read", path, e)),
    };
    let header = header_line(sink);
    if !bytes.starts_with(header.as_bytes()) {
        return Err(AuditError::BadHeader { sink, path: path.into() });
    }

    // 1. Anything after the last newline is a write the crash interrupted.
    let whole_end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut keep = bytes.len();
    let mut repair = None;
    let line_of = |offset: usize| 1 + count_newlines(&bytes[..offset]);
    if whole_end < bytes.len() {
        keep = whole_end;
        repair = Some((line_of(whole_end), "no trailing newline"));
    }

    // 2. The last whole line must be a whole row; if it is not and nothing was cut yet, it is
    //    the torn one. A second bad line is not crash damage.
    let mut last = None;
    while keep > header.len() {
        let start = bytes[..keep - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        match parse_row_tail(sink, &bytes[start..keep]) {
            Ok(tail) => {
                last = Some(tail);
                break;
            }
            Err(reason) if repair.is_none() => {
                repair = Some((line_of(start), reason));
                keep = start;
            }
            Err(reason) => {
                return Err(AuditError::DamagedFile {
                    path: path.into(),
                    line: line_of(start) as u64,
                    reason: reason.to_owned(),
                });
            }
        }
    }

    // 3. The first row's day is the file's day, which decides daily rotation.
    let body = &bytes[header.len()..keep];
    let first_date = match body.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let first = parse_row_tail(sink, &body[..=end]).map_err(|reason| {
                AuditError::DamagedFile { path: path.into(), line: 2, reason: reason.to_owned() }
            })?;
            Some(first.timestamp.date())
        }
        None => None,
    };
    let rows = count_newlines(body) as u64;

    let repair = match repair {
        Some((line, reason)) => {
            cut(path, keep as u64)?;
            let bytes_cut = (bytes.len() - keep) as u64;
            tracing::warn!(file = %path.display(), line, bytes_cut, reason, "cut torn audit row");
            Some(Repair { sink, file: path.into(), line: line as u64, bytes_cut, reason })
        }
        None => None,
    };
    Ok(Some(Scan { size: keep as u64, first_date, last, rows, repair }))
}

fn cut(path: &Path, len: u64) -> Result<(), AuditError> {
    let file =
        OpenOptions::new().write(true).open(path).map_err(|e| AuditError::io("open", path, e))?;
    file.set_len(len).map_err(|e| AuditError::io("truncate", path, e))?;
    file.sync_all().map_err(|e| AuditError::io("sync", path, e))
}

/// The last row of an archived file, to link a new current file to it.
pub(crate) fn archive_tail(sink: Sink, path: &Path) -> Result<RowTail, AuditError> {
    let bytes = fs::read(path).map_err(|e| AuditError::io("read", path, e))?;
    let damaged = |line: usize, reason: &str| AuditError::DamagedFile {
        path: path.into(),
        line: line as u64,
        reason: reason.to_owned(),
    };
    if !bytes.ends_with(b"\n") {
        return Err(damaged(1 + count_newlines(&bytes), "no trailing newline"));
    }
    let start = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + count_newlines(&bytes[..start]);
    if start == 0 {
        return Err(damaged(line, "no rows"));
    }
    parse_row_tail(sink, &bytes[start..]).map_err(|reason| damaged(line, reason))
}
