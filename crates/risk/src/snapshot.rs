//! What the check reads from the terminal: the account, open positions, pending orders and
//! one symbol's specification and quote.
//!
//! A [`Snapshot`] can only be built from all of them, validated, so no check can run on
//! missing or nonsensical market data. A caller that cannot read them cannot build one and
//! must refuse the order (a server answers 503).

use mt5_bridge::types::{AccountInfo, PendingOrder, Position, SymbolInfo, Tick};
use rust_decimal::Decimal;

use crate::SnapshotError;

/// One symbol's specification and latest quote.
#[derive(Clone, Debug, PartialEq)]
pub struct Market {
    info: SymbolInfo,
    tick: Tick,
    conversion_rate: Option<Decimal>,
}

impl Market {
    /// Pairs a specification with its quote, refusing a quote of another symbol, a bid or
    /// ask that is not positive, an ask below the bid, and a specification whose point,
    /// contract size or volume limits are not positive.
    pub fn new(info: SymbolInfo, tick: Tick) -> Result<Market, SnapshotError> {
        if tick.symbol != info.name {
            return Err(SnapshotError::SymbolMismatch { symbol: info.name, tick: tick.symbol });
        }
        if tick.bid <= Decimal::ZERO || tick.ask <= Decimal::ZERO || tick.ask < tick.bid {
            let (bid, ask) = (tick.bid, tick.ask);
            return Err(SnapshotError::InvalidQuote { symbol: info.name, bid, ask });
        }
        let fields = [
            ("point", info.point),
            ("contract_size", info.contract_size),
            ("volume_min", info.volume_min),
            ("volume_step", info.volume_step),
            ("volume_max", info.volume_max),
        ];
        if let Some(&(field, value)) = fields.iter().find(|(_, value)| *value <= Decimal::ZERO) {
            return Err(SnapshotError::InvalidSpecification { symbol: info.name, field, value });
        }
        Ok(Market { info, tick, conversion_rate: None })
    }

    /// The price of one unit of the symbol's profit currency in the account currency, for
    /// valuing orders on symbols quoted in neither the account currency nor against it
    /// (EURGBP on a USD account needs GBPUSD's rate). Without it such orders are refused
    /// while a notional limit is set.
    pub fn with_conversion_rate(mut self, rate: Decimal) -> Result<Market, SnapshotError> {
        if rate <= Decimal::ZERO {
            return Err(SnapshotError::InvalidConversionRate { symbol: self.info.name, rate });
        }
        self.conversion_rate = Some(rate);
        Ok(self)
    }

    #[must_use]
    pub fn info(&self) -> &SymbolInfo {
        &self.info
    }

    #[must_use]
    pub fn tick(&self) -> &Tick {
        &self.tick
    }

    #[must_use]
    pub fn conversion_rate(&self) -> Option<Decimal> {
        self.conversion_rate
    }

    /// The middle of bid and ask, the reference for price deviations.
    #[must_use]
    pub fn mid(&self) -> Decimal {
        (self.tick.bid + self.tick.ask) / Decimal::TWO
    }
}

/// The state an order is checked against, read from the terminal just before the check.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    account: AccountInfo,
    positions: Vec<Position>,
    pending_orders: Vec<PendingOrder>,
    market: Market,
}

impl Snapshot {
    /// `market` is the symbol the order trades: the order's own, or for an order on a
    /// position or pending order, that one's.
    #[must_use]
    pub fn new(
        account: AccountInfo,
        positions: Vec<Position>,
        pending_orders: Vec<PendingOrder>,
        market: Market,
    ) -> Snapshot {
        Snapshot { account, positions, pending_orders, market }
    }

    #[must_use]
    pub fn account(&self) -> &AccountInfo {
        &self.account
    }

    #[must_use]
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    #[must_use]
    pub fn pending_orders(&self) -> &[PendingOrder] {
        &self.pending_orders
    }

    #[must_use]
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Whether a position or pending order with this ticket is in the snapshot.
    #[must_use]
    pub fn holds_ticket(&self, ticket: u64) -> bool {
        self.positions.iter().any(|position| position.ticket == ticket)
            || self.pending_orders.iter().any(|order| order.ticket == ticket)
    }

    /// Open positions plus pending orders, overall and on `symbol`.
    #[must_use]
    pub fn exposure_count(&self, symbol: &str) -> (u32, u32) {
        let mut total = 0u32;
        let mut on_symbol = 0u32;
        let symbols = self.positions.iter().map(|position| &position.symbol);
        for name in symbols.chain(self.pending_orders.iter().map(|order| &order.symbol)) {
            total = total.saturating_add(1);
            if name == symbol {
                on_symbol = on_symbol.saturating_add(1);
            }
        }
        (total, on_symbol)
    }

    /// Floating profit of the open positions, swaps included.
    #[must_use]
    pub fn floating(&self) -> Decimal {
        floating(&self.positions)
    }
}

/// Floating profit of `positions`, swaps included.
#[must_use]
pub fn floating(positions: &[Position]) -> Decimal {
    positions.iter().map(|position| position.profit + position.swap).sum()
}
