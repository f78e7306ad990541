//! Reading back what the server needs: the newest security events, and the deal tickets
//! already recorded.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::archive;
use crate::cell::parse_timestamp;
use crate::error::AuditError;
use crate::schema::{LINK_MARKER, Sink};

/// The most rows [`newest_security_events`] returns, whatever the caller asks for.
pub const MAX_SECURITY_EVENTS: usize = 10_000;

/// A row of `security.csv` as written (so already sanitized).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityRecord {
    /// When the row was written.
    pub timestamp: OffsetDateTime,
    /// Its sequence number.
    pub seq: u64,
    /// The event name (`auth_failure`, ...).
    pub event: String,
    /// The client address, if recorded.
    pub client_ip: Option<String>,
    /// The key id, if recorded.
    pub key_id: Option<String>,
    /// The detail text.
    pub detail: String,
}

/// The newest `limit` security events, newest first, reading back into the archive when the
/// current file holds fewer. Link rows and a half-written last line are skipped; `limit` is
/// capped at [`MAX_SECURITY_EVENTS`].
pub fn newest_security_events(
    logs_dir: &Path,
    limit: usize,
) -> Result<Vec<SecurityRecord>, AuditError> {
    let limit = limit.min(MAX_SECURITY_EVENTS);
    let mut files: Vec<PathBuf> = vec![logs_dir.join(Sink::Security.file_name())];
    files.extend(archive::list(logs_dir, Sink::Security)?.into_iter().rev().map(|(_, path)| path));

    let mut events = Vec::with_capacity(limit);
    for path in files {
        if events.len() >= limit {
            break;
        }
        // Ask for one line more than needed: the header, or a link row, may be among them.
        for line in lines_from_end(&path, limit - events.len() + 2)? {
            if events.len() >= limit {
                break;
            }
            if let Some(event) = parse_security(&line) {
                events.push(event);
            }
        }
    }
    Ok(events)
}

fn parse_security(line: &[u8]) -> Option<SecurityRecord> {
    let fields = crate::line::parse(line)?;
    let [timestamp, seq, event, client_ip, key_id, detail, _chain] =
        <[String; 7]>::try_from(fields).ok()?;
    if event == LINK_MARKER {
        return None;
    }
    let non_empty = |text: String| (!text.is_empty()).then_some(text);
    Some(SecurityRecord {
        timestamp: parse_timestamp(&timestamp)?,
        seq: seq.parse().ok()?,
        event,
        client_ip: non_empty(client_ip),
        key_id: non_empty(key_id),
        detail,
    })
}

/// Up to `count` whole lines from the end of a file, last line first, reading backwards in
/// blocks so a large file costs only its tail. A last line without its newline (being
/// written) is left out. A missing file has no lines.
fn lines_from_end(path: &Path, count: usize) -> Result<Vec<Vec<u8>>, AuditError> {
    const BLOCK: u64 = 64 * 1024;
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io("open", path, e)),
    };
    let len = file.metadata().map_err(|e| AuditError::io("inspect", path, e))?.len();

    // Read blocks from the end until the tail holds `count` newlines beyond the first one,
    // or the whole file is read.
    let mut start = len;
    let mut tail: Vec<u8> = Vec::new();
    while start > 0 && crate::line::count_newlines(&tail) <= count {
        let from = start.saturating_sub(BLOCK);
        let mut block = vec![0; usize::try_from(start - from).unwrap_or(0)];
        file.seek(SeekFrom::Start(from)).map_err(|e| AuditError::io("seek", path, e))?;
        file.read_exact(&mut block).map_err(|e| AuditError::io("read", path, e))?;
        block.extend_from_slice(&tail);
        tail = block;
        start = from;
    }

    let whole = match tail.iter().rposition(|&b| b == b'\n') {
        Some(end) => &tail[..=end],
        None => return Ok(Vec::new()),
    };
    let mut lines: Vec<Vec<u8>> =
        whole.split_inclusive(|&b| b == b'\n').rev().take(count).map(<[u8]>::to_vec).collect();
    // The first piece may be a partial line when reading did not reach the file's start.
    if start > 0 && lines.len() == whole.split_inclusive(|&b| b == b'\n').count() {
        lines.pop();
    }
    Ok(lines)
}

/// Every deal ticket recorded in `deals.csv` and its archives, so fills already written are not
/// written again after a restart.
pub fn recorded_deal_tickets(logs_dir: &Path) -> Result<HashSet<u64>, AuditError> {
    let mut files: Vec<PathBuf> =
        archive::list(logs_dir, Sink::Deals)?.into_iter().map(|(_, path)| path).collect();
    files.push(logs_dir.join(Sink::Deals.file_name()));

    let (marker, _) = Sink::Deals.link_columns();
    let width = Sink::Deals.header().len();
    let mut tickets = HashSet::new();
    for path in files {
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(AuditError::io("read", &path, e)),
        };
        // A half-written last line could hold half a ticket number: read whole lines only.
        let whole =
            bytes.iter().rposition(|&b| b == b'\n').map_or(&bytes[..0], |end| &bytes[..=end]);
        let mut reader =
            csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(whole);
        for record in reader.records() {
            // A damaged row is verification's business, not a source of tickets.
            let Ok(record) = record else { continue };
            if record.len() != width || record.get(marker) == Some(LINK_MARKER) {
                continue;
            }
            if let Some(ticket) = record.get(2).and_then(|t| t.parse().ok()) {
                tickets.insert(ticket);
            }
        }
    }
    Ok(tickets)
}
