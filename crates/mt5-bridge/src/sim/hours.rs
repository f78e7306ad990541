//! When the simulated market trades: always, or every week but for a weekly break.
//!
//! FX and gold trade around the clock on weekdays and close for the weekend, from Friday
//! 22:00 UTC to Sunday 22:00 UTC at most brokers. While closed no ticks arrive, pending
//! orders and stops do not trigger and trade requests get `10018` (market closed).

use std::fmt;

use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
pub(crate) const WEEK_MS: i64 = 7 * DAY_MS;
/// The Unix epoch fell on a Thursday; adding three days counts from the Monday before.
pub(crate) const MONDAY_OFFSET_MS: i64 = 3 * DAY_MS;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A moment in the week, UTC, written like `"Fri 22:00"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeekTime {
    /// Minutes since Monday 00:00.
    minute_of_week: u32,
}

impl WeekTime {
    /// `day` counts from Monday = 0; `None` for a day past Sunday or a time past 23:59.
    #[must_use]
    pub fn new(day: u32, hour: u32, minute: u32) -> Option<WeekTime> {
        (day < 7 && hour < 24 && minute < 60)
            .then_some(WeekTime { minute_of_week: day * 1_440 + hour * 60 + minute })
    }

    fn ms(self) -> i64 {
        i64::from(self.minute_of_week) * MINUTE_MS
    }
}

impl fmt::Display for WeekTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = DAY_NAMES.get((self.minute_of_week / 1_440) as usize).unwrap_or(&"Mon");
        let minutes = self.minute_of_week % 1_440;
        write!(f, "{day} {:02}:{:02}", minutes / 60, minutes % 60)
    }
}

impl TryFrom<String> for WeekTime {
    type Error = String;

    fn try_from(text: String) -> Result<WeekTime, String> {
        let invalid = || format!("week time {text:?} is not like \"Fri 22:00\"");
        let (day, clock) = text.trim().split_once(' ').ok_or_else(invalid)?;
        let day = DAY_NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(day))
            .and_then(|index| u32::try_from(index).ok())
            .ok_or_else(invalid)?;
        let (hour, minute) = clock.trim().split_once(':').ok_or_else(invalid)?;
        let hour = hour.parse().map_err(|_| invalid())?;
        let minute = minute.parse().map_err(|_| invalid())?;
        WeekTime::new(day, hour, minute).ok_or_else(invalid)
    }
}

impl From<WeekTime> for String {
    fn from(time: WeekTime) -> String {
        time.to_string()
    }
}

impl Serialize for WeekTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WeekTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<WeekTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        WeekTime::try_from(text).map_err(serde::de::Error::custom)
    }
}

/// The simulated market's trading hours.
///
/// In a configuration file: `market_hours = "always"`, `market_hours = "forex"`, or
/// `market_hours = { weekly = { close = "Fri 21:00", open = "Sun 21:05" } }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketHours {
    /// Never closed: for tests, and for trying the gateway out at the weekend.
    Always,
    /// Closed from Friday 22:00 to Sunday 22:00 UTC.
    #[default]
    Forex,
    /// Closed once a week from `close` to `open`, UTC.
    Weekly { close: WeekTime, open: WeekTime },
}

impl MarketHours {
    /// The weekly break as offsets from Monday 00:00, or `None` when there is none.
    fn weekly_break(self) -> Option<(i64, i64)> {
        let (close, open) = match self {
            MarketHours::Always => return None,
            MarketHours::Forex => (WeekTime::new(4, 22, 0)?, WeekTime::new(6, 22, 0)?),
            MarketHours::Weekly { close, open } => (close, open),
        };
        (close != open).then_some((close.ms(), open.ms()))
    }

    /// Whether the market trades at `ms` (milliseconds since the epoch).
    pub(crate) fn is_open(self, ms: i64) -> bool {
        let Some((close, open)) = self.weekly_break() else {
            return true;
        };
        let in_week = (ms + MONDAY_OFFSET_MS).rem_euclid(WEEK_MS);
        let closed = if close < open {
            (close..open).contains(&in_week)
        } else {
            in_week >= close || in_week < open
        };
        !closed
    }

