//! Where a simulated symbol's ticks come from: a seeded random walk, or a replayed file.
//!
//! Prices are whole points (`i64`), so every quote is exact at the symbol's digits and the
//! walk can never drift onto a price MT5 could not quote.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::replay::Tape;
use super::rng::Rng;
use super::spec::Spec;

/// A quote in points and the time it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Quote {
    pub(crate) bid: i64,
    pub(crate) ask: i64,
    pub(crate) time_ms: i64,
}

impl Quote {
    pub(crate) fn spread(self) -> u32 {
        u32::try_from(self.ask - self.bid).unwrap_or(u32::MAX)
    }
}

/// The random walk's state, which the account file keeps so a restart carries on from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WalkState {
    pub(crate) quote: Quote,
    pub(crate) next_ms: i64,
    pub(crate) rng: Rng,
}

impl WalkState {
    pub(crate) fn fresh(spec: &Spec, rng: Rng, now_ms: i64, interval_ms: i64) -> WalkState {
        let quote = Quote {
            bid: spec.start_bid,
            ask: spec.start_bid + i64::from(spec.spread),
            time_ms: now_ms,
        };
        WalkState { quote, next_ms: now_ms + interval_ms, rng }
    }
}

/// A replay in progress.
#[derive(Clone, Debug)]
pub(crate) struct ReplayCursor {
    tape: Arc<Tape>,
    index: usize,
    /// When the current play of the tape's first row was due.
    base_ms: i64,
    quote: Quote,
}

#[derive(Clone, Debug)]
pub(crate) enum Feed {
    Walk(WalkState),
    /// The walk's state is kept untouched while a replay plays, for the account file.
    Replay(WalkState, ReplayCursor),
}

impl Feed {
    /// Starts a replay whose first row plays at `start_ms`, at once.
    pub(crate) fn replay(walk: WalkState, tape: Arc<Tape>, start_ms: i64) -> Feed {
        let placeholder = walk.quote;
        let mut cursor = ReplayCursor { tape, index: 0, base_ms: start_ms, quote: placeholder };
        cursor.advance();
        Feed::Replay(walk, cursor)
    }

    pub(crate) fn walk_state(&self) -> &WalkState {
        match self {
            Feed::Walk(walk) | Feed::Replay(walk, _) => walk,
        }
    }

    /// The latest quote.
    pub(crate) fn quote(&self) -> Quote {
        match self {
            Feed::Walk(walk) => walk.quote,
            Feed::Replay(_, cursor) => cursor.quote,
        }
    }

    /// When the next tick is due.
    pub(crate) fn next_due(&self) -> i64 {
        match self {
            Feed::Walk(walk) => walk.next_ms,
            Feed::Replay(_, cursor) => cursor.next_due(),
        }
    }

    /// Delays the next tick to `to_ms` (the market is closed until then). A replay's later
    /// rows move with it, keeping their spacing.
    pub(crate) fn postpone(&mut self, to_ms: i64) {
        match self {
            Feed::Walk(walk) => walk.next_ms = walk.next_ms.max(to_ms),
            Feed::Replay(_, cursor) => {
                let delay = to_ms - cursor.next_due();
                if delay > 0 {
                    cursor.base_ms += delay;
                }
            }
        }
    }

    /// Skips the ticks due before `horizon_ms` without playing them. After a long idle the
    /// terminal jumps over the gap instead of generating millions of ticks no one saw.
    ///
    /// A walk carries on from its last price; a replay lands where the recording would be,
    /// and the quote it jumps to is returned so the caller can treat it as a tick.
    pub(crate) fn skip_before(&mut self, horizon_ms: i64, interval_ms: i64) -> Option<Quote> {
        match self {
            Feed::Walk(walk) => {
                if walk.next_ms < horizon_ms {
                    let missed = (horizon_ms - walk.next_ms + interval_ms - 1) / interval_ms;
                    walk.next_ms += missed * interval_ms;
                }
                None
            }
            Feed::Replay(_, cursor) => cursor.skip_before(horizon_ms),
        }
    }

    /// Plays the next tick and returns the new quote.
    pub(crate) fn advance(&mut self, spec: &Spec, interval_ms: i64) -> Quote {
        match self {
            Feed::Walk(walk) => {
                let step = walk.rng.symmetric(spec.max_step);
                let bid = reflect(walk.quote.bid + step, spec.start_bid / 2, spec.start_bid * 2);
                walk.quote =
                    Quote { bid, ask: bid + i64::from(spec.spread), time_ms: walk.next_ms };
                walk.next_ms += interval_ms;
                walk.quote
            }
            Feed::Replay(_, cursor) => cursor.advance(),
        }
    }
}

impl ReplayCursor {
    fn next_due(&self) -> i64 {
        // The tape has at least one row and `index` stays below its length (see `advance`).
        self.base_ms + self.tape.rows.get(self.index).map_or(0, |row| row.offset_ms)
    }

