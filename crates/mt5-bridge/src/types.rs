//! Plain data exchanged with a terminal: the shapes of MT5's own structures, in decimals.
//!
//! Prices, volumes and money are [`Decimal`]: a terminal quotes in a fixed number of digits,
//! and binary floating point cannot hold most of those values exactly. They serialize as
//! JSON numbers.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Whether the account trades real money or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountMode {
    /// A paper account kept by the simulated terminal.
    Simulated,
    /// A broker's demo account.
    Demo,
    /// A broker's real-money account.
    Real,
}

/// The account as MT5's `account_info()` reports it, amounts in the account currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub login: u64,
    pub server: String,
    pub name: String,
    pub currency: String,
    pub mode: AccountMode,
    pub leverage: u32,
    pub balance: Decimal,
    /// Balance plus the floating profit of open positions.
    pub equity: Decimal,
    /// Floating profit of open positions (swap and commission included).
    pub profit: Decimal,
    pub margin: Decimal,
    pub margin_free: Decimal,
    /// Equity over margin in percent; `None` while no margin is used.
    pub margin_level: Option<Decimal>,
    pub trade_allowed: bool,
}

/// Which trades a symbol accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeMode {
    Full,
    CloseOnly,
    Disabled,
}

/// A symbol's specification, as MT5's `symbol_info()` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub name: String,
    pub description: String,
    /// Digits after the decimal point in a quote.
    pub digits: u32,
    /// The smallest price change, `10^-digits`.
    pub point: Decimal,
    /// Units of the base asset in one lot.
    pub contract_size: Decimal,
    pub volume_min: Decimal,
    pub volume_step: Decimal,
    pub volume_max: Decimal,
    /// Minimum distance, in points, between the current price and an SL, TP or pending price.
    pub stops_level: u32,
    /// Current spread in points.
    pub spread: u32,
    pub currency_base: String,
    pub currency_profit: String,
    pub currency_margin: String,
    pub trade_mode: TradeMode,
}

/// The latest quote of a symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub symbol: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub bid: Decimal,
    pub ask: Decimal,
}

/// Bar periods, named as MT5 names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timeframe {
    M1,
    M5,
    M15,
    M30,
    H1,
    H4,
    D1,
    W1,
    MN1,
}

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 9] = [
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H4,
        Timeframe::D1,
        Timeframe::W1,
        Timeframe::MN1,
    ];

    /// The name MT5 and the HTTP API use (`"M1"`, `"H4"`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "M1",
            Timeframe::M5 => "M5",
            Timeframe::M15 => "M15",
            Timeframe::M30 => "M30",
            Timeframe::H1 => "H1",
            Timeframe::H4 => "H4",
            Timeframe::D1 => "D1",
            Timeframe::W1 => "W1",
            Timeframe::MN1 => "MN1",
        }
    }

    /// Parses a timeframe name exactly as [`Timeframe::as_str`] writes it.
    #[must_use]
    pub fn parse(name: &str) -> Option<Timeframe> {
        Timeframe::ALL.into_iter().find(|tf| tf.as_str() == name)
    }

    /// Length of one bar in seconds; a month counts as 30 days, weeks start on Monday
    /// as MT5's do.
    #[must_use]
    pub fn seconds(self) -> i64 {
        match self {
            Timeframe::M1 => 60,
            Timeframe::M5 => 300,
            Timeframe::M15 => 900,
            Timeframe::M30 => 1_800,
            Timeframe::H1 => 3_600,
            Timeframe::H4 => 14_400,
            Timeframe::D1 => 86_400,
            Timeframe::W1 => 604_800,
            Timeframe::MN1 => 2_592_000,
        }
    }
}

/// One OHLC bar; prices are bids, as in MT5.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub tick_volume: u64,
    /// Spread in points at the bar's close.
    pub spread: u32,
}

/// Direction of a position or a market order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    #[must_use]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// Every order type the HTTP API accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Buy,
    Sell,
    BuyLimit,
    SellLimit,
    BuyStop,
    SellStop,
}

impl OrderType {
    /// The direction the order trades in once filled.
    #[must_use]
    pub fn side(self) -> Side {
        match self {
            OrderType::Buy | OrderType::BuyLimit | OrderType::BuyStop => Side::Buy,
            OrderType::Sell | OrderType::SellLimit | OrderType::SellStop => Side::Sell,
        }
    }

    /// True for the limit and stop types, which rest until the price reaches them.
    #[must_use]
    pub fn is_pending(self) -> bool {
        !matches!(self, OrderType::Buy | OrderType::Sell)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Buy => "buy",
            OrderType::Sell => "sell",
            OrderType::BuyLimit => "buy_limit",
            OrderType::SellLimit => "sell_limit",
            OrderType::BuyStop => "buy_stop",
            OrderType::SellStop => "sell_stop",
        }
    }
}

