//! The dependency check: cargo-deny's advisories, bans, licences and sources against `deny.toml`.
//!
//! cargo-deny reads an advisory database only as a git repository (it asks git for the date of
//! `HEAD`) kept under its `db-path`, in a folder named after the database's URL. An offline
//! snapshot of plain files is therefore copied into `target/advisory-db/<that folder>`, made
//! into a one-commit repository, and cargo-deny runs `--offline` with `db-path` pointed there
//! through a generated copy of `deny.toml`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::gateway::{cargo, last_lines};
use crate::report::Outcome;

const NAME: &str = "dependencies";

/// The only cargo-deny version the audit accepts; installed with `--locked` when missing.
pub const CARGO_DENY_VERSION: &str = "0.20.2";

/// The folder cargo-deny 0.20 looks for under `db-path` for the database URL in `deny.toml`:
/// the URL's last path segment, `-`, and the `XxHash64` (seed `0xca80de71`) of the lowercased URL
/// `https://github.com/rustsec/advisory-db`, as 16 hex digits. Its error output names the
/// folder it looked for, which is how a change in a new version would show.
pub const ADVISORY_DB_FOLDER: &str = "advisory-db-3157b0e258782691";

/// The cargo-deny checks run, in order.
const DENY_CHECKS: [&str; 4] = ["advisories", "bans", "licenses", "sources"];

const REMEDY: &str = "read the errors above: update or replace the crate an advisory names, \
                      remove a crate from a source other than crates.io, or allow its licence in \
                      deny.toml only if it is permissive (copyleft only as a per-crate exception)";

const STOPPED_REMEDY: &str = "fix the error cargo-deny reports; without network access to the \
                              advisory database, pass --advisory-db PATH to an offline snapshot";

/// Runs cargo-deny for the workspace at `root`, with the database snapshot `advisory_db` when
/// given and a fetched database otherwise. Scratch files go under `target`.
pub fn check(root: &Path, target: &Path, advisory_db: Option<&Path>) -> Outcome {
    match run(root, target, advisory_db) {
        Ok(outcome) => outcome,
        Err(err) => Outcome::fail(
            NAME,
            vec![format!("cargo-deny could not run: {err:#}")],
            format!(
                "install cargo-deny with `cargo install --locked cargo-deny@{CARGO_DENY_VERSION}` \
                 and check the advisory database path"
            ),
        ),
    }
}

