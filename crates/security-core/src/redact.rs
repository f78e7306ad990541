//! Making untrusted text safe to write into a log: secrets out, one line, bounded length.
//!
//! [`redact`] works in three steps, always in this order:
//!
//! 1. Every run of control characters, line or paragraph separators and bidirectional
//!    overrides becomes one space (none at the very start or end). A space rather than nothing,
//!    so that pieces a control character kept apart are never glued into a secret that the next
//!    step would then miss.
//! 2. Secrets are replaced by [`REDACTED`]: gateway keys anywhere (even glued to other
//!    characters), Fernet tokens, and the values that follow a sensitive name such as
//!    `password=`, `"token": "…"`, `X-API-Key:` or `Authorization: Bearer …`.
//! 3. The text is cut to [`MAX_FIELD_CHARS`] characters on a character boundary. Cutting comes
//!    last so that half a secret can never survive the cut unrecognised.
//!
//! The scanner is hand-written rather than a set of regular expressions: the patterns are few
//! and simple, one pass over the bytes keeps it fast, and the rules read as code.
//! `redact` is idempotent: running it again on its own output changes nothing.

use std::borrow::Cow;
use std::ops::Range;

use crate::key::{find_keys, is_base64url};

/// The longest field, in characters, that [`redact`] returns.
pub const MAX_FIELD_CHARS: usize = 500;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Every Fernet token starts with these characters: the version byte 0x80 and the high,
/// still-zero bytes of its timestamp, in base64url.
const FERNET_PREFIX: &[u8] = b"gAAAAA";

/// A real Fernet token is at least 100 characters; 40 also catches one already cut short while
/// staying far longer than any word that happens to start with `gAAAAA`.
const FERNET_MIN_CHARS: usize = 40;

/// How a sensitive name introduces its value.
#[derive(Clone, Copy)]
enum Introduces {
    /// `name = value`, `name: value`, `"name": "value"`; the name may end an identifier
    /// (`client_secret`) or start one (`secret_key`).
    Assignment,
    /// Like an assignment, but the value may open with an authentication scheme word
    /// (`Bearer`, `Basic`, …) that stays readable.
    AuthorizationHeader,
    /// The word itself, then a space, then the credential: `Bearer abc`.
    SchemeWord,
}

/// The names whose values are secrets, lowercase; matching ignores letter case.
const SENSITIVE_NAMES: &[(&str, Introduces)] = &[
    ("password", Introduces::Assignment),
    ("passwd", Introduces::Assignment),
    ("pwd", Introduces::Assignment),
    ("token", Introduces::Assignment),
    ("secret", Introduces::Assignment),
    ("api_key", Introduces::Assignment),
    ("apikey", Introduces::Assignment),
    // Also covers `X-API-Key`.
    ("api-key", Introduces::Assignment),
    ("authorization", Introduces::AuthorizationHeader),
    ("bearer", Introduces::SchemeWord),
];

/// Authentication schemes that may open an `Authorization` value, lowercase.
const AUTH_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "digest",
    "token",
    "negotiate",
    "ntlm",
    "apikey",
    "hmac",
    "aws4-hmac-sha256",
];

/// Returns `input` with secrets replaced, on one line, at most [`MAX_FIELD_CHARS`] characters.
#[must_use]
pub fn redact(input: &str) -> String {
    let flat = flatten(input);

    let mut ranges = Vec::new();
    collect_keys(&flat, &mut ranges);
    collect_fernet_tokens(flat.as_bytes(), &mut ranges);
    collect_named_values(flat.as_bytes(), &mut ranges);

    let mut redacted = replace_ranges(&flat, ranges);
    truncate_chars(&mut redacted, MAX_FIELD_CHARS);
    redacted
}

/// Prefixes a cell that a spreadsheet would read as a formula with `'`.
///
/// A cell starting with `=`, `+`, `-`, `@`, tab or carriage return is one. Apply this to text
/// that came from outside (a caller, a header, the terminal), not to numbers the gateway
/// formats itself: a negative profit must stay a number.
#[must_use]
pub fn neutralize_csv(cell: &str) -> Cow<'_, str> {
    if starts_formula(cell) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// [`redact`], then [`neutralize_csv`]: what every text cell of an audit log goes through.
