//! Files only their owner may read: permission checks, atomic replacement, an exclusive lock.
//!
//! The keys file (and any other file of secrets-adjacent data) goes through here so that the
//! same rules hold everywhere: a file readable or writable by group or others is refused, a
//! write either lands whole or not at all, even across a crash, and two processes changing the
//! same file take turns.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Errors reading, writing or locking a private file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateFileError {
    /// The operating system refused an operation.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done: "read", "write", "lock", …
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file's mode lets group or others read or write it.
    #[error(
        "{path} has mode {mode:04o}, which lets other users read or change it; \
         run `chmod 600 {path}`"
    )]
    InsecurePermissions {
        /// The file concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than any legitimate one.
    #[error("{path} is {size} bytes, above the limit of {limit} bytes")]
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Another process held the lock for too long.
    #[error("{path} stayed locked by another process for {waited_secs} s")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited_secs: u64,
    },
}

/// What identifies one version of a file cheaply: length, modification time and, on Unix, the
/// device and inode. An atomic replacement always makes a new inode, so even two writes within
/// the clock's resolution that leave the same length are told apart while the old file is
/// still open elsewhere; in the rare case the inode number is reused, the length and time
/// must also match for a change to go unseen until the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileSignature {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileSignature {
    fn of(metadata: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt as _;
            (metadata.dev(), metadata.ino())
        };
        Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            inode,
        }
    }
}

/// The current signature of `path`, or `None` when there is no such file.
pub(crate) fn signature(path: &Path) -> Result<Option<FileSignature>, PrivateFileError> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(Some(FileSignature::of(&metadata))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error("inspect", path, source)),
    }
}

/// Reads a whole private file, or `None` when it does not exist.
///
/// The signature comes from the same open handle as the content, so the two always match even
/// if the file is replaced meanwhile.
pub(crate) fn read(
    path: &Path,
    limit: u64,
) -> Result<Option<(Vec<u8>, FileSignature)>, PrivateFileError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error("open", path, source)),
    };
    let metadata = file.metadata().map_err(|source| io_error("inspect", path, source))?;
    check_permissions(path, &metadata)?;
    if metadata.len() > limit {
        return Err(PrivateFileError::TooLarge {
            path: path.to_owned(),
            size: metadata.len(),
            limit,
        });
    }

    let mut content = Vec::new();
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut content)
        .map_err(|source| io_error("read", path, source))?;
    let size = u64::try_from(content.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(PrivateFileError::TooLarge { path: path.to_owned(), size, limit });
    }
    Ok(Some((content, FileSignature::of(&metadata))))
}

/// Replaces `path` with `content` so that readers see the old file or the new one, never a mix,
/// and a crash leaves one of the two on disk.
///
/// The steps: write a temporary file with mode 0600 in the same folder (a rename is atomic only
/// within one file system), flush it to disk, rename it over the target, then flush the folder
/// so the rename itself survives a power cut.
pub(crate) fn replace(path: &Path, content: &[u8]) -> Result<FileSignature, PrivateFileError> {
    let folder = parent_folder(path);
    fs::create_dir_all(folder).map_err(|source| io_error("create the folder", folder, source))?;
    let temporary = temporary_path(path);

    let written = write_new(&temporary, content).and_then(|()| {
        fs::rename(&temporary, path).map_err(|source| io_error("replace", path, source))
    });
    if let Err(error) = written {
        // Best effort: the temporary file is ours and useless now; failing to remove it changes
        // nothing about the error worth reporting.
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    sync_folder(folder)?;

    signature(path)?.ok_or_else(|| {
        io_error("inspect", path, io::Error::new(io::ErrorKind::NotFound, "vanished after write"))
    })
}

/// An exclusive lock on a companion lock file, released when dropped.
///
/// The lock is on a separate file because the data file itself is replaced by renaming: a lock
/// on it would stay with the old inode and guard nothing. The lock is advisory, which is enough:
/// every writer of these files is this crate.
#[derive(Debug)]
pub(crate) struct FileLock {
    // Closing the handle releases the lock; holding it is the whole job.
    _file: File,
}

impl FileLock {
    /// Takes the lock on `path`, creating it with mode 0600 if needed, waiting up to `timeout`.
    pub(crate) fn acquire(path: &Path, timeout: Duration) -> Result<Self, PrivateFileError> {
        let folder = parent_folder(path);
        fs::create_dir_all(folder)
            .map_err(|source| io_error("create the folder", folder, source))?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|source| io_error("open", path, source))?;

        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(PrivateFileError::LockTimeout {
                        path: path.to_owned(),
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                Err(TryLockError::Error(source)) => return Err(io_error("lock", path, source)),
            }
        }
    }
}

fn check_permissions(path: &Path, metadata: &fs::Metadata) -> Result<(), PrivateFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o066 != 0 {
            return Err(PrivateFileError::InsecurePermissions { path: path.to_owned(), mode });
        }
    }
    // Windows has no mode bits; a file in the user's profile is private by its folder's ACL.
    #[cfg(not(unix))]
    let _ = (path, metadata);
    Ok(())
}

fn write_new(path: &Path, content: &[u8]) -> Result<(), PrivateFileError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| io_error("create", path, source))?;
    file.write_all(content).map_err(|source| io_error("write", path, source))?;
    file.sync_all().map_err(|source| io_error("flush", path, source))
}

fn sync_folder(folder: &Path) -> Result<(), PrivateFileError> {
    // Only Unix can open a folder to flush it; elsewhere the rename is as durable as it gets.
    #[cfg(unix)]
    File::open(folder)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| io_error("flush the folder", folder, source))?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A name no other writer uses: the process id and a per-process counter.
fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    parent_folder(path).join(format!(".{name}.{}.{serial}.tmp", std::process::id()))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> PrivateFileError {
    PrivateFileError::Io { action, path: path.to_owned(), source }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn replace_writes_an_owner_only_file_and_leaves_no_temporary() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("data.json");
        let first = replace(&path, b"one").unwrap();
        let second = replace(&path, b"two").unwrap();

        assert_ne!(first, second);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(folder.path()).unwrap().count(), 1);
        assert_eq!(signature(&path).unwrap(), Some(second));
    }

    #[test]
    fn read_refuses_a_file_others_can_read() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("data.json");
        replace(&path, b"{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        let error = read(&path, 1024).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("mode 0644"), "{message}");
        assert!(message.contains(&format!("chmod 600 {}", path.display())), "{message}");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&path, 1024).unwrap().unwrap().0, b"{}");
    }

    #[test]
    fn read_refuses_an_oversized_file_and_reports_a_missing_one() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("data.json");
        assert!(read(&path, 10).unwrap().is_none());
        replace(&path, &[b'x'; 11]).unwrap();
        let error = read(&path, 10).unwrap_err();
        assert!(error.to_string().contains("11 bytes, above the limit of 10 bytes"));
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("data.lock");
        let held = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let error = FileLock::acquire(&path, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(error, PrivateFileError::LockTimeout { .. }));
        drop(held);
        assert!(FileLock::acquire(&path, Duration::from_millis(30)).is_ok());
        assert_eq!(mode(&path), 0o600);
    }
}
