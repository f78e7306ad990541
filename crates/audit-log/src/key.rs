//! The chain key: 32 random bytes kept in a file of their own, readable by the owner only.
//!
//! The key lives outside the logs folder so that a copy of the logs (a backup, a support
//! bundle) never carries the means to forge them. It is stored as 64 hex digits and a newline
//! so an operator can back it up with ordinary tools.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::error::AuditError;

/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;

/// The HMAC key of the audit chain. No `Debug` of its bytes, zeroed on drop.
pub struct ChainKey([u8; KEY_LEN]);

impl ChainKey {
    /// Wraps key bytes the caller already holds (tests, or a key from another store).
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key, not saved anywhere.
    pub fn generate() -> Result<Self, AuditError> {
        let mut bytes = [0_u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| AuditError::Io {
            action: "draw random bytes for",
            path: "the chain key".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Self(bytes))
    }

    /// Reads the key at `path`, or creates it (mode 0600, synced) if the file does not exist.
    ///
    /// Refuses a key file that group or others may read or write: whoever can read the key can
    /// rewrite the logs without the chain noticing.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditError> {
        match Self::load(path) {
            Err(AuditError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Self::create(path)
            }
            other => other,
        }
    }

    /// Reads an existing key file, checking its permissions first.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        let mut file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
        check_private(&file, path)?;

        let mut text = Zeroizing::new(String::new());
        Read::by_ref(&mut file)
            .take(256)
            .read_to_string(&mut text)
            .map_err(|e| AuditError::io("read", path, e))?;
        let digits = text.trim_end();
        if digits.len() != KEY_LEN * 2 {
            return Err(AuditError::KeyFileInvalid { path: path.into(), reason: "wrong length" });
        }

        let mut bytes = [0_u8; KEY_LEN];
        let parsed = crate::chain::decode_hex(digits, &mut bytes);
        if !parsed {
            bytes.zeroize();
            return Err(AuditError::KeyFileInvalid { path: path.into(), reason: "not hex" });
        }
        Ok(Self(bytes))
    }

    fn create(path: &Path) -> Result<Self, AuditError> {
        let key = Self::generate()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| AuditError::io("create folder", parent, e))?;
        }

        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| AuditError::io("create", path, e))?;

        let text = Zeroizing::new(format!("{}\n", crate::chain::encode_hex(&key.0)));
        file.write_all(text.as_bytes()).map_err(|e| AuditError::io("write", path, e))?;
        file.sync_all().map_err(|e| AuditError::io("sync", path, e))?;
        if let Some(parent) = path.parent() {
            crate::fsutil::sync_dir(parent)?;
        }
        tracing::info!(path = %path.display(), "created audit chain key");
        Ok(key)
    }

    /// The raw key bytes, for the HMAC only.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Drop for ChainKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

#[cfg(unix)]
fn check_private(file: &File, path: &Path) -> Result<(), AuditError> {
    use std::os::unix::fs::PermissionsExt;

    let metadata = file.metadata().map_err(|e| AuditError::io("inspect", path, e))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AuditError::KeyFileExposed { path: path.into(), mode });
    }
    Ok(())
}

/// Windows has no mode bits; the file inherits the ACL of its folder, which the operator
/// must keep private. Documented in the crate docs.
#[cfg(not(unix))]
#[allow(clippy::unnecessary_wraps, reason = "same signature as the unix check")]
fn check_private(_file: &File, _path: &Path) -> Result<(), AuditError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets/chain.key");
        let first = ChainKey::load_or_create(&path).unwrap();
        let again = ChainKey::load_or_create(&path).unwrap();
        assert_eq!(first.expose(), again.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.key");
        drop(ChainKey::load_or_create(&path).unwrap());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ChainKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, AuditError::KeyFileExposed { mode: 0o644, .. }), "{err}");
    }

    #[test]
    fn garbage_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.key");
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&path).unwrap().write_all(b"not a key\n").unwrap();
        let err = ChainKey::load(&path).unwrap_err();
        assert!(matches!(err, AuditError::KeyFileInvalid { .. }), "{err}");
        assert!(!format!("{:?}", ChainKey::from_bytes([7; KEY_LEN])).contains('7'));
    }
}
