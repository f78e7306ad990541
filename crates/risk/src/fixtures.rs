//! Symbols, accounts and orders shaped like the simulated terminal's, for the tests.

use mt5_bridge::types::{
    AccountInfo, AccountMode, OrderType, PendingOrder, Position, Side, SymbolInfo, Tick, TradeMode,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::{Market, NewOrder, Order, RiskConfig, Snapshot, SymbolRules, Volume};

/// A Wednesday noon, well inside every session the tests configure.
pub(crate) const NOW: OffsetDateTime = datetime!(2024-06-05 12:00 UTC);

pub(crate) fn symbol(name: &str) -> SymbolInfo {
    let (digits, contract_size, stops_level, base, profit) = match name {
        "USDJPY" => (3, dec!(100_000), 10, "USD", "JPY"),
        "XAUUSD" => (2, dec!(100), 20, "XAU", "USD"),
        "EURGBP" => (5, dec!(100_000), 10, "EUR", "GBP"),
        _ => (5, dec!(100_000), 10, &name[..3], "USD"),
    };
    SymbolInfo {
        name: name.to_owned(),
        description: String::new(),
        digits,
        point: Decimal::new(1, digits),
        contract_size,
        volume_min: dec!(0.01),
        volume_step: dec!(0.01),
        volume_max: dec!(100),
        stops_level,
        spread: 10,
        currency_base: base.to_owned(),
        currency_profit: profit.to_owned(),
        currency_margin: base.to_owned(),
        trade_mode: TradeMode::Full,
    }
}

pub(crate) fn market(name: &str, bid: Decimal, ask: Decimal) -> Market {
    let tick = Tick { symbol: name.to_owned(), time: NOW, bid, ask };
    Market::new(symbol(name), tick).unwrap_or_else(|error| panic!("{error}"))
}

pub(crate) fn eurusd() -> Market {
    market("EURUSD", dec!(1.08500), dec!(1.08510))
}

pub(crate) fn account(equity: Decimal) -> AccountInfo {
    AccountInfo {
        login: 1,
        server: "Simulated".to_owned(),
        name: "Paper".to_owned(),
        currency: "USD".to_owned(),
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

pub(crate) fn position(ticket: u64, symbol: &str, side: Side, volume: Decimal) -> Position {
    Position {
        ticket,
        symbol: symbol.to_owned(),
        side,
        volume,
        price_open: dec!(1.08),
        price_current: dec!(1.085),
        sl: None,
        tp: None,
        profit: Decimal::ZERO,
        swap: Decimal::ZERO,
        time: NOW,
        magic: 0,
        comment: String::new(),
    }
}

pub(crate) fn pending(
    ticket: u64,
    symbol: &str,
    order_type: OrderType,
    price: Decimal,
) -> PendingOrder {
    PendingOrder {
        ticket,
        symbol: symbol.to_owned(),
        order_type,
        volume: dec!(0.1),
        price_open: price,
        sl: None,
        tp: None,
        time_setup: NOW,
        expiration: None,
        magic: 0,
        comment: String::new(),
    }
}

pub(crate) fn snapshot(
    market: Market,
    positions: Vec<Position>,
    pending: Vec<PendingOrder>,
) -> Snapshot {
    Snapshot::new(account(dec!(10_000)), positions, pending, market)
}

/// The four simulated symbols enabled, no other limit.
pub(crate) fn config() -> RiskConfig {
    let mut config = RiskConfig::default();
    for name in ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "EURGBP"] {
        config.symbols.insert(name.to_owned(), SymbolRules::default());
    }
    config
}

pub(crate) fn open(symbol: &str, order_type: OrderType, volume: f64) -> NewOrder {
    NewOrder {
        symbol: symbol.to_owned(),
        order_type,
        volume: Volume::from_f64(volume).unwrap_or_else(|error| panic!("{error}")),
        price: None,
        sl: None,
        tp: None,
    }
}

pub(crate) fn buy(symbol: &str, volume: f64) -> Order {
    Order::Open(open(symbol, OrderType::Buy, volume))
}
