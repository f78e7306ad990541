//! The hash chain: how a row's `chain` cell is computed, and the link row that starts a file.
//!
//! `chain(n) = HMAC-SHA256(key, "mt5gw-audit-chain-v1" ‖ sink ‖ chain(n-1) ‖ fields(n))`, where
//! the fields are every cell of the row but `chain` itself (timestamp and seq included), each
//! prefixed with its length so no two different rows encode alike. The sink's name is part of
//! the input, so a row copied from another sink never verifies.
//!
//! Every file starts with a link row whose detail names the previous file, its last sequence
//! number and its last chain, and whose own chain is computed from that recorded chain. That
//! makes each file verifiable on its own (the link row carries what its HMAC needs) while
//! still tying it to its predecessor: the verifier checks that the recorded link matches the
//! file before it. When retention has deleted the predecessor, the oldest surviving file is
//! still a valid start, and the verifier accepts the missing predecessor only if its date is
//! past the retention horizon; a younger missing file is reported as removed. The very first
//! file of a sink links to `none`, sequence 0 and an all-zero chain.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key::ChainKey;
use crate::schema::Sink;

/// A chain value: the raw HMAC output.
pub type ChainValue = [u8; 32];

/// The chain before the first row of a sink's first file.
pub const GENESIS: ChainValue = [0; 32];

const DOMAIN: &[u8] = b"mt5gw-audit-chain-v1";

/// Computes the chain of a row from the previous row's chain and this row's cells
/// (all but `chain`, as written to the file).
#[must_use]
pub fn compute<S: AsRef<str>>(
    key: &ChainKey,
    sink: Sink,
    previous: &ChainValue,
    fields: &[S],
) -> ChainValue {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose()) else {
        // HMAC accepts keys of any length, so this branch is unreachable; an all-zero chain
        // would fail verification loudly rather than pass silently.
        return GENESIS;
    };
    mac.update(DOMAIN);
    update_with_length(&mut mac, sink.name().as_bytes());
    mac.update(previous);
    mac.update(&(fields.len() as u64).to_be_bytes());
    for field in fields {
        update_with_length(&mut mac, field.as_ref().as_bytes());
    }
    mac.finalize().into_bytes().into()
}

fn update_with_length(mac: &mut Hmac<Sha256>, bytes: &[u8]) {
    mac.update(&(bytes.len() as u64).to_be_bytes());
    mac.update(bytes);
}

/// The predecessor a file's link row names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The previous file's archive name (`orders-2026-12-03-001.csv`), or `None` for the first
    /// file a sink ever had.
    pub prev_file: Option<String>,
    /// The previous file's last sequence number (0 at genesis).
    pub prev_seq: u64,
    /// The previous file's last chain.
    pub prev_chain: ChainValue,
}

impl Link {
    /// The link of a sink's very first file.
    #[must_use]
    pub fn genesis() -> Self {
        Self { prev_file: None, prev_seq: 0, prev_chain: GENESIS }
    }

    /// The detail cell of a link row.
    #[must_use]
    pub fn to_detail(&self) -> String {
        format!(
            "prev_file={} prev_seq={} prev_chain={}",
            self.prev_file.as_deref().unwrap_or("none"),
            self.prev_seq,
            encode_hex(&self.prev_chain)
        )
    }

    /// Parses a link row's detail cell; `None` if it is not exactly what [`Link::to_detail`]
    /// writes.
    #[must_use]
    pub fn parse_detail(detail: &str) -> Option<Self> {
        let mut parts = detail.split(' ');
        let prev_file = parts.next()?.strip_prefix("prev_file=")?;
        let prev_seq = parts.next()?.strip_prefix("prev_seq=")?.parse().ok()?;
        let prev_chain = parse_chain(parts.next()?.strip_prefix("prev_chain=")?)?;
        if parts.next().is_some() || prev_file.is_empty() {
            return None;
        }
        let prev_file = (prev_file != "none").then(|| prev_file.to_owned());
        Some(Self { prev_file, prev_seq, prev_chain })
    }
}

/// Lowercase hex of some bytes.
#[must_use]
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Decodes hex (either case) into `out`; false unless `text` is exactly `2 * out.len()` digits.
pub(crate) fn decode_hex(text: &str, out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(high), Some(low)) => *slot = (high << 4) | low,
            _ => return false,
        }
    }
    true
}

/// Parses a `chain` cell: exactly 64 lowercase hex digits.
#[must_use]
pub fn parse_chain(text: &str) -> Option<ChainValue> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut value = GENESIS;
    decode_hex(text, &mut value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::from_bytes([9; 32])
    }

    #[test]
    fn encoding_is_unambiguous() {
        let a = compute(&key(), Sink::Security, &GENESIS, &["ab", "c"]);
        let b = compute(&key(), Sink::Security, &GENESIS, &["a", "bc"]);
        let c = compute(&key(), Sink::Errors, &GENESIS, &["ab", "c"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, compute(&key(), Sink::Security, &GENESIS, &["ab", "c"]));
    }

    #[test]
    fn link_detail_round_trips() {
        let link = Link {
            prev_file: Some("orders-2026-12-03-001.csv".into()),
            prev_seq: 1042,
            prev_chain: [0xab; 32],
        };
        assert_eq!(Link::parse_detail(&link.to_detail()), Some(link));
        assert_eq!(Link::parse_detail(&Link::genesis().to_detail()), Some(Link::genesis()));
        assert_eq!(Link::parse_detail("prev_file= prev_seq=1 prev_chain=00"), None);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0_u8, 1, 0x7f, 0x80, 0xff];
        let mut back = [0_u8; 5];
        assert!(decode_hex(&encode_hex(&bytes), &mut back));
        assert_eq!(bytes, back);
        assert!(parse_chain("zz").is_none());
    }
}
