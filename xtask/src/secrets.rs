//! The secret scan: every file git tracks, searched for keys, tokens and secret-holding files.
//!
//! Gateway keys are recognised by the gateway's own scanner (`security_core::key::find_keys`),
//! so only a key whose checksum holds is a finding: a masked key (`mt5gw_<id>_…`), a truncated
//! one or a look-alike is not. Fernet tokens and keys and PEM private keys are recognised by
//! their shape, and files that hold secrets by their name.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use security_core::key::{KEY_PREFIX, KeyChecksum, KeyId, find_keys, mask};

use crate::report::Outcome;
use crate::tracked::tracked_files;

const NAME: &str = "secrets in the repository";

const REMEDY: &str = "remove the file or the secret from git (`git rm --cached`, and from history \
                      if it was pushed), revoke or rotate the secret, and keep it in an ignored \
                      file such as config/local.toml or .env";

/// What kind of secret a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A gateway API key whose checksum holds.
    GatewayKey,
    /// A Fernet token: encrypted data that its key would open.
    FernetToken,
    /// A Fernet key: 32 bytes in base64url, which opens every token made with it.
    FernetKey,
    /// A PEM private key.
    PrivateKey,
    /// A file that holds secrets by its purpose: `.env`, `config/local.toml`, a key file.
    SecretFile,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GatewayKey => "gateway API key with a valid checksum",
            Self::FernetToken => "Fernet token",
            Self::FernetKey => "Fernet key",
            Self::PrivateKey => "PEM private key",
            Self::SecretFile => "secret file",
        })
    }
}

/// A tracked path allowed to hold one kind of fake secret, and why.
struct Exclusion {
    path: &'static str,
    kind: Kind,
    why: &'static str,
}

/// Test fixtures that hold made-up secrets on purpose. Each entry names one exact path and one
/// kind of finding, so any other secret in the same file is still found.
const EXCLUSIONS: &[Exclusion] = &[Exclusion {
    path: "crates/security-core/src/redact.rs",
    kind: Kind::FernetToken,
    why: "its tests prove that a made-up Fernet token is redacted from log text; the token was \
          made for the test and opens nothing",
}];

/// One secret found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    /// 1-based; 0 for a finding about the file itself.
    pub line: usize,
    pub kind: Kind,
    /// A description that never repeats the secret.
    pub shown: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {} ({})", self.path, self.kind, self.shown)
        } else {
            write!(f, "{}:{}: {} ({})", self.path, self.line, self.kind, self.shown)
        }
    }
}

/// Files above this size are not read: nothing we track legitimately is this large, and a
/// file that is gets its own finding instead of a silent pass.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Scans every file tracked by git in the repository at `root`.
pub fn check(root: &Path) -> Outcome {
    match scan_repository(root) {
        Ok(scan) => scan.into_outcome(),
        Err(err) => Outcome::fail(
            NAME,
            vec![format!("the scan could not run: {err:#}")],
            "run the audit inside a git checkout",
        ),
    }
}

