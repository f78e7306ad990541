//! The pre-trade check: one order against one snapshot, the day's standing and the limits.
//!
//! [`check`] is a pure function. It reads no clock (the caller passes `now`), keeps no
//! state and does no I/O, so the same inputs always give the same answer; its cost depends
//! on the number of open positions and pending orders, never on the day's history.

use mt5_bridge::types::{OrderType, Position, Side, TradeMode};
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;

use crate::denial::{DisabledBy, StopKind};
use crate::ledger::DayStatus;
use crate::order::{NewOrder, Order, TradingState};
use crate::snapshot::{Market, Snapshot};
use crate::{Denial, RiskConfig};

/// Orders approved but not yet seen by the terminal, which count against the position
/// limits as if they were already open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Over all symbols.
    pub total: u32,
    /// On the order's symbol.
    pub on_symbol: u32,
}

/// Where the day stands when an order is checked.
#[derive(Clone, Copy, Debug)]
pub struct Standing<'a> {
    /// The state set by an operator (halt, resume); the loss limit is read from `day`.
    pub state: TradingState,
    pub day: &'a DayStatus,
    pub in_flight: InFlight,
}

/// A passed check, with the volume to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Approved {
    /// The symbol the order trades.
    pub symbol: String,
    /// The volume to send after rounding; `None` for orders that carry none (modifications,
    /// cancellations). For a whole close, the position's volume.
    pub volume: Option<Decimal>,
    /// The volume asked for, before rounding.
    pub volume_requested: Option<Decimal>,
    /// Whether the order adds exposure (and so counts against position limits).
    pub opens: bool,
    /// The order's notional in the account currency, when a notional limit is set.
    pub notional: Option<Decimal>,
}

/// Decides on one order.
///
/// The snapshot's market must be the order's symbol (for an order on a position or pending
/// order, that one's symbol); otherwise the order is refused with `INVALID_SYMBOL`.
pub fn check(
    order: &Order,
    snapshot: &Snapshot,
    standing: &Standing<'_>,
    config: &RiskConfig,
    now: OffsetDateTime,
) -> Result<Approved, Denial> {
    match order {
        Order::Open(new) => check_open(new, snapshot, standing, config, now),
        Order::Close { ticket, volume } => {
            let position = find_position(snapshot, *ticket)?;
            let market = market_for(snapshot, &position.symbol)?;
            let (volume, volume_requested) = match volume {
                None => (position.volume, position.volume),
                Some(volume) => {
                    let mut rules = config.volume_rules(market.info());
                    rules.max = position.volume;
                    let rounded = rules.apply(&position.symbol, volume.lots(), config.rounding)?;
                    (rounded, volume.lots())
                }
            };
            Ok(Approved {
                symbol: position.symbol.clone(),
                volume: Some(volume),
                volume_requested: Some(volume_requested),
                opens: false,
                notional: None,
            })
        }
        Order::ModifyPosition { ticket, sl, tp } => {
            let position = find_position(snapshot, *ticket)?;
            let market = market_for(snapshot, &position.symbol)?;
            not_halted(standing)?;
            let reference = close_price(market, position.side);
            check_stops(market, position.side, reference, *sl, *tp)?;
            Ok(without_volume(&position.symbol))
        }
        Order::ModifyPending { ticket, price, sl, tp } => {
            let pending = snapshot
                .pending_orders()
                .iter()
                .find(|order| order.ticket == *ticket)
                .ok_or(Denial::PendingOrderNotFound { ticket: *ticket })?;
            let market = market_for(snapshot, &pending.symbol)?;
            not_halted(standing)?;
            check_pending_price(market, pending.order_type, *price, config)?;
            check_stops(market, pending.order_type.side(), *price, *sl, *tp)?;
            Ok(without_volume(&pending.symbol))
        }
        Order::CancelPending { ticket } => {
            // Cancelling takes exposure away, so it passes in every state, halted included.
            let pending = snapshot
                .pending_orders()
                .iter()
                .find(|order| order.ticket == *ticket)
                .ok_or(Denial::PendingOrderNotFound { ticket: *ticket })?;
            Ok(without_volume(&pending.symbol))
        }
    }
}

