//! API keys: their text format, generation, parsing, checksum, hashing and a scanner.
//!
//! A key reads `mt5gw_<id>_<secret><checksum>`, 64 ASCII characters in all:
//!
//! | part       | length | alphabet                      | meaning                                  |
//! |------------|--------|-------------------------------|------------------------------------------|
//! | `mt5gw_`   | 6      | literal                       | lets secret scanners recognise a key     |
//! | id         | 8      | `a-z0-9`                      | the key id, public, the lookup key       |
//! | `_`        | 1      | literal                       |                                          |
//! | secret     | 43     | base64url, no padding         | 32 bytes from the operating system CSPRNG |
//! | checksum   | 6      | base64url                     | first 36 bits of SHA-256 of the 58 characters before it |
//!
//! The checksum lets a mistyped or truncated key be refused before any lookup, and lets a
//! scanner tell a real key from text that merely looks like one. It is not a security
//! measure: anyone can compute it.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The literal every key starts with.
pub const KEY_PREFIX: &str = "mt5gw_";
/// Length of the key id, in characters.
pub const KEY_ID_LEN: usize = 8;
/// Length of the encoded secret, in characters (32 bytes in base64url without padding).
pub const SECRET_TEXT_LEN: usize = 43;
/// Length of the decoded secret, in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of the checksum, in characters.
pub const CHECKSUM_LEN: usize = 6;
/// Length of a whole key, in characters (and bytes: a key is ASCII).
pub const KEY_LEN: usize = PREFIX_LEN + KEY_ID_LEN + 1 + SECRET_TEXT_LEN + CHECKSUM_LEN;

const PREFIX_LEN: usize = KEY_PREFIX.len();
const ID_START: usize = PREFIX_LEN;
const ID_END: usize = ID_START + KEY_ID_LEN;
const SECRET_START: usize = ID_END + 1;
const SECRET_END: usize = SECRET_START + SECRET_TEXT_LEN;

/// Separates the stored hash of a key from any other SHA-256 use in the gateway.
const HASH_DOMAIN: &[u8] = b"mt5gw key secret hash v1\0";

const ID_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const BASE64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why a presented key was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// The text is not shaped like a key (length, prefix or alphabet).
    #[error("api key is malformed")]
    Malformed,
    /// The text is shaped like a key but its checksum does not match: a typo or a truncation.
    #[error("api key checksum does not match")]
    BadChecksum,
}

/// Errors while making a new key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(getrandom::Error),
    /// A key id was not 8 characters of `a-z0-9`. The refused text is left out: a user who
    /// pastes a whole key where an id belongs must not see it echoed into a log.
    #[error("key id must be {KEY_ID_LEN} characters of a-z and 0-9, got {len} characters")]
    InvalidId {
        /// Length of the refused text, in characters.
        len: usize,
    },
}

/// The public part of a key: eight characters of `a-z0-9`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// Wraps an index into the id alphabet per character, for tests that need many ids.
    #[cfg(test)]
    pub(crate) fn for_test(indices: [u8; KEY_ID_LEN]) -> Self {
        Self(indices.map(|i| ID_ALPHABET[usize::from(i) % ID_ALPHABET.len()]))
    }

    /// A fresh random id.
    pub fn generate() -> Result<Self, KeyError> {
        let mut id = [0u8; KEY_ID_LEN];
        let mut filled = 0;
        let mut pool = [0u8; 16];
        while filled < KEY_ID_LEN {
            getrandom::fill(&mut pool).map_err(KeyError::Random)?;
            for byte in pool {
                // Rejection sampling: 252 is the largest multiple of 36 not above 256, so every
                // id character is equally likely.
                if byte < 252 && filled < KEY_ID_LEN {
                    id[filled] = ID_ALPHABET[usize::from(byte % 36)];
                    filled += 1;
                }
            }
        }
        Ok(Self(id))
    }

    /// Parses an id from its exact 8-character text form.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidId { len: text.chars().count() };
        let array: [u8; KEY_ID_LEN] = text.as_bytes().try_into().map_err(|_| invalid())?;
        if array.iter().all(|b| ID_ALPHABET.contains(b)) { Ok(Self(array)) } else { Err(invalid()) }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // The bytes come only from `ID_ALPHABET` (checked by every constructor), which is ASCII,
        // so they are always valid UTF-8 and this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("????????")
    }

    /// The masked form shown in listings: `mt5gw_<id>_…`.
    #[must_use]
    pub fn masked(&self) -> String {
        mask(*self)
    }
}

