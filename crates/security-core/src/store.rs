//! The keys file and the in-memory index that verifies presented keys.
//!
//! The file is JSON, mode 0600, and holds no secret: per key its id, name, scope, times, the
//! SHA-256 of its secret and, during a rotation's grace period, the previous secret's hash.
//!
//! ```json
//! {
//!   "version": 1,
//!   "keys": [
//!     {
//!       "id": "k3x9a0qz",
//!       "name": "web ui",
//!       "scope": "admin",
//!       "created_at": "2025-01-02T03:04:05Z",
//!       "expires_at": null,
//!       "revoked_at": null,
//!       "last_used_at": "2025-01-03T10:00:00Z",
//!       "secret_hash": "<64 hex digits>",
//!       "previous": { "secret_hash": "<64 hex digits>", "valid_until": "2025-01-04T00:00:00Z" }
//!     }
//!   ]
//! }
//! ```
//!
//! # Concurrency
//!
//! The server and the command line change the same file. Every change takes an exclusive lock
//! on `<file>.lock`, re-reads the file, applies the change to what it read, writes the result
//! atomically and only then releases the lock, so neither loses the other's change. A lock was
//! chosen over compare-and-swap on the file's signature because the critical section is tiny
//! and a lock needs no retry loop; a crashed holder releases it when its process exits.
//!
//! Verification never touches the lock or the disk. It reads an immutable index through an
//! [`ArcSwap`], without locking or allocating; changes and reloads build a new index and swap
//! it in. Last-use times live in an atomic per key and reach the file only through
//! [`KeyStore::flush_last_used`] (or with the next change), never per request.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use crate::key::{ApiKey, KeyError, KeyFormatError, KeyId, SecretHash, mask, parse_key};
use crate::private_file::{self, FileLock, FileSignature, PrivateFileError};
use crate::redact::redact;
use crate::scope::Scope;

/// The keys file format this code reads and writes.
pub const FILE_VERSION: u32 = 1;
/// The longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The longest rotation grace period.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A keys file far beyond any real one (a key takes about 400 bytes) is refused unread.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// How long a change waits for another process's change to finish.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Marks "never used" in a last-use atomic.
const NEVER: i64 = i64::MIN;