///
/// The result stays within [`MAX_FIELD_CHARS`]: when the leading `'` is needed on a cell that is
/// already at the limit, the last character gives way.
#[must_use]
pub fn sanitize_cell(input: &str) -> String {
    let mut cell = redact(input);
    if starts_formula(&cell) {
        truncate_chars(&mut cell, MAX_FIELD_CHARS - 1);
        cell.insert(0, '\'');
    }
    cell
}

fn starts_formula(cell: &str) -> bool {
    matches!(cell.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
}

/// Whether `c` must not reach a log row: it would break the row or disguise its content.
fn breaks_row(c: char) -> bool {
    c.is_control()
        // Line and paragraph separators (the whole of Unicode's Zl and Zp categories).
        || c == '\u{2028}'
        || c == '\u{2029}'
        // Bidirectional embeddings, overrides and isolates: they make a row read differently
        // from what it holds.
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Step 1: each run of row-breaking characters becomes one space.
fn flatten(input: &str) -> Cow<'_, str> {
    if !input.chars().any(breaks_row) {
        return Cow::Borrowed(input);
    }
    let mut flat = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.chars() {
        if breaks_row(c) {
            pending_space = true;
            continue;
        }
        if pending_space && !flat.is_empty() {
            flat.push(' ');
        }
        pending_space = false;
        flat.push(c);
    }
    Cow::Owned(flat)
}

/// Gateway keys, whole or partial. The range runs on to the end of the base64url run, so a key
/// glued to more key-like characters leaves none of them behind.
fn collect_keys(text: &str, ranges: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for found in find_keys(text) {
        let end = run_end(bytes, found.range.end, is_base64url);
        ranges.push(found.range.start..end);
    }
}

fn collect_fernet_tokens(bytes: &[u8], ranges: &mut Vec<Range<usize>>) {
    let mut position = 0;
    while let Some(offset) = find(&bytes[position..], FERNET_PREFIX) {
        let start = position + offset;
        let body_end = run_end(bytes, start, is_base64url);
        let end = run_end(bytes, body_end, |b| b == b'=');
        if body_end - start >= FERNET_MIN_CHARS {
            ranges.push(start..end);
            position = end;
        } else {
            position = start + 1;
        }
    }
}

/// Values after sensitive names, left to right. Scanning resumes after each value found: a name
/// inside a value that is being redacted anyway must not start a second value that would reach
/// past the first one's closing quote.
fn collect_named_values(bytes: &[u8], ranges: &mut Vec<Range<usize>>) {
    let mut start = 0;
    'scan: while start < bytes.len() {
        let first = bytes[start].to_ascii_lowercase();
        for &(name, introduces) in SENSITIVE_NAMES {
            let name = name.as_bytes();
            if name[0] != first
                || bytes.len() - start < name.len()
                || !bytes[start..start + name.len()].eq_ignore_ascii_case(name)
            {
                continue;
            }
            let after_name = start + name.len();
            let value = match introduces {
                Introduces::Assignment => {
                    let after_identifier = run_end(bytes, after_name, is_identifier);
                    assignment_value(bytes, after_identifier, false)
                }
                Introduces::AuthorizationHeader => assignment_value(bytes, after_name, true),
                Introduces::SchemeWord => scheme_word_value(bytes, start, after_name),
            };
            if let Some(value) = value {
                start = value.end;
                ranges.push(value);
                continue 'scan;
            }
        }
        start += 1;
    }
}