/// The masked form of a key shown in listings: `mt5gw_<id>_…`.
#[must_use]
pub fn mask(id: KeyId) -> String {
    format!("{KEY_PREFIX}{}_…", id.as_str())
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.as_str())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        Self::parse(text).map_err(serde::de::Error::custom)
    }
}

/// The 32 random bytes of a key, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes([u8; SECRET_LEN]);

impl SecretBytes {
    /// Wraps bytes chosen by a test; real secrets come only from [`ApiKey::generate`].
    #[cfg(test)]
    pub(crate) fn for_test(bytes: [u8; SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes. Only hashing needs them; nothing should print or store them.
    #[must_use]
    pub fn expose(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([hidden])")
    }
}

/// The stored form of a secret: SHA-256 over a domain prefix, the key id and the secret.
///
/// A plain fast hash is the right tool here, unlike for passwords: the secret is 256 bits from
/// the CSPRNG, so there is nothing for a slow hash to protect against, and verification runs on
/// every request. Binding the id in means a hash copied onto another key's entry is useless.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes `secret` for the key `id`.
    #[must_use]
    pub fn compute(id: KeyId, secret: &SecretBytes) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(HASH_DOMAIN);
        hasher.update(id.0);
        hasher.update(secret.expose());
        Self(hasher.finalize().into())
    }

    /// Compares in constant time, so the time taken says nothing about how much matched.
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }

    /// Lowercase hex, as written in the keys file.
    #[must_use]
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(64);
        for byte in self.0 {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        text
    }

    /// Parses 64 hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            // Both digits are below 16, so the value fits in a byte.
            *slot = u8::try_from(high * 16 + low).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but a verifier: there is no reason to spread it through logs.
        f.write_str("SecretHash([hidden])")
    }
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        Self::from_hex(text)
            .ok_or_else(|| serde::de::Error::custom("secret hash must be 64 hex digits"))
    }
}

/// A presented key split into its id and secret, borrowed from nothing and allocated nowhere.
pub struct ParsedKey {
    /// The key id.
    pub id: KeyId,
    /// The secret bytes, wiped on drop.
    pub secret: SecretBytes,
}

impl ParsedKey {
    /// The stored form of this key's secret.
    #[must_use]
    pub fn hash(&self) -> SecretHash {
        SecretHash::compute(self.id, &self.secret)
    }
}

impl fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey").field("id", &self.id).field("secret", &self.secret).finish()
    }
}

/// Splits a presented key into id and secret, checking length, prefix, alphabet and checksum.
///
/// Runs on every request, so it allocates nothing: the secret is decoded onto the stack.
pub fn parse_key(presented: &str) -> Result<ParsedKey, KeyFormatError> {
    let bytes = presented.as_bytes();
    if bytes.len() != KEY_LEN
        || !bytes.starts_with(KEY_PREFIX.as_bytes())
        || bytes[ID_END] != b'_'
        || !bytes[ID_START..ID_END].iter().all(|b| ID_ALPHABET.contains(b))
        || !bytes[SECRET_START..].iter().all(|&b| is_base64url(b))
    {
        return Err(KeyFormatError::Malformed);
    }
    if !checksum_matches(bytes) {
        return Err(KeyFormatError::BadChecksum);
    }

    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&bytes[ID_START..ID_END]);

    let mut secret = SecretBytes([0u8; SECRET_LEN]);
    // The decoder refuses non-canonical trailing bits, so each secret has one text form.
    match URL_SAFE_NO_PAD.decode_slice(&bytes[SECRET_START..SECRET_END], &mut secret.0) {
        Ok(SECRET_LEN) => Ok(ParsedKey { id: KeyId(id), secret }),
        _ => Err(KeyFormatError::Malformed),
    }
}

