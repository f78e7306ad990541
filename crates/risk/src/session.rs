//! Trading sessions: weekly windows of local time during which a symbol may be opened.
//!
//! A window is written `"mon-fri 08:00-17:00"`: the days it opens on (names, ranges such as
//! `fri-mon` that wrap round the week, or lists joined by commas), then the local opening
//! and closing times. A closing time at or before the opening time means the window closes
//! on the next day, so `"sun-thu 22:00-06:00"` is five overnight windows; `"24:00"` is the
//! end of the opening day. Times are local to the sessions' zone, so a window keeps its
//! wall-clock hours across daylight-saving changes; a local opening time that a change
//! skips resolves as [`crate::Zone`] describes.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ConfigError;
use crate::zone::{ClockTime, Zone, next_day, previous_day, to_offset_date_time, to_timestamp};

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One weekly window, such as `"mon-fri 08:00-17:00"`.
#[derive(Clone, PartialEq, Eq)]
pub struct Window {
    text: String,
    /// Bit `n` set: the window opens on the `n`th day counted from Monday = 0.
    days: u8,
    open: ClockTime,
    close: ClockTime,
}

impl Window {
    /// Parses the written form described in the module docs.
    pub fn parse(text: &str) -> Result<Window, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidWindow {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (days, times) = text.trim().split_once(' ').ok_or_else(|| invalid("no times"))?;
        let (open, close) =
            times.trim().split_once('-').ok_or_else(|| invalid("no closing time"))?;
        let open = ClockTime::parse(open).map_err(|_| invalid("bad opening time"))?;
        let close = ClockTime::parse(close).map_err(|_| invalid("bad closing time"))?;
        if open == ClockTime::END_OF_DAY {
            return Err(invalid("a window cannot open at 24:00"));
        }

        let mut mask = 0u8;
        for part in days.split(',') {
            let day = |name: &str| {
                DAY_NAMES
                    .iter()
                    .position(|known| known.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| invalid("days are mon, tue, wed, thu, fri, sat, sun"))
            };
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (day(first)?, day(last)?),
                None => (day(part)?, day(part)?),
            };
            let mut index = first;
            loop {
                mask |= 1 << index;
                if index == last {
                    break;
                }
                index = (index + 1) % 7;
            }
        }
        Ok(Window { text: text.trim().to_owned(), days: mask, open, close })
    }

    fn opens_on(&self, weekday: Weekday) -> bool {
        let index = weekday.to_monday_zero_offset();
        self.days & (1 << index) != 0
    }

    /// The instants at which this window opens and closes when it opens on `date`.
    fn span(&self, zone: &Zone, date: Date) -> (Timestamp, Timestamp) {
        let start = zone.instant(date, self.open.civil());
        let end = if self.close == ClockTime::END_OF_DAY {
            zone.instant(next_day(date), ClockTime::MIDNIGHT.civil())
        } else if self.close > self.open {
            zone.instant(date, self.close.civil())
        } else {
            zone.instant(next_day(date), self.close.civil())
        };
        (start, end)
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Window").field(&self.text).finish()
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Window, D::Error> {
        let text = String::deserialize(deserializer)?;
        Window::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A symbol's sessions: windows in one time zone (default UTC).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    #[serde(default)]
    pub timezone: Zone,
    pub windows: Vec<Window>,
}

impl Sessions {
    /// Whether some window is open at `at` (opening instant included, closing excluded).
    #[must_use]
    pub fn is_open(&self, at: OffsetDateTime) -> bool {
        let at = to_timestamp(at);
        let today = self.timezone.local(at).date();

        // A window that contains `at` opened today or, crossing midnight, yesterday.
        [previous_day(today), today].into_iter().any(|date| {
            self.windows.iter().any(|window| {
                if !window.opens_on(date.weekday()) {
                    return false;
                }
                let (start, end) = window.span(&self.timezone, date);
                start <= at && at < end
            })
        })
    }

    /// The first instant after `at` at which a window opens; `None` when no window is
    /// configured.
    #[must_use]
    pub fn next_open(&self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        let at = to_timestamp(at);
        let mut date = self.timezone.local(at).date();
        let mut next: Option<Timestamp> = None;

        // Every window opens at least once a week, so eight days ahead find the next one.
        for _ in 0..8 {
            for window in self.windows.iter().filter(|window| window.opens_on(date.weekday())) {
                let (start, _) = window.span(&self.timezone, date);
                if start > at && next.is_none_or(|next| start < next) {
                    next = Some(start);
                }
            }
            if next.is_some() {
                break;
            }
            date = next_day(date);
        }
        next.map(to_offset_date_time)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn sessions(zone: &str, windows: &[&str]) -> Sessions {
        Sessions {
            timezone: Zone::named(zone).unwrap_or_default(),
            windows: windows.iter().filter_map(|text| Window::parse(text).ok()).collect(),
        }
    }

    /// Checks `is_open` and `next_open` at each instant of `cases`.
    fn check(sessions: &Sessions, cases: &[(OffsetDateTime, bool, Option<OffsetDateTime>)]) {
        for &(at, open, next) in cases {
            assert_eq!(sessions.is_open(at), open, "is_open at {at}");
            assert_eq!(sessions.next_open(at), next, "next_open at {at}");
        }
    }

    #[test]
    fn windows_parse_with_ranges_lists_and_wrapping() {
        let days = |text: &str| Window::parse(text).map(|window| window.days);
        assert_eq!(days("mon-fri 08:00-17:00"), Ok(0b001_1111));
        assert_eq!(days("fri-mon 08:00-17:00"), Ok(0b111_0001));
        assert_eq!(days("Mon,wed,SUN 08:00-17:00"), Ok(0b100_0101));
        assert_eq!(days("sat 00:00-24:00"), Ok(0b010_0000));
        for bad in ["mon 08:00", "mon08:00-17:00", "xyz 08:00-17:00", "mon 24:00-02:00", "mon 8-9"]
        {
            assert!(Window::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn several_windows_a_day() {
        let sessions = sessions("UTC", &["mon-fri 08:00-12:00", "mon-fri 13:00-17:00"]);
        check(
            &sessions,
            &[
                (datetime!(2024-06-03 07:59 UTC), false, Some(datetime!(2024-06-03 08:00 UTC))),
                (datetime!(2024-06-03 08:00 UTC), true, Some(datetime!(2024-06-03 13:00 UTC))),
                (datetime!(2024-06-03 12:00 UTC), false, Some(datetime!(2024-06-03 13:00 UTC))),
                (datetime!(2024-06-03 16:59 UTC), true, Some(datetime!(2024-06-04 08:00 UTC))),
                // Friday evening: the next opening is Monday morning.
                (datetime!(2024-06-07 17:00 UTC), false, Some(datetime!(2024-06-10 08:00 UTC))),
            ],
        );
    }

    #[test]
    fn windows_cross_midnight() {
        // The FX week as many brokers run it: Sunday 22:00 to Friday 22:00, UTC.
        let fx = sessions("UTC", &["sun-thu 22:00-22:00"]);
        check(
            &fx,
            &[
                (datetime!(2024-06-02 21:59 UTC), false, Some(datetime!(2024-06-02 22:00 UTC))),
                (datetime!(2024-06-03 00:00 UTC), true, Some(datetime!(2024-06-03 22:00 UTC))),
                (datetime!(2024-06-07 21:59 UTC), true, Some(datetime!(2024-06-09 22:00 UTC))),
                (datetime!(2024-06-07 22:00 UTC), false, Some(datetime!(2024-06-09 22:00 UTC))),
                (datetime!(2024-06-08 12:00 UTC), false, Some(datetime!(2024-06-09 22:00 UTC))),
            ],
        );

        let overnight = sessions("UTC", &["fri 23:00-01:00"]);
        assert!(overnight.is_open(datetime!(2024-06-08 00:30 UTC)));
        assert!(!overnight.is_open(datetime!(2024-06-08 01:00 UTC)));
        assert!(!overnight.is_open(datetime!(2024-06-07 00:30 UTC)));
    }

    #[test]
    fn windows_keep_local_hours_across_new_york_dst_changes() {
        // 2024-03-10 02:00 EST the clocks went forward to 03:00 EDT (UTC-5 → UTC-4);
        // 2024-11-03 02:00 EDT they went back to 01:00 EST.
        let ny = sessions("America/New_York", &["sun-thu 17:00-17:00"]);
        check(
            &ny,
            &[
                // Before the change Sunday's 17:00 is 22:00 UTC, after it 21:00 UTC.
                (datetime!(2024-03-03 21:59 UTC), false, Some(datetime!(2024-03-03 22:00 UTC))),
                (datetime!(2024-03-10 20:59 UTC), false, Some(datetime!(2024-03-10 21:00 UTC))),
                (datetime!(2024-03-10 21:00 UTC), true, Some(datetime!(2024-03-11 21:00 UTC))),
                // Friday's close follows the local clock too.
                (datetime!(2024-03-08 21:59 UTC), true, Some(datetime!(2024-03-10 21:00 UTC))),
                (datetime!(2024-03-08 22:00 UTC), false, Some(datetime!(2024-03-10 21:00 UTC))),
                (datetime!(2024-03-15 20:59 UTC), true, Some(datetime!(2024-03-17 21:00 UTC))),
                (datetime!(2024-03-15 21:00 UTC), false, Some(datetime!(2024-03-17 21:00 UTC))),
                // And back in November.
                (datetime!(2024-11-03 21:59 UTC), false, Some(datetime!(2024-11-03 22:00 UTC))),
                (datetime!(2024-11-03 22:00 UTC), true, Some(datetime!(2024-11-04 22:00 UTC))),
            ],
        );
    }

    #[test]
    fn a_window_through_the_skipped_hour() {
        // 01:00-03:00 local on the night the clocks skip 02:00-03:00 lasts one hour.
        let night = sessions("America/New_York", &["sun 01:00-03:00"]);
        assert!(night.is_open(datetime!(2024-03-10 06:00 UTC))); // 01:00 EST
        assert!(night.is_open(datetime!(2024-03-10 06:59 UTC)));
        assert!(!night.is_open(datetime!(2024-03-10 07:00 UTC))); // 03:00 EDT
        // A window opening inside the gap opens once the clocks have jumped.
        let gap = sessions("America/New_York", &["sun 02:30-04:00"]);
        assert_eq!(
            gap.next_open(datetime!(2024-03-10 06:00 UTC)),
            Some(datetime!(2024-03-10 07:30 UTC))
        );
    }

    #[test]
    fn no_windows_never_open() {
        let none = sessions("UTC", &[]);
        assert!(!none.is_open(datetime!(2024-06-03 12:00 UTC)));
        assert_eq!(none.next_open(datetime!(2024-06-03 12:00 UTC)), None);
    }
}
