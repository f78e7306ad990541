//! The day's running totals: realised P&L, opening equity and the loss-limit latch.
//!
//! Deals are fed in once each, as the terminal reports them, and summed as they arrive;
//! the check then reads one number instead of the day's history, so its cost stays the
//! same however many deals the day has seen. A new trading day starts the totals afresh.

use std::collections::HashSet;

use mt5_bridge::types::{AccountInfo, Deal, DealType, Position};
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;

use crate::RiskConfig;
use crate::snapshot::floating;
use crate::trading_day::{TradingCalendar, TradingDay};

/// The moment the daily loss limit was reached, with the P&L and the limit then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LossLimitHit {
    pub pnl: Decimal,
    pub limit: Decimal,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What became of one deal fed to the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Added to today's realised P&L.
    Counted,
    /// A balance operation (deposit, withdrawal, correction): seen, but not P&L.
    Balance,
    /// Its ticket was fed before.
    Duplicate,
    /// It belongs to an earlier trading day.
    Earlier,
}

/// The day's P&L against its loss limit, as of one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayStatus {
    pub day: TradingDay,
    /// Profit, swap and commission of the deals since the day began.
    pub realised: Decimal,
    /// Profit and swap of the open positions.
    pub floating: Decimal,
    /// `realised + floating`.
    pub pnl: Decimal,
    pub opening_equity: Decimal,
    /// The loss limit in the account currency: the tighter of the amount and the
    /// percentage of opening equity; `None` with neither configured.
    pub limit: Option<Decimal>,
    /// How much more may be lost today before the limit is reached.
    pub remaining: Option<Decimal>,
    /// Set once the limit has been reached today; it stays set until the next day.
    pub loss_limit_hit: Option<LossLimitHit>,
    /// True only in the status that first saw the limit reached.
    #[serde(skip)]
    pub newly_hit: bool,
}

/// Running totals for the current trading day.
#[derive(Clone, Debug)]
pub struct DayLedger {
    calendar: TradingCalendar,
    day: Option<TradingDay>,
    realised: Decimal,
    opening_equity: Option<Decimal>,
    seen: HashSet<u64>,
    loss_limit_hit: Option<LossLimitHit>,
}

impl DayLedger {
    #[must_use]
    pub fn new(calendar: TradingCalendar) -> DayLedger {
        DayLedger {
            calendar,
            day: None,
            realised: Decimal::ZERO,
            opening_equity: None,
            seen: HashSet::new(),
            loss_limit_hit: None,
        }
    }

    /// Moves to the trading day of `now` if it has begun, clearing the totals and the
    /// loss-limit latch. Returns whether a new day began. The clock never moves the ledger
    /// back to an earlier day.
    pub fn roll(&mut self, now: OffsetDateTime) -> bool {
        match self.day {
            Some(day) if now < day.end => false,
            _ => {
                self.begin(self.calendar.day_of(now));
                true
            }
        }
    }

    fn begin(&mut self, day: TradingDay) {
        self.day = Some(day);
        self.realised = Decimal::ZERO;
        self.opening_equity = None;
        self.seen.clear();
        self.loss_limit_hit = None;
    }

    /// Feeds one deal. A deal of a later trading day than the ledger's (the terminal's
    /// clock ahead of ours) starts that day first.
    pub fn record(&mut self, deal: &Deal) -> Recorded {
        match self.day {
            Some(day) if deal.time < day.start => return Recorded::Earlier,
            Some(day) if deal.time < day.end => {}
            _ => self.begin(self.calendar.day_of(deal.time)),
        }
        if !self.seen.insert(deal.ticket) {
            return Recorded::Duplicate;
        }
        if deal.deal_type == DealType::Balance {
            return Recorded::Balance;
        }
        self.realised += deal.profit + deal.swap + deal.commission;
        Recorded::Counted
    }

    /// The current trading day, once the ledger has been rolled or fed.
    #[must_use]
    pub fn day(&self) -> Option<TradingDay> {
        self.day
    }

    /// Profit, swap and commission of today's deals so far.
    #[must_use]
    pub fn realised(&self) -> Decimal {
        self.realised
    }

    /// How many deals of today have been fed, balance operations included.
    #[must_use]
    pub fn deals_seen(&self) -> usize {
        self.seen.len()
    }

    #[must_use]
    pub fn opening_equity(&self) -> Option<Decimal> {
        self.opening_equity
    }

    /// Sets the day's opening equity when the caller knows it (say, from a record kept at
    /// the rollover). Otherwise [`DayLedger::evaluate`] infers it.
    pub fn set_opening_equity(&mut self, equity: Decimal) {
        self.opening_equity = Some(equity);
    }