/// Errors of the keys file and its operations. None ever holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading, writing or locking the file failed, or its permissions are unsafe.
    #[error(transparent)]
    File(#[from] PrivateFileError),
    /// The file is not a valid keys file. The parser's words are redacted before they get here.
    #[error("keys file {path} is not valid: {reason}")]
    Invalid {
        /// The keys file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by a newer version of the gateway.
    #[error("keys file {path} has version {version}; this gateway reads version {supported}")]
    UnsupportedVersion {
        /// The keys file.
        path: PathBuf,
        /// The file's version.
        version: u32,
        /// The version this code reads.
        supported: u32,
    },
    /// No key has this id.
    #[error("no key with id {id}")]
    NotFound {
        /// The id asked for.
        id: KeyId,
    },
    /// The key was revoked, so it cannot be rotated.
    #[error("key {id} is revoked")]
    Revoked {
        /// The key's id.
        id: KeyId,
    },
    /// A key name that cannot be used.
    #[error("key name {problem}")]
    InvalidName {
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A rotation grace period beyond the limit.
    #[error("grace period of {hours} h is above the limit of {limit_hours} h")]
    GraceTooLong {
        /// The grace asked for, in whole hours.
        hours: u64,
        /// The limit, in hours.
        limit_hours: u64,
    },
    /// An expiry that is not in the future.
    #[error("expiry {expires_at} is not after the current time {now}")]
    ExpiryInPast {
        /// The expiry asked for.
        expires_at: OffsetDateTime,
        /// The current time.
        now: OffsetDateTime,
    },
    /// Making a key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What is wrong with a key name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// Empty or only spaces.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("is {chars} characters, above the limit of {limit}")]
    TooLong {
        /// The name's length in characters.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// Holds a control character or line break.
    #[error("contains a control character or line break")]
    ControlCharacter,
}

/// Why a presented key was refused. The HTTP layer answers all of them the same way; the
/// difference is for metrics and the audit log. No variant holds any part of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No key was presented.
    #[error("no api key presented")]
    Missing,
    /// The text is not shaped like a key.
    #[error("api key is malformed")]
    Malformed,
    /// Shaped like a key, but its checksum fails: a typo or a truncation.
    #[error("api key checksum does not match")]
    BadChecksum,
    /// A well-formed key whose id is not in the keys file.
    #[error("api key {key_id} is unknown")]
    Unknown {
        /// The presented id.
        key_id: KeyId,
    },
    /// The id exists but the secret does not match (nor a previous one still in its grace).
    #[error("api key {key_id} has a wrong secret")]
    WrongSecret {
        /// The presented id.
        key_id: KeyId,
    },
    /// The right secret for a key that has expired.
    #[error("api key {key_id} has expired")]
    Expired {
        /// The key's id.
        key_id: KeyId,
    },
    /// The right secret for a key that was revoked.
    #[error("api key {key_id} is revoked")]
    Revoked {
        /// The key's id.
        key_id: KeyId,
    },
}

impl AuthFailure {
    /// The key id the failure concerns, when the presented text had a checked one.
    #[must_use]
    pub fn key_id(self) -> Option<KeyId> {
        match self {
            AuthFailure::Missing | AuthFailure::Malformed | AuthFailure::BadChecksum => None,
            AuthFailure::Unknown { key_id }
            | AuthFailure::WrongSecret { key_id }
            | AuthFailure::Expired { key_id }
            | AuthFailure::Revoked { key_id } => Some(key_id),
        }
    }

    /// Whether this failure is a key presented and refused, which the lockout counts. A missing
    /// key is not a guess.
    #[must_use]
    pub fn counts_toward_lockout(self) -> bool {
        !matches!(self, AuthFailure::Missing)
    }

    /// A short fixed label, for metrics and audit rows.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::BadChecksum => "bad_checksum",
            AuthFailure::Unknown { .. } => "unknown",
            AuthFailure::WrongSecret { .. } => "wrong_secret",
            AuthFailure::Expired { .. } => "expired",
            AuthFailure::Revoked { .. } => "revoked",
        }
    }
}

/// A key that passed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The key's id.
    pub key_id: KeyId,
    /// What it may do.
    pub scope: Scope,
}

/// Whether a key can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

/// What a listing shows of a key: everything but its hashes, the key itself masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySummary {
    /// The key id.
    pub id: KeyId,
    /// `mt5gw_<id>_…`.
    pub masked: String,
    /// The name given at creation.
    pub name: String,
    /// What the key may do.
    pub scope: Scope,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When it last passed verification, to the second, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Until when the secret before the last rotation still works, if it does.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_valid_until: Option<OffsetDateTime>,
    /// When the secret was last replaced, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
}

impl KeySummary {
    /// Whether the key works at `now`.
    #[must_use]
    pub fn status(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    version: u32,
    keys: Vec<KeyRecord>,
}

impl KeysFile {
    fn empty() -> Self {
        Self { version: FILE_VERSION, keys: Vec::new() }
    }

