//! The audit-log check: `mt5-gateway audit verify --dir DIR` over the logs folder.
//!
//! The verifier lives with the logs' writer in the gateway; this check runs it and reads its
//! exit code: 0 every chain holds, 1 a chain is broken (the output names the file, line and
//! reason). A folder without CSV files has nothing to verify and passes.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use crate::gateway::{Gateway, last_lines};
use crate::report::Outcome;

const NAME: &str = "audit logs";

const REMEDY: &str = "a broken chain means a log was edited, truncated or reordered: keep the \
                      folder as evidence, find out who changed it, and start a new log folder";

/// Verifies every log under `logs` with the gateway's own verifier, run in `workdir` with the
/// configuration `config` (the chain key's location comes from it).
pub fn check(
    gateway: &anyhow::Result<Gateway>,
    workdir: &Path,
    config: Option<&Path>,
    logs: &Path,
) -> Outcome {
    let files = csv_files(logs);
    if files == 0 {
        return Outcome::pass(NAME, vec![format!("no logs in {}", logs.display())]);
    }
    let gateway = match gateway {
        Ok(gateway) => gateway,
        Err(err) => {
            return Outcome::fail(
                NAME,
                vec![format!("the gateway did not build: {err:#}")],
                "make `cargo build -p api-server` succeed",
            );
        }
    };

    let mut args: Vec<&OsStr> = Vec::new();
    if let Some(config) = config {
        args.extend([OsStr::new("--config"), config.as_os_str()]);
    }
    args.extend([OsStr::new("audit"), OsStr::new("verify"), OsStr::new("--dir"), logs.as_os_str()]);
    let output = match gateway.run(workdir, &args) {
        Ok(output) => output,
        Err(err) => return Outcome::fail(NAME, vec![format!("{err:#}")], REMEDY),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = last_lines(format!("{stdout}{stderr}").trim(), 10);

    match output.status.code() {
        Some(0) => Outcome::pass(
            NAME,
            vec![format!("{files} log files under {}, every chain holds", logs.display()), said],
        ),
        Some(1) => Outcome::fail(
            NAME,
            vec![format!("a chain is broken under {}", logs.display()), said],
            REMEDY,
        ),
        // A usage error: this gateway does not know the command. That is not a pass.
        Some(2) if is_usage_error(&stderr) => Outcome::fail(
            NAME,
            vec![format!("audit verify unavailable ({files} log files not verified)"), said],
            "build a gateway that has `mt5-gateway audit verify`",
        ),
        code => Outcome::fail(
            NAME,
            vec![format!("audit verify could not run (exit {code:?})"), said],
            "fix the error shown, then run `mt5-gateway audit verify` again",
        ),
    }
}

/// The command-line parser's refusal of an unknown command, as opposed to the gateway's own
/// errors, which are prefixed with its name.
fn is_usage_error(stderr: &str) -> bool {
    stderr.contains("unrecognized subcommand")
        || stderr.contains("unexpected argument")
        || stderr.contains("Usage:")
}

/// Number of `.csv` files in `dir` and below (archives included).
fn csv_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                csv_files(&path)
            } else {
                usize::from(path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("csv")))
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    use super::*;
    use crate::test_gateway::gateway;

    /// A stand-in gateway: a shell script printing `stdout` and `stderr` and exiting `code`,
    /// for the answers the real one cannot be made to give on demand.
    fn stand_in(dir: &Path, stdout: &str, stderr: &str, code: i32) -> Gateway {
        let script = dir.join("mt5-gateway");
        let body =
            format!("#!/bin/sh\nprintf '%s' '{stdout}'\nprintf '%s' '{stderr}' >&2\nexit {code}\n");
        fs::write(&script, body).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        Gateway::new(script)
    }

    fn logs_with_one_file(dir: &Path) -> PathBuf {
        let logs = dir.join("logs");
        fs::create_dir_all(logs.join("archive")).unwrap();
        fs::write(logs.join("archive/security-2026-01-01.csv"), "seq,chain\n1,00\n").unwrap();
        logs
    }

    #[test]
    fn a_folder_without_csv_files_passes_without_running_the_gateway() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".gitkeep"), "").unwrap();
        let missing = Ok(Gateway::new(dir.path().join("no-such-binary")));
        let outcome = check(&missing, dir.path(), None, dir.path());
        assert!(outcome.passed(), "{outcome:?}");
        assert!(outcome.evidence[0].starts_with("no logs"));
    }

    #[test]
    fn the_verifier_exit_code_decides() {
        let dir = tempfile::tempdir().unwrap();
        let logs = logs_with_one_file(dir.path());

        let holds = stand_in(dir.path(), "security.csv: 1 rows ok", "", 0);
        let outcome = check(&Ok(holds), dir.path(), None, &logs);
        assert!(outcome.passed(), "{outcome:?}");
        assert!(outcome.evidence[0].starts_with("1 log files"), "{outcome:?}");

        let broken = stand_in(dir.path(), "security.csv line 2: chain mismatch", "", 1);
        let outcome = check(&Ok(broken), dir.path(), None, &logs);
        assert!(!outcome.passed());
        assert!(outcome.evidence[1].contains("line 2: chain mismatch"), "{outcome:?}");
    }

    #[test]
    fn a_gateway_without_the_verifier_fails_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let logs = logs_with_one_file(dir.path());
        let old = stand_in(dir.path(), "", "error: unrecognized subcommand audit\n\nUsage: x", 2);
        let outcome = check(&Ok(old), dir.path(), None, &logs);
        assert!(!outcome.passed());
        assert!(outcome.evidence[0].starts_with("audit verify unavailable"), "{outcome:?}");
    }

    #[test]
    fn a_log_that_is_not_a_valid_chain_never_passes() {
        // With the real gateway: whether or not it can verify yet, garbage is not a pass.
        let dir = tempfile::tempdir().unwrap();
        let logs = logs_with_one_file(dir.path());
        let outcome = check(&Ok(gateway().isolated()), dir.path(), None, &logs);
        assert!(!outcome.passed(), "{outcome:?}");
    }

    /// Real chained logs written by the audit-log crate, under the chain key where the
    /// gateway's default configuration looks for it (`data/audit-chain.key`).
    fn real_logs(dir: &Path) -> PathBuf {
        use audit_log::{AuditConfig, AuditLogs, SecurityEvent, SecurityEventKind};
        let logs = dir.join("logs");
        let config = AuditConfig::new(&logs, dir.join("data/audit-chain.key"));
        let (sinks, _) = AuditLogs::open(&config).unwrap();
        for detail in ["first", "second", "third"] {
            assert!(
                sinks
                    .security
                    .record(SecurityEvent::new(SecurityEventKind::AuthFailure).detail(detail))
            );
        }
        sinks.close();
        logs
    }

    #[test]
    fn intact_logs_pass_and_a_tampered_log_fails_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let logs = real_logs(dir.path());
        let outcome = check(&Ok(gateway().isolated()), dir.path(), None, &logs);
        assert!(outcome.passed(), "{outcome:?}");

        let path = logs.join("security.csv");
        let text = fs::read_to_string(&path).unwrap();
        let line = text.lines().position(|l| l.contains("second")).unwrap() + 1;
        fs::write(&path, text.replacen("second", "sec0nd", 1)).unwrap();
        let outcome = check(&Ok(gateway().isolated()), dir.path(), None, &logs);
        assert!(!outcome.passed(), "{outcome:?}");
        let evidence = outcome.evidence.join("\n");
        assert!(
            evidence.contains("security.csv") && evidence.contains(&format!("line {line}")),
            "{evidence}"
        );
    }
}