    #[must_use]
    pub fn loss_limit_hit(&self) -> Option<LossLimitHit> {
        self.loss_limit_hit
    }

    /// The day's P&L against the loss limit, latching the limit when it is reached.
    ///
    /// The opening equity, unless set, is taken the first time the day is evaluated as the
    /// current equity less the day's P&L so far: the equity the day would have opened with
    /// had all of today's P&L been made today, which is how the P&L itself is reckoned.
    pub fn evaluate(
        &mut self,
        account: &AccountInfo,
        positions: &[Position],
        config: &RiskConfig,
        now: OffsetDateTime,
    ) -> DayStatus {
        self.roll(now);
        let floating = floating(positions);
        let pnl = self.realised + floating;
        let opening_equity = *self.opening_equity.get_or_insert(account.equity - pnl);

        let by_percent = config.daily_loss_limit_pct.map(|pct| {
            (opening_equity * pct / Decimal::ONE_HUNDRED).max(Decimal::ZERO).round_dp(2)
        });
        let limit = match (config.daily_loss_limit, by_percent) {
            (Some(amount), Some(percent)) => Some(amount.min(percent)),
            (amount, percent) => amount.or(percent),
        };

        let mut newly_hit = false;
        if let Some(limit) = limit
            && self.loss_limit_hit.is_none()
            && pnl <= -limit
        {
            self.loss_limit_hit = Some(LossLimitHit { pnl, limit, at: now });
            newly_hit = true;
        }

        DayStatus {
            // `roll` above has set the day.
            day: self.day.unwrap_or_else(|| self.calendar.day_of(now)),
            realised: self.realised,
            floating,
            pnl,
            opening_equity,
            limit,
            remaining: limit.map(|limit| (limit + pnl).max(Decimal::ZERO)),
            loss_limit_hit: self.loss_limit_hit,
            newly_hit,
        }
    }
}

#[cfg(test)]
mod tests {
    use mt5_bridge::types::{AccountMode, DealEntry, Side};
    use rust_decimal_macros::dec;
    use time::macros::datetime;

    use super::*;
    use crate::zone::{ClockTime, Zone};

    fn account(equity: Decimal) -> AccountInfo {
        AccountInfo {
            login: 1,
            server: "Sim".into(),
            name: "test".into(),
            currency: "USD".into(),
            mode: AccountMode::Simulated,
            leverage: 100,
            balance: equity,
            equity,
            profit: Decimal::ZERO,
            margin: Decimal::ZERO,
            margin_free: equity,
            margin_level: None,
            trade_allowed: true,
        }
    }

    fn deal(
        ticket: u64,
        time: OffsetDateTime,
        profit: Decimal,
        swap: Decimal,
        commission: Decimal,
    ) -> Deal {
        Deal {
            ticket,
            order: ticket,
            position_id: ticket,
            symbol: "EURUSD".into(),
            deal_type: DealType::Sell,
            entry: DealEntry::Out,
            volume: dec!(0.1),
            price: dec!(1.1),
            profit,
            swap,
            commission,
            time,
            magic: 0,
            comment: String::new(),
        }
    }

    fn position(profit: Decimal, swap: Decimal) -> Position {
        Position {
            ticket: 99,
            symbol: "EURUSD".into(),
            side: Side::Buy,
            volume: dec!(0.1),
            price_open: dec!(1.1),
            price_current: dec!(1.1),
            sl: None,
            tp: None,
            profit,
            swap,
            time: datetime!(2024-03-11 12:00 UTC),
            magic: 0,
            comment: String::new(),
        }
    }

    fn new_york() -> RiskConfig {
        RiskConfig {
            timezone: Zone::named("America/New_York").unwrap_or_default(),
            rollover: ClockTime::parse("17:00").unwrap_or_default(),
            daily_loss_limit: Some(dec!(100)),
            ..RiskConfig::default()
        }
    }

