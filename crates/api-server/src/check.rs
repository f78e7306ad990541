//! `mt5-gateway config check`: lint the effective configuration.
//!
//! A configuration that loads can still be unsafe; each rule here is a finding an operator
//! can act on. The same findings feed the repository's security report.

use std::process::ExitCode;

use crate::settings::{Loaded, Settings};

/// One rule's verdict.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Applies every rule to `settings`.
#[must_use]
pub fn lint(settings: &Settings) -> Vec<Finding> {
    let bind = settings.server.bind;
    vec![Finding {
        rule: "loopback-bind",
        passed: bind.is_loopback(),
        detail: if bind.is_loopback() {
            format!("listens on {bind}, reachable from this machine only")
        } else {
            format!("listens on {bind} without TLS: anyone on the network can reach the gateway")
        },
    }]
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
