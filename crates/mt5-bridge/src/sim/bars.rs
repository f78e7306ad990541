//! OHLC bars of every timeframe, built from the simulated ticks.
//!
//! Bars since the terminal opened are aggregated from the ticks it played, so they agree
//! with the quotes exactly: the newest bar's close is the current bid. The time before that
//! is synthesised when asked for: a walk backwards from the first live bar's open, each bar
//! drawn from a hash of (seed, symbol, timeframe, bar time). The same seed and the same
//! opening price give the same history, and no state is kept for it. Bars live in memory
//! only: after a restart the time before it is synthesised again.
//!
//! Weeks start on Monday and months on the 1st, as in MT5. Periods the market was closed
//! for entirely (a weekend under forex hours) have no bar, as in MT5.

use std::collections::VecDeque;

use time::{Date, Month, Time};

use super::clock::from_ms;
use super::feed::{Quote, reflect};
use super::hours::{MONDAY_OFFSET_MS, MarketHours, WEEK_MS};
use super::rng::{hash, symmetric_from};
use super::spec::Spec;
use crate::types::{Bar, Timeframe};

/// The most bars one call returns (a larger count is refused as an invalid request), and
/// the most kept in memory per symbol and timeframe.
pub const MAX_BARS: usize = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RawBar {
    start_s: i64,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    ticks: u64,
    spread: u32,
}

/// The live bars of one symbol, one queue per timeframe, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct BarSeries {
    live: [VecDeque<RawBar>; Timeframe::ALL.len()],
}

/// What synthesising history needs to know besides the live bars.
#[derive(Clone, Copy, Debug)]
pub(crate) struct History<'a> {
    pub(crate) spec: &'a Spec,
    pub(crate) symbol_index: usize,
    pub(crate) seed: u64,
    pub(crate) hours: MarketHours,
    pub(crate) interval_ms: i64,
}

impl BarSeries {
    /// Adds one tick to the forming bar of every timeframe.
    pub(crate) fn record(&mut self, quote: Quote) {
        let time_s = quote.time_ms.div_euclid(1_000);
        for (timeframe, bars) in Timeframe::ALL.into_iter().zip(self.live.iter_mut()) {
            let start_s = bar_start(timeframe, time_s);
            match bars.back_mut() {
                Some(bar) if bar.start_s == start_s => {
                    bar.high = bar.high.max(quote.bid);
                    bar.low = bar.low.min(quote.bid);
                    bar.close = quote.bid;
                    bar.ticks += 1;
                    bar.spread = quote.spread();
                }
                // A tick older than the forming bar (a clock set back) changes nothing.
                Some(bar) if bar.start_s > start_s => {}
                _ => {
                    bars.push_back(RawBar {
                        start_s,
                        open: quote.bid,
                        high: quote.bid,
                        low: quote.bid,
                        close: quote.bid,
                        ticks: 1,
                        spread: quote.spread(),
                    });
                    if bars.len() > MAX_BARS {
                        bars.pop_front();
                    }
                }
            }
        }
    }

    /// The newest `count` bars (at most [`MAX_BARS`]), oldest first.
    pub(crate) fn bars(
        &self,
        history: History<'_>,
        timeframe: Timeframe,
        count: usize,
    ) -> Vec<Bar> {
        let index = Timeframe::ALL.iter().position(|tf| *tf == timeframe).unwrap_or(0);
        let live = &self.live[index];
        let count = count.min(MAX_BARS);

        let mut raw: Vec<RawBar> = match live.front() {
            Some(first) if live.len() < count => {
                let mut older = synthesise(history, timeframe, index, first, count - live.len());
                older.reverse();
                older
            }
            _ => Vec::new(),
        };
        raw.extend(live.iter().skip(live.len().saturating_sub(count)));
        raw.into_iter().map(|bar| to_bar(history.spec, bar)).collect()
    }
}

