//! Small file-system steps the writer and the key store share: syncing folders, atomic creation.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::AuditError;

/// Makes a folder's entries (a created, renamed or deleted file) durable.
///
/// On Unix a rename is durable only once its folder is synced. Windows has no folder handle to
/// sync, and NTFS journals the rename itself.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let handle = File::open(dir).map_err(|e| AuditError::io("open folder", dir, e))?;
        handle.sync_all().map_err(|e| AuditError::io("sync folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `contents` to `path` so that the file either does not exist or holds all of it:
/// a temporary file beside it is written, synced and renamed into place, then the folder is
/// synced. Replaces an existing file.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), AuditError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = parent.join(temp_name);

    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .map_err(|e| AuditError::io("create", &temp, e))?;
    file.write_all(contents).map_err(|e| AuditError::io("write", &temp, e))?;
    file.sync_all().map_err(|e| AuditError::io("sync", &temp, e))?;
    drop(file);

    fs::rename(&temp, path).map_err(|e| AuditError::io("rename into place", path, e))?;
    sync_dir(parent)
}
