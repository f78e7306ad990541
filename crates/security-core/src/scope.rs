//! What a key may do: `read`, `trade` or `admin`, each including the ones before it.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The permission a key carries. `Admin` allows everything `Trade` does, and `Trade`
/// everything `Read` does, so one value says it all; the order of the variants is that ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Account, symbols, prices, positions, history.
    Read,
    /// Sending, changing and cancelling orders, closing positions, the kill switch.
    Trade,
    /// Keys, resuming trading, security events.
    Admin,
}

/// Why a scope text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The text named no scope at all.
    #[error("no scope given: expected read, trade or admin")]
    Empty,
    /// A word that is not a scope. The word is cut to a few characters, since it is user input.
    #[error("unknown scope {word:?}: expected read, trade or admin")]
    Unknown {
        /// The refused word, at most 20 characters of it.
        word: String,
    },
}

impl Scope {
    /// Every scope, lowest first.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Trade, Scope::Admin];

    /// Whether a key with this scope may do what `needed` guards.
    #[must_use]
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }

    /// The scope's name as written in files and on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Trade => "trade",
            Scope::Admin => "admin",
        }
    }

    /// Parses one word, ignoring letter case and surrounding spaces.
    pub fn parse_word(word: &str) -> Result<Self, ScopeError> {
        let trimmed = word.trim();
        Self::ALL
            .into_iter()
            .find(|scope| trimmed.eq_ignore_ascii_case(scope.as_str()))
            .ok_or_else(|| ScopeError::Unknown { word: trimmed.chars().take(20).collect() })
    }

    /// Parses several words and keeps the highest: `read,trade` is `trade`. Every word must be a
    /// scope and none may be empty, so a typo is an error instead of a silently lower scope.
    pub fn parse_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let mut highest = None;
        for word in words {
            if word.trim().is_empty() {
                return Err(ScopeError::Empty);
            }
            let scope = Self::parse_word(word)?;
            highest = highest.max(Some(scope));
        }
        highest.ok_or(ScopeError::Empty)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    /// Accepts one word (`trade`) or a comma list (`read,trade`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Err(ScopeError::Empty);
        }
        Self::parse_words(text.split(','))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Reads `"admin"`, `"read,trade"` or `["read", "trade"]`.
impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScopeVisitor;

        impl<'de> Visitor<'de> for ScopeVisitor {
            type Value = Scope;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("read, trade or admin, alone, as a comma list or as a list")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Scope, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scope, A::Error> {
                let mut highest: Option<Scope> = None;
                while let Some(word) = seq.next_element::<String>()? {
                    let scope = Scope::parse_word(&word).map_err(de::Error::custom)?;
                    highest = highest.max(Some(scope));
                }
                highest.ok_or_else(|| de::Error::custom(ScopeError::Empty))
            }
        }

        deserializer.deserialize_any(ScopeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &Result<Scope, ScopeError>) {
        assert_eq!(&input.parse::<Scope>(), expected, "input {input:?}");
    }

    #[test]
    fn parses_words_and_lists() {
        let unknown = |word: &str| Err(ScopeError::Unknown { word: word.to_owned() });
        check("read", &Ok(Scope::Read));
        check("Trade", &Ok(Scope::Trade));
        check(" admin ", &Ok(Scope::Admin));
        check("read,trade", &Ok(Scope::Trade));
        check("admin,read", &Ok(Scope::Admin));
        check("read, trade, admin", &Ok(Scope::Admin));
        check("", &Err(ScopeError::Empty));
        check("read,,trade", &Err(ScopeError::Empty));
        check("read,", &Err(ScopeError::Empty));
        check("write", &unknown("write"));
        check("read,superuser", &unknown("superuser"));
        check(&"x".repeat(100), &unknown(&"x".repeat(20)));
    }

    #[test]
    fn each_scope_allows_itself_and_those_below() {
        let cases = [
            (Scope::Read, [true, false, false]),
            (Scope::Trade, [true, true, false]),
            (Scope::Admin, [true, true, true]),
        ];
        for (held, expected) in cases {
            let allowed = Scope::ALL.map(|needed| held.allows(needed));
            assert_eq!(allowed, expected, "{held}");
        }
    }

    #[test]
    fn serde_round_trips_and_reads_lists() {
        assert_eq!(serde_json::to_string(&Scope::Trade).unwrap(), r#""trade""#);
        let cases = [(r#""admin""#, Scope::Admin), (r#""read,trade""#, Scope::Trade)];
        for (json, expected) in cases {
            assert_eq!(serde_json::from_str::<Scope>(json).unwrap(), expected);
        }
        assert_eq!(serde_json::from_str::<Scope>(r#"["read","trade"]"#).unwrap(), Scope::Trade);
        assert!(serde_json::from_str::<Scope>(r#""root""#).is_err());
        assert!(serde_json::from_str::<Scope>("[]").is_err());
        assert!(serde_json::from_str::<Scope>("3").is_err());
    }
}