/// Walks back from `first` for `needed` bars, newest first.
fn synthesise(
    history: History<'_>,
    timeframe: Timeframe,
    timeframe_index: usize,
    first: &RawBar,
    needed: usize,
) -> Vec<RawBar> {
    let spec = history.spec;
    let minutes = u64::try_from(timeframe.seconds() / 60).unwrap_or(1);
    let sigma = i64::from(spec.minute_sigma) * i64::try_from(minutes.isqrt()).unwrap_or(1);
    let expected_ticks =
        u64::try_from(timeframe.seconds() * 1_000 / history.interval_ms.max(1)).unwrap_or(1).max(1);
    let (low_bound, high_bound) = (spec.start_bid / 2, spec.start_bid * 2);

    let mut bars = Vec::with_capacity(needed);
    let mut close = first.open;
    let mut start_s = first.start_s;
    // Closed periods are skipped; a weekend is at most a few thousand bars of any timeframe,
    // so this bound is never reached in practice and only guards against a broken schedule.
    let mut attempts = needed * 3 + 10_000;
    while bars.len() < needed && attempts > 0 {
        attempts -= 1;
        start_s = previous_start(timeframe, start_s);
        if closed_throughout(history.hours, timeframe, start_s) {
            continue;
        }
        let draw = |k: u64| {
            hash(&[
                history.seed,
                history.symbol_index as u64,
                timeframe_index as u64,
                start_s.cast_unsigned(),
                k,
            ])
        };
        // The sum of three uniform draws in ±1000 has a standard deviation of 1000: a
        // cheap bell curve in integers.
        let z = (0..3).map(|k| symmetric_from(draw(k), 1_000)).sum::<i64>();
        let open = reflect(close - sigma * z / 1_000, low_bound, high_bound);
        let wick_up = sigma * i64::try_from(draw(3) % 600).unwrap_or(0) / 1_000;
        let wick_down = sigma * i64::try_from(draw(4) % 600).unwrap_or(0) / 1_000;
        let ticks = expected_ticks / 2 + draw(5) % expected_ticks;
        bars.push(RawBar {
            start_s,
            open,
            high: open.max(close) + wick_up,
            low: (open.min(close) - wick_down).max(1),
            close,
            ticks,
            spread: spec.spread,
        });
        close = open;
    }
    bars
}

fn closed_throughout(hours: MarketHours, timeframe: Timeframe, start_s: i64) -> bool {
    let opens_ms = start_s * 1_000;
    !hours.is_open(opens_ms) && hours.next_open(opens_ms) >= next_start(timeframe, start_s) * 1_000
}

fn to_bar(spec: &Spec, bar: RawBar) -> Bar {
    Bar {
        time: from_ms(bar.start_s * 1_000),
        open: spec.price(bar.open),
        high: spec.price(bar.high),
        low: spec.price(bar.low),
        close: spec.price(bar.close),
        tick_volume: bar.ticks,
        spread: bar.spread,
    }
}

/// The start, in epoch seconds, of the bar that holds `time_s`.
fn bar_start(timeframe: Timeframe, time_s: i64) -> i64 {
    match timeframe {
        Timeframe::W1 => {
            let week_s = WEEK_MS / 1_000;
            time_s - (time_s + MONDAY_OFFSET_MS / 1_000).rem_euclid(week_s)
        }
        Timeframe::MN1 => {
            let date = from_ms(time_s * 1_000).date();
            month_start(date.year(), date.month()).unwrap_or(time_s)
        }
        _ => time_s - time_s.rem_euclid(timeframe.seconds()),
    }
}

fn previous_start(timeframe: Timeframe, start_s: i64) -> i64 {
    match timeframe {
        Timeframe::MN1 => bar_start(Timeframe::MN1, start_s - 86_400),
        _ => start_s - timeframe.seconds(),
    }
}

fn next_start(timeframe: Timeframe, start_s: i64) -> i64 {
    match timeframe {
        // 32 days after the 1st is always inside the next month.
        Timeframe::MN1 => bar_start(Timeframe::MN1, start_s + 32 * 86_400),
        _ => start_s + timeframe.seconds(),
    }
}