    fn record_mut(&mut self, id: KeyId) -> Result<&mut KeyRecord, StoreError> {
        self.keys.iter_mut().find(|record| record.id == id).ok_or(StoreError::NotFound { id })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRecord {
    id: KeyId,
    name: String,
    scope: Scope,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    /// When the secret was last replaced; lets a server that reloads the file tell that a
    /// rotation happened even when no grace period leaves a trace.
    #[serde(default, with = "time::serde::rfc3339::option")]
    rotated_at: Option<OffsetDateTime>,
    secret_hash: SecretHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousSecret>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviousSecret {
    secret_hash: SecretHash,
    #[serde(with = "time::serde::rfc3339")]
    valid_until: OffsetDateTime,
}

/// One key as verification needs it.
#[derive(Debug)]
struct Entry {
    scope: Scope,
    secret_hash: SecretHash,
    previous: Option<PreviousSecret>,
    expires_at: Option<OffsetDateTime>,
    revoked: bool,
    /// Unix seconds of the last successful verification, [`NEVER`] if none. Shared with the
    /// entry of the same id in the next index, so a reload loses no use.
    last_used: Arc<AtomicI64>,
}

/// An immutable snapshot of the keys file, built once per change or reload.
#[derive(Debug)]
struct Index {
    file: KeysFile,
    entries: HashMap<KeyId, Entry>,
    signature: Option<FileSignature>,
}

impl Index {
    fn build(
        file: KeysFile,
        signature: Option<FileSignature>,
        earlier: Option<&Index>,
    ) -> Result<Self, DuplicateId> {
        let mut entries = HashMap::with_capacity(file.keys.len());
        for record in &file.keys {
            let last_used = earlier
                .and_then(|index| index.entries.get(&record.id))
                .map_or_else(|| Arc::new(AtomicI64::new(NEVER)), |entry| entry.last_used.clone());
            if let Some(at) = record.last_used_at {
                last_used.fetch_max(at.unix_timestamp(), Ordering::Relaxed);
            }
            let entry = Entry {
                scope: record.scope,
                secret_hash: record.secret_hash,
                previous: record.previous,
                expires_at: record.expires_at,
                revoked: record.revoked_at.is_some(),
                last_used,
            };
            if entries.insert(record.id, entry).is_some() {
                return Err(DuplicateId(record.id));
            }
        }
        Ok(Self { file, entries, signature })
    }

    fn last_used(&self, id: KeyId) -> Option<OffsetDateTime> {
        let seconds = self.entries.get(&id)?.last_used.load(Ordering::Relaxed);
        if seconds == NEVER { None } else { OffsetDateTime::from_unix_timestamp(seconds).ok() }
    }

    /// Whether any key was used since its last-use time was last written.
    fn has_unflushed_use(&self) -> bool {
        self.file.keys.iter().any(|record| {
            self.last_used(record.id).is_some_and(|used| Some(used) > record.last_used_at)
        })
    }
}

struct DuplicateId(KeyId);

/// The keys file, loaded, with the operations the command line and the server need.
pub struct KeyStore {
    path: PathBuf,
    lock_path: PathBuf,
    index: ArcSwap<Index>,
    /// Serialises this process's changes and reloads, so a slow reload can never install an
    /// index older than one a change just installed.
    writer: Mutex<()>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .field("keys", &self.index.load().entries.len())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Loads the keys file at `path`; a missing file is an empty store, created on first change.
    ///
    /// Fails when the file is readable or writable by group or others, too large, not valid, or
    /// from a newer version.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let mut lock_name = path.file_name().unwrap_or_default().to_owned();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);

        let (file, signature) = read_keys_file(&path)?;
        let index =
            Index::build(file, signature, None).map_err(|error| duplicate(&path, &error))?;
        Ok(Self { path, lock_path, index: ArcSwap::from_pointee(index), writer: Mutex::new(()) })
    }

    /// The keys file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store holds no key at all (revoked ones count).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.load().entries.is_empty()
    }

    /// Checks a presented key. Lock-free and allocation-free: it runs on every request.
    ///
    /// `presented` is the key alone, as the header carried it after the HTTP layer removed any
    /// `Bearer ` and surrounding spaces; an empty text is [`AuthFailure::Missing`].
    ///
    /// Revocation and expiry are reported only for the right secret; a wrong secret is
    /// [`AuthFailure::WrongSecret`] whatever the key's state, so the distinction reveals
    /// nothing to a guesser (and the HTTP layer shows none anyway).
    pub fn verify(&self, presented: &str, now: OffsetDateTime) -> Result<Verified, AuthFailure> {
        if presented.is_empty() {
            return Err(AuthFailure::Missing);
        }
        let parsed = parse_key(presented).map_err(|error| match error {
            KeyFormatError::BadChecksum => AuthFailure::BadChecksum,
            _ => AuthFailure::Malformed,
        })?;
        let key_id = parsed.id;

        let index = self.index.load();
        let entry = index.entries.get(&key_id).ok_or(AuthFailure::Unknown { key_id })?;

        let presented_hash = parsed.hash();
        let matches_current = presented_hash.ct_eq(&entry.secret_hash);
        let matches_previous = entry.previous.map_or(subtle::Choice::from(0), |previous| {
            let in_grace = subtle::Choice::from(u8::from(now < previous.valid_until));
            presented_hash.ct_eq(&previous.secret_hash) & in_grace
        });
        if !bool::from(matches_current | matches_previous) {
            return Err(AuthFailure::WrongSecret { key_id });
        }
        if entry.revoked {
            return Err(AuthFailure::Revoked { key_id });
        }
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthFailure::Expired { key_id });
        }

