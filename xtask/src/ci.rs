//! `cargo xtask ci`: the checks CI runs, in the same way on a laptop.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::gateway::cargo;

/// Clippy over everything, warnings refused: the workspace's warn-level lints (`unwrap_used`,
/// `expect_used`, pedantic) become errors here.
pub const CLIPPY_ARGS: [&str; 6] =
    ["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"];

/// The steps before the audit, each a cargo command.
const STEPS: [&[&str]; 3] = [&["fmt", "--all", "--check"], &CLIPPY_ARGS, &["test", "--workspace"]];

/// Runs formatting, clippy and the tests in `root`, stopping at the first that fails.
pub fn run_steps(root: &Path) -> anyhow::Result<()> {
    for step in STEPS {
        println!("==> cargo {}", step.join(" "));
        let status = Command::new(cargo())
            .current_dir(root)
            .args(step)
            .status()
            .with_context(|| format!("cannot run cargo {}", step.join(" ")))?;
        if !status.success() {
            bail!("`cargo {}` failed", step.join(" "));
        }
    }
    Ok(())
}