fn month_start(year: i32, month: Month) -> Option<i64> {
    let date = Date::from_calendar_date(year, month, 1).ok()?;
    Some(date.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use time::macros::datetime;

    use super::*;
    use crate::sim::clock::to_ms;
    use crate::sim::spec::SPECS;

    fn history(hours: MarketHours) -> History<'static> {
        History { spec: &SPECS[0], symbol_index: 0, seed: 7, hours, interval_ms: 1_000 }
    }

    fn quote(time: time::OffsetDateTime, bid: i64) -> Quote {
        Quote { bid, ask: bid + 10, time_ms: to_ms(time) }
    }

    #[test]
    fn bar_starts_follow_mt5_calendars() {
        let time = to_ms(datetime!(2024-06-05 13:47:12 UTC)) / 1_000; // a Wednesday
        let start = |tf| from_ms(bar_start(tf, time) * 1_000);
        assert_eq!(start(Timeframe::M1), datetime!(2024-06-05 13:47 UTC));
        assert_eq!(start(Timeframe::M15), datetime!(2024-06-05 13:45 UTC));
        assert_eq!(start(Timeframe::H4), datetime!(2024-06-05 12:00 UTC));
        assert_eq!(start(Timeframe::D1), datetime!(2024-06-05 0:00 UTC));
        assert_eq!(start(Timeframe::W1), datetime!(2024-06-03 0:00 UTC));
        assert_eq!(start(Timeframe::MN1), datetime!(2024-06-01 0:00 UTC));
        let june = bar_start(Timeframe::MN1, time);
        assert_eq!(
            from_ms(previous_start(Timeframe::MN1, june) * 1_000),
            datetime!(2024-05-01 0:00 UTC)
        );
        assert_eq!(
            from_ms(next_start(Timeframe::MN1, june) * 1_000),
            datetime!(2024-07-01 0:00 UTC)
        );
    }

    #[test]
    fn live_bars_aggregate_ticks() {
        let mut series = BarSeries::default();
        series.record(quote(datetime!(2024-06-05 13:47:01 UTC), 108_500));
        series.record(quote(datetime!(2024-06-05 13:47:30 UTC), 108_530));
        series.record(quote(datetime!(2024-06-05 13:47:59 UTC), 108_490));
        series.record(quote(datetime!(2024-06-05 13:48:00 UTC), 108_510));
        let bars = series.bars(history(MarketHours::Always), Timeframe::M1, 2);
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].time, datetime!(2024-06-05 13:47 UTC));
        assert_eq!(
            (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].tick_volume),
            (
                Decimal::new(108_500, 5),
                Decimal::new(108_530, 5),
                Decimal::new(108_490, 5),
                Decimal::new(108_490, 5),
                3
            )
        );
        assert_eq!(bars[1].close, Decimal::new(108_510, 5));
    }

    #[test]
    fn synthesised_history_is_consistent_and_reproducible() {
        let mut series = BarSeries::default();
        series.record(quote(datetime!(2024-06-05 13:47:01 UTC), 108_500));
        for timeframe in Timeframe::ALL {
            let bars = series.bars(history(MarketHours::Forex), timeframe, MAX_BARS);
            assert_eq!(bars.len(), MAX_BARS, "{timeframe:?}");
            assert_eq!(bars, series.bars(history(MarketHours::Forex), timeframe, MAX_BARS));
            for pair in bars.windows(2) {
                assert!(pair[0].time < pair[1].time, "{timeframe:?} out of order");
                assert_eq!(pair[0].close, pair[1].open, "{timeframe:?} gap");
            }
            for bar in &bars {
                assert!(bar.high >= bar.open.max(bar.close) && bar.low <= bar.open.min(bar.close));
                assert!(bar.low > Decimal::ZERO);
            }
            assert_eq!(bars.last().unwrap().close, Decimal::new(108_500, 5));
        }
    }

    #[test]
    fn weekend_bars_are_skipped_under_forex_hours() {
        let mut series = BarSeries::default();
        series.record(quote(datetime!(2024-06-10 00:30 UTC), 108_500)); // Monday
        let bars = series.bars(history(MarketHours::Forex), Timeframe::H1, 10);
        let before_monday: Vec<_> = bars.iter().rev().skip(1).map(|bar| bar.time).collect();
        assert_eq!(before_monday[0], datetime!(2024-06-09 23:00 UTC));
        assert_eq!(before_monday[1], datetime!(2024-06-09 22:00 UTC));
        assert_eq!(before_monday[2], datetime!(2024-06-07 21:00 UTC)); // Friday
        let daily = series.bars(history(MarketHours::Forex), Timeframe::D1, 3);
        assert_eq!(daily[1].time, datetime!(2024-06-09 0:00 UTC)); // Sunday has an evening
        assert_eq!(daily[0].time, datetime!(2024-06-07 0:00 UTC)); // Saturday has no bar
    }
}
