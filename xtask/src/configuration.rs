//! The configuration check: the gateway's own lint, `mt5-gateway config check`, run and read.
//!
//! The rules live in the gateway (one copy, the one operators run); this check reports what
//! the lint prints, one `pass|FAIL  <rule> <detail>` line per rule, and trusts its exit code:
//! 0 every rule holds, 1 some rule failed, 2 the configuration does not load.

use std::ffi::OsStr;
use std::path::Path;

use crate::gateway::{Gateway, last_lines};
use crate::report::Outcome;

const NAME: &str = "configuration";

const REMEDY: &str = "fix each FAIL line in config/local.toml, the file given with --config, or \
                      the MT5GW__SECTION__KEY environment variables; `mt5-gateway config check` \
                      shows the same lines";

/// One rule's verdict as the lint printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub passed: bool,
    pub name: String,
    pub detail: String,
}

/// Runs the lint on the configuration the gateway would load in `workdir`, or on `config`.
pub fn check(gateway: &anyhow::Result<Gateway>, workdir: &Path, config: Option<&Path>) -> Outcome {
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
    args.extend([OsStr::new("config"), OsStr::new("check")]);
    let output = match gateway.run(workdir, &args) {
        Ok(output) => output,
        Err(err) => return Outcome::fail(NAME, vec![format!("{err:#}")], REMEDY),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rules = parse_lint(&stdout);

    // What was checked: the lint names the files it loaded.
    let sources: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("configuration: "))
        .map(|source| format!("loaded {source}"))
        .collect();
    let failed: Vec<&Rule> = rules.iter().filter(|rule| !rule.passed).collect();

    let code = output.status.code();
    if code == Some(2) {
        let mut evidence = vec!["the configuration does not load".to_owned()];
        evidence.push(last_lines(stderr.trim(), 10));
        return Outcome::fail(NAME, evidence, "fix the error shown; the gateway refuses to start");
    }
    if rules.is_empty() || !matches!(code, Some(0 | 1)) {
        let mut evidence = vec![format!("unexpected output from config check (exit {code:?})")];
        evidence.push(last_lines(&format!("{stdout}{stderr}"), 10));
        return Outcome::fail(NAME, evidence, REMEDY);
    }

    let mut evidence = vec![if failed.is_empty() {
        format!("{0} of {0} rules pass", rules.len())
    } else {
        let names: Vec<&str> = failed.iter().map(|rule| rule.name.as_str()).collect();
        format!("{} of {} rules fail: {}", failed.len(), rules.len(), names.join(", "))
    }];
    evidence.extend(sources);
    evidence.extend(rules.iter().map(|rule| {
        let verdict = if rule.passed { "pass" } else { "FAIL" };
        format!("{verdict} {}: {}", rule.name, rule.detail)
    }));
    // Both must agree: an exit code of 0 beside a FAIL line is not a pass.
    if code == Some(0) && failed.is_empty() {
        Outcome::pass(NAME, evidence)
    } else {
        Outcome::fail(NAME, evidence, REMEDY)
    }
}

/// The rule lines of the lint's output; other lines are ignored.
pub fn parse_lint(stdout: &str) -> Vec<Rule> {
    stdout
        .lines()
        .filter_map(|line| {
            let (verdict, rest) = line.split_once(char::is_whitespace)?;
            let passed = match verdict {
                "pass" => true,
                "FAIL" => false,
                _ => return None,
            };
            let rest = rest.trim_start();
            let (name, detail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Some(Rule { passed, name: name.to_owned(), detail: detail.trim().to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::test_gateway::gateway;

    fn run(env: &[(&str, &str)], config: Option<&str>) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let mut gateway = gateway().isolated();
        for (name, value) in env {
            gateway = gateway.env(name, value);
        }
        let config = config.map(|text| {
            let file = dir.path().join("gateway.toml");
            fs::write(&file, text).unwrap();
            file
        });
        check(&Ok(gateway), dir.path(), config.as_deref())
    }

    #[test]
    fn lint_lines_are_read_and_other_lines_skipped() {
        let stdout = "configuration: /x/config/default.toml\n\
                      pass  loopback-bind    listens on 127.0.0.1, reachable from here only\n\
                      FAIL  cors-origins     \"*\" allows every web page\n\
                      1 problem(s) found\n";
        assert_eq!(
            parse_lint(stdout),
            [
                Rule {
                    passed: true,
                    name: "loopback-bind".into(),
                    detail: "listens on 127.0.0.1, reachable from here only".into(),
                },
                Rule {
                    passed: false,
                    name: "cors-origins".into(),
                    detail: "\"*\" allows every web page".into(),
                },
            ]
        );
    }

    #[test]
    fn default_configuration_passes() {
        let outcome = run(&[], None);
        assert!(outcome.passed(), "{outcome:?}");
        assert!(outcome.evidence.iter().any(|line| line.starts_with("pass tls-or-loopback")));
    }

    #[test]
    fn binding_every_interface_without_tls_fails() {
        let outcome = run(&[("MT5GW__SERVER__BIND", "0.0.0.0")], None);
        assert!(!outcome.passed(), "{outcome:?}");
        assert!(outcome.evidence[0].contains("tls-or-loopback"), "{outcome:?}");
        assert!(outcome.evidence.iter().any(|line| line.starts_with("FAIL tls-or-loopback")));
    }

    #[test]
    fn a_wildcard_cors_origin_fails() {
        // The gateway refuses to load it at all, naming the setting.
        let outcome = run(&[("MT5GW__SERVER__CORS_ORIGINS", "*")], None);
        assert!(!outcome.passed(), "{outcome:?}");
        assert_eq!(outcome.evidence[0], "the configuration does not load");
        let said = outcome.evidence.join("\n");
        assert!(said.contains("server.cors_origins") && said.contains("wildcard"), "{said}");
    }

    #[test]
    fn a_configuration_file_can_be_linted_instead() {
        // `--config` replaces the default file, so start from a whole one.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let default = fs::read_to_string(root.join("config/default.toml")).unwrap();
        let exposed = default.replacen("bind = \"127.0.0.1\"", "bind = \"0.0.0.0\"", 1);
        assert_ne!(exposed, default, "config/default.toml no longer sets server.bind");
        let outcome = run(&[], Some(&exposed));
        assert!(!outcome.passed(), "{outcome:?}");
        assert!(outcome.evidence.iter().any(|line| line.contains("gateway.toml")), "{outcome:?}");
    }

    #[test]
    fn a_configuration_that_does_not_load_fails() {
        let outcome = run(&[("MT5GW__SERVER__PORT", "not-a-port")], None);
        assert!(!outcome.passed());
        assert_eq!(outcome.evidence[0], "the configuration does not load");
    }

    #[test]
    fn a_gateway_that_did_not_build_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = check(&Err(anyhow::anyhow!("compile error")), dir.path(), None);
        assert!(!outcome.passed());
        assert!(outcome.evidence[0].contains("compile error"));
    }
}