        entry.last_used.fetch_max(now.unix_timestamp(), Ordering::Relaxed);
        Ok(Verified { key_id, scope: entry.scope })
    }

    /// Every key, masked, in the order they were created.
    #[must_use]
    pub fn list(&self) -> Vec<KeySummary> {
        let index = self.index.load();
        index.file.keys.iter().map(|record| summarize(record, &index)).collect()
    }

    /// One key, masked.
    #[must_use]
    pub fn summary(&self, id: KeyId) -> Option<KeySummary> {
        let index = self.index.load();
        index
            .file
            .keys
            .iter()
            .find(|record| record.id == id)
            .map(|record| summarize(record, &index))
    }

    /// Creates a key and returns it: the only time its secret is ever available.
    pub fn create(
        &self,
        name: &str,
        scope: Scope,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<ApiKey, StoreError> {
        self.change(|file| add_key(file, name, scope, expires_at, now))
    }

    /// Creates a key only if the store has none, in one locked step, so two processes starting
    /// at once cannot both make the first key. `None` when keys exist already.
    pub fn create_if_none(
        &self,
        name: &str,
        scope: Scope,
        now: OffsetDateTime,
    ) -> Result<Option<ApiKey>, StoreError> {
        self.change(|file| {
            if file.keys.is_empty() {
                add_key(file, name, scope, None, now).map(Some)
            } else {
                Ok(None)
            }
        })
    }

    /// Revokes a key from `now` on. Revoking a revoked key changes nothing and succeeds.
    pub fn revoke(&self, id: KeyId, now: OffsetDateTime) -> Result<(), StoreError> {
        self.change(|file| {
            let record = file.record_mut(id)?;
            if record.revoked_at.is_none() {
                record.revoked_at = Some(utc_seconds(now));
                record.previous = None;
            }
            Ok(())
        })
    }

    /// Gives a key a new secret and returns the new key. The old secret keeps working until
    /// `now + grace`; a zero grace ends it at once. A secret from an earlier rotation that is
    /// still in its grace ends now: only one previous secret is kept.
    pub fn rotate(
        &self,
        id: KeyId,
        grace: Duration,
        now: OffsetDateTime,
    ) -> Result<ApiKey, StoreError> {
        if grace > MAX_GRACE {
            return Err(StoreError::GraceTooLong {
                hours: grace.as_secs() / 3600,
                limit_hours: MAX_GRACE.as_secs() / 3600,
            });
        }
        self.change(|file| {
            let record = file.record_mut(id)?;
            if record.revoked_at.is_some() {
                return Err(StoreError::Revoked { id });
            }
            let key = ApiKey::generate_with_id(id)?;
            record.previous = (!grace.is_zero()).then(|| PreviousSecret {
                secret_hash: record.secret_hash,
                valid_until: utc_seconds(now) + grace,
            });
            record.secret_hash = key.hash();
            record.rotated_at = Some(utc_seconds(now));
            Ok(key)
        })
    }

    /// Reloads the file if it changed since it was last read or written: a cheap check of its
    /// length, modification time and inode, meant to run from a timer every few seconds.
    /// Returns whether it reloaded. On an error the keys in force stay as they were.
    pub fn reload_if_changed(&self) -> Result<bool, StoreError> {
        let _writer = self.writer.lock();
        let current = self.index.load();
        if private_file::signature(&self.path)? == current.signature {
            return Ok(false);
        }
        let (file, signature) = read_keys_file(&self.path)?;
        let index = Index::build(file, signature, Some(&current))
            .map_err(|error| duplicate(&self.path, &error))?;
        self.index.store(Arc::new(index));
        Ok(true)
    }

    /// Writes last-use times gathered in memory to the file, if any key was used since the
    /// last write. Call it from a timer (a minute is plenty) and at shutdown. Returns whether it
    /// wrote.
    pub fn flush_last_used(&self) -> Result<bool, StoreError> {
        if !self.index.load().has_unflushed_use() {
            return Ok(false);
        }
        // Every change merges last-use times, so an empty change is the flush.
        self.change(|_| Ok(()))?;
        Ok(true)
    }

    /// The one way the file changes: lock, re-read, merge in-memory last-use times, apply,
    /// write atomically, swap in the new index, unlock.
    fn change<T>(
        &self,
        apply: impl FnOnce(&mut KeysFile) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _writer = self.writer.lock();
        let _lock = FileLock::acquire(&self.lock_path, LOCK_TIMEOUT)?;

        let (mut file, _) = read_keys_file(&self.path)?;
        let current = self.index.load();
        for record in &mut file.keys {
            let used = current.last_used(record.id);
            record.last_used_at = record.last_used_at.max(used);
        }
        let result = apply(&mut file)?;

        let json = serde_json::to_vec_pretty(&file).map_err(|error| StoreError::Invalid {
            path: self.path.clone(),
            reason: redact(&error.to_string()),
        })?;
        let signature = private_file::replace(&self.path, &json)?;
        let index = Index::build(file, Some(signature), Some(&current))
            .map_err(|error| duplicate(&self.path, &error))?;
        self.index.store(Arc::new(index));
        Ok(result)
    }
}

fn add_key(
    file: &mut KeysFile,
    name: &str,
    scope: Scope,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<ApiKey, StoreError> {
    check_name(name)?;
    if let Some(expires_at) = expires_at
        && expires_at <= now
    {
        return Err(StoreError::ExpiryInPast { expires_at, now });
    }

    // A fresh id collides with an existing one with odds of about n / 36^8; draw again if so.
    let mut key = ApiKey::generate()?;
    while file.keys.iter().any(|record| record.id == key.id()) {
        key = ApiKey::generate()?;
    }
    file.keys.push(KeyRecord {
        id: key.id(),
        name: name.trim().to_owned(),
        scope,
        created_at: utc_seconds(now),
        expires_at: expires_at.map(utc_seconds),
        revoked_at: None,
        last_used_at: None,
        rotated_at: None,
        secret_hash: key.hash(),
        previous: None,
    });
    Ok(key)
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    let problem = if trimmed.is_empty() {
        NameProblem::Empty
    } else if chars > MAX_NAME_CHARS {
        NameProblem::TooLong { chars, limit: MAX_NAME_CHARS }
    } else if trimmed.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}') {
        NameProblem::ControlCharacter
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidName { problem })
}