/// Everything the scan saw.
#[derive(Debug, Default)]
pub struct Scan {
    pub files: usize,
    pub findings: Vec<Finding>,
    /// Findings dropped by an exclusion, with the exclusion's reason.
    pub excluded: Vec<(Finding, &'static str)>,
    /// Key-shaped text that is not a key: invalid checksum, truncated.
    pub key_lookalikes: usize,
}

impl Scan {
    fn into_outcome(self) -> Outcome {
        let mut evidence = vec![format!(
            "{} tracked files scanned, {} secrets found",
            self.files,
            self.findings.len()
        )];
        evidence.extend(self.findings.iter().map(ToString::to_string));
        evidence.push(format!(
            "{} key-shaped strings ignored (checksum invalid or key incomplete); masked keys \
             are not key-shaped",
            self.key_lookalikes
        ));
        for (finding, why) in &self.excluded {
            evidence.push(format!("excluded {finding}: {why}"));
        }
        for exclusion in EXCLUSIONS {
            let used = self.excluded.iter().any(|(finding, _)| {
                finding.path == exclusion.path && finding.kind == exclusion.kind
            });
            if !used {
                evidence.push(format!(
                    "exclusion for {} ({}) matched nothing and can be removed",
                    exclusion.path, exclusion.kind
                ));
            }
        }
        if self.findings.is_empty() {
            Outcome::pass(NAME, evidence)
        } else {
            Outcome::fail(NAME, evidence, REMEDY)
        }
    }
}

/// Lists the tracked files of `root` and scans each.
pub fn scan_repository(root: &Path) -> anyhow::Result<Scan> {
    let mut scan = Scan::default();
    for path in tracked_files(root)? {
        let path = path.as_str();
        let file = root.join(path);
        // Tracked but deleted from the working tree: nothing on disk to leak.
        let Ok(metadata) = file.metadata() else { continue };
        scan.files += 1;

        let mut found = Vec::new();
        if let Some(reason) = secret_file(path) {
            found.push(Finding {
                path: path.to_owned(),
                line: 0,
                kind: Kind::SecretFile,
                shown: reason.to_owned(),
            });
        }
        if metadata.len() > MAX_FILE_BYTES {
            found.push(Finding {
                path: path.to_owned(),
                line: 0,
                kind: Kind::SecretFile,
                shown: format!("{} bytes, too large to scan", metadata.len()),
            });
        } else {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // Every secret we look for is ASCII, so replacing invalid UTF-8 loses none.
            let text = String::from_utf8_lossy(&bytes);
            let (in_text, lookalikes) = scan_text(&text);
            scan.key_lookalikes += lookalikes;
            found.extend(in_text.into_iter().map(|(line, kind, shown)| Finding {
                path: path.to_owned(),
                line,
                kind,
                shown,
            }));
        }

        for finding in found {
            match EXCLUSIONS.iter().find(|e| e.path == finding.path && e.kind == finding.kind) {
                Some(exclusion) => scan.excluded.push((finding, exclusion.why)),
                None => scan.findings.push(finding),
            }
        }
    }
    Ok(scan)
}

/// Why a tracked path is a secret by its name alone, if it is.
fn secret_file(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == ".env" || (name.starts_with(".env.") && !is_env_template(name)) {
        return Some("environment file with the gateway's secrets; only .env.example is tracked");
    }
    if path == "config/local.toml" {
        return Some("the user's own configuration, ignored by git");
    }
    if name == "keys.json" {
        return Some("the gateway's keys file");
    }
    if name == "credentials.enc" {
        return Some("the encrypted terminal credentials");
    }
    if Path::new(name).extension().is_some_and(|ext| ext.eq_ignore_ascii_case("key")) {
        return Some("a key file, such as the audit chain key or the master key");
    }
    None
}

fn is_env_template(name: &str) -> bool {
    matches!(name, ".env.example" | ".env.sample" | ".env.template")
}

/// Finds secrets in `text`: `(line, kind, description)` for each, and how many key-shaped
/// strings were not keys.
pub fn scan_text(text: &str) -> (Vec<(usize, Kind, String)>, usize) {
    let mut found = Vec::new();
    let mut lookalikes = 0;

    for key in find_keys(text) {
        if key.checksum == KeyChecksum::Valid {
            // The id is public; the masked form is what key listings show.
            let id_start = key.range.start + KEY_PREFIX.len();
            let shown = text
                .get(id_start..id_start + 8)
                .and_then(|id| KeyId::parse(id).ok())
                .map_or_else(|| "id not readable".to_owned(), mask);
            found.push((line_of(text, key.range.start), Kind::GatewayKey, shown));
        } else {
            lookalikes += 1;
        }
    }
    for start in fernet_tokens(text) {
        found.push((line_of(text, start), Kind::FernetToken, "starts gAAAAA".to_owned()));
    }
    for start in fernet_keys(text) {
        found.push((
            line_of(text, start),
            Kind::FernetKey,
            "44 characters of base64url".to_owned(),
        ));
    }
    for (start, label) in private_keys(text) {
        found.push((line_of(text, start), Kind::PrivateKey, label));
    }
    (found, lookalikes)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset].split(|&b| b == b'\n').count()
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// Any base64 alphabet, for telling where an encoded run starts and ends.
fn is_base64_any(byte: u8) -> bool {
    is_base64url(byte) || matches!(byte, b'+' | b'/' | b'=')
}

/// A Fernet token is version byte 0x80 and a timestamp whose high bytes are still zero, so it
/// starts `gAAAAA`, and with IV, one cipher block and HMAC it is at least 100 characters.
const FERNET_TOKEN_PREFIX: &[u8] = b"gAAAAA";
const FERNET_TOKEN_MIN_CHARS: usize = 100;

fn fernet_tokens(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(offset) = find(&bytes[position..], FERNET_TOKEN_PREFIX) {
        let start = position + offset;
        let run = bytes[start..].iter().take_while(|&&b| is_base64url(b) || b == b'=').count();
        let standalone = start == 0 || !is_base64_any(bytes[start - 1]);
        if standalone && run >= FERNET_TOKEN_MIN_CHARS {
            found.push(start);
        }
        position = start + run.max(1);
    }
    found
}

/// A Fernet key is 32 random bytes in base64url: 43 characters and one `=`, the last
/// character carrying only four bits of data. Random bytes show upper case, lower case and
/// digits; a placeholder such as 43 `A`s does not, and is not reported.
fn fernet_keys(text: &str) -> Vec<usize> {
    const LAST_CHARS: &[u8] = b"AEIMQUYcgkosw048";
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        if !is_base64_any(bytes[start]) {
            start += 1;
            continue;
        }
        let run = bytes[start..].iter().take_while(|&&b| is_base64_any(b)).count();
        let candidate = &bytes[start..start + run];
        if run == 44
            && candidate[43] == b'='
            && candidate[..43].iter().all(|&b| is_base64url(b))
            && LAST_CHARS.contains(&candidate[42])
            && candidate.iter().any(u8::is_ascii_uppercase)
            && candidate.iter().any(u8::is_ascii_lowercase)
            && candidate.iter().any(u8::is_ascii_digit)
        {
            found.push(start);
        }
        start += run;
    }
    found
}