    /// The first moment at or after `ms` when the market trades.
    pub(crate) fn next_open(self, ms: i64) -> i64 {
        match self.weekly_break() {
            Some((_, open)) if !self.is_open(ms) => {
                let in_week = (ms + MONDAY_OFFSET_MS).rem_euclid(WEEK_MS);
                ms + (open - in_week).rem_euclid(WEEK_MS)
            }
            _ => ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::sim::clock::to_ms;

    #[test]
    fn forex_closes_for_the_weekend() {
        let hours = MarketHours::Forex;
        assert!(hours.is_open(to_ms(datetime!(2024-06-07 21:59:59 UTC)))); // Friday
        assert!(!hours.is_open(to_ms(datetime!(2024-06-07 22:00 UTC))));
        assert!(!hours.is_open(to_ms(datetime!(2024-06-08 12:00 UTC)))); // Saturday
        assert!(!hours.is_open(to_ms(datetime!(2024-06-09 21:59 UTC)))); // Sunday
        assert!(hours.is_open(to_ms(datetime!(2024-06-09 22:00 UTC))));
        assert!(hours.is_open(to_ms(datetime!(2024-06-10 03:00 UTC)))); // Monday
        assert!(MarketHours::Always.is_open(to_ms(datetime!(2024-06-08 12:00 UTC))));
    }

    #[test]
    fn next_open_is_sunday_evening() {
        let saturday = to_ms(datetime!(2024-06-08 12:00 UTC));
        assert_eq!(MarketHours::Forex.next_open(saturday), to_ms(datetime!(2024-06-09 22:00 UTC)));
        let monday = to_ms(datetime!(2024-06-10 03:00 UTC));
        assert_eq!(MarketHours::Forex.next_open(monday), monday);
    }

    #[test]
    fn weekly_break_may_wrap_past_monday() {
        let close = WeekTime::try_from("Sun 23:00".to_owned()).unwrap();
        let open = WeekTime::try_from("mon 01:30".to_owned()).unwrap();
        let hours = MarketHours::Weekly { close, open };
        assert!(!hours.is_open(to_ms(datetime!(2024-06-09 23:30 UTC))));
        assert!(!hours.is_open(to_ms(datetime!(2024-06-10 01:00 UTC))));
        assert!(hours.is_open(to_ms(datetime!(2024-06-10 01:30 UTC))));
        assert_eq!(
            hours.next_open(to_ms(datetime!(2024-06-09 23:30 UTC))),
            to_ms(datetime!(2024-06-10 01:30 UTC))
        );
    }

    #[test]
    fn week_times_parse_and_print() {
        let time = WeekTime::try_from("Fri 22:00".to_owned()).unwrap();
        assert_eq!(time.to_string(), "Fri 22:00");
        for bad in ["Fri", "Fry 22:00", "Fri 24:00", "Fri 22:60", "Fri 2200", ""] {
            assert!(WeekTime::try_from(bad.to_owned()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn config_spellings_deserialize() {
        #[derive(Deserialize)]
        struct Holder {
            hours: MarketHours,
        }
        let parse = |json: &str| serde_json::from_str::<Holder>(json).map(|h| h.hours);
        assert_eq!(parse(r#"{"hours":"always"}"#).unwrap(), MarketHours::Always);
        assert_eq!(parse(r#"{"hours":"forex"}"#).unwrap(), MarketHours::Forex);
        let weekly = parse(r#"{"hours":{"weekly":{"close":"Fri 21:00","open":"Sun 21:05"}}}"#);
        assert!(matches!(weekly, Ok(MarketHours::Weekly { .. })));
        assert!(parse(r#"{"hours":{"weekly":{"close":"Fri 25:00","open":"Sun 21:05"}}}"#).is_err());
    }
}
