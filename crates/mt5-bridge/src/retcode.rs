//! MT5 trade server return codes.

use serde::{Deserialize, Serialize};

/// A trade server return code (`MqlTradeResult::retcode`).
///
/// Kept as the raw number so a code the gateway has never heard of still travels intact;
/// [`Retcode::name`] gives the MT5 constant's name where one is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Retcode(pub u32);

macro_rules! retcodes {
    ($($konst:ident = $value:literal, $name:literal;)*) => {
        impl Retcode {
            $(pub const $konst: Retcode = Retcode($value);)*

            /// The MT5 constant's name, e.g. `TRADE_RETCODE_DONE`, or `UNKNOWN`.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => $name,)*
                    _ => "UNKNOWN",
                }
            }
        }
    };
}

retcodes! {
    REQUOTE = 10004, "TRADE_RETCODE_REQUOTE";
    REJECT = 10006, "TRADE_RETCODE_REJECT";
    CANCEL = 10007, "TRADE_RETCODE_CANCEL";
    PLACED = 10008, "TRADE_RETCODE_PLACED";
    DONE = 10009, "TRADE_RETCODE_DONE";
    DONE_PARTIAL = 10010, "TRADE_RETCODE_DONE_PARTIAL";
    ERROR = 10011, "TRADE_RETCODE_ERROR";
    TIMEOUT = 10012, "TRADE_RETCODE_TIMEOUT";
    INVALID = 10013, "TRADE_RETCODE_INVALID";
    INVALID_VOLUME = 10014, "TRADE_RETCODE_INVALID_VOLUME";
    INVALID_PRICE = 10015, "TRADE_RETCODE_INVALID_PRICE";
    INVALID_STOPS = 10016, "TRADE_RETCODE_INVALID_STOPS";
    TRADE_DISABLED = 10017, "TRADE_RETCODE_TRADE_DISABLED";
    MARKET_CLOSED = 10018, "TRADE_RETCODE_MARKET_CLOSED";
    NO_MONEY = 10019, "TRADE_RETCODE_NO_MONEY";
    PRICE_CHANGED = 10020, "TRADE_RETCODE_PRICE_CHANGED";
    PRICE_OFF = 10021, "TRADE_RETCODE_PRICE_OFF";
    INVALID_EXPIRATION = 10022, "TRADE_RETCODE_INVALID_EXPIRATION";
    ORDER_CHANGED = 10023, "TRADE_RETCODE_ORDER_CHANGED";
    TOO_MANY_REQUESTS = 10024, "TRADE_RETCODE_TOO_MANY_REQUESTS";
    NO_CHANGES = 10025, "TRADE_RETCODE_NO_CHANGES";
    CONNECTION = 10031, "TRADE_RETCODE_CONNECTION";
    LIMIT_ORDERS = 10033, "TRADE_RETCODE_LIMIT_ORDERS";
    LIMIT_VOLUME = 10034, "TRADE_RETCODE_LIMIT_VOLUME";
    INVALID_ORDER = 10035, "TRADE_RETCODE_INVALID_ORDER";
    POSITION_CLOSED = 10036, "TRADE_RETCODE_POSITION_CLOSED";
}

impl Retcode {
    /// Only placed (10008), done (10009) and partially done (10010) count as success.
    #[must_use]
    pub fn is_success(self) -> bool {
        matches!(self, Retcode::PLACED | Retcode::DONE | Retcode::DONE_PARTIAL)
    }
}

impl std::fmt::Display for Retcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Retcode;

    #[test]
    fn only_placed_done_and_partial_are_success() {
        let successes: Vec<u32> =
            (10_000..10_100).filter(|code| Retcode(*code).is_success()).collect();
        assert_eq!(successes, vec![10_008, 10_009, 10_010]);
    }

    #[test]
    fn names_follow_mt5_constants() {
        assert_eq!(Retcode::DONE.name(), "TRADE_RETCODE_DONE");
        assert_eq!(Retcode(10_019).name(), "TRADE_RETCODE_NO_MONEY");
        assert_eq!(Retcode(1).name(), "UNKNOWN");
        assert_eq!(Retcode::INVALID_STOPS.to_string(), "10016 (TRADE_RETCODE_INVALID_STOPS)");
    }
}