fn check_open(
    new: &NewOrder,
    snapshot: &Snapshot,
    standing: &Standing<'_>,
    config: &RiskConfig,
    now: OffsetDateTime,
) -> Result<Approved, Denial> {
    let market = market_for(snapshot, &new.symbol)?;
    let info = market.info();

    // 1. The symbol: configured and enabled here, and open for new positions at the terminal.
    let symbol = new.symbol.clone();
    let rules = config
        .enabled(&new.symbol)
        .ok_or_else(|| Denial::SymbolDisabled { symbol: symbol.clone(), by: DisabledBy::Config })?;
    if info.trade_mode != TradeMode::Full {
        return Err(Denial::SymbolDisabled { symbol, by: DisabledBy::Terminal });
    }

    // 2. The trading state: halted, the loss limit reached today, or reduce-only.
    match standing.state {
        TradingState::Halted => return Err(Denial::TradingHalted),
        _ if standing.day.loss_limit_hit.is_some() => {
            let day = standing.day;
            let limit = day.limit.or(day.loss_limit_hit.map(|hit| hit.limit)).unwrap_or_default();
            return Err(Denial::DailyLossLimit { pnl: day.pnl, limit });
        }
        TradingState::ReduceOnly => return Err(Denial::ReduceOnly),
        TradingState::Active => {}
    }

    // 3. The session and the quote's age.
    if let Some(sessions) = &rules.sessions
        && !sessions.is_open(now)
    {
        return Err(Denial::OutsideSession { symbol, next_open: sessions.next_open(now) });
    }
    let age = now - market.tick().time;
    let age_ms = u64::try_from(age.whole_milliseconds()).unwrap_or(0);
    if age_ms > config.max_quote_age_ms {
        let max_age_ms = config.max_quote_age_ms;
        return Err(Denial::StaleQuote { symbol, age_ms, max_age_ms });
    }

    // 4. The volume, onto the step and within the limits.
    let requested = new.volume.lots();
    let volume = config.volume_rules(info).apply(&new.symbol, requested, config.rounding)?;

    // 5. The price: near the quote, and for a pending order on the side it waits on.
    let side = new.order_type.side();
    let price = if new.order_type.is_pending() {
        let price = new.price.ok_or(Denial::PriceRequired { order_type: new.order_type })?;
        check_pending_price(market, new.order_type, price, config)?;
        price
    } else {
        let fill = new.price.unwrap_or_else(|| open_price(market, side));
        check_deviation(market, fill, config)?;
        fill
    };

    // 6. Stops, measured from the price a position would close at (or the pending price).
    let reference = if new.order_type.is_pending() { price } else { close_price(market, side) };
    check_stops(market, side, reference, new.sl, new.tp)?;

    // 7. The notional in the account currency.
    let notional = match config.max_notional_per_order {
        None => None,
        Some(limit) => {
            let notional = notional(market, &snapshot.account().currency, volume, price)?;
            if notional > limit {
                let currency = snapshot.account().currency.clone();
                return Err(Denial::MaxNotional { symbol, notional, limit, currency });
            }
            Some(notional)
        }
    };

    // 8. Room for one more position, counting those on their way.
    let (open, on_symbol) = snapshot.exposure_count(&new.symbol);
    let open = open.saturating_add(standing.in_flight.total);
    let on_symbol = on_symbol.saturating_add(standing.in_flight.on_symbol);
    if let Some(limit) = config.max_positions
        && open >= limit
    {
        return Err(Denial::MaxPositions { symbol: None, open, limit });
    }
    if let Some(limit) = rules.max_positions
        && on_symbol >= limit
    {
        return Err(Denial::MaxPositions { symbol: Some(symbol), open: on_symbol, limit });
    }

    Ok(Approved {
        symbol: new.symbol.clone(),
        volume: Some(volume),
        volume_requested: Some(requested),
        opens: true,
        notional,
    })
}

fn find_position(snapshot: &Snapshot, ticket: u64) -> Result<&Position, Denial> {
    snapshot
        .positions()
        .iter()
        .find(|position| position.ticket == ticket)
        .ok_or(Denial::PositionNotFound { ticket })
}

/// The snapshot's market, if it is `symbol`'s.
fn market_for<'a>(snapshot: &'a Snapshot, symbol: &str) -> Result<&'a Market, Denial> {
    let market = snapshot.market();
    if market.info().name != symbol {
        let market = market.info().name.clone();
        return Err(Denial::InvalidSymbol { symbol: symbol.to_owned(), market });
    }
    Ok(market)
}

