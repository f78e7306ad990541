//! The `mt5-gateway` binary, built from this workspace and run for its own checks.
//!
//! The configuration lint and the audit-log verifier live in the gateway; the audit runs them
//! through the binary so that it judges exactly what an operator's gateway would.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context as _, bail};

/// How to run the gateway: which binary, and which environment it sees.
#[derive(Debug, Clone)]
pub struct Gateway {
    binary: PathBuf,
    /// Whether `MT5GW__…` variables of this process are hidden from the gateway.
    isolated: bool,
    env: Vec<(OsString, OsString)>,
}

impl Gateway {
    /// Runs `binary` with this process's environment, overrides included: the configuration
    /// it checks is then the effective one.
    pub fn new(binary: PathBuf) -> Self {
        Self { binary, isolated: false, env: Vec::new() }
    }

    /// Hides this process's `MT5GW…` variables, so only [`Gateway::env`] settings count.
    #[cfg(test)]
    pub fn isolated(mut self) -> Self {
        self.isolated = true;
        self
    }

    /// Sets one variable for the gateway, such as `MT5GW__SERVER__BIND`.
    #[cfg(test)]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Builds `mt5-gateway` from the workspace at `root` and returns its path.
    pub fn build(root: &Path) -> anyhow::Result<Self> {
        let output = Command::new(cargo())
            .current_dir(root)
            .args(["build", "--quiet", "--package", "api-server", "--bin", "mt5-gateway"])
            .args(["--message-format", "json-render-diagnostics"])
            .output()
            .context("cannot run cargo")?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("cargo build of mt5-gateway failed: {}", last_lines(&stderr, 20));
        }

        // Cargo names the built executable in its artifact messages; asking it is more robust
        // than guessing the target folder (CARGO_TARGET_DIR, profiles, build-dir).
        let stdout = String::from_utf8_lossy(&output.stdout);
        let executable = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter(|message| message["target"]["name"] == "mt5-gateway")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from));
        match executable {
            Some(binary) => Ok(Self::new(binary)),
            None => bail!("cargo built mt5-gateway but did not say where"),
        }
    }

    /// Runs the gateway in `workdir` with `args` and waits for it.
    pub fn run(&self, workdir: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<Output> {
        let mut command = Command::new(&self.binary);
        command.current_dir(workdir).args(args);
        if self.isolated {
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().to_ascii_uppercase().starts_with("MT5GW") {
                    command.env_remove(name);
                }
            }
        }
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        command.output().with_context(|| format!("cannot run {}", self.binary.display()))
    }
}

/// The cargo that runs this task, so a toolchain override carries through.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The last `count` lines of `text`, for evidence that stays readable.
pub fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