fn run(root: &Path, target: &Path, advisory_db: Option<&Path>) -> anyhow::Result<Outcome> {
    let mut evidence = vec![ensure_cargo_deny()?];

    // 1. The configuration: deny.toml as it is, or a copy reading the prepared snapshot.
    let policy = root.join("deny.toml");
    let policy_text =
        fs::read_to_string(&policy).with_context(|| format!("cannot read {}", policy.display()))?;
    let config = if let Some(snapshot) = advisory_db {
        let db_root = target.join("advisory-db");
        let prepared = prepare_snapshot(snapshot, &db_root)?;
        evidence.push(format!(
            "advisory database: offline snapshot {} ({} advisories, newest dated {})",
            snapshot.display(),
            prepared.advisories,
            prepared.newest.as_deref().unwrap_or("unknown"),
        ));
        let generated = target.join("audit").join("deny.toml");
        fs::create_dir_all(target.join("audit"))?;
        fs::write(&generated, with_db_path(&policy_text, &db_root)?)?;
        generated
    } else {
        evidence.push("advisory database: fetched by cargo-deny".to_owned());
        policy
    };

    // 2. Every package's sources, so cargo-deny's own offline metadata call finds them all,
    // including those for other platforms. Only the registry is contacted, and only for what
    // is missing; a failure here shows up again, clearer, in cargo-deny's own output.
    let _ = Command::new(cargo()).current_dir(root).args(["fetch", "--locked", "--quiet"]).status();

    // 3. cargo-deny itself, with machine-readable diagnostics on stderr.
    let mut command = Command::new(cargo());
    command.current_dir(root).arg("deny");
    if advisory_db.is_some() {
        command.arg("--offline");
    }
    command
        .args(["--format", "json", "--color", "never", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--config")
        .arg(&config)
        .arg("check")
        .args(DENY_CHECKS);
    let output = command.output().context("cannot run cargo deny")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let findings = parse_diagnostics(&stderr);

    let Some(summary) = findings.summary else {
        // Stopped before checking anything: no database, no metadata, a bad deny.toml.
        evidence.insert(0, "cargo-deny stopped before reporting".to_owned());
        if findings.errors.is_empty() {
            evidence.push(format!("cargo-deny output: {}", last_lines(&stderr, 15)));
        }
        evidence.extend(findings.errors);
        return Ok(Outcome::fail(NAME, evidence, STOPPED_REMEDY));
    };
    let held = output.status.success() && findings.errors.is_empty();
    evidence.insert(0, summary);
    evidence.extend(findings.errors);
    evidence.extend(findings.duplicates.iter().map(|line| format!("duplicate versions: {line}")));
    evidence.extend(findings.warnings);
    Ok(if held { Outcome::pass(NAME, evidence) } else { Outcome::fail(NAME, evidence, REMEDY) })
}

/// Checks that the pinned cargo-deny is installed, installing it otherwise.
fn ensure_cargo_deny() -> anyhow::Result<String> {
    let installed = Command::new(cargo())
        .args(["deny", "--version"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    let wanted = format!("cargo-deny {CARGO_DENY_VERSION}");
    if installed.as_deref() == Some(wanted.as_str()) {
        return Ok(format!("{wanted} installed"));
    }

    let started = Instant::now();
    let status = Command::new(cargo())
        .args(["install", "--locked", "--quiet"])
        .arg(format!("cargo-deny@{CARGO_DENY_VERSION}"))
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!("`cargo install --locked cargo-deny@{CARGO_DENY_VERSION}` failed");
    }
    let found = installed.unwrap_or_else(|| "none".to_owned());
    Ok(format!("{wanted} installed in {} s (found: {found})", started.elapsed().as_secs()))
}

/// What the snapshot held.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Number of advisory files.
    pub advisories: usize,
    /// The newest advisory's `date`, as written (YYYY-MM-DD).
    pub newest: Option<String>,
}

/// Copies the plain-file database `snapshot` into `db_root/ADVISORY_DB_FOLDER` and commits it
/// there, replacing any earlier copy.
///
/// The commit is dated by the newest advisory so that the repository claims no more freshness
/// than the snapshot has; cargo-deny's staleness limit still counts from when the copy was
/// made (the modification time of `.git/HEAD`), which is when the snapshot was handed over.
pub fn prepare_snapshot(snapshot: &Path, db_root: &Path) -> anyhow::Result<Snapshot> {
    if !snapshot.join("crates").is_dir() {
        bail!("{} is not an advisory database (no crates/ folder)", snapshot.display());
    }
    let repository = db_root.join(ADVISORY_DB_FOLDER);
    if repository.exists() {
        make_writable(&repository)?;
        fs::remove_dir_all(&repository)
            .with_context(|| format!("cannot remove {}", repository.display()))?;
    }
    let mut found = Snapshot { advisories: 0, newest: None };
    copy_tree(snapshot, &repository, &mut found)?;

    let date = found.newest.as_ref().map(|day| format!("{day}T00:00:00Z"));
    git(&repository, &["init", "--quiet"], None)?;
    git(&repository, &["add", "--all"], None)?;
    git(
        &repository,
        &["commit", "--quiet", "--no-verify", "--message", "advisory database snapshot"],
        date.as_deref(),
    )?;
    Ok(found)
}

fn copy_tree(from: &Path, to: &Path, found: &mut Snapshot) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let source = entry.path();
        let destination = to.join(&name);
        if entry.file_type()?.is_dir() {
            if name != ".git" {
                copy_tree(&source, &destination, found)?;
            }
            continue;
        }
        fs::copy(&source, &destination)
            .with_context(|| format!("cannot copy {}", source.display()))?;
        if source.extension().is_some_and(|ext| ext == "md")
            && source.components().any(|part| part.as_os_str() == "crates")
        {
            found.advisories += 1;
            let text = fs::read_to_string(&source).unwrap_or_default();
            if let Some(date) = advisory_date(&text)
                && found.newest.as_deref().is_none_or(|newest| date.as_str() > newest)
            {
                found.newest = Some(date);
            }
        }
    }
    Ok(())
}

