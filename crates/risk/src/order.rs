//! The trading requests a check decides on, and the trading state that gates them.

use mt5_bridge::types::OrderType;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Volume;

/// Whether new exposure may be taken on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    /// Every order that passes the limits is accepted.
    #[default]
    Active,
    /// Only orders that close or reduce exposure, or modify or cancel existing orders.
    ReduceOnly,
    /// Only closing positions and cancelling pending orders.
    Halted,
}

impl TradingState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::ReduceOnly => "reduce_only",
            TradingState::Halted => "halted",
        }
    }
}

/// A request to open exposure: a market order or a pending (limit or stop) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOrder {
    pub symbol: String,
    pub order_type: OrderType,
    pub volume: Volume,
    /// The pending price, required for limit and stop orders. For a market order, the
    /// price the caller expects to trade at; `None` takes the current quote.
    pub price: Option<Decimal>,
    /// Stop loss; `None` or zero for none, as in MT5.
    pub sl: Option<Decimal>,
    /// Take profit; `None` or zero for none.
    pub tp: Option<Decimal>,
}

/// Every request the check decides on.
#[derive(Clone, Debug, PartialEq)]
pub enum Order {
    /// Opens exposure.
    Open(NewOrder),
    /// New SL and TP for an open position (`None` removes one).
    ModifyPosition { ticket: u64, sl: Option<Decimal>, tp: Option<Decimal> },
    /// New price, SL and TP for a pending order.
    ModifyPending { ticket: u64, price: Decimal, sl: Option<Decimal>, tp: Option<Decimal> },
    /// Deletes a pending order.
    CancelPending { ticket: u64 },
    /// Closes a position, all of it (`volume` `None`) or part.
    Close { ticket: u64, volume: Option<Volume> },
}

impl Order {
    /// Whether the order can add exposure, and so counts against position limits.
    #[must_use]
    pub fn opens(&self) -> bool {
        matches!(self, Order::Open(_))
    }
}
