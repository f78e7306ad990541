//! `mt5-gateway config check`: lint the effective configuration.
//!
//! A configuration that loads can still be unsafe; each rule here is a finding an operator
//! can act on. The same findings feed the repository's security report.

use std::path::Path;
use std::process::ExitCode;

use crate::settings::{Loaded, Settings};

/// One rule's verdict.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Refusals before a ban above which the lockout no longer slows a guesser down much.
const MAX_SENSIBLE_FAILURES: u32 = 20;

/// Applies every rule to `settings`.
#[must_use]
pub fn lint(settings: &Settings) -> Vec<Finding> {
    let server = &settings.server;
    let bind = server.bind;
    let tls = server.tls.enabled();
    let mut findings = vec![
        Finding {
            rule: "tls-or-loopback",
            passed: bind.is_loopback() || tls,
            detail: if bind.is_loopback() {
                format!("listens on {bind}, reachable from this machine only")
            } else if tls {
                format!("listens on {bind} with TLS")
            } else {
                format!(
                    "listens on {bind} without TLS: anyone on the network can reach the gateway \
                     and read keys in transit"
                )
            },
        },
        Finding {
            rule: "cors-exact",
            passed: server.cors_origins.iter().all(|origin| !origin.contains('*')),
            detail: format!(
                "{} allowed browser origin(s), none a wildcard",
                server.cors_origins.len()
            ),
        },
        Finding {
            rule: "host-allow-list",
            passed: !server.allowed_hosts.is_empty(),
            detail: if server.allowed_hosts.is_empty() {
                "server.allowed_hosts is empty: only the bind address is accepted".into()
            } else {
                format!("Host must be one of {}", server.allowed_hosts.join(", "))
            },
        },
        Finding {
            rule: "rate-limits",
            passed: settings.rate_limits.enabled,
            detail: if settings.rate_limits.enabled {
                "rate limits on".into()
            } else {
                "rate_limits.enabled is false: any caller may call as fast as it likes".into()
            },
        },
        Finding {
            rule: "lockout",
            passed: settings.auth.lockout.max_failures <= MAX_SENSIBLE_FAILURES,
            detail: format!(
                "a client is banned after {} refused keys (at most {MAX_SENSIBLE_FAILURES} advised)",
                settings.auth.lockout.max_failures
            ),
        },
        Finding {
            rule: "keys-for-reads",
            passed: settings.auth.require_key_for_reads,
            detail: if settings.auth.require_key_for_reads {
                "reads need a key".into()
            } else {
                "auth.require_key_for_reads is false: any local program or web page reads the account"
                    .into()
            },
        },
    ];
    let mut secret_files = vec![&settings.auth.keys_file, &settings.logs.chain_key_file];
    if let Some(key) = &server.tls.key {
        secret_files.push(key);
    }
    for path in secret_files {
        if let Some(finding) = private_file(path) {
            findings.push(finding);
        }
    }
    findings
}

/// A file holding a secret must not be readable by others; `None` when it does not exist yet.
fn private_file(path: &Path) -> Option<Finding> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (passed, mode) = {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        let group_and_others = mode & 0o077;
        (group_and_others == 0, format!("{mode:o}"))
    };
    #[cfg(not(unix))]
    let (passed, mode) = {
        let _ = metadata;
        (true, String::from("(not checked on this platform)"))
    };
    Some(Finding {
        rule: "private-file",
        passed,
        detail: format!(
            "{} has mode {mode}{}",
            path.display(),
            if passed { "" } else { ": chmod 600 it" }
        ),
    })
}

/// Prints the findings; exits 1 when any rule fails.
#[allow(clippy::print_stdout, reason = "the command's own output")]
pub fn run(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    if loaded.files.is_empty() {
        println!("configuration: built-in defaults");
    }
    for file in &loaded.files {
        println!("configuration: {}", file.display());
    }
    let findings = lint(&loaded.settings);
    for finding in &findings {
        let verdict = if finding.passed { "pass" } else { "FAIL" };
        println!("{verdict:4}  {:<16} {}", finding.rule, finding.detail);
    }
    let failed = findings.iter().filter(|finding| !finding.passed).count();
    if failed == 0 {
        println!("configuration ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} problem(s) found");
        Ok(ExitCode::FAILURE)
    }
}
