//! The unsafe-and-panics check: the lint table forbids `unsafe` and warns on `unwrap`/`expect`,
//! every crate takes that table, and no tracked Rust file writes `unsafe`.
//!
//! The lints are the authority: with `unsafe_code = "forbid"` no crate can compile an `unsafe`
//! block, and a forbid cannot be lowered by an `allow`. The token scan backs that up for files
//! the lint table would not reach (a crate that forgot `[lints] workspace = true`, a stray
//! build script) and names the line.

use std::fs;
use std::path::Path;

use crate::ci::CLIPPY_ARGS;
use crate::report::Outcome;
use crate::tracked::tracked_files;

const NAME: &str = "unsafe and panics";

const REMEDY: &str = "add `[lints] workspace = true` to every crate's Cargo.toml, keep \
                      `unsafe_code = \"forbid\"` and `unwrap_used`/`expect_used` at warn or \
                      deny in [workspace.lints], and remove each `unsafe` listed";

/// Checks the workspace at `root`.
pub fn check(root: &Path) -> Outcome {
    let files = match tracked_files(root) {
        Ok(files) => files,
        Err(err) => {
            return Outcome::fail(NAME, vec![format!("cannot list files: {err:#}")], REMEDY);
        }
    };
    let mut problems = Vec::new();
    let mut facts = Vec::new();

    // 1. The workspace lint table.
    let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let rust_lints = table(&workspace, "workspace.lints.rust");
    let clippy_lints = table(&workspace, "workspace.lints.clippy");
    match level(&rust_lints, "unsafe_code").as_deref() {
        Some("forbid") => facts.push("workspace lints: unsafe_code = forbid".to_owned()),
        other => problems.push(format!("workspace lints: unsafe_code is {other:?}, not forbid")),
    }
    for lint in ["unwrap_used", "expect_used"] {
        match level(&clippy_lints, lint).as_deref() {
            Some(found @ ("warn" | "deny" | "forbid")) => {
                facts.push(format!("workspace lints: clippy::{lint} = {found}"));
            }
            other => problems.push(format!("workspace lints: clippy::{lint} is {other:?}")),
        }
    }
    let denies_warnings = CLIPPY_ARGS.windows(2).any(|pair| pair == ["-D", "warnings"]);
    if denies_warnings {
        facts.push(format!(
            "`cargo xtask ci` runs `cargo {}`, so a warned lint fails CI; tests and start-up \
             code may unwrap where clippy.toml allows it",
            CLIPPY_ARGS.join(" ")
        ));
    } else {
        problems.push("`cargo xtask ci` does not run clippy with -D warnings".to_owned());
    }

    // 2. Every crate takes the table.
    let manifests: Vec<&String> = files
        .iter()
        .filter(|path| path.ends_with("Cargo.toml") && path.as_str() != "Cargo.toml")
        .collect();
    let mut crates = 0;
    for manifest in &manifests {
        let text = fs::read_to_string(root.join(manifest.as_str())).unwrap_or_default();
        if table(&text, "package").is_empty() {
            continue;
        }
        crates += 1;
        if level(&table(&text, "lints"), "workspace").as_deref() != Some("true") {
            problems.push(format!("{manifest}: no `[lints] workspace = true`"));
        }
    }
    facts.push(format!("{crates} crate manifests take the workspace lints"));

    // 3. No `unsafe` written in any tracked Rust file.
    let sources: Vec<&String> = files
        .iter()
        .filter(|path| Path::new(path.as_str()).extension().is_some_and(|ext| ext == "rs"))
        .collect();
    for source in &sources {
        let text = fs::read_to_string(root.join(source.as_str())).unwrap_or_default();
        for line in unsafe_lines(&text) {
            problems.push(format!("{source}:{line}: `unsafe`"));
        }
    }
    facts.push(format!(
        "{} tracked .rs files hold no `unsafe` token outside comments and literals (a token \
         scan: it does not see unsafe code that macros expand to, nor dependencies' code)",
        sources.len()
    ));

    if problems.is_empty() {
        let mut evidence =
            vec!["unsafe forbidden, unwrap/expect linted, every crate covered".into()];
        evidence.extend(facts);
        Outcome::pass(NAME, evidence)
    } else {
        let mut evidence = vec![format!("{} problems", problems.len())];
        evidence.extend(problems);
        evidence.extend(facts);
        Outcome::fail(NAME, evidence, REMEDY)
    }
}

