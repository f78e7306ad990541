//! The trading day: from one rollover to the next, in a configured zone.
//!
//! A trading day starts at the rollover time (say 17:00 in New York) and is named after
//! the local date on which it starts. Its boundaries are computed as instants from local
//! wall-clock time, so a day that contains a daylight-saving change lasts 23 or 25 hours
//! and the rollover stays at 17:00 local time on both sides of it.

use jiff::civil::Date;
use serde::Serialize;
use time::OffsetDateTime;

use crate::zone::{
    ClockTime, Zone, next_day, previous_day, to_offset_date_time, to_time_date, to_timestamp,
};

/// Where trading days begin: a zone and a local rollover time.
#[derive(Clone, Debug, PartialEq)]
pub struct TradingCalendar {
    zone: Zone,
    rollover: ClockTime,
}

/// One trading day: its name and the instants it spans, `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TradingDay {
    /// The local date on which the day starts.
    pub date: time::Date,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl TradingDay {
    /// Whether `at` falls within this day.
    #[must_use]
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.start <= at && at < self.end
    }
}

impl TradingCalendar {
    /// A rollover of 24:00 is taken as 00:00.
    #[must_use]
    pub fn new(zone: Zone, rollover: ClockTime) -> TradingCalendar {
        let rollover =
            if rollover == ClockTime::END_OF_DAY { ClockTime::MIDNIGHT } else { rollover };
        TradingCalendar { zone, rollover }
    }

    /// The trading day that `at` falls in.
    #[must_use]
    pub fn day_of(&self, at: OffsetDateTime) -> TradingDay {
        let instant = to_timestamp(at);
        let today = self.zone.local(instant).date();

        // Compare instants rather than wall-clock times, so that a rollover falling in a
        // skipped or repeated hour still splits the days at one well-defined instant.
        let date = if instant >= self.start_of(today) { today } else { previous_day(today) };
        TradingDay {
            date: to_time_date(date),
            start: to_offset_date_time(self.start_of(date)),
            end: to_offset_date_time(self.start_of(next_day(date))),
        }
    }

    fn start_of(&self, date: Date) -> jiff::Timestamp {
        self.zone.instant(date, self.rollover.civil())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn calendar(zone: &str, rollover: &str) -> TradingCalendar {
        TradingCalendar::new(
            Zone::named(zone).unwrap_or_default(),
            ClockTime::parse(rollover).unwrap_or_default(),
        )
    }

    /// Checks the day that each instant falls in: its date, start and end.
    fn check(
        calendar: &TradingCalendar,
        cases: &[(OffsetDateTime, time::Date, OffsetDateTime, OffsetDateTime)],
    ) {
        for &(at, date, start, end) in cases {
            assert_eq!(calendar.day_of(at), TradingDay { date, start, end }, "at {at}");
        }
    }

    #[test]
    fn midnight_utc_days_are_calendar_days() {
        let utc = calendar("UTC", "00:00");
        check(
            &utc,
            &[
                (
                    datetime!(2024-06-03 00:00 UTC),
                    date!(2024 - 06 - 03),
                    datetime!(2024-06-03 00:00 UTC),
                    datetime!(2024-06-04 00:00 UTC),
                ),
                (
                    datetime!(2024-06-03 23:59:59.999 UTC),
                    date!(2024 - 06 - 03),
                    datetime!(2024-06-03 00:00 UTC),
                    datetime!(2024-06-04 00:00 UTC),
                ),
            ],
        );
    }

    #[test]
    fn new_york_five_pm_rollover_across_dst() {
        let ny = calendar("America/New_York", "17:00");
        check(
            &ny,
            &[
                // Winter: 17:00 EST is 22:00 UTC.
                (
                    datetime!(2024-03-05 21:59:59 UTC),
                    date!(2024 - 03 - 04),
                    datetime!(2024-03-04 22:00 UTC),
                    datetime!(2024-03-05 22:00 UTC),
                ),
                (
                    datetime!(2024-03-05 22:00 UTC),
                    date!(2024 - 03 - 05),
                    datetime!(2024-03-05 22:00 UTC),
                    datetime!(2024-03-06 22:00 UTC),
                ),
                // The day that contains the spring change is 23 hours long.
                (
                    datetime!(2024-03-10 12:00 UTC),
                    date!(2024 - 03 - 09),
                    datetime!(2024-03-09 22:00 UTC),
                    datetime!(2024-03-10 21:00 UTC),
                ),
                (
                    datetime!(2024-03-10 21:00 UTC),
                    date!(2024 - 03 - 10),
                    datetime!(2024-03-10 21:00 UTC),
                    datetime!(2024-03-11 21:00 UTC),
                ),
                // The autumn one 25.
                (
                    datetime!(2024-11-03 12:00 UTC),
                    date!(2024 - 11 - 02),
                    datetime!(2024-11-02 21:00 UTC),
                    datetime!(2024-11-03 22:00 UTC),
                ),
                (
                    datetime!(2024-11-03 21:30 UTC),
                    date!(2024 - 11 - 02),
                    datetime!(2024-11-02 21:00 UTC),
                    datetime!(2024-11-03 22:00 UTC),
                ),
                (
                    datetime!(2024-11-03 22:00 UTC),
                    date!(2024 - 11 - 03),
                    datetime!(2024-11-03 22:00 UTC),
                    datetime!(2024-11-04 22:00 UTC),
                ),
            ],
        );
    }

    #[test]
    fn a_rollover_inside_the_skipped_hour() {
        // 02:30 does not exist in New York on 2024-03-10; the day starts when it would have.
        let ny = calendar("America/New_York", "02:30");
        let day = ny.day_of(datetime!(2024-03-10 12:00 UTC));
        assert_eq!(day.date, date!(2024 - 03 - 10));
        assert_eq!(day.start, datetime!(2024-03-10 07:30 UTC));
        assert_eq!(day.end, datetime!(2024-03-11 06:30 UTC));
        assert_eq!(ny.day_of(datetime!(2024-03-10 07:29 UTC)).date, date!(2024 - 03 - 09));
    }

    #[test]
    fn every_instant_falls_in_its_own_day() {
        let ny = calendar("America/New_York", "17:00");
        let mut at = datetime!(2024-03-08 00:00 UTC);
        while at < datetime!(2024-03-13 00:00 UTC) {
            let day = ny.day_of(at);
            assert!(day.contains(at), "{at} outside {day:?}");
            assert_eq!(ny.day_of(day.start), day);
            at += time::Duration::minutes(17);
        }
    }
}