const PEM_OPEN: &[u8] = b"-----BEGIN ";
const PEM_DASHES: &[u8] = b"-----";
/// How far after the header the encoded body must start, allowing for the
/// `Proc-Type`/`DEK-Info` lines of an old encrypted key.
const PEM_BODY_WINDOW: usize = 400;
/// Shorter runs of base64 are prose or a placeholder, not key material.
const PEM_BODY_MIN_CHARS: usize = 40;

/// PEM private keys: a `-----BEGIN … PRIVATE KEY-----` header followed by encoded key material.
/// A header alone (in documentation, say) is not a key.
fn private_keys(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(offset) = find(&bytes[position..], PEM_OPEN) {
        let start = position + offset;
        position = start + PEM_OPEN.len();
        let label_start = start + PEM_OPEN.len();
        let Some(label_len) = find(&bytes[label_start..], PEM_DASHES) else { break };
        let label = &bytes[label_start..label_start + label_len];
        let is_private = label.iter().all(|&b| b.is_ascii_uppercase() || b == b' ')
            && (label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"));
        if !is_private {
            continue;
        }
        let body_start = label_start + label_len + PEM_DASHES.len();
        let window = &bytes[body_start..bytes.len().min(body_start + PEM_BODY_WINDOW)];
        let longest_run = window
            .split(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        if longest_run >= PEM_BODY_MIN_CHARS {
            found.push((start, String::from_utf8_lossy(label).into_owned()));
        }
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;

    use secrecy::ExposeSecret as _;
    use security_core::key::ApiKey;

    use super::*;

    /// A git repository holding `files`, all added to the index.
    fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet"]);
        for (path, text) in files {
            let file = dir.path().join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
            // Forced, as a careless `git add -f` would, past any ignore rule.
            git(dir.path(), &["add", "--force", path]);
        }
        dir
    }

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git").current_dir(dir).args(args).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }

    fn valid_key() -> (String, String) {
        let key = ApiKey::generate().unwrap();
        (key.key().expose_secret().to_owned(), key.id().masked())
    }

    /// A PEM private key with key-like material; assembled here so this file holds none.
    fn pem_key() -> String {
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n";
        format!("-----BEGIN {}-----\n{body}{body}-----END {}-----\n", "PRIVATE KEY", "PRIVATE KEY")
    }

    fn kinds(scan: &Scan) -> Vec<(String, usize, Kind)> {
        scan.findings.iter().map(|f| (f.path.clone(), f.line, f.kind)).collect()
    }

    #[test]
    fn planted_valid_key_is_found_and_shown_masked() {
        let (key, masked) = valid_key();
        let repo =
            repository(&[("src/lib.rs", &format!("// setup\nconst KEY: &str = \"{key}\";\n"))]);
        let scan = scan_repository(repo.path()).unwrap();
        assert_eq!(kinds(&scan), [("src/lib.rs".to_owned(), 2, Kind::GatewayKey)]);

        let outcome = scan.into_outcome();
        assert!(!outcome.passed());
        let evidence = outcome.evidence.join("\n");
        assert!(evidence.contains(&masked), "{evidence}");
        assert!(!evidence.contains(&key[15..]), "the secret must not reach the report");
    }

    #[test]
    fn masked_and_mistyped_keys_are_not_findings() {
        let (key, masked) = valid_key();
        let mut typo = key.clone().into_bytes();
        typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let text = format!("listing: {masked}\ntypo: {typo}\ncut: {}\n", &key[..40]);
        let repo = repository(&[("docs/keys.md", &text)]);
        let scan = scan_repository(repo.path()).unwrap();
        assert_eq!(kinds(&scan), []);
        assert_eq!(scan.key_lookalikes, 2);
        assert!(scan.into_outcome().passed());
    }

    #[test]
    fn planted_pem_key_is_found() {
        let repo = repository(&[("deploy/tls.pem", &format!("# server key\n{}", pem_key()))]);
        let scan = scan_repository(repo.path()).unwrap();
        assert_eq!(kinds(&scan), [("deploy/tls.pem".to_owned(), 2, Kind::PrivateKey)]);
    }

    #[test]
    fn pem_header_without_key_material_is_not_a_key() {
        let prose = format!("Refuse a file holding `-----BEGIN {} PRIVATE KEY-----`.\n", "RSA");
        let (found, _) = scan_text(&prose);
        assert_eq!(found, []);
    }

    #[test]
    fn fernet_tokens_and_keys_are_found() {
        let token = format!("gAAAAAB{}", "nX3_k9Qz".repeat(13));
        let key = format!("{}=", "Zm9vYmFyYmF6cXV4-_0123456789abcdefghijklmnA");
        let text = format!("token = \"{token}\"\nkey = {key}\nshort = gAAAAAshort\n");
        let (found, _) = scan_text(&text);
        let found: Vec<(usize, Kind)> =
            found.into_iter().map(|(line, kind, _)| (line, kind)).collect();
        assert_eq!(found, [(1, Kind::FernetToken), (2, Kind::FernetKey)]);
    }

    #[test]
    fn base64_that_is_not_a_fernet_key_is_ignored() {
        let cases = [
            // Part of a longer standard-base64 run.
            format!("sha512-{}=", "Zm9vYmFyYmF6cXV4+/0123456789abcdefghijklmnA".repeat(2)),
            // A placeholder, no digits or lower case.
            format!("{}=", "A".repeat(43)),
            // The last character carries more than 32 bytes could.
            format!("{}=", "Zm9vYmFyYmF6cXV4-_0123456789abcdefghijklmnB"),
        ];
        for text in cases {
            assert_eq!(scan_text(&text).0, [], "{text}");
        }
    }

    #[test]
    fn secret_files_are_found_by_name_and_templates_are_not() {
        let repo = repository(&[
            (".env", "MT5GW_MASTER_KEY=x\n"),
            (".env.example", "MT5GW_MASTER_KEY=\n"),
            ("config/local.toml", "[server]\n"),
            ("config/keys.json", "[]\n"),
            ("config/chain.key", "00\n"),
            ("config/credentials.enc", "x"),
            ("config/default.toml", "[server]\n"),
        ]);
        let scan = scan_repository(repo.path()).unwrap();
        let mut paths: Vec<String> = scan.findings.iter().map(|f| f.path.clone()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                ".env",
                "config/chain.key",
                "config/credentials.enc",
                "config/keys.json",
                "config/local.toml"
            ]
        );
        assert!(scan.findings.iter().all(|f| f.kind == Kind::SecretFile));
    }

    #[test]
    fn an_exclusion_covers_one_kind_in_one_file_only() {
        let token = format!("gAAAAAB{}", "nX3_k9Qz".repeat(13));
        let (key, _) = valid_key();
        let excluded = EXCLUSIONS[0].path;
        let repo = repository(&[
            (
                excluded,
                &format!("const FERNET: &str = \"{token}\";\nconst KEY: &str = \"{key}\";\n"),
            ),
            ("crates/other/src/lib.rs", &format!("const FERNET: &str = \"{token}\";\n")),
        ]);
        let scan = scan_repository(repo.path()).unwrap();
        assert_eq!(
            kinds(&scan),
            [
                ("crates/other/src/lib.rs".to_owned(), 1, Kind::FernetToken),
                (excluded.to_owned(), 2, Kind::GatewayKey),
            ]
        );
        assert_eq!(scan.excluded.len(), 1);
        assert_eq!(scan.excluded[0].0.kind, Kind::FernetToken);
    }

    #[test]
    fn clean_tree_passes_and_untracked_files_are_not_read() {
        let (key, _) = valid_key();
        let repo = repository(&[("README.md", "# gateway\n"), ("src/main.rs", "fn main() {}\n")]);
        // Untracked (as an ignored local file is): not part of the repository.
        fs::write(repo.path().join("notes.txt"), &key).unwrap();
        let scan = scan_repository(repo.path()).unwrap();
        assert_eq!(scan.files, 2);
        let outcome = scan.into_outcome();
        assert!(outcome.passed(), "{outcome:?}");
        assert_eq!(outcome.evidence[0], "2 tracked files scanned, 0 secrets found");
    }

    #[test]
    fn outside_a_repository_the_check_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!check(dir.path()).passed());
    }
}