fn summarize(record: &KeyRecord, index: &Index) -> KeySummary {
    KeySummary {
        id: record.id,
        masked: mask(record.id),
        name: record.name.clone(),
        scope: record.scope,
        created_at: record.created_at,
        expires_at: record.expires_at,
        revoked_at: record.revoked_at,
        last_used_at: record.last_used_at.max(index.last_used(record.id)),
        previous_valid_until: record.previous.map(|previous| previous.valid_until),
        rotated_at: record.rotated_at,
    }
}

fn read_keys_file(path: &Path) -> Result<(KeysFile, Option<FileSignature>), StoreError> {
    let Some((content, signature)) = private_file::read(path, MAX_FILE_BYTES)? else {
        return Ok((KeysFile::empty(), None));
    };
    let file: KeysFile = serde_json::from_slice(&content).map_err(|error| StoreError::Invalid {
        path: path.to_owned(),
        // The file holds no secrets by design, but one pasted into it by hand must not travel
        // on in an error message.
        reason: redact(&error.to_string()),
    })?;
    if file.version != FILE_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_owned(),
            version: file.version,
            supported: FILE_VERSION,
        });
    }
    Ok((file, Some(signature)))
}

fn duplicate(path: &Path, error: &DuplicateId) -> StoreError {
    StoreError::Invalid {
        path: path.to_owned(),
        reason: format!("key id {} appears twice", error.0),
    }
}

