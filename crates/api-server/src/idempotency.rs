//! `Idempotency-Key` for trading POSTs: the same key with the same body within 24 hours gets
//! the first response again and sends nothing to the terminal; a different body under the
//! same key is a conflict.
//!
//! Records live in memory and in an append-only JSON-lines file, each line synced before the
//! response leaves, so a replay survives a restart. The file is compacted at start, dropping
//! expired records and a torn last line. Keys are per API key: two callers cannot see or
//! collide with each other's records.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// How long a record answers replays.
pub const RETENTION: Duration = Duration::hours(24);

/// Checks an `Idempotency-Key` header value: 1 to 64 of `[A-Za-z0-9_-]`.
#[must_use]
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The fingerprint a replay must match: method, path and body bytes.
#[must_use]
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let mut hex = String::with_capacity(64);
    for byte in hash.finalize() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// A stored response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub status: u16,
    pub body: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Line {
    owner: String,
    key: String,
    fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    response: Stored,
}

#[derive(Debug)]
enum Slot {
    /// A request with this key is being handled now.
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        at: OffsetDateTime,
        response: Stored,
    },
}

/// What a new request with a key finds.
#[derive(Debug)]
pub enum Begin {
    /// Nothing stored: handle the request, then `complete` the claim.
    Fresh(Claim),
    /// The first response, to send again.
    Replay(Stored),
    /// The key was used with another body.
    Conflict,
    /// The first request with this key has not finished yet.
    InFlight,
}

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("idempotency records at {path}: {reason}")]
pub struct StoreError {
    path: PathBuf,
    reason: String,
}

/// The idempotency records.
#[derive(Debug)]
pub struct IdempotencyStore {
    path: PathBuf,
    slots: Mutex<HashMap<(String, String), Slot>>,
    file: Mutex<File>,
}

impl IdempotencyStore {
    /// Opens (and compacts) the records file, creating it if needed.
    pub fn open(path: &Path, now: OffsetDateTime) -> Result<Arc<IdempotencyStore>, StoreError> {
        let fail = |reason: String| StoreError { path: path.to_path_buf(), reason };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|err| fail(err.to_string()))?;
        }

        // 1. Read what survives: whole lines younger than the retention.
        let mut live = Vec::new();
        if let Ok(file) = File::open(path) {
            for text in BufReader::new(file).lines() {
                let Ok(text) = text else { break };
                // A torn or foreign line ends nothing: skip it.
                if let Ok(record) = serde_json::from_str::<Line>(&text)
                    && now - record.at < RETENTION
                {
                    live.push(record);
                }
            }
        }

        // 2. Rewrite the file with them alone (temp file, fsync, rename).
        let temp = path.with_extension("tmp");
        let mut out = private_create(&temp).map_err(|err| fail(err.to_string()))?;
        for record in &live {
            let mut text = serde_json::to_string(record).map_err(|err| fail(err.to_string()))?;
            text.push('\n');
            out.write_all(text.as_bytes()).map_err(|err| fail(err.to_string()))?;
        }
        out.sync_all().map_err(|err| fail(err.to_string()))?;
        std::fs::rename(&temp, path).map_err(|err| fail(err.to_string()))?;
        let file =
            OpenOptions::new().append(true).open(path).map_err(|err| fail(err.to_string()))?;

        let slots = live
            .into_iter()
            .map(|record| {
                let slot = Slot::Done {
                    fingerprint: record.fingerprint,
                    at: record.at,
                    response: record.response,
                };
                ((record.owner, record.key), slot)
            })
            .collect();
        Ok(Arc::new(IdempotencyStore {
            path: path.to_path_buf(),
            slots: Mutex::new(slots),
            file: Mutex::new(file),
        }))
    }

    /// Looks `key` up for `owner` (the API key id) and claims it when it is new.
    pub fn begin(
        self: &Arc<Self>,
        owner: &str,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Begin {
        let id = (owner.to_owned(), key.to_owned());
        let mut slots = self.slots.lock();
        match slots.get(&id) {
            Some(Slot::Done { fingerprint: stored, at, response }) if now - *at < RETENTION => {
                if stored == fingerprint {
                    Begin::Replay(response.clone())
                } else {
                    Begin::Conflict
                }
            }
            Some(Slot::InFlight { fingerprint: stored }) => {
                if stored == fingerprint {
                    Begin::InFlight
                } else {
                    Begin::Conflict
                }
            }
            _ => {
                slots.insert(id.clone(), Slot::InFlight { fingerprint: fingerprint.to_owned() });
                Begin::Fresh(Claim { store: Arc::clone(self), id, done: false })
            }
        }
    }

    fn persist(&self, line: &Line) -> Result<(), StoreError> {
        let fail = |reason: String| StoreError { path: self.path.clone(), reason };
        let mut text = serde_json::to_string(line).map_err(|err| fail(err.to_string()))?;
        text.push('\n');
        let mut file = self.file.lock();
        file.write_all(text.as_bytes()).map_err(|err| fail(err.to_string()))?;
        file.sync_data().map_err(|err| fail(err.to_string()))
    }
}

