//! Time zones and local clock times, and the crossing between `time` and `jiff`.
//!
//! Callers hand us `time::OffsetDateTime` (the type the terminal's data uses); zone rules and
//! local-date arithmetic are done with `jiff` and its bundled time-zone database, so a zone
//! name means the same rules on every machine, whether or not it has a system database.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ConfigError;

/// An IANA time zone, such as `America/New_York`, resolved when it is read.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Coordinated Universal Time, the default zone.
    #[must_use]
    pub fn utc() -> Zone {
        Zone { name: "UTC".to_owned(), tz: TimeZone::UTC }
    }

    /// Looks the zone up in the bundled database.
    pub fn named(name: &str) -> Result<Zone, ConfigError> {
        let tz = TimeZoneDatabase::bundled()
            .get(name)
            .map_err(|_| ConfigError::UnknownTimeZone { name: name.to_owned() })?;
        Ok(Zone { name: name.to_owned(), tz })
    }

    /// The name as configured.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local calendar date and wall-clock time of an instant in this zone.
    pub(crate) fn local(&self, at: Timestamp) -> DateTime {
        self.tz.to_datetime(at)
    }

    /// The instant a local date and time names. A time skipped by a clock change (a gap)
    /// resolves to the instant the same length of time after the gap began, and a time
    /// that happens twice (a fold) to its first occurrence: the "compatible" choice
    /// that calendar software makes.
    pub(crate) fn instant(&self, date: Date, time: Time) -> Timestamp {
        // Resolution fails only at the very ends of the supported range (years ±9999);
        // saturating there keeps the arithmetic total without changing any real answer.
        self.tz
            .to_ambiguous_timestamp(DateTime::from_parts(date, time))
            .compatible()
            .unwrap_or(if date.year() < 0 { Timestamp::MIN } else { Timestamp::MAX })
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::utc()
    }
}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(deserializer)?;
        Zone::named(&name).map_err(serde::de::Error::custom)
    }
}

/// A wall-clock time of day to the minute, written `"HH:MM"`; `"24:00"` is accepted where
/// the end of a day is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ClockTime {
    minutes: u16,
}

impl ClockTime {
    /// Midnight at the start of a day.
    pub const MIDNIGHT: ClockTime = ClockTime { minutes: 0 };
    /// Midnight at the end of a day (`"24:00"`).
    pub const END_OF_DAY: ClockTime = ClockTime { minutes: 1_440 };

    /// `None` past 24:00 or for a minute past 59.
    #[must_use]
    pub fn new(hour: u16, minute: u16) -> Option<ClockTime> {
        let minutes = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && minutes <= 1_440).then_some(ClockTime { minutes })
    }

    /// Minutes since the start of the day, 0 to 1 440.
    #[must_use]
    pub fn minutes(self) -> u16 {
        self.minutes
    }

    /// Parses `"HH:MM"` (one or two digits for the hour).
    pub fn parse(text: &str) -> Result<ClockTime, ConfigError> {
        let invalid = || ConfigError::InvalidClockTime { text: text.to_owned() };
        let (hour, minute) = text.trim().split_once(':').ok_or_else(invalid)?;
        if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
            return Err(invalid());
        }
        let hour = hour.parse().map_err(|_| invalid())?;
        let minute = minute.parse().map_err(|_| invalid())?;
        ClockTime::new(hour, minute).ok_or_else(invalid)
    }

    /// The same time in `jiff`, with 24:00 folded onto the next day's 00:00 by the caller.
    pub(crate) fn civil(self) -> Time {
        let minutes = self.minutes % 1_440;
        // Both parts are in range by construction (hour < 24, minute < 60).
        Time::new(
            i8::try_from(minutes / 60).unwrap_or(0),
            i8::try_from(minutes % 60).unwrap_or(0),
            0,
            0,
        )
        .unwrap_or(Time::midnight())
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ClockTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClockTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `time` to `jiff`; instants past jiff's range (within a day of years ±9999) saturate.
pub(crate) fn to_timestamp(at: OffsetDateTime) -> Timestamp {
    let nanos = at.unix_timestamp_nanos();
    Timestamp::from_nanosecond(nanos).unwrap_or(if nanos < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `jiff` to `time`, in UTC.
pub(crate) fn to_offset_date_time(at: Timestamp) -> OffsetDateTime {
    // jiff's range (years ±9999, less a day) lies inside time's, so this cannot fail.
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A `jiff` calendar date as a `time` one.
pub(crate) fn to_time_date(date: Date) -> time::Date {
    // jiff's dates (years ±9999) are all valid `time` dates, so the conversion cannot fail.
    time::Month::try_from(u8::try_from(date.month()).unwrap_or(1))
        .ok()
        .and_then(|month| {
            time::Date::from_calendar_date(
                i32::from(date.year()),
                month,
                u8::try_from(date.day()).unwrap_or(1),
            )
            .ok()
        })
        .unwrap_or(time::Date::MIN)
}

/// The next calendar day, saturating at the end of the supported range.
pub(crate) fn next_day(date: Date) -> Date {
    date.tomorrow().unwrap_or(date)
}

/// The previous calendar day, saturating at the start of the supported range.
pub(crate) fn previous_day(date: Date) -> Date {
    date.yesterday().unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_parse_and_print() {
        assert_eq!(ClockTime::parse("17:00").map(ClockTime::minutes), Ok(1_020));
        assert_eq!(ClockTime::parse("7:05").map(|t| t.to_string()), Ok("07:05".to_owned()));
        assert_eq!(ClockTime::parse("24:00"), Ok(ClockTime::END_OF_DAY));
        for bad in ["24:01", "12:60", "1200", "12:5", "", "ab:cd", "-1:00", "123:00"] {
            assert!(ClockTime::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn zones_come_from_the_bundled_database() {
        assert!(Zone::named("America/New_York").is_ok());
        assert!(Zone::named("Europe/London").is_ok());
        assert_eq!(
            Zone::named("Mars/Olympus").map(|z| z.name().to_owned()),
            Err(ConfigError::UnknownTimeZone { name: "Mars/Olympus".to_owned() })
        );
    }

    #[test]
    fn instants_cross_between_the_two_libraries() {
        let at = time::macros::datetime!(2024-03-10 06:59:59.123456789 UTC);
        assert_eq!(to_offset_date_time(to_timestamp(at)), at);
        let far = time::macros::datetime!(9999-12-31 23:59 UTC);
        assert_eq!(to_timestamp(far), Timestamp::MAX);
    }
}