/// The `key = value` lines of the TOML table `[name]`, comments dropped. A line scan, enough
/// for the flat lint tables of our manifests.
fn table(toml: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    let mut inside = false;
    let mut entries = Vec::new();
    for line in toml.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if inside && let Some((key, value)) = line.split_once('=') {
            entries.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    entries
}

/// A lint's level from `name = "warn"` or `name = { level = "warn", … }`; `true` for a flag.
fn level(entries: &[(String, String)], name: &str) -> Option<String> {
    let (_, value) = entries.iter().find(|(key, _)| key == name)?;
    let value = match value.strip_prefix('{') {
        Some(inline) => inline.split("level").nth(1)?.split_once('=')?.1.split(',').next()?,
        None => value.as_str(),
    };
    Some(value.trim().trim_end_matches('}').trim().trim_matches('"').to_owned())
}

/// The 1-based lines on which the keyword `unsafe` appears as code: comments, string, byte,
/// raw and character literals skipped, `r#unsafe` (an identifier) not counted.
pub fn unsafe_lines(source: &str) -> Vec<usize> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(bytes[i] == b'\n');
                        i += 1;
                    }
                }
            }
            b'"' => i = skip_string(bytes, i + 1, &mut line),
            b'\'' => i = skip_char_or_lifetime(bytes, i),
            _ if byte.is_ascii_alphabetic() || byte == b'_' => {
                let end = i + bytes[i..]
                    .iter()
                    .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
                    .count();
                let word = &bytes[i..end];
                let next = bytes.get(end).copied();
                i = match (word, next) {
                    (b"r" | b"br" | b"cr", Some(b'#' | b'"')) => {
                        let hashes = bytes[end..].iter().take_while(|&&b| b == b'#').count();
                        if bytes.get(end + hashes) == Some(&b'"') {
                            skip_raw_string(bytes, end + hashes + 1, hashes, &mut line)
                        } else {
                            // `r#name`: a raw identifier, whatever the name.
                            let name = end + hashes;
                            name + bytes[name..]
                                .iter()
                                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
                                .count()
                        }
                    }
                    (b"b" | b"c", Some(b'"')) => skip_string(bytes, end + 1, &mut line),
                    (b"b", Some(b'\'')) => skip_char_or_lifetime(bytes, end),
                    _ => {
                        if word == b"unsafe" {
                            found.push(line);
                        }
                        end
                    }
                };
            }
            _ => i += 1,
        }
    }
    found.dedup();
    found
}

/// Skips a string body starting at `i` (just past the quote); returns the index past the
/// closing quote.
fn skip_string(bytes: &[u8], mut i: usize, line: &mut usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                // An escaped line break still moves to the next line.
                *line += usize::from(bytes.get(i + 1) == Some(&b'\n'));
                i += 2;
            }
            b'"' => return i + 1,
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