    #[test]
    fn pnl_sums_profit_swap_and_commission_of_today_and_the_floating() {
        let config = new_york();
        let mut ledger = DayLedger::new(config.calendar());
        let now = datetime!(2024-03-11 15:00 UTC);
        ledger.roll(now);

        // Yesterday's deal (before Sunday 17:00 EDT = 21:00 UTC) does not count.
        let cases = [
            (
                deal(1, datetime!(2024-03-10 20:59 UTC), dec!(500), dec!(0), dec!(0)),
                Recorded::Earlier,
            ),
            (
                deal(2, datetime!(2024-03-10 21:00 UTC), dec!(12.50), dec!(-1.25), dec!(-0.70)),
                Recorded::Counted,
            ),
            (
                deal(3, datetime!(2024-03-11 09:00 UTC), dec!(-30), dec!(0.40), dec!(-0.70)),
                Recorded::Counted,
            ),
            (
                deal(2, datetime!(2024-03-10 21:00 UTC), dec!(12.50), dec!(-1.25), dec!(-0.70)),
                Recorded::Duplicate,
            ),
        ];
        for (deal, expect) in &cases {
            assert_eq!(ledger.record(deal), *expect, "deal {}", deal.ticket);
        }
        let mut deposit = deal(4, datetime!(2024-03-11 10:00 UTC), dec!(1000), dec!(0), dec!(0));
        deposit.deal_type = DealType::Balance;
        assert_eq!(ledger.record(&deposit), Recorded::Balance);
        assert_eq!(ledger.realised(), dec!(-19.75));

        let positions = [position(dec!(-5.10), dec!(-0.15)), position(dec!(2), dec!(0))];
        let status = ledger.evaluate(&account(dec!(10_000)), &positions, &config, now);
        assert_eq!(status.floating, dec!(-3.25));
        assert_eq!(status.pnl, dec!(-23.00));
        assert_eq!(status.opening_equity, dec!(10_023));
        assert_eq!(status.limit, Some(dec!(100)));
        assert_eq!(status.remaining, Some(dec!(77)));
        assert_eq!(status.loss_limit_hit, None);
    }

    #[test]
    fn the_limit_latches_until_the_next_trading_day() {
        let config = new_york();
        let mut ledger = DayLedger::new(config.calendar());
        let now = datetime!(2024-03-11 15:00 UTC);
        ledger.roll(now);
        ledger.record(&deal(1, now, dec!(-60), dec!(0), dec!(-1)));

        let losing = [position(dec!(-39), dec!(0))];
        let status = ledger.evaluate(&account(dec!(9_900)), &losing, &config, now);
        assert_eq!(status.pnl, dec!(-100));
        assert_eq!(
            status.loss_limit_hit,
            Some(LossLimitHit { pnl: dec!(-100), limit: dec!(100), at: now })
        );
        assert!(status.newly_hit);
        assert_eq!(status.remaining, Some(dec!(0)));

        // The position recovers; the day stays limited, and says so only once.
        let later = now + time::Duration::hours(1);
        let status =
            ledger.evaluate(&account(dec!(10_000)), &[position(dec!(50), dec!(0))], &config, later);
        assert!(status.loss_limit_hit.is_some());
        assert!(!status.newly_hit);

        // Monday 17:00 EDT is 21:00 UTC: a new day, a clean slate.
        let tomorrow = datetime!(2024-03-11 21:00 UTC);
        let status = ledger.evaluate(&account(dec!(10_000)), &[], &config, tomorrow);
        assert_eq!(status.day.start, tomorrow);
        assert_eq!((status.realised, status.loss_limit_hit), (dec!(0), None));
        assert_eq!(ledger.deals_seen(), 0);
    }

    #[test]
    fn the_percentage_limit_applies_when_tighter() {
        let mut config = new_york();
        config.daily_loss_limit_pct = Some(dec!(0.5));
        let mut ledger = DayLedger::new(config.calendar());
        let now = datetime!(2024-03-11 15:00 UTC);
        ledger.roll(now);
        ledger.set_opening_equity(dec!(10_000));
        let status =
            ledger.evaluate(&account(dec!(9_960)), &[position(dec!(-40), dec!(0))], &config, now);
        assert_eq!(status.limit, Some(dec!(50)));
        assert_eq!(status.remaining, Some(dec!(10)));
        let status =
            ledger.evaluate(&account(dec!(9_950)), &[position(dec!(-50), dec!(0))], &config, now);
        assert_eq!(status.loss_limit_hit.map(|hit| hit.limit), Some(dec!(50)));
    }

    #[test]
    fn a_deal_of_a_later_day_starts_that_day() {
        let config = new_york();
        let mut ledger = DayLedger::new(config.calendar());
        ledger.roll(datetime!(2024-03-11 15:00 UTC));
        ledger.record(&deal(1, datetime!(2024-03-11 16:00 UTC), dec!(5), dec!(0), dec!(0)));
        ledger.record(&deal(2, datetime!(2024-03-11 21:00:01 UTC), dec!(7), dec!(0), dec!(0)));
        assert_eq!(ledger.realised(), dec!(7));
        assert_eq!(ledger.day().map(|day| day.start), Some(datetime!(2024-03-11 21:00 UTC)));
    }
}