/// Whether `key` is a well-formed key whose checksum matches.
#[must_use]
pub fn checksum_is_valid(key: &str) -> bool {
    parse_key(key).is_ok()
}

/// A freshly made key. The full text is shown to the user once and never stored.
pub struct ApiKey {
    id: KeyId,
    key: SecretString,
    hash: SecretHash,
}

impl ApiKey {
    /// Makes a new key with a fresh id.
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_with_id(KeyId::generate()?)
    }

    /// Makes a new secret for an existing id (rotation).
    pub fn generate_with_id(id: KeyId) -> Result<Self, KeyError> {
        let mut secret = SecretBytes([0u8; SECRET_LEN]);
        getrandom::fill(&mut secret.0).map_err(KeyError::Random)?;
        Ok(Self::from_parts(id, &secret))
    }

    /// Builds the key text for a given id and secret. Kept private to the crate: outside tests,
    /// every secret must come from the CSPRNG.
    pub(crate) fn from_parts(id: KeyId, secret: &SecretBytes) -> Self {
        let hash = SecretHash::compute(id, secret);

        let mut text = Zeroizing::new([0u8; SECRET_TEXT_LEN]);
        let written = URL_SAFE_NO_PAD.encode_slice(secret.expose(), text.as_mut_slice());
        debug_assert_eq!(written, Ok(SECRET_TEXT_LEN));

        // Exactly `KEY_LEN` of capacity: turning the String into the boxed `str` inside
        // `SecretString` then keeps the same buffer instead of copying the secret into a new one
        // and freeing the old one unwiped.
        let mut full = String::with_capacity(KEY_LEN);
        full.push_str(KEY_PREFIX);
        full.push_str(id.as_str());
        full.push('_');
        for &byte in text.iter() {
            full.push(char::from(byte));
        }
        let checksum = checksum(full.as_bytes());
        for byte in checksum {
            full.push(char::from(byte));
        }
        Self { id, key: SecretString::from(full), hash }
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The full key text. Show it to the user once; never log or store it.
    #[must_use]
    pub fn key(&self) -> &SecretString {
        &self.key
    }

    /// The stored form of the secret.
    #[must_use]
    pub fn hash(&self) -> SecretHash {
        self.hash
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("key", &mask(self.id))
            .field("hash", &self.hash)
            .finish()
    }
}

/// What a scanner found about a key-shaped substring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChecksum {
    /// A whole key whose checksum matches: almost certainly a real key.
    Valid,
    /// A whole key's shape whose checksum does not match: a mangled key or a look-alike.
    Invalid,
    /// A prefix, an id and the start of a secret, but too short for a whole key.
    Incomplete,
}

/// A key-shaped substring found by [`find_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    /// Byte range in the scanned text. It starts and ends on ASCII bytes, so slicing is safe.
    pub range: Range<usize>,
    /// Whether the checksum held.
    pub checksum: KeyChecksum,
}

/// Finds substrings that look like keys, wherever they are, even glued to other characters.
///
/// A candidate starts at `mt5gw_` in any letter case, followed by eight ASCII letters or digits,
/// `_`, and at least one base64url character: that is, as soon as any secret material can
/// follow. A whole key is reported with its 64-byte range; a shorter run as
/// [`KeyChecksum::Incomplete`] covering what is there. Matches may overlap when a key-shaped run
/// hides another key inside it.
#[must_use]
pub fn find_keys(text: &str) -> KeyMatches<'_> {
    KeyMatches { bytes: text.as_bytes(), position: 0 }
}