fn skip_raw_string(bytes: &[u8], mut i: usize, hashes: usize, line: &mut usize) -> usize {
    while i < bytes.len() {
        if bytes[i] == b'"'
            && bytes[i + 1..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes
        {
            return i + 1 + hashes;
        }
        *line += usize::from(bytes[i] == b'\n');
        i += 1;
    }
    i
}

/// At a `'`: skips a character literal, or only the quote of a lifetime or label.
fn skip_char_or_lifetime(bytes: &[u8], i: usize) -> usize {
    if bytes.get(i + 1) == Some(&b'\\') {
        // An escape: `'\n'`, `'\''`, `'\u{1F600}'`.
        let close =
            bytes[i + 3..].iter().position(|&b| b == b'\'').map_or(bytes.len(), |p| i + 3 + p);
        return close + 1;
    }
    // One character, however many bytes it takes in UTF-8, then the closing quote.
    let width = bytes.get(i + 1).map_or(1, |&b| match b {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    });
    if bytes.get(i + 1 + width) == Some(&b'\'') { i + 2 + width } else { i + 1 }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn unsafe_is_found_as_code_only() {
        let source = [
            "// unsafe in a comment",
            "/* unsafe /* nested */ unsafe */",
            "let a = \"unsafe \\\" unsafe\";",
            "let b = r#\"unsafe \"# ;",
            "let c = b'u'; let d = '\"'; fn e<'a>(x: &'a str) {}",
            "let r#unsafe = 1;",
            "unsafe { work() }",
            "pub unsafe fn f() {}",
            "let f = br##\"unsafe\"##; unsafe impl Send for X {}",
        ]
        .join("\n");
        assert_eq!(unsafe_lines(&source), [7, 8, 9]);
    }

    #[test]
    fn lifetimes_do_not_open_a_character_literal() {
        let source = "fn f<'a>(x: &'a u8) -> &'a u8 { x }\nunsafe {}\nlet c = '€';\nunsafe {}\n";
        assert_eq!(unsafe_lines(source), [2, 4]);
    }

    #[test]
    fn lint_levels_are_read_plain_or_inline() {
        let toml = "[workspace.lints.clippy]\npedantic = { level = \"warn\", priority = -1 }\n\
                    unwrap_used = \"warn\" # why\n[lints]\nworkspace = true\n";
        let clippy = table(toml, "workspace.lints.clippy");
        assert_eq!(level(&clippy, "pedantic").as_deref(), Some("warn"));
        assert_eq!(level(&clippy, "unwrap_used").as_deref(), Some("warn"));
        assert_eq!(level(&clippy, "expect_used"), None);
        assert_eq!(level(&table(toml, "lints"), "workspace").as_deref(), Some("true"));
    }

    /// A git repository with a workspace manifest and `files`.
    fn workspace(lints: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let manifest = format!("[workspace]\nmembers = [\"crates/*\"]\n{lints}");
        let mut all = vec![("Cargo.toml", manifest.as_str())];
        all.extend_from_slice(files);
        for (path, text) in all {
            let file = dir.path().join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        }
        for args in [&["init", "--quiet"][..], &["add", "--all"]] {
            assert!(
                Command::new("git").current_dir(dir.path()).args(args).status().unwrap().success()
            );
        }
        dir
    }

    const LINTS: &str = "[workspace.lints.rust]\nunsafe_code = \"forbid\"\n\
                         [workspace.lints.clippy]\nunwrap_used = \"warn\"\nexpect_used = \"deny\"\n";
    const CRATE: &str = "[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n";

    #[test]
    fn a_covered_safe_workspace_passes() {
        let dir =
            workspace(LINTS, &[("crates/a/Cargo.toml", CRATE), ("crates/a/src/lib.rs", "//! a\n")]);
        let outcome = check(dir.path());
        assert!(outcome.passed(), "{outcome:?}");
    }

    #[test]
    fn each_gap_is_named() {
        let weak = LINTS.replace("forbid", "deny").replace("expect_used = \"deny\"\n", "");
        let dir = workspace(
            &weak,
            &[
                ("crates/a/Cargo.toml", "[package]\nname = \"a\"\n"),
                ("crates/a/src/lib.rs", "//! a\npub fn f() { unsafe { g() } }\n"),
            ],
        );
        let outcome = check(dir.path());
        assert!(!outcome.passed());
        let evidence = outcome.evidence.join("\n");
        for expected in [
            "unsafe_code is Some(\"deny\"), not forbid",
            "clippy::expect_used is None",
            "crates/a/Cargo.toml: no `[lints] workspace = true`",
            "crates/a/src/lib.rs:2: `unsafe`",
        ] {
            assert!(evidence.contains(expected), "{expected} missing from {evidence}");
        }
    }
}
