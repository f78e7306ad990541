//! The simulated terminal's sense of time: the system clock in use, a manual one in tests.
//!
//! Everything the simulation does is a function of its seed and of the times it is called
//! at, so a clock that only moves when a test moves it makes every tick, trigger and bar
//! reproducible.

use std::fmt;

use parking_lot::Mutex;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// Where the simulated terminal reads the current time from.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The machine's clock: what a paper account uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until told to move, for deterministic tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    #[must_use]
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock { now: Mutex::new(start) }
    }

    /// Moves the clock to `time`; moving it backwards is allowed but the simulation ignores
    /// time it has already lived through.
    pub fn set(&self, time: OffsetDateTime) {
        *self.now.lock() = time;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now = now.saturating_add(by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock()
    }
}

/// Milliseconds since the Unix epoch. Cannot overflow: `time` covers ±9999 years, about
/// 3·10^14 ms, far inside `i64`.
pub(crate) fn to_ms(time: OffsetDateTime) -> i64 {
    time.unix_timestamp() * 1_000 + i64::from(time.millisecond())
}

/// The inverse of [`to_ms`], saturating at the ends of the representable range so that no
/// input can panic.
pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if ms < 0 {
        PrimitiveDateTime::MIN.assume_utc()
    } else {
        PrimitiveDateTime::MAX.assume_utc()
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn milliseconds_round_trip() {
        let time = datetime!(2024-06-03 12:34:56.789 UTC);
        assert_eq!(from_ms(to_ms(time)), time);
        assert_eq!(to_ms(OffsetDateTime::UNIX_EPOCH), 0);
        assert_eq!(from_ms(i64::MAX), PrimitiveDateTime::MAX.assume_utc());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2024-06-03 12:00 UTC));
        assert_eq!(clock.now(), datetime!(2024-06-03 12:00 UTC));
        clock.advance(Duration::seconds(90));
        assert_eq!(clock.now(), datetime!(2024-06-03 12:01:30 UTC));
    }
}