fn not_halted(standing: &Standing<'_>) -> Result<(), Denial> {
    match standing.state {
        TradingState::Halted => Err(Denial::TradingHalted),
        TradingState::Active | TradingState::ReduceOnly => Ok(()),
    }
}

fn without_volume(symbol: &str) -> Approved {
    Approved {
        symbol: symbol.to_owned(),
        volume: None,
        volume_requested: None,
        opens: false,
        notional: None,
    }
}

/// The price a market order on `side` fills at: the ask for a buy, the bid for a sell.
fn open_price(market: &Market, side: Side) -> Decimal {
    match side {
        Side::Buy => market.tick().ask,
        Side::Sell => market.tick().bid,
    }
}

/// The price a position on `side` closes at: the bid for a buy, the ask for a sell.
fn close_price(market: &Market, side: Side) -> Decimal {
    open_price(market, side.opposite())
}

fn stops_distance(market: &Market) -> Decimal {
    Decimal::from(market.info().stops_level) * market.info().point
}

/// A price no further from the quote's mid than `max_price_deviation_bps`.
fn check_deviation(market: &Market, price: Decimal, config: &RiskConfig) -> Result<(), Denial> {
    let mid = market.mid();
    let deviation_bps = ((price - mid).abs() * Decimal::from(10_000) / mid).round_dp(2);
    if price <= Decimal::ZERO || deviation_bps > Decimal::from(config.max_price_deviation_bps) {
        return Err(Denial::InvalidPrice {
            symbol: market.info().name.clone(),
            price,
            reference: mid,
            deviation_bps,
            max_bps: config.max_price_deviation_bps,
        });
    }
    Ok(())
}

/// A pending price near the quote, on the side its type waits on (limits for a better
/// price, stops for a breakout), at least the stops level away from the market.
fn check_pending_price(
    market: &Market,
    order_type: OrderType,
    price: Decimal,
    config: &RiskConfig,
) -> Result<(), Denial> {
    check_deviation(market, price, config)?;
    let tick = market.tick();
    let (reference, distance) = match order_type {
        OrderType::BuyLimit => (tick.ask, tick.ask - price),
        OrderType::SellLimit => (tick.bid, price - tick.bid),
        OrderType::BuyStop => (tick.ask, price - tick.ask),
        OrderType::SellStop => (tick.bid, tick.bid - price),
        OrderType::Buy | OrderType::Sell => return Ok(()),
    };
    let min_distance = stops_distance(market);
    if distance <= Decimal::ZERO || distance < min_distance {
        return Err(Denial::PendingPriceWrongSide { order_type, price, reference, min_distance });
    }
    Ok(())
}

/// SL below and TP above `reference` for a buy (the other way round for a sell), each at
/// least the stops level away. `None` or zero means no level, as in MT5.
fn check_stops(
    market: &Market,
    side: Side,
    reference: Decimal,
    sl: Option<Decimal>,
    tp: Option<Decimal>,
) -> Result<(), Denial> {
    let min_distance = stops_distance(market);
    for (stop, level) in [(StopKind::Sl, sl), (StopKind::Tp, tp)] {
        let Some(level) = level.filter(|level| !level.is_zero()) else {
            continue;
        };
        let distance = if stop.below(side) { reference - level } else { level - reference };
        if level < Decimal::ZERO || distance <= Decimal::ZERO || distance < min_distance {
            return Err(Denial::InvalidStops { stop, side, level, reference, min_distance });
        }
    }
    Ok(())
}

/// Volume × contract size × price, in the account currency.
///
/// A symbol whose base currency is the account's (USDJPY on a USD account) is worth its
/// volume × contract size; one quoted in the account currency (EURUSD, XAUUSD) that times
/// the price; any other needs the market's conversion rate, and without one the order is
/// refused rather than let through unvalued.
fn notional(
    market: &Market,
    account_currency: &str,
    volume: Decimal,
    price: Decimal,
) -> Result<Decimal, Denial> {
    let info = market.info();
    let units = volume * info.contract_size;
    let value = if info.currency_base == account_currency {
        units
    } else if info.currency_profit == account_currency {
        units * price
    } else if let Some(rate) = market.conversion_rate() {
        units * price * rate
    } else {
        return Err(Denial::NotionalUnknown {
            symbol: info.name.clone(),
            profit_currency: info.currency_profit.clone(),
            account_currency: account_currency.to_owned(),
        });
    };
    Ok(value.round_dp(2))
}

#[cfg(test)]
mod tests;
