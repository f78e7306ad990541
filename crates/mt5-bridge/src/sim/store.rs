//! The account file: where a paper account lives between runs.
//!
//! The file is JSON, written whole after every change of trade state: to a temporary file
//! beside it, flushed to disk, then renamed over the old one, so a crash leaves either the
//! old account or the new one and never half of each. A file that cannot be read is an
//! error naming it; the terminal never silently starts over, which would wipe a user's
//! paper history.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::account::Ledger;
use super::feed::WalkState;
use crate::TerminalError;

/// The account file's name inside the data folder.
pub const ACCOUNT_FILE: &str = "sim-account.json";

/// Bumped when the layout changes in a way old files cannot be read as.
const FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AccountFile {
    pub(crate) format: u32,
    pub(crate) ledger: Ledger,
    /// The random walk of each symbol, by name.
    pub(crate) walks: Vec<(String, WalkState)>,
}

impl AccountFile {
    pub(crate) fn new(ledger: Ledger, walks: Vec<(String, WalkState)>) -> AccountFile {
        AccountFile { format: FORMAT, ledger, walks }
    }
}

pub(crate) fn account_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ACCOUNT_FILE)
}

/// Reads the account file; `Ok(None)` when there is none yet.
pub(crate) fn load(path: &Path) -> Result<Option<AccountFile>, TerminalError> {
    let corrupt = |reason: String| {
        TerminalError::Storage(format!(
            "simulated account file {} cannot be used: {reason}; repair or remove it, \
             or start the simulated terminal with a reset",
            path.display()
        ))
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(corrupt(error.to_string())),
    };
    let file: AccountFile =
        serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
    if file.format != FORMAT {
        return Err(corrupt(format!("format {} is not the supported {FORMAT}", file.format)));
    }
    file.ledger.validate().map_err(corrupt)?;
    Ok(Some(file))
}

pub(crate) fn encode(file: &AccountFile) -> Result<Vec<u8>, TerminalError> {
    serde_json::to_vec_pretty(file).map_err(|error| {
        TerminalError::Storage(format!("cannot encode the simulated account: {error}"))
    })
}

/// Replaces the file at `path` with `bytes` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TerminalError> {
    let failed = |error: std::io::Error| {
        TerminalError::Storage(format!("cannot write {}: {error}", path.display()))
    };
    let temporary = path.with_extension("json.tmp");
    let mut file = File::create(&temporary).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    fs::rename(&temporary, path).map_err(failed)?;
    // The rename is durable only once the folder's entry is; not every platform lets a
    // folder be opened for that, and there the rename is as durable as it gets.
    if let Some(folder) = path.parent()
        && let Ok(folder) = File::open(folder)
    {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn missing_file_is_none_and_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = account_path(dir.path());
        assert!(load(&path).unwrap().is_none());
        let ledger = Ledger::fresh(7, dec!(12345.67), 1_000, None);
        write_atomic(&path, &encode(&AccountFile::new(ledger.clone(), Vec::new())).unwrap())
            .unwrap();
        assert_eq!(load(&path).unwrap().unwrap().ledger, ledger);
        // Money is stored as text, never through binary floating point.
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""balance": "12345.67""#), "{text}");
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = account_path(dir.path());
        fs::write(&path, b"{\"format\":1,").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("sim-account.json"), "{error}");
        assert!(error.contains("cannot be used"), "{error}");
    }
}
