//! Repository tasks for the MT5 gateway, run with `cargo xtask <task>`.
//!
//! `audit` computes the security report: every line of it is a check that can fail, with the
//! evidence it saw and what to do about it. `ci` runs formatting, clippy and the tests, then
//! the audit, exactly as CI does.

mod audit_logs;
mod ci;
mod configuration;
mod dependencies;
mod gateway;
mod report;
mod secrets;
#[cfg(test)]
mod test_gateway;
mod tracked;
mod unsafe_code;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::gateway::Gateway;
use crate::report::Report;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  audit   dependency, secret, configuration, audit-log and unsafe checks; writes
          target/audit/report.md and report.json; exits 1 when a check fails
  ci      cargo fmt --check, cargo clippy -D warnings, cargo test, then the audit

options (both tasks):
  --advisory-db PATH   offline snapshot of the RustSec advisory database (fetched otherwise)
  --config FILE        lint this gateway configuration instead of config/default.toml
  --logs DIR           verify the audit logs in DIR instead of logs/";

/// The command line, parsed.
#[derive(Debug, Default)]
struct Options {
    advisory_db: Option<PathBuf>,
    config: Option<PathBuf>,
    logs: Option<PathBuf>,
}

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let options = parse_options(args)?;
    let root = workspace_root()?;

    match task.as_deref() {
        Some("audit") => audit(&root, &options),
        Some("ci") => {
            ci::run_steps(&root)?;
            audit(&root, &options)
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => bail!("unknown task\n\n{USAGE}"),
    }
}

fn parse_options(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let slot = match name.as_str() {
            "--advisory-db" => &mut options.advisory_db,
            "--config" => &mut options.config,
            "--logs" => &mut options.logs,
            other => bail!("unknown option {other}\n\n{USAGE}"),
        };
        let Some(value) = inline.or_else(|| args.next()) else {
            bail!("{name} needs a value");
        };
        // Relative to where the command was typed; the checks run from the workspace root.
        *slot = Some(std::path::absolute(&value).with_context(|| format!("{name} {value}"))?);
    }
    if let Some(logs) = &options.logs
        && !logs.is_dir()
    {
        bail!("--logs {}: no such folder", logs.display());
    }
    if let Some(config) = &options.config
        && !config.is_file()
    {
        bail!("--config {}: no such file", config.display());
    }
    Ok(options)
}

/// The workspace this xtask belongs to, whatever folder it is run from.
fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().context("xtask is not inside a workspace")?;
    Ok(root.to_path_buf())
}

fn audit(root: &Path, options: &Options) -> anyhow::Result<ExitCode> {
    let target = root.join("target");
    let advisory_db = options.advisory_db.as_deref().map(dependencies::resolve).transpose()?;
    let logs = options.logs.clone().unwrap_or_else(|| root.join("logs"));
    let config = options.config.as_deref();

    let mut checks = vec![dependencies::check(root, &target, advisory_db.as_deref())];
    checks.extend(repository_checks(root, &Gateway::build(root), config, &logs));
    let report = Report::new(checks);

    print!("{}", report.table());
    let written = target.join("audit");
    report.write(&written)?;
    println!("report: {}", written.join("report.md").display());
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The checks that look at the repository at `root` itself, with the gateway given.
fn repository_checks(
    root: &Path,
    gateway: &anyhow::Result<Gateway>,
    config: Option<&Path>,
    logs: &Path,
) -> Vec<report::Outcome> {
    vec![
        secrets::check(root),
        configuration::check(gateway, root, config),
        audit_logs::check(gateway, root, config, logs),
        unsafe_code::check(root),
    ]
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;

    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        parse_options(args.iter().map(ToString::to_string))
    }

    #[test]
    fn options_take_a_value_in_either_form() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().to_str().unwrap();
        let options = parse(&["--advisory-db", "db", &format!("--logs={logs}")]).unwrap();
        assert!(options.advisory_db.unwrap().is_absolute());
        assert_eq!(options.logs.as_deref(), Some(dir.path()));
    }

    #[test]
    fn clean_tree_passes_every_repository_check() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"crates/*\"]\n[workspace.lints.rust]\n\
                 unsafe_code = \"forbid\"\n[workspace.lints.clippy]\nunwrap_used = \"warn\"\n\
                 expect_used = \"warn\"\n",
            ),
            ("crates/a/Cargo.toml", "[package]\nname = \"a\"\n[lints]\nworkspace = true\n"),
            ("crates/a/src/lib.rs", "//! A crate.\npub fn f() -> u8 { 1 }\n"),
            ("logs/.gitkeep", ""),
            (".env.example", "MT5GW_MASTER_KEY=\n"),
        ];
        for (path, text) in files {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), text).unwrap();
        }
        for args in [&["init", "--quiet"][..], &["add", "--all"]] {
            assert!(Command::new("git").current_dir(root).args(args).status().unwrap().success());
        }

        let gateway = Ok(test_gateway::gateway().isolated());
        let outcomes = repository_checks(root, &gateway, None, &root.join("logs"));
        assert_eq!(outcomes.len(), 4);
        for outcome in outcomes {
            assert!(outcome.passed(), "{outcome:?}");
        }
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [&["--verbose"][..], &["--config"], &["--logs", "/no/such/folder"]] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
