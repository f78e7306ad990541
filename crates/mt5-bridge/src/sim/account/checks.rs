//! The trade server's checks of a request, each refusing with the MT5 retcode that fits.

// Refusals are returned whole, as in `request`, for the same reason.
#![allow(clippy::result_large_err)]

use rust_decimal::Decimal;

use super::request::{refuse, refuse_plain};
use super::{MarketView, resolve};
use crate::Retcode;
use crate::sim::feed::Quote;
use crate::sim::spec::Spec;
use crate::types::{OrderType, Side, TradeResult};

/// The symbol a request names, if it exists and its market is open.
pub(super) fn open_symbol(
    symbol: &str,
    market: MarketView<'_>,
) -> Result<(usize, &'static Spec), TradeResult> {
    let (index, spec) = resolve(symbol)
        .ok_or_else(|| refuse_plain(Retcode::INVALID, format!("unknown symbol {symbol}")))?;
    if !market.hours.is_open(market.now_ms) {
        let quote = market.quotes[index];
        return Err(refuse(Retcode::MARKET_CLOSED, "market closed".to_owned(), spec, quote));
    }
    Ok((index, spec))
}

pub(super) fn check_volume(spec: &Spec, volume: Decimal, quote: Quote) -> Result<(), TradeResult> {
    let invalid = |message: String| refuse(Retcode::INVALID_VOLUME, message, spec, quote);
    let (min, step, max) = (spec.volume_min(), spec.volume_step(), spec.volume_max());
    if volume < min {
        return Err(invalid(format!("volume {volume} below the minimum {min} for {}", spec.name)));
    }
    if volume > max {
        return Err(invalid(format!("volume {volume} above the maximum {max} for {}", spec.name)));
    }
    if !(volume % step).is_zero() {
        return Err(invalid(format!("volume {volume} is not a multiple of the step {step}")));
    }
    Ok(())
}

/// With an expected price the terminal acts like MT5's instant execution: if the market
/// has moved more than `deviation` points from it, the answer is a requote with the new
/// prices and nothing is traded. Without one it acts like market execution and fills at
/// the current price.
pub(super) fn check_expected_price(
    spec: &Spec,
    expected: Option<Decimal>,
    deviation: u32,
    fill: i64,
    quote: Quote,
) -> Result<(), TradeResult> {
    let Some(expected) = expected.filter(|price| !price.is_zero()) else {
        return Ok(());
    };
    let points = spec.points(expected).ok_or_else(|| {
        let message = format!("price {expected} is not a valid quote for {}", spec.name);
        refuse(Retcode::INVALID_PRICE, message, spec, quote)
    })?;
    if (points - fill).abs() > i64::from(deviation) {
        let message = format!(
            "price moved from {expected} to {}, beyond the deviation of {deviation} points",
            spec.price(fill)
        );
        return Err(refuse(Retcode::REQUOTE, message, spec, quote));
    }
    Ok(())
}

/// An SL or TP in points; zero means none, as in MT5.
pub(super) fn stop_points(
    spec: &Spec,
    level: Option<Decimal>,
    name: &str,
    quote: Quote,
) -> Result<Option<i64>, TradeResult> {
    match level {
        None => Ok(None),
        Some(level) if level.is_zero() => Ok(None),
        Some(level) => spec.points(level).map(Some).ok_or_else(|| {
            let message = format!("{name} {level} is not a valid price for {}", spec.name);
            refuse(Retcode::INVALID_STOPS, message, spec, quote)
        }),
    }
}

/// SL below and TP above the reference for a buy (the other way round for a sell), each at
/// least the stops level away. The reference is the price a position closes at, or a
/// pending order's price.
pub(super) fn check_stops(
    spec: &Spec,
    side: Side,
    reference: i64,
    sl: Option<i64>,
    tp: Option<i64>,
    quote: Quote,
) -> Result<(), TradeResult> {
    let level = i64::from(spec.stops_level.max(1));
    let sign = match side {
        Side::Buy => 1,
        Side::Sell => -1,
    };
    let describe = |name: &str, points: i64, wanted: &str| {
        let message = format!(
            "{name} {} must be at least {level} points {wanted} {}",
            spec.price(points),
            spec.price(reference)
        );
        refuse(Retcode::INVALID_STOPS, message, spec, quote)
    };
    let (below, above) = if sign > 0 { ("below", "above") } else { ("above", "below") };
    if let Some(sl) = sl
        && (reference - sl) * sign < level
    {
        return Err(describe("sl", sl, below));
    }
    if let Some(tp) = tp
        && (tp - reference) * sign < level
    {
        return Err(describe("tp", tp, above));
    }
    Ok(())
}

/// A pending order's price in points, on the right side of the market and at least the
/// stops level away from it: limits wait for a better price, stops for a breakout.
pub(super) fn pending_points(
    spec: &Spec,
    order_type: OrderType,
    price: Decimal,
    quote: Quote,
) -> Result<i64, TradeResult> {
    let invalid = |message: String| refuse(Retcode::INVALID_PRICE, message, spec, quote);
    let points = spec
        .points(price)
        .ok_or_else(|| invalid(format!("price {price} is not a valid quote for {}", spec.name)))?;
    let level = i64::from(spec.stops_level.max(1));
    let (distance, wanted, reference) = match order_type {
        OrderType::BuyLimit => (quote.ask - points, "below the ask", quote.ask),
        OrderType::SellLimit => (points - quote.bid, "above the bid", quote.bid),
        OrderType::BuyStop => (points - quote.ask, "above the ask", quote.ask),
        OrderType::SellStop => (quote.bid - points, "below the bid", quote.bid),
        OrderType::Buy | OrderType::Sell => return Ok(points),
    };
    if distance < level {
        return Err(invalid(format!(
            "{} price {} must be at least {level} points {wanted} {}",
            order_type.as_str(),
            spec.price(points),
            spec.price(reference)
        )));
    }
    Ok(points)
}

pub(super) fn check_expiration(
    expiration_ms: Option<i64>,
    now_ms: i64,
    spec: &Spec,
    quote: Quote,
) -> Result<(), TradeResult> {
    match expiration_ms {
        Some(at) if at <= now_ms => Err(refuse(
            Retcode::INVALID_EXPIRATION,
            "expiration is not in the future".to_owned(),
            spec,
            quote,
        )),
        _ => Ok(()),
    }
}
