//! Why an order was refused, with the numbers behind the refusal.
//!
//! A denial is data: a server reports its [`Denial::code`] and message, and serializes the
//! variant itself as the error's details; an audit log records the code as the rule that
//! refused the order.

use mt5_bridge::types::{OrderType, Side};
use rust_decimal::Decimal;
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who keeps a symbol from trading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledBy {
    /// The symbol is missing from the risk configuration or disabled there.
    Config,
    /// The terminal accepts no new positions on it (trade mode close-only or disabled).
    Terminal,
}

/// Which of an order's protective levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    Sl,
    Tp,
}

impl StopKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StopKind::Sl => "sl",
            StopKind::Tp => "tp",
        }
    }

    /// Whether this level belongs below the price for a position on `side`.
    #[must_use]
    pub fn below(self, side: Side) -> bool {
        matches!((self, side), (StopKind::Sl, Side::Buy) | (StopKind::Tp, Side::Sell))
    }
}

/// A refused order. Serialized (tagged by `rule`) it is the `details` of the error response.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Denial {
    #[error("symbol {symbol} is not enabled for trading{}", disabled_by(*.by))]
    SymbolDisabled { symbol: String, by: DisabledBy },

    #[error("symbol {symbol} does not match the market data given, which is for {market}")]
    InvalidSymbol { symbol: String, market: String },

    #[error("{symbol} is outside its trading sessions; {}", next_opening(.next_open.as_ref()))]
    OutsideSession {
        symbol: String,
        #[serde(with = "time::serde::rfc3339::option")]
        next_open: Option<OffsetDateTime>,
    },

    #[error(
        "daily p&l {pnl} has reached the loss limit of {limit}; until the next trading day only \
         orders that close or reduce exposure are accepted"
    )]
    DailyLossLimit { pnl: Decimal, limit: Decimal },

    #[error("{open} positions{} open or on their way, at the limit of {limit}", for_symbol(.symbol.as_deref()))]
    MaxPositions { symbol: Option<String>, open: u32, limit: u32 },

    #[error(
        "notional {notional} {currency} of this {symbol} order is above the limit of {limit} {currency}"
    )]
    MaxNotional { symbol: String, notional: Decimal, limit: Decimal, currency: String },

    #[error(
        "the notional of a {symbol} order cannot be valued in {account_currency} without a \
         {profit_currency} conversion rate, so the notional limit cannot be checked"
    )]
    NotionalUnknown { symbol: String, profit_currency: String, account_currency: String },

    #[error("the quote for {symbol} is {age_ms} ms old, older than the limit of {max_age_ms} ms")]
    StaleQuote { symbol: String, age_ms: u64, max_age_ms: u64 },

    #[error("trading is halted; only closing positions is accepted")]
    TradingHalted,

    #[error("trading is reduce-only; only orders that close or reduce exposure are accepted")]
    ReduceOnly,

    #[error(
        "volume {requested} rounds to {rounded} with the step {step}, below the minimum {min} \
         for {symbol}"
    )]
    VolumeTooSmall {
        symbol: String,
        requested: Decimal,
        rounded: Decimal,
        min: Decimal,
        step: Decimal,
    },

    #[error(
        "volume {requested} rounds to {rounded} with the step {step}, above the maximum {max} \
         for {symbol}"
    )]
    VolumeTooLarge {
        symbol: String,
        requested: Decimal,
        rounded: Decimal,
        max: Decimal,
        step: Decimal,
    },

    #[error(
        "{} {level} must be {} the price {reference} by at least {min_distance}",
        .stop.as_str(),
        if .stop.below(*.side) { "below" } else { "above" }
    )]
    InvalidStops {
        stop: StopKind,
        side: Side,
        level: Decimal,
        reference: Decimal,
        min_distance: Decimal,
    },

    #[error(
        "price {price} is {deviation_bps} bps from the quote {reference} of {symbol}, more than \
         the limit of {max_bps} bps"
    )]
    InvalidPrice {
        symbol: String,
        price: Decimal,
        reference: Decimal,
        deviation_bps: Decimal,
        max_bps: u32,
    },

    #[error(
        "{} price {price} must be at least {min_distance} {} {reference}",
        .order_type.as_str(),
        pending_side(*.order_type)
    )]
    PendingPriceWrongSide {
        order_type: OrderType,
        price: Decimal,
        reference: Decimal,
        min_distance: Decimal,
    },

    #[error("a {} order needs a price", .order_type.as_str())]
    PriceRequired { order_type: OrderType },

    #[error("position {ticket} not found")]
    PositionNotFound { ticket: u64 },

    #[error("pending order {ticket} not found")]
    PendingOrderNotFound { ticket: u64 },
}

impl Denial {
    /// The stable error code of the HTTP API (SPEC §4).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Denial::SymbolDisabled { .. } => "SYMBOL_DISABLED",
            Denial::InvalidSymbol { .. } => "INVALID_SYMBOL",
            Denial::OutsideSession { .. } => "OUTSIDE_SESSION",
            Denial::DailyLossLimit { .. } => "DAILY_LOSS_LIMIT",
            Denial::MaxPositions { .. } => "MAX_POSITIONS",
            Denial::MaxNotional { .. } | Denial::NotionalUnknown { .. } => "MAX_NOTIONAL",
            Denial::StaleQuote { .. } => "STALE_QUOTE",
            Denial::TradingHalted => "TRADING_HALTED",
            Denial::ReduceOnly => "REDUCE_ONLY",
            Denial::VolumeTooSmall { .. } => "VOLUME_TOO_SMALL",
            Denial::VolumeTooLarge { .. } => "VOLUME_TOO_LARGE",
            Denial::InvalidStops { .. } => "INVALID_STOPS",
            Denial::InvalidPrice { .. }
            | Denial::PendingPriceWrongSide { .. }
            | Denial::PriceRequired { .. } => "INVALID_PRICE",
            Denial::PositionNotFound { .. } => "POSITION_NOT_FOUND",
            Denial::PendingOrderNotFound { .. } => "ORDER_NOT_FOUND",
        }
    }
}

fn disabled_by(by: DisabledBy) -> &'static str {
    match by {
        DisabledBy::Config => " in the risk configuration",
        DisabledBy::Terminal => " by the terminal",
    }
}

fn next_opening(next_open: Option<&OffsetDateTime>) -> String {
    match next_open.and_then(|at| at.format(&Rfc3339).ok()) {
        Some(at) => format!("next opening {at}"),
        None => "no session opens again".to_owned(),
    }
}

fn for_symbol(symbol: Option<&str>) -> String {
    symbol.map(|symbol| format!(" in {symbol}")).unwrap_or_default()
}

fn pending_side(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::BuyLimit => "below the ask",
        OrderType::SellLimit => "above the bid",
        OrderType::BuyStop => "above the ask",
        OrderType::SellStop => "below the bid",
        OrderType::Buy | OrderType::Sell => "from the quote",
    }
}