/// The `date = "YYYY-MM-DD"` line of an advisory's front matter.
fn advisory_date(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("date = \"")?.strip_suffix('"')?;
        let shaped = value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        shaped.then(|| value.to_owned())
    })
}

/// A read-only snapshot copies as read-only files; removing the copy needs write access.
fn make_writable(path: &Path) -> anyhow::Result<()> {
    let metadata = fs::symlink_metadata(path)?;
    if metadata.is_dir() {
        let mut permissions = metadata.permissions();
        #[allow(clippy::permissions_set_readonly_false, reason = "our own scratch copy")]
        permissions.set_readonly(false);
        fs::set_permissions(path, permissions)?;
        for entry in fs::read_dir(path)? {
            make_writable(&entry?.path())?;
        }
    }
    Ok(())
}

fn git(repository: &Path, args: &[&str], date: Option<&str>) -> anyhow::Result<()> {
    let mut command = Command::new("git");
    command
        .current_dir(repository)
        .args(["-c", "user.name=xtask audit", "-c", "user.email=audit@localhost"])
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args);
    if let Some(date) = date {
        command.env("GIT_AUTHOR_DATE", date).env("GIT_COMMITTER_DATE", date);
    }
    let output = command.output().context("cannot run git")?;
    if !output.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// `policy` with `db-path` set to `db_root` in its `[advisories]` table.
pub fn with_db_path(policy: &str, db_root: &Path) -> anyhow::Result<String> {
    let Some(db_root) = db_root.to_str() else {
        bail!("the advisory database path {} is not UTF-8", db_root.display());
    };
    // A TOML basic string: backslashes and quotes escaped, so any folder name survives.
    let quoted = format!("\"{}\"", db_root.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::with_capacity(policy.len() + quoted.len() + 16);
    let mut placed = false;
    for line in policy.lines() {
        if line.trim_start().starts_with("db-path") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim() == "[advisories]" {
            let _ = writeln!(out, "db-path = {quoted}");
            placed = true;
        }
    }
    if !placed {
        let _ = write!(out, "\n[advisories]\ndb-path = {quoted}\n");
    }
    Ok(out)
}

/// What cargo-deny reported.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// `advisories ok, bans ok (9 warnings), …`, from the summary record.
    pub summary: Option<String>,
    pub errors: Vec<String>,
    /// One line per crate found in more than one version: `syn 2.0.119, 3.0.10`.
    pub duplicates: Vec<String>,
    pub warnings: Vec<String>,
}

/// Reads cargo-deny's `--format json` output, one JSON record per line.
pub fn parse_diagnostics(stderr: &str) -> Diagnostics {
    let mut found = Diagnostics::default();
    for line in stderr.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            // Not a record: cargo or git talking. An error among them still counts.
            if line.contains("error") {
                found.errors.push(line.to_owned());
            }
            continue;
        };
        let fields = &record["fields"];
        match record["type"].as_str() {
            Some("summary") => found.summary = Some(summary(fields)),
            Some("diagnostic") => {
                let code = fields["code"].as_str().unwrap_or("");
                match fields["severity"].as_str() {
                    Some("error") => found.errors.push(describe(fields)),
                    Some("warning") if code == "duplicate" => {
                        found.duplicates.push(duplicate(fields));
                    }
                    Some("warning") => found.warnings.push(describe(fields)),
                    _ => {}
                }
            }
            Some("log") if fields["level"].as_str() == Some("ERROR") => {
                let message = fields["message"].as_str().unwrap_or("").trim();
                found.errors.push(format!("cargo-deny: {message}"));
            }
            _ => {}
        }
    }
    found
}