/// Iterator returned by [`find_keys`].
#[derive(Debug, Clone)]
pub struct KeyMatches<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Iterator for KeyMatches<'_> {
    type Item = KeyMatch;

    fn next(&mut self) -> Option<KeyMatch> {
        let bytes = self.bytes;
        while self.position + PREFIX_LEN <= bytes.len() {
            let start = self.position;
            let Some(found) = classify_candidate(bytes, start) else {
                self.position += 1;
                continue;
            };
            // A valid key cannot contain another key; anything else may, so look again just
            // past the prefix (`mt5gw_` cannot overlap itself).
            self.position = if found.checksum == KeyChecksum::Valid {
                found.range.end
            } else {
                start + PREFIX_LEN
            };
            return Some(found);
        }
        self.position = bytes.len();
        None
    }
}

fn classify_candidate(bytes: &[u8], start: usize) -> Option<KeyMatch> {
    let rest = &bytes[start..];
    if rest.len() < PREFIX_LEN || !rest[..PREFIX_LEN].eq_ignore_ascii_case(KEY_PREFIX.as_bytes()) {
        return None;
    }
    let run = rest[PREFIX_LEN..].iter().take_while(|&&b| is_base64url(b)).count();
    let id_shaped = run > KEY_ID_LEN + 1
        && rest[ID_START..ID_END].iter().all(u8::is_ascii_alphanumeric)
        && rest[ID_END] == b'_';
    if !id_shaped {
        return None;
    }
    if PREFIX_LEN + run >= KEY_LEN {
        let candidate = &rest[..KEY_LEN];
        let checksum = if checksum_matches(candidate) && parse_ascii_key(candidate) {
            KeyChecksum::Valid
        } else {
            KeyChecksum::Invalid
        };
        Some(KeyMatch { range: start..start + KEY_LEN, checksum })
    } else {
        Some(KeyMatch { range: start..start + PREFIX_LEN + run, checksum: KeyChecksum::Incomplete })
    }
}

fn parse_ascii_key(candidate: &[u8]) -> bool {
    std::str::from_utf8(candidate).is_ok_and(|text| parse_key(text).is_ok())
}

/// The six checksum characters for the 58 characters before them.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::digest(&body[..KEY_LEN - CHECKSUM_LEN]);
    // The first 36 bits of the digest, six bits per character.
    let bits =
        u64::from_be_bytes([0, 0, 0, digest[0], digest[1], digest[2], digest[3], digest[4]]) >> 4;
    let mut out = [0u8; CHECKSUM_LEN];
    for (index, slot) in out.iter_mut().enumerate() {
        let shift = 6 * (CHECKSUM_LEN - 1 - index);
        // Masked to six bits, so always a valid index into the 64-character alphabet.
        let sextet = usize::try_from((bits >> shift) & 0x3f).unwrap_or(0);
        *slot = BASE64URL_ALPHABET[sextet];
    }
    out
}

fn checksum_matches(key: &[u8]) -> bool {
    key.len() == KEY_LEN && checksum(key)[..] == key[KEY_LEN - CHECKSUM_LEN..]
}