/// Times in the file are UTC and whole seconds: nothing finer means anything for a key.
fn utc_seconds(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(UtcOffset::UTC);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use secrecy::ExposeSecret;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2025-01-02 03:04:05 UTC);
    const HOUR: Duration = Duration::from_secs(3600);

    fn store() -> (tempfile::TempDir, KeyStore) {
        let folder = tempfile::tempdir().unwrap();
        let store = KeyStore::open(folder.path().join("keys.json")).unwrap();
        (folder, store)
    }

    fn text(key: &ApiKey) -> &str {
        key.key().expose_secret()
    }

    #[test]
    fn a_created_key_verifies_with_its_scope() {
        let (_folder, store) = store();
        let key = store.create("bot", Scope::Trade, None, T0).unwrap();
        let verified = store.verify(text(&key), T0).unwrap();
        assert_eq!(verified, Verified { key_id: key.id(), scope: Scope::Trade });
    }

    #[test]
    fn each_refusal_is_told_apart() {
        let (_folder, store) = store();
        let key = store.create("bot", Scope::Read, Some(T0 + HOUR), T0).unwrap();
        let id = key.id();
        let other = ApiKey::generate().unwrap();
        let wrong_secret = ApiKey::generate_with_id(id).unwrap();
        let mut typo = text(&key).to_owned().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();

        let cases = [
            ("", T0, AuthFailure::Missing),
            ("Bearer x", T0, AuthFailure::Malformed),
            (typo.as_str(), T0, AuthFailure::BadChecksum),
            (text(&other), T0, AuthFailure::Unknown { key_id: other.id() }),
            (text(&wrong_secret), T0, AuthFailure::WrongSecret { key_id: id }),
            (text(&key), T0 + HOUR, AuthFailure::Expired { key_id: id }),
        ];
        for (presented, now, expected) in cases {
            assert_eq!(store.verify(presented, now), Err(expected), "{}", expected.as_str());
        }

        store.revoke(id, T0).unwrap();
        assert_eq!(store.verify(text(&key), T0), Err(AuthFailure::Revoked { key_id: id }));
        assert_eq!(
            store.verify(text(&wrong_secret), T0),
            Err(AuthFailure::WrongSecret { key_id: id })
        );
    }

    #[test]
    fn rotation_keeps_the_old_secret_only_through_the_grace() {
        let (_folder, store) = store();
        let old = store.create("ui", Scope::Admin, None, T0).unwrap();
        let new = store.rotate(old.id(), HOUR, T0).unwrap();
        assert_eq!(new.id(), old.id());
        assert_ne!(text(&new), text(&old));

        assert!(store.verify(text(&new), T0).is_ok());
        assert!(store.verify(text(&old), T0 + HOUR - Duration::from_secs(1)).is_ok());
        assert_eq!(
            store.verify(text(&old), T0 + HOUR),
            Err(AuthFailure::WrongSecret { key_id: old.id() })
        );

        let newest = store.rotate(old.id(), Duration::ZERO, T0).unwrap();
        assert!(store.verify(text(&new), T0).is_err());
        assert!(store.verify(text(&newest), T0).is_ok());
        assert!(matches!(
            store.rotate(old.id(), MAX_GRACE + HOUR, T0),
            Err(StoreError::GraceTooLong { hours: 721, limit_hours: 720 })
        ));
    }

    #[test]
    fn revoked_keys_cannot_be_rotated_and_unknown_ids_are_reported() {
        let (_folder, store) = store();
        let key = store.create("ui", Scope::Admin, None, T0).unwrap();
        store.revoke(key.id(), T0).unwrap();
        store.revoke(key.id(), T0 + HOUR).unwrap();
        assert_eq!(store.summary(key.id()).unwrap().revoked_at, Some(T0));
        assert!(matches!(store.rotate(key.id(), HOUR, T0), Err(StoreError::Revoked { .. })));

        let stranger = KeyId::parse("zzzzzzzz").unwrap();
        let error = store.revoke(stranger, T0).unwrap_err();
        assert_eq!(error.to_string(), "no key with id zzzzzzzz");
    }

    #[test]
    fn the_file_holds_hashes_never_secrets_and_is_owner_only() {
        let (folder, store) = store();
        let key = store.create("ui", Scope::Admin, None, T0).unwrap();
        let rotated = store.rotate(key.id(), HOUR, T0).unwrap();
        let content = fs::read_to_string(folder.path().join("keys.json")).unwrap();

        for secret in [text(&key), text(&rotated)] {
            assert!(!content.contains(&secret[15..58]));
        }
        assert!(content.contains(&rotated.hash().to_hex()));
        assert!(content.contains(r#""scope": "admin""#));
        assert!(content.contains(r#""created_at": "2025-01-02T03:04:05Z""#));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn listing_masks_keys_and_shows_state() {
        let (_folder, store) = store();
        let ui = store.create("  ui  ", Scope::Admin, None, T0).unwrap();
        let bot = store.create("bot", Scope::Read, Some(T0 + HOUR), T0).unwrap();
        store.verify(text(&ui), T0 + HOUR).unwrap();

        let listed = store.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].name, "ui");
        assert_eq!(listed[0].masked, format!("mt5gw_{}_…", ui.id()));
        assert_eq!(listed[0].last_used_at, Some(T0 + HOUR));
        assert_eq!(listed[1].status(T0 + HOUR), KeyStatus::Expired);
        assert_eq!(listed[1].id, bot.id());
        let json = serde_json::to_string(&listed).unwrap();
        assert!(!json.contains(&ui.hash().to_hex()));
        assert!(!json.contains(&text(&ui)[15..58]));
    }

    #[test]
    fn names_and_expiries_are_checked() {
        let (_folder, store) = store();
        let long = "n".repeat(65);
        let cases = [
            ("", "key name is empty"),
            ("   ", "key name is empty"),
            (long.as_str(), "key name is 65 characters, above the limit of 64"),
            ("a\nb", "key name contains a control character or line break"),
        ];
        for (name, message) in cases {
            let error = store.create(name, Scope::Read, None, T0).unwrap_err();
            assert_eq!(error.to_string(), message, "{name:?}");
        }
        let past = store.create("x", Scope::Read, Some(T0), T0).unwrap_err();
        assert!(matches!(past, StoreError::ExpiryInPast { .. }));
        assert!(store.is_empty());
    }

    #[test]
    fn two_stores_on_one_file_keep_each_others_changes() {
        let (folder, server) = store();
        let cli = KeyStore::open(folder.path().join("keys.json")).unwrap();

        let first = server.create("first", Scope::Read, None, T0).unwrap();
        let second = cli.create("second", Scope::Trade, None, T0).unwrap();
        let third = server.create("third", Scope::Admin, None, T0).unwrap();

        let names: Vec<String> = server.list().into_iter().map(|key| key.name).collect();
        assert_eq!(names, ["first", "second", "third"]);
        for key in [&first, &second, &third] {
            assert!(server.verify(text(key), T0).is_ok());
        }

        // The other store sees the server's later change once it reloads.
        assert!(cli.verify(text(&third), T0).is_err());
        assert!(cli.reload_if_changed().unwrap());
        assert!(!cli.reload_if_changed().unwrap());
        assert!(cli.verify(text(&third), T0).is_ok());
    }

    #[test]
    fn concurrent_writers_in_threads_lose_nothing() {
        let (folder, _) = store();
        let path = folder.path().join("keys.json");
        std::thread::scope(|scope| {
            for worker in 0..4 {
                let path = path.clone();
                scope.spawn(move || {
                    let store = KeyStore::open(path).unwrap();
                    for n in 0..5 {
                        store.create(&format!("w{worker}-{n}"), Scope::Read, None, T0).unwrap();
                    }
                });
            }
        });
        let store = KeyStore::open(path).unwrap();
        assert_eq!(store.list().len(), 20);
    }

    #[test]
    fn last_use_reaches_the_file_only_on_flush_and_survives_reloads() {
        let (folder, store) = store();
        let key = store.create("ui", Scope::Admin, None, T0).unwrap();
        let path = folder.path().join("keys.json");
        let before = fs::read(&path).unwrap();

        store.verify(text(&key), T0 + HOUR).unwrap();
        assert_eq!(fs::read(&path).unwrap(), before);

        assert!(store.flush_last_used().unwrap());
        assert!(!store.flush_last_used().unwrap());
        let reopened = KeyStore::open(&path).unwrap();
        assert_eq!(reopened.summary(key.id()).unwrap().last_used_at, Some(T0 + HOUR));

        // A use recorded in memory is kept when another process's change is reloaded.
        store.verify(text(&key), T0 + HOUR * 2).unwrap();
        reopened.create("other", Scope::Read, None, T0).unwrap();
        assert!(store.reload_if_changed().unwrap());
        assert_eq!(store.summary(key.id()).unwrap().last_used_at, Some(T0 + HOUR * 2));
    }

    #[test]
    fn first_key_is_made_once() {
        let (_folder, store) = store();
        assert!(store.create_if_none("admin", Scope::Admin, T0).unwrap().is_some());
        assert!(store.create_if_none("admin", Scope::Admin, T0).unwrap().is_none());
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn bad_files_are_refused_with_a_clear_reason() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("keys.json");
        let key = ApiKey::generate().unwrap();
        let cases = [
            ("not json".to_owned(), "is not valid"),
            (
                r#"{"version": 2, "keys": []}"#.to_owned(),
                "has version 2; this gateway reads version 1",
            ),
            (
                format!(r#"{{"version": 1, "keys": [], "secret": "{}"}}"#, text(&key)),
                "unknown field",
            ),
        ];
        for (content, expected) in cases {
            private_file::replace(&path, content.as_bytes()).unwrap();
            let message = KeyStore::open(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains(&text(&key)[15..58]), "{message}");
        }

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            private_file::replace(&path, br#"{"version": 1, "keys": []}"#).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            let message = KeyStore::open(&path).unwrap_err().to_string();
            assert!(message.contains("mode 0640") && message.contains("chmod 600"), "{message}");
        }
    }

    #[test]
    fn a_reload_error_keeps_the_keys_in_force() {
        let (folder, store) = store();
        let key = store.create("ui", Scope::Admin, None, T0).unwrap();
        private_file::replace(&folder.path().join("keys.json"), b"garbage").unwrap();
        assert!(store.reload_if_changed().is_err());
        assert!(store.verify(text(&key), T0).is_ok());
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let (_folder, store) = store();
        let key = store.create("ui", Scope::Admin, None, T0).unwrap();
        let shown = [format!("{store:?}"), format!("{key:?}"), format!("{:?}", store.list())];
        for output in shown {
            assert!(!output.contains(&text(&key)[15..58]), "{output}");
            assert!(!output.contains(&key.hash().to_hex()), "{output}");
        }
    }
}