/// The right to answer for one key first. Dropping it unanswered frees the key, so a retry
/// can go ahead (used when nothing reached the terminal).
#[derive(Debug)]
pub struct Claim {
    store: Arc<IdempotencyStore>,
    id: (String, String),
    done: bool,
}

impl Claim {
    /// Stores the response for replays: on disk first, then in memory. Blocking (fsync).
    pub fn complete(mut self, response: Stored, now: OffsetDateTime) -> Result<(), StoreError> {
        let fingerprint = match self.store.slots.lock().get(&self.id) {
            Some(Slot::InFlight { fingerprint }) => fingerprint.clone(),
            _ => return Ok(()),
        };
        let line = Line {
            owner: self.id.0.clone(),
            key: self.id.1.clone(),
            fingerprint: fingerprint.clone(),
            at: now,
            response: response.clone(),
        };
        self.store.persist(&line)?;
        self.store
            .slots
            .lock()
            .insert(self.id.clone(), Slot::Done { fingerprint, at: now, response });
        self.done = true;
        Ok(())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.done {
            let mut slots = self.store.slots.lock();
            if matches!(slots.get(&self.id), Some(Slot::InFlight { .. })) {
                slots.remove(&self.id);
            }
        }
    }
}

#[cfg(unix)]
fn private_create(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn private_create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = time::macros::datetime!(2026-12-03 12:00 UTC);

    fn stored(n: u16) -> Stored {
        Stored { status: n, body: serde_json::json!({ "ticket": n }) }
    }

    #[test]
    fn replays_the_first_response_and_refuses_another_body() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdempotencyStore::open(&dir.path().join("idem.jsonl"), T0).unwrap();
        let Begin::Fresh(claim) = store.begin("k1", "abc", "f1", T0) else { panic!() };
        assert!(matches!(store.begin("k1", "abc", "f1", T0), Begin::InFlight));
        claim.complete(stored(201), T0).unwrap();
        assert!(matches!(store.begin("k1", "abc", "f1", T0), Begin::Replay(s) if s == stored(201)));
        assert!(matches!(store.begin("k1", "abc", "f2", T0), Begin::Conflict));
        // Another API key has its own namespace.
        assert!(matches!(store.begin("k2", "abc", "f2", T0), Begin::Fresh(_)));
    }

    #[test]
    fn records_survive_a_reopen_and_expire_after_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idem.jsonl");
        let store = IdempotencyStore::open(&path, T0).unwrap();
        let Begin::Fresh(claim) = store.begin("k1", "abc", "f1", T0) else { panic!() };
        claim.complete(stored(201), T0).unwrap();
        drop(store);
        // A torn line from a crash is ignored.
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"own").unwrap();

        let later = T0 + Duration::hours(23);
        let store = IdempotencyStore::open(&path, later).unwrap();
        assert!(matches!(store.begin("k1", "abc", "f1", later), Begin::Replay(_)));
        let expired = T0 + Duration::hours(25);
        let store = IdempotencyStore::open(&path, expired).unwrap();
        assert!(matches!(store.begin("k1", "abc", "f1", expired), Begin::Fresh(_)));
    }

    #[test]
    fn an_abandoned_claim_frees_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdempotencyStore::open(&dir.path().join("idem.jsonl"), T0).unwrap();
        let Begin::Fresh(claim) = store.begin("k1", "abc", "f1", T0) else { panic!() };
        drop(claim);
        assert!(matches!(store.begin("k1", "abc", "f1", T0), Begin::Fresh(_)));
    }

    #[test]
    fn key_syntax() {
        assert!(valid_key("order-2026_12_03-a1"));
        assert!(!valid_key(""));
        assert!(!valid_key(&"a".repeat(65)));
        assert!(!valid_key("has space"));
    }
}