/// Whether `byte` belongs to the base64url alphabet.
pub(crate) fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn new_key() -> (KeyId, String) {
        let key = ApiKey::generate().unwrap();
        (key.id(), key.key().expose_secret().to_owned())
    }

    #[test]
    fn generated_key_has_the_documented_layout() {
        let (id, text) = new_key();
        assert_eq!(text.len(), KEY_LEN);
        assert_eq!(KEY_LEN, 64);
        assert!(text.starts_with(&format!("mt5gw_{id}_")));
        assert!(id.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert!(text.bytes().all(is_base64url));
    }

    #[test]
    fn generated_key_parses_back_to_its_id_and_hash() {
        let key = ApiKey::generate().unwrap();
        let parsed = parse_key(key.key().expose_secret()).unwrap();
        assert_eq!(parsed.id, key.id());
        assert!(bool::from(parsed.hash().ct_eq(&key.hash())));
        assert!(checksum_is_valid(key.key().expose_secret()));
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let (_, text) = new_key();
        let mut caught = 0;
        let mut tried = 0;
        for index in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[index] = if bytes[index] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            tried += 1;
            if parse_key(&typo).is_err() {
                caught += 1;
            }
        }
        assert_eq!(caught, tried);
    }

    #[test]
    fn malformed_and_bad_checksum_are_told_apart() {
        let (_, text) = new_key();
        let cases: &[(&str, KeyFormatError)] = &[
            ("", KeyFormatError::Malformed),
            ("mt5gw_", KeyFormatError::Malformed),
            (&text[..63], KeyFormatError::Malformed),
            ("x".repeat(64).leak(), KeyFormatError::Malformed),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_key(input).unwrap_err(), *expected, "input {input:?}");
        }
        let mut swapped = text.into_bytes();
        swapped[63] = if swapped[63] == b'A' { b'B' } else { b'A' };
        let swapped = String::from_utf8(swapped).unwrap();
        assert_eq!(parse_key(&swapped).unwrap_err(), KeyFormatError::BadChecksum);
    }

    #[test]
    fn non_ascii_input_never_panics() {
        for input in ["é".repeat(32), format!("mt5gw_{}", "é".repeat(29)), "\u{0}".repeat(64)] {
            assert!(parse_key(&input).is_err());
            assert_eq!(find_keys(&input).count(), 0);
        }
    }

    #[test]
    fn scanner_finds_keys_glued_to_text() {
        let (_, text) = new_key();
        let haystack = format!("abc{text}xyz and {}", &text[..30]);
        let found: Vec<KeyMatch> = find_keys(&haystack).collect();
        assert_eq!(
            found,
            vec![
                KeyMatch { range: 3..67, checksum: KeyChecksum::Valid },
                KeyMatch { range: 75..105, checksum: KeyChecksum::Incomplete },
            ]
        );
    }

    #[test]
    fn scanner_ignores_look_alikes_without_secret_material() {
        for text in ["mt5gw_<id>_…", "MT5GW__SERVER__BIND", "mt5gw_keys_file", "mt5gw_abcd1234_"]
        {
            assert_eq!(find_keys(text).count(), 0, "{text}");
        }
    }

    #[test]
    fn scanner_reports_an_invalid_checksum() {
        let (_, text) = new_key();
        let upper = text.replacen("mt5gw_", "MT5GW_", 1);
        let found: Vec<KeyMatch> = find_keys(&upper).collect();
        assert_eq!(found, vec![KeyMatch { range: 0..64, checksum: KeyChecksum::Invalid }]);
    }

    #[test]
    fn key_id_round_trips_and_refuses_bad_text() {
        let (id, _) = new_key();
        assert_eq!(KeyId::parse(id.as_str()).unwrap(), id);
        for bad in ["", "abc", "ABCDEFGH", "abcdefg_", "abcdefghi", "abcdéfg"] {
            assert!(KeyId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(mask(id), format!("mt5gw_{id}_…"));
    }

    #[test]
    fn hash_hex_round_trips() {
        let key = ApiKey::generate().unwrap();
        let hex = key.hash().to_hex();
        assert_eq!(SecretHash::from_hex(&hex), Some(key.hash()));
        assert_eq!(SecretHash::from_hex(&hex[..63]), None);
        assert_eq!(SecretHash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let key = ApiKey::generate().unwrap();
        let text = key.key().expose_secret().to_owned();
        let secret_text = &text[SECRET_START..SECRET_END];
        let parsed = parse_key(&text).unwrap();
        let shown = [
            format!("{key:?}"),
            format!("{parsed:?}"),
            format!("{:?}", parsed.secret),
            format!("{:?}", key.key()),
            format!("{:?}", key.hash()),
        ];
        for output in shown {
            assert!(!output.contains(secret_text), "{output}");
            assert!(!output.contains(&key.hash().to_hex()), "{output}");
        }
    }
}