/// The value after a name: an optional closing quote (of a JSON key), spaces, `:` or `=`,
/// spaces, then a quoted or a bare value.
fn assignment_value(bytes: &[u8], after_name: usize, scheme_allowed: bool) -> Option<Range<usize>> {
    let mut position = after_name;
    if matches!(bytes.get(position), Some(b'"' | b'\'')) {
        position += 1;
    }
    position = run_end(bytes, position, |b| b == b' ');
    if !matches!(bytes.get(position), Some(b':' | b'=')) {
        return None;
    }
    position = run_end(bytes, position + 1, |b| b == b' ');

    match bytes.get(position) {
        Some(&quote @ (b'"' | b'\'')) => {
            let close = quoted_end(bytes, position + 1, quote);
            let mut start = position + 1;
            if scheme_allowed {
                start = skip_scheme(bytes, start, close);
            }
            non_empty(start..close)
        }
        Some(_) => {
            let mut start = position;
            if scheme_allowed {
                start = skip_scheme(bytes, start, bytes.len());
            }
            non_empty(start..run_end(bytes, start, is_bare_value))
        }
        None => None,
    }
}

/// `Bearer <credential>` on its own, where `bearer` starts a word.
fn scheme_word_value(bytes: &[u8], start: usize, after_name: usize) -> Option<Range<usize>> {
    if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
        return None;
    }
    let value_start = run_end(bytes, after_name, |b| b == b' ');
    if value_start == after_name {
        return None;
    }
    non_empty(value_start..run_end(bytes, value_start, is_bare_value))
}

/// If `bytes[start..limit]` opens with a known scheme word and a space, the position after them.
fn skip_scheme(bytes: &[u8], start: usize, limit: usize) -> usize {
    let word_end = run_end(bytes, start, is_identifier).min(limit);
    let word = &bytes[start..word_end];
    let is_scheme = AUTH_SCHEMES.iter().any(|scheme| word.eq_ignore_ascii_case(scheme.as_bytes()));
    let value_start = run_end(bytes, word_end, |b| b == b' ').min(limit);
    let has_credential = value_start > word_end
        && value_start < limit
        && bytes.get(value_start).is_some_and(|&b| is_bare_value(b));
    if is_scheme && has_credential { value_start } else { start }
}

/// The position of the closing `quote`, honouring backslash escapes, or the end of the text.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut position = start;
    while position < bytes.len() {
        match bytes[position] {
            b'\\' => position += 2,
            b if b == quote => return position,
            _ => position += 1,
        }
    }
    bytes.len()
}