    fn advance(&mut self) -> Quote {
        let time_ms = self.next_due();
        let quote = match self.tape.rows.get(self.index) {
            Some(row) => Quote { bid: row.bid, ask: row.ask, time_ms },
            // Unreachable: a tape has rows and `index` wraps before passing them.
            None => Quote { time_ms, ..self.quote },
        };
        self.index += 1;
        if self.index >= self.tape.rows.len() {
            self.index = 0;
            self.base_ms += self.tape.cycle_ms;
        }
        self.quote = quote;
        quote
    }

    fn skip_before(&mut self, horizon_ms: i64) -> Option<Quote> {
        if self.next_due() >= horizon_ms {
            return None;
        }
        let cycle = self.tape.cycle_ms.max(1);
        let whole_cycles = (horizon_ms - self.base_ms) / cycle;
        self.base_ms += whole_cycles * cycle;
        let base = self.base_ms;
        self.index = self.tape.rows.partition_point(|row| base + row.offset_ms < horizon_ms);
        if self.index >= self.tape.rows.len() {
            self.index = 0;
            self.base_ms += cycle;
        }
        // The skipped rows' last quote stands until the next row plays.
        let previous =
            self.index.checked_sub(1).unwrap_or_else(|| self.tape.rows.len().saturating_sub(1));
        let row = self.tape.rows.get(previous)?;
        let quote = Quote { bid: row.bid, ask: row.ask, time_ms: horizon_ms };
        self.quote = quote;
        Some(quote)
    }
}

/// Folds `value` back into `low..=high` so a long walk stays near its starting level.
pub(crate) fn reflect(value: i64, low: i64, high: i64) -> i64 {
    if value < low {
        (2 * low - value).min(high)
    } else if value > high {
        (2 * high - value).max(low)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::replay::ReplayRow;
    use crate::sim::spec::SPECS;

    fn tape() -> Arc<Tape> {
        let rows = vec![
            ReplayRow { offset_ms: 0, bid: 100_000, ask: 100_010 },
            ReplayRow { offset_ms: 500, bid: 100_020, ask: 100_030 },
            ReplayRow { offset_ms: 2_000, bid: 100_040, ask: 100_050 },
        ];
        Arc::new(Tape { rows, cycle_ms: 3_000 })
    }

    #[test]
    fn walk_moves_at_most_max_step_per_tick_on_schedule() {
        let spec = &SPECS[0];
        let mut feed = Feed::Walk(WalkState::fresh(spec, Rng::seeded(1), 0, 1_000));
        let mut previous = feed.quote();
        for expected_time in (1..=200).map(|n| n * 1_000) {
            assert_eq!(feed.next_due(), expected_time);
            let quote = feed.advance(spec, 1_000);
            assert_eq!(quote.time_ms, expected_time);
            assert!((quote.bid - previous.bid).abs() <= i64::from(spec.max_step));
            assert_eq!(quote.ask - quote.bid, i64::from(spec.spread));
            previous = quote;
        }
    }

    #[test]
    fn replay_plays_rows_at_their_spacing_and_loops() {
        let spec = &SPECS[0];
        let walk = WalkState::fresh(spec, Rng::seeded(1), 0, 1_000);
        let mut feed = Feed::replay(walk, tape(), 10_000);
        let mut times = vec![(feed.quote().time_ms, feed.quote().bid)];
        for _ in 0..3 {
            let quote = feed.advance(spec, 1_000);
            times.push((quote.time_ms, quote.bid));
        }
        assert_eq!(
            times,
            vec![(10_000, 100_000), (10_500, 100_020), (12_000, 100_040), (13_000, 100_000)]
        );
    }

    #[test]
    fn replay_skip_lands_on_the_first_row_after_the_horizon() {
        let spec = &SPECS[0];
        let walk = WalkState::fresh(spec, Rng::seeded(1), 0, 1_000);
        let mut feed = Feed::replay(walk, tape(), 0);
        assert_eq!(feed.next_due(), 500);
        // Cycle 10 starts at 30_000; its row 2 is due at 32_000.
        let jumped = feed.skip_before(30_600, 1_000).unwrap();
        assert_eq!(feed.next_due(), 32_000);
        assert_eq!((jumped.bid, jumped.time_ms), (100_020, 30_600));
        feed.postpone(40_000);
        assert_eq!(feed.next_due(), 40_000);
        assert_eq!(feed.advance(spec, 1_000).bid, 100_040);
    }

    #[test]
    fn walk_skip_keeps_the_tick_grid() {
        let spec = &SPECS[0];
        let mut feed = Feed::Walk(WalkState::fresh(spec, Rng::seeded(1), 0, 1_000));
        assert_eq!(feed.skip_before(1_000_500, 1_000), None);
        assert_eq!(feed.next_due(), 1_001_000);
    }

    #[test]
    fn reflection_keeps_the_walk_in_its_band() {
        assert_eq!(reflect(40, 50, 200), 60);
        assert_eq!(reflect(210, 50, 200), 190);
        assert_eq!(reflect(100, 50, 200), 100);
    }
}