/// An open position (MT5 hedging accounts: several per symbol are allowed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub ticket: u64,
    pub symbol: String,
    #[serde(rename = "type")]
    pub side: Side,
    pub volume: Decimal,
    pub price_open: Decimal,
    /// The price the position would close at now: bid for a buy, ask for a sell.
    pub price_current: Decimal,
    pub sl: Option<Decimal>,
    pub tp: Option<Decimal>,
    /// Floating profit in the account currency.
    pub profit: Decimal,
    pub swap: Decimal,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub magic: i64,
    pub comment: String,
}

/// A pending order still waiting in the market.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingOrder {
    pub ticket: u64,
    pub symbol: String,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub volume: Decimal,
    pub price_open: Decimal,
    pub sl: Option<Decimal>,
    pub tp: Option<Decimal>,
    #[serde(with = "time::serde::rfc3339")]
    pub time_setup: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiration: Option<OffsetDateTime>,
    pub magic: i64,
    pub comment: String,
}

/// Whether a deal opened, closed or reversed a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealEntry {
    In,
    Out,
    /// Balance operations (deposits, corrections) that belong to no position.
    None,
}

/// What a deal was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealType {
    Buy,
    Sell,
    Balance,
}

/// One executed deal, as in MT5's `history_deals_get()`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub ticket: u64,
    /// The order that caused the deal (0 for balance operations).
    pub order: u64,
    pub position_id: u64,
    pub symbol: String,
    #[serde(rename = "type")]
    pub deal_type: DealType,
    pub entry: DealEntry,
    pub volume: Decimal,
    pub price: Decimal,
    /// Realised profit in the account currency (0 for entries).
    pub profit: Decimal,
    pub swap: Decimal,
    pub commission: Decimal,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub magic: i64,
    pub comment: String,
}

/// The final or current state of an order in history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Placed,
    Filled,
    PartiallyFilled,
    Canceled,
    Expired,
    Rejected,
}

/// An order in history, as in MT5's `history_orders_get()`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryOrder {
    pub ticket: u64,
    pub symbol: String,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub state: OrderState,
    pub volume_initial: Decimal,
    pub volume_current: Decimal,
    /// The requested price (the pending price, or the quote a market order was sent at).
    pub price_open: Decimal,
    pub sl: Option<Decimal>,
    pub tp: Option<Decimal>,
    #[serde(with = "time::serde::rfc3339")]
    pub time_setup: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub time_done: Option<OffsetDateTime>,
    /// The position the order opened or closed (0 while none).
    pub position_id: u64,
    pub magic: i64,
    pub comment: String,
}

/// A time range and optional symbol for history queries; `from` inclusive, `to` exclusive.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub symbol: Option<String>,
}

/// A request to the trade server, one variant per MT5 trade action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum TradeRequest {
    /// A market deal. With `position` set it closes (all or part of) that position.
    Market {
        symbol: String,
        side: Side,
        volume: Decimal,
        sl: Option<Decimal>,
        tp: Option<Decimal>,
        /// Accepted slippage in points from the quote the caller saw (`price`).
        deviation: u32,
        /// The quote the caller expects to trade at; `None` takes the current one.
        price: Option<Decimal>,
        position: Option<u64>,
        magic: i64,
        comment: String,
    },
    /// Place a limit or stop order.
    Pending {
        symbol: String,
        order_type: OrderType,
        volume: Decimal,
        price: Decimal,
        sl: Option<Decimal>,
        tp: Option<Decimal>,
        #[serde(with = "time::serde::rfc3339::option")]
        expiration: Option<OffsetDateTime>,
        magic: i64,
        comment: String,
    },
    /// Change a position's stop loss and take profit (`None` removes one).
    ModifyPosition { position: u64, sl: Option<Decimal>, tp: Option<Decimal> },
    /// Change a pending order's price, stops or expiration.
    ModifyOrder {
        order: u64,
        price: Decimal,
        sl: Option<Decimal>,
        tp: Option<Decimal>,
        #[serde(with = "time::serde::rfc3339::option")]
        expiration: Option<OffsetDateTime>,
    },
    /// Delete a pending order.
    CancelOrder { order: u64 },
}

/// The trade server's answer, as MT5's `MqlTradeResult`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeResult {
    pub retcode: crate::Retcode,
    /// Deal ticket when a deal was executed.
    pub deal: Option<u64>,
    /// Order ticket when an order was created or touched.
    pub order: Option<u64>,
    /// Volume executed or placed.
    pub volume: Decimal,
    /// Execution price, or the pending price.
    pub price: Option<Decimal>,
    pub bid: Option<Decimal>,
    pub ask: Option<Decimal>,
    pub comment: String,
}

/// How reachable the terminal is, for health reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalStatus {
    /// Which implementation answers: `"simulated"` or `"mt5"`.
    pub kind: String,
    pub connected: bool,
    /// A short operator-facing description (never a credential).
    pub detail: String,
}