/// Characters that may continue an identifier around a sensitive name (`client_secret_2`).
fn is_identifier(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Characters of an unquoted value. Everything but the few that end a value in headers, query
/// strings, `key=value` lists and printed maps; bytes of non-ASCII characters all belong to the
/// value. The list is short on purpose: a secret holding one of these characters loses only its
/// tail to the log, while every character added here is one more way to cut a secret short.
fn is_bare_value(byte: u8) -> bool {
    !matches!(byte, b' ' | b',' | b';' | b'&' | b'"' | b'\'' | b'}')
}

fn run_end(bytes: &[u8], start: usize, belongs: impl Fn(u8) -> bool) -> usize {
    let start = start.min(bytes.len());
    start + bytes[start..].iter().take_while(|&&b| belongs(b)).count()
}

fn non_empty(range: Range<usize>) -> Option<Range<usize>> {
    (range.start < range.end).then_some(range)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Step 2: replaces each (merged) range with [`REDACTED`].
///
/// Every range starts and ends next to an ASCII byte or at an end of the text, never inside a
/// multi-byte character, so slicing at them cannot fail.
fn replace_ranges(text: &str, mut ranges: Vec<Range<usize>>) -> String {
    if ranges.is_empty() {
        return text.to_owned();
    }
    ranges.sort_unstable_by_key(|range| range.start);

    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    let mut index = 0;
    while index < ranges.len() {
        let start = ranges[index].start;
        let mut end = ranges[index].end;
        index += 1;
        while index < ranges.len() && ranges[index].start <= end {
            end = end.max(ranges[index].end);
            index += 1;
        }
        if start >= copied_to {
            out.push_str(text.get(copied_to..start).unwrap_or_default());
        }
        out.push_str(REDACTED);
        copied_to = copied_to.max(end);
    }
    out.push_str(text.get(copied_to..).unwrap_or_default());
    out
}

/// Step 3: cuts `text` to at most `max` characters, on a character boundary.
fn truncate_chars(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    use super::*;
    use crate::key::{ApiKey, KeyId, SecretBytes};

    fn check(input: &str, expected: &str) {
        assert_eq!(redact(input), expected, "input {input:?}");
    }

    fn key_text(id: [u8; 8], secret: [u8; 32]) -> String {
        let key = ApiKey::from_parts(KeyId::for_test(id), &SecretBytes::for_test(secret));
        key.key().expose_secret().to_owned()
    }

    const FERNET: &str = "gAAAAABl0mZ6Yk3vQXh9p1c2QkKxZ0bNfT9Qy2u4s7Zl0aJx5Wc8mD3vR6tY1uI9oP2aS4dF6gH8jK0lZ2xC4vB6nM8qW0eR2tY4uI6oP8aS==";

    #[test]
    fn named_values_are_redacted() {
        let cases = [
            ("password=hunter2", "password=[REDACTED]"),
            ("PASSWORD=hunter2 next", "PASSWORD=[REDACTED] next"),
            ("passwd: x", "passwd: [REDACTED]"),
            ("pwd=abc&user=bob", "pwd=[REDACTED]&user=bob"),
            (r#"{"token": "abc", "n": 1}"#, r#"{"token": "[REDACTED]", "n": 1}"#),
            (r#"{"token":"a\"b","n":1}"#, r#"{"token":"[REDACTED]","n":1}"#),
            ("Secret : 'x'", "Secret : '[REDACTED]'"),
            ("client_secret=abc", "client_secret=[REDACTED]"),
            ("secret_key=abc", "secret_key=[REDACTED]"),
            (
                "api_key=1 apikey=2 api-key=3",
                "api_key=[REDACTED] apikey=[REDACTED] api-key=[REDACTED]",
            ),
            ("X-API-Key: abc", "X-API-Key: [REDACTED]"),
            ("?access_token=abc;x=1", "?access_token=[REDACTED];x=1"),
            ("{'password': None}", "{'password': [REDACTED]}"),
            ("password=\"unclosed and more", "password=\"[REDACTED]"),
            ("password=", "password="),
            ("password is fine", "password is fine"),
            ("tokens counted: 5", "tokens counted: 5"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn authorization_values_keep_their_scheme() {
        let cases = [
            ("Authorization: Bearer abc.def", "Authorization: Bearer [REDACTED]"),
            ("authorization=Basic dXNlcjpwYXNz", "authorization=Basic [REDACTED]"),
            ("Authorization: abc", "Authorization: [REDACTED]"),
            ("Authorization: Bearer", "Authorization: [REDACTED]"),
            (r#""Authorization": "Bearer abc""#, r#""Authorization": "Bearer [REDACTED]""#),
            ("sent Bearer abc123 to it", "sent Bearer [REDACTED] to it"),
            ("unbearable xyz", "unbearable xyz"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn keys_and_fernet_tokens_are_redacted_anywhere() {
        let key = key_text([1; 8], [7; 32]);
        let cases = [
            (format!("key {key} used"), "key [REDACTED] used".to_owned()),
            (format!("glued{key}glued"), "glued[REDACTED]".to_owned()),
            (format!("half {}", &key[..40]), "half [REDACTED]".to_owned()),
            (format!("X-API-Key: {key}"), "X-API-Key: [REDACTED]".to_owned()),
            (format!("f={FERNET}!"), "f=[REDACTED]!".to_owned()),
            (format!("x{FERNET}"), "x[REDACTED]".to_owned()),
            ("gAAAAA short".to_owned(), "gAAAAA short".to_owned()),
        ];
        for (input, expected) in cases {
            check(&input, &expected);
        }
    }

    #[test]
    fn control_characters_and_separators_become_single_spaces() {
        let cases = [
            ("a\r\nb", "a b"),
            ("\n\ta\u{2028}b\u{2029}c\u{85}d\u{0}\u{1b}[31m", "a b c d [31m"),
            ("left\u{202E}right\u{2066}", "left right"),
            ("\n", ""),
            ("mt5\ngw_", "mt5 gw_"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_after_redaction() {
        let long = "é".repeat(600);
        assert_eq!(redact(&long).chars().count(), MAX_FIELD_CHARS);

        // A key straddling the cut is redacted first, so no part of it survives.
        let key = key_text([2; 8], [9; 32]);
        let input = format!("{}{key}", "a".repeat(480));
        let output = redact(&input);
        assert_eq!(output, format!("{}{}", "a".repeat(480), &REDACTED[..10]));
        assert!(!output.contains(&key[..20]));
    }

    #[test]
    fn formula_cells_are_neutralized() {
        let cases = [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("plain", "plain"),
            ("", ""),
            (" =x", " =x"),
        ];
        for (input, expected) in cases {
            assert_eq!(neutralize_csv(input), expected, "input {input:?}");
        }
        assert!(matches!(neutralize_csv("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn sanitize_cell_redacts_flattens_and_neutralizes_within_the_limit() {
        assert_eq!(
            sanitize_cell("=cmd|' /C calc'!A0\npassword=x"),
            "'=cmd|' /C calc'!A0 password=[REDACTED]"
        );
        // Tab and carriage return are already spaces by the time neutralizing looks.
        assert_eq!(sanitize_cell("\t=1"), "'=1");
        let at_limit = format!("-{}", "x".repeat(600));
        let cell = sanitize_cell(&at_limit);
        assert_eq!(cell.chars().count(), MAX_FIELD_CHARS);
        assert!(cell.starts_with("'-x"));
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[ -~]{0,40}",
            Just("password=".to_owned()),
            Just("\"token\": \"".to_owned()),
            Just("Authorization: Bearer ".to_owned()),
            Just("mt5gw_abcd1234_".to_owned()),
            Just("gAAAAA".to_owned()),
            Just("\r\n".to_owned()),
            Just(REDACTED.to_owned()),
            prop::sample::select(vec!["'", "\"", "=", ": ", " ", "\\", "}", "Basic ", "secret_"])
                .prop_map(str::to_owned),
        ]
    }

    fn mixed_text() -> impl Strategy<Value = String> {
        prop::collection::vec(any_text(), 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_embedded_key_survives(
            prefix in ".{0,80}",
            suffix in ".{0,80}",
            id in any::<[u8; 8]>(),
            secret in any::<[u8; 32]>(),
        ) {
            let key = key_text(id, secret);
            let output = redact(&format!("{prefix}{key}{suffix}"));
            prop_assert!(!output.contains(&key));
            prop_assert!(!output.contains(&key[15..36]), "first half of the secret in {output:?}");
            prop_assert!(!output.contains(&key[36..58]), "second half of the secret in {output:?}");
        }

        #[test]
        fn no_embedded_fernet_token_survives(
            prefix in ".{0,80}",
            suffix in ".{0,80}",
            body in "[A-Za-z0-9_-]{94,200}",
            padding in "={0,2}",
        ) {
            let token = format!("gAAAAA{body}{padding}");
            let output = redact(&format!("{prefix}{token}{suffix}"));
            prop_assert!(!output.contains(&body[..34]));
        }

        #[test]
        fn output_is_one_bounded_line(input in ".{0,700}") {
            let output = redact(&input);
            prop_assert!(output.chars().count() <= MAX_FIELD_CHARS);
            prop_assert!(!output.chars().any(breaks_row));
            let cell = sanitize_cell(&input);
            prop_assert!(cell.chars().count() <= MAX_FIELD_CHARS);
        }

        #[test]
        fn redaction_is_idempotent(input in mixed_text()) {
            let once = redact(&input);
            prop_assert_eq!(redact(&once), once);
        }

        #[test]
        fn sanitized_cells_never_start_a_formula(input in mixed_text()) {
            let cell = sanitize_cell(&input);
            prop_assert!(!matches!(cell.chars().next(), Some('=' | '+' | '-' | '@')));
        }
    }
}