fn summary(fields: &Value) -> String {
    let parts: Vec<String> = DENY_CHECKS
        .iter()
        .map(|check| {
            let counts = &fields[*check];
            let errors = counts["errors"].as_u64().unwrap_or(0);
            let warnings = counts["warnings"].as_u64().unwrap_or(0);
            let verdict = if counts.is_null() {
                "not run"
            } else if errors == 0 {
                "ok"
            } else {
                "FAILED"
            };
            match (errors, warnings) {
                (0, 0) => format!("{check} {verdict}"),
                (0, w) => format!("{check} {verdict} ({w} warnings)"),
                (e, w) => format!("{check} {verdict} ({e} errors, {w} warnings)"),
            }
        })
        .collect();
    parts.join(", ")
}

/// `error [code] crate version: message (labels) advisory-id`.
fn describe(fields: &Value) -> String {
    let severity = fields["severity"].as_str().unwrap_or("");
    let code = fields["code"].as_str().unwrap_or("");
    let message = fields["message"].as_str().unwrap_or("");
    let mut text = format!("{severity} [{code}]");
    let krate = &fields["graphs"][0]["Krate"];
    if let (Some(name), Some(version)) = (krate["name"].as_str(), krate["version"].as_str()) {
        let _ = write!(text, " {name} {version}");
    }
    let _ = write!(text, ": {message}");
    let advisory = &fields["advisory"];
    if let Some(id) = advisory["id"].as_str() {
        let _ = write!(text, " {id} ({})", advisory["title"].as_str().unwrap_or(""));
    }
    let labels: Vec<String> = fields["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|label| {
            let message = label["message"].as_str().filter(|m| !m.is_empty())?;
            Some(format!("{message}: {}", label["span"].as_str().unwrap_or("")))
        })
        .collect();
    if !labels.is_empty() {
        let _ = write!(text, " ({})", labels.join("; "));
    }
    text
}

/// `name v1, v2` from a duplicate diagnostic's lock-entry label.
fn duplicate(fields: &Value) -> String {
    let mut name = String::new();
    let mut versions = Vec::new();
    if let Some(graphs) = fields["graphs"].as_array() {
        for graph in graphs {
            if let Some(krate) = graph["Krate"]["name"].as_str() {
                krate.clone_into(&mut name);
            }
            if let Some(version) = graph["Krate"]["version"].as_str() {
                versions.push(version.to_owned());
            }
        }
    }
    if name.is_empty() {
        return fields["message"].as_str().unwrap_or("").to_owned();
    }
    format!("{name} {}", versions.join(", "))
}

