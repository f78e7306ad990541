//! Cells: the only way a value reaches a file, and the rule that decides how it is cleaned.
//!
//! A value that came from outside the gateway (a caller, a header, the terminal) is a
//! [`Cell::Text`] and always goes through `security_core::redact::sanitize_cell`. A value the
//! gateway formats itself is a [`Cell::Number`] or a [`Cell::Time`] and is written as is, which
//! is safe because neither type can be built from arbitrary text. The rule is therefore carried
//! by the type: there is no way to put unsanitized caller text into a row.

use std::fmt;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// RFC 3339, UTC, always six fractional digits: `2026-12-03T14:05:09.123456Z`.
const TIMESTAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Formats an instant the way every timestamp cell of the logs is written.
#[must_use]
pub fn format_timestamp(at: OffsetDateTime) -> String {
    // Formatting a valid date with a static, valid description cannot fail, and converting to
    // UTC fails only at the edges of the representable years; the fallbacks keep the function
    // total rather than panicking.
    at.checked_to_offset(UtcOffset::UTC)
        .and_then(|utc| utc.format(TIMESTAMP).ok())
        .unwrap_or_default()
}

/// Parses a timestamp written by [`format_timestamp`].
#[must_use]
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(text, TIMESTAMP).ok().map(time::PrimitiveDateTime::assume_utc)
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text that came from outside the gateway: redacted, stripped of control characters, cut
    /// to 500 characters and neutralized against spreadsheet formulas on write.
    Text(String),
    /// A number the gateway formatted itself; written verbatim, so `-12.50` stays a number.
    Number(Number),
    /// An instant, written as an RFC 3339 UTC timestamp with microseconds.
    Time(OffsetDateTime),
    /// No value.
    Empty,
}

impl Cell {
    /// A text cell.
    pub fn text(value: impl Into<String>) -> Self {
        Self::Text(value.into())
    }

    /// A text cell, or an empty one for `None`.
    pub fn opt_text(value: Option<impl Into<String>>) -> Self {
        value.map_or(Self::Empty, |v| Self::Text(v.into()))
    }

    /// A number cell, or an empty one for `None`.
    pub fn opt_number(value: Option<impl Into<Number>>) -> Self {
        value.map_or(Self::Empty, |v| Self::Number(v.into()))
    }

    /// The exact text written to the file for this cell (before CSV quoting).
    #[must_use]
    pub fn render(&self) -> String {
        match self {
            Self::Text(text) => security_core::redact::sanitize_cell(text),
            Self::Number(number) => number.0.clone(),
            Self::Time(at) => format_timestamp(*at),
            Self::Empty => String::new(),
        }
    }
}

impl From<Number> for Cell {
    fn from(value: Number) -> Self {
        Self::Number(value)
    }
}

/// A number formatted by the gateway: an optional minus sign, digits, and optionally a dot
/// followed by digits. Nothing else can be stored, which is what makes writing it verbatim safe.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// Formats a float with a fixed number of decimals (`-12.5` with 2 gives `-12.50`).
    /// Returns `None` for NaN and infinities, which have no place in a trading record.
    #[must_use]
    pub fn fixed(value: f64, decimals: u8) -> Option<Self> {
        if !value.is_finite() {
            return None;
        }
        let decimals = usize::from(decimals);
        let mut text = format!("{value:.decimals$}");
        // `-0.00` says nothing `0.00` does not.
        if text.starts_with('-') && text[1..].bytes().all(|b| b == b'0' || b == b'.') {
            text.remove(0);
        }
        Some(Self(text))
    }

    /// Accepts text that already is a plain decimal number, such as the `Display` of a
    /// `rust_decimal::Decimal`: `-?[0-9]+(\.[0-9]+)?`. Anything else gives `None`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (digits, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        let valid = all_digits(whole) && fraction.is_none_or(all_digits);
        valid.then(|| Self(text.to_owned()))
    }

    /// The text written to the file.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! number_from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(value: $t) -> Self {
                Self(value.to_string())
            }
        }
    )*};
}

number_from_integer!(i16, i32, i64, u16, u32, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_plain() {
        assert_eq!(Number::fixed(-12.5, 2).map(|n| n.0), Some("-12.50".to_owned()));
        assert_eq!(Number::fixed(-0.001, 2).map(|n| n.0), Some("0.00".to_owned()));
        assert_eq!(Number::fixed(f64::NAN, 2), None);
        assert_eq!(Cell::Number(Number::from(-3_i64)).render(), "-3");
    }

    #[test]
    fn number_parse_accepts_only_plain_decimals() {
        for good in ["0", "-12.50", "1.0", "100000"] {
            assert!(Number::parse(good).is_some(), "{good}");
        }
        for bad in ["", "-", "1.", ".5", "1e5", "+1", "=1", "1,5", "- 1", "1.2.3", "0x10"] {
            assert!(Number::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_have_microseconds_and_round_trip() {
        let at = time::macros::datetime!(2026-12-03 14:05:09.123456789 UTC);
        let text = format_timestamp(at);
        assert_eq!(text, "2026-12-03T14:05:09.123456Z");
        let back = parse_timestamp(&text).map(format_timestamp);
        assert_eq!(back.as_deref(), Some("2026-12-03T14:05:09.123456Z"));
    }
}
