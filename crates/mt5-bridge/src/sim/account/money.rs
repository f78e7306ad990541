//! Money in the account currency, rounded as MT5 rounds it.
//!
//! Each deal's profit is converted to USD and rounded to cents, half away from zero, when
//! the deal happens; the balance is the sum of those rounded amounts. A position's
//! floating profit and margin are rounded to cents the same way before they are summed
//! into equity and margin.

use rust_decimal::{Decimal, RoundingStrategy};

use super::{PositionRecord, Quotes, close_price, resolve};
use crate::sim::spec::{MarginMode, ProfitConversion, Spec};
use crate::types::Side;

pub(super) const MONEY: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

pub(super) fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, MONEY)
}

/// Profit of `volume` lots moved from `open` to `close`, in USD, rounded to cents. Profit
/// in JPY is converted at the closing rate of USDJPY itself.
pub(super) fn deal_profit(
    spec: &Spec,
    side: Side,
    volume: Decimal,
    open: i64,
    close: i64,
) -> Decimal {
    let moved = match side {
        Side::Buy => close - open,
        Side::Sell => open - close,
    };
    let in_profit_currency =
        Decimal::from(moved) * spec.point() * volume * Decimal::from(spec.contract_size);
    let in_usd = match spec.profit_conversion {
        ProfitConversion::Direct => in_profit_currency,
        ProfitConversion::DivideByRate => in_profit_currency / spec.price(close),
    };
    cents(in_usd)
}

pub(super) fn floating_profit(position: &PositionRecord, quotes: &Quotes) -> Decimal {
    resolve(&position.symbol).map_or(Decimal::ZERO, |(index, spec)| {
        let close = close_price(position.side, quotes[index]);
        deal_profit(spec, position.side, position.volume, position.price_open, close)
    })
}

/// Margin in USD at the opening price, fixed for the position's life.
pub(super) fn margin_for(spec: &Spec, volume: Decimal, price: i64, leverage: u32) -> Decimal {
    let notional = volume * Decimal::from(spec.contract_size);
    let in_usd = match spec.margin_mode {
        MarginMode::NotionalAtPrice => notional * spec.price(price),
        MarginMode::Notional => notional,
    };
    cents(in_usd / Decimal::from(leverage.max(1)))
}

pub(super) fn position_margin(position: &PositionRecord, leverage: u32) -> Decimal {
    resolve(&position.symbol).map_or(Decimal::ZERO, |(_, spec)| {
        margin_for(spec, position.volume, position.price_open, leverage)
    })
}

/// `part / whole` in percent, rounded to hundredths: the margin level.
pub(super) fn percent(part: Decimal, whole: Decimal) -> Decimal {
    (part / whole * Decimal::ONE_HUNDRED).round_dp_with_strategy(2, MONEY)
}