/// Where `--advisory-db` resolves, relative to the working directory the user typed it in.
pub fn resolve(path: &Path) -> anyhow::Result<PathBuf> {
    fs::canonicalize(path).with_context(|| format!("advisory database {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_path_is_placed_in_the_advisories_table() {
        let policy = "[advisories]\ndb-path = \"~/old\"\nyanked = \"deny\"\n[bans]\n";
        let text = with_db_path(policy, Path::new("/tmp/a \"b\"")).unwrap();
        assert_eq!(
            text,
            "[advisories]\ndb-path = \"/tmp/a \\\"b\\\"\"\nyanked = \"deny\"\n[bans]\n"
        );
        let text = with_db_path("[bans]\n", Path::new("/db")).unwrap();
        assert!(text.ends_with("[advisories]\ndb-path = \"/db\"\n"), "{text}");
    }

    #[test]
    fn the_repository_policy_is_accepted_with_a_db_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let policy = fs::read_to_string(root.join("deny.toml")).unwrap();
        let text = with_db_path(&policy, Path::new("/db")).unwrap();
        assert_eq!(text.lines().filter(|line| line.starts_with("db-path")).count(), 1);
        assert!(text.contains("[advisories]\ndb-path = \"/db\"\n"));
    }

    #[test]
    fn snapshot_becomes_a_dated_git_repository() {
        let snapshot = tempfile::tempdir().unwrap();
        let crates = snapshot.path().join("crates/demo");
        fs::create_dir_all(&crates).unwrap();
        fs::write(crates.join("RUSTSEC-2020-0001.md"), "```toml\ndate = \"2020-01-02\"\n```\n")
            .unwrap();
        fs::write(crates.join("RUSTSEC-2021-0001.md"), "```toml\ndate = \"2021-03-04\"\n```\n")
            .unwrap();
        fs::write(snapshot.path().join("README.md"), "not an advisory\n").unwrap();

        let target = tempfile::tempdir().unwrap();
        // Twice: the second run replaces the first copy.
        prepare_snapshot(snapshot.path(), target.path()).unwrap();
        let found = prepare_snapshot(snapshot.path(), target.path()).unwrap();
        assert_eq!(found, Snapshot { advisories: 2, newest: Some("2021-03-04".into()) });

        let repository = target.path().join(ADVISORY_DB_FOLDER);
        let output = Command::new("git")
            .current_dir(&repository)
            .args(["show", "-s", "--format=%cI", "HEAD"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2021-03-04T00:00:00Z");
        assert!(repository.join("crates/demo/RUSTSEC-2021-0001.md").is_file());
    }

    #[test]
    fn a_folder_without_advisories_is_refused() {
        let empty = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        let err = prepare_snapshot(empty.path(), target.path()).unwrap_err();
        assert!(err.to_string().contains("not an advisory database"), "{err}");
    }

    /// Records as cargo-deny 0.20 writes them, trimmed.
    const SAMPLE: &str = r#"
{"fields":{"code":"duplicate","graphs":[{"Krate":{"name":"syn","version":"2.0.119"}},{"Krate":{"name":"syn","version":"3.0.10"}}],"labels":[],"message":"found 2 duplicate entries for crate 'syn'","severity":"warning"},"type":"diagnostic"}
{"fields":{"code":"rejected","graphs":[{"Krate":{"name":"foldhash","version":"0.2.0"}}],"labels":[{"message":"rejected: license is not explicitly allowed","span":"Zlib"}],"message":"failed to satisfy license requirements","severity":"error"},"type":"diagnostic"}
{"fields":{"code":"license-exception-not-encountered","graphs":[],"labels":[],"message":"license exception was not encountered","severity":"warning"},"type":"diagnostic"}
{"fields":{"advisories":{"errors":0,"helps":0,"notes":0,"warnings":0},"bans":{"errors":0,"helps":0,"notes":0,"warnings":1},"licenses":{"errors":1,"helps":3,"notes":0,"warnings":1},"sources":{"errors":0,"helps":0,"notes":0,"warnings":0}},"type":"summary"}
"#;

    #[test]
    fn diagnostics_are_summarised_with_duplicates_listed() {
        let found = parse_diagnostics(SAMPLE);
        assert_eq!(
            found.summary.as_deref(),
            Some(
                "advisories ok, bans ok (1 warnings), licenses FAILED (1 errors, 1 warnings), \
                 sources ok"
            )
        );
        assert_eq!(found.duplicates, ["syn 2.0.119, 3.0.10"]);
        assert_eq!(
            found.errors,
            ["error [rejected] foldhash 0.2.0: failed to satisfy license requirements \
                 (rejected: license is not explicitly allowed: Zlib)"]
        );
        assert_eq!(found.warnings.len(), 1);
    }
}
