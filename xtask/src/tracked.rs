//! The files git tracks: what the repository holds, as opposed to what lies in the folder.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

/// Paths of the tracked files of the repository at `root`, relative to it, with `/`.
pub fn tracked_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let output = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z"])
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!("git ls-files failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    Ok(listing.split('\0').filter(|path| !path.is_empty()).map(str::to_owned).collect())
}
