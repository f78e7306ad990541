//! The paper account: balance, positions, pending orders and history, and what a tick
//! does to them. Trade requests are in `request`, their checks in `checks`, and the money
//! arithmetic in `money`.

mod checks;
mod money;
mod request;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use self::money::{deal_profit, floating_profit, margin_for, position_margin};
use super::clock::from_ms;
use super::feed::Quote;
use super::hours::MarketHours;
use super::spec::{self, SPECS, Spec};
use crate::types::{
    Deal, DealEntry, DealType, HistoryOrder, OrderState, OrderType, PendingOrder, Position, Side,
};

/// The number of simulated symbols.
pub(crate) const SYMBOLS: usize = SPECS.len();

/// The latest quote of every symbol, indexed like [`SPECS`].
pub(crate) type Quotes = [Quote; SYMBOLS];

/// MT5 truncates order comments to this many characters.
pub(crate) const COMMENT_MAX_CHARS: usize = 31;

/// What the ledger needs to know about the market when it acts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MarketView<'a> {
    pub(crate) quotes: &'a Quotes,
    pub(crate) now_ms: i64,
    pub(crate) hours: MarketHours,
    pub(crate) leverage: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PositionRecord {
    ticket: u64,
    symbol: String,
    side: Side,
    #[serde(with = "rust_decimal::serde::str")]
    volume: Decimal,
    price_open: i64,
    sl: Option<i64>,
    tp: Option<i64>,
    time_ms: i64,
    magic: i64,
    comment: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingRecord {
    ticket: u64,
    symbol: String,
    order_type: OrderType,
    #[serde(with = "rust_decimal::serde::str")]
    volume: Decimal,
    price: i64,
    sl: Option<i64>,
    tp: Option<i64>,
    time_setup_ms: i64,
    expiration_ms: Option<i64>,
    magic: i64,
    comment: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct DealRecord {
    ticket: u64,
    order: u64,
    position_id: u64,
    /// Empty for balance operations.
    symbol: String,
    deal_type: DealType,
    entry: DealEntry,
    #[serde(with = "rust_decimal::serde::str")]
    volume: Decimal,
    price: i64,
    #[serde(with = "rust_decimal::serde::str")]
    profit: Decimal,
    time_ms: i64,
    magic: i64,
    comment: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    ticket: u64,
    symbol: String,
    order_type: OrderType,
    state: OrderState,
    #[serde(with = "rust_decimal::serde::str")]
    volume_initial: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    volume_current: Decimal,
    price_open: i64,
    sl: Option<i64>,
    tp: Option<i64>,
    time_setup_ms: i64,
    time_done_ms: i64,
    position_id: u64,
    magic: i64,
    comment: String,
}

/// Everything the account file keeps about trading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ledger {
    pub(crate) login: u64,
    #[serde(with = "rust_decimal::serde::str")]
    balance: Decimal,
    /// The next order ticket; positions take their opening order's ticket, as in MT5.
    next_order: u64,
    next_deal: u64,
    positions: Vec<PositionRecord>,
    pending: Vec<PendingRecord>,
    deals: Vec<DealRecord>,
    /// Orders that left the market (filled, canceled, expired, rejected), oldest first.
    orders: Vec<OrderRecord>,
    /// Counts state changes, so the newest snapshot wins when two are written at once.
    #[serde(skip)]
    pub(crate) changes: u64,
}

/// Account totals in USD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) balance: Decimal,
    pub(crate) profit: Decimal,
    pub(crate) equity: Decimal,
    pub(crate) margin: Decimal,
    pub(crate) margin_free: Decimal,
    pub(crate) margin_level: Option<Decimal>,
}

const FIRST_ORDER_TICKET: u64 = 100_000_001;
const FIRST_DEAL_TICKET: u64 = 200_000_001;

impl Ledger {
    /// A new account holding `balance`, with its deposit as the first deal. `continue_from`
    /// keeps ticket numbers rising across a reset, so no ticket is ever reused.
    pub(crate) fn fresh(
        login: u64,
        balance: Decimal,
        now_ms: i64,
        continue_from: Option<&Ledger>,
    ) -> Ledger {
        let (next_order, next_deal, changes) = continue_from
            .map_or((FIRST_ORDER_TICKET, FIRST_DEAL_TICKET, 0), |old| {
                (old.next_order, old.next_deal, old.changes + 1)
            });
        let deposit = DealRecord {
            ticket: next_deal,
            order: 0,
            position_id: 0,
            symbol: String::new(),
            deal_type: DealType::Balance,
            entry: DealEntry::None,
            volume: Decimal::ZERO,
            price: 0,
            profit: balance,
            time_ms: now_ms,
            magic: 0,
            comment: "initial deposit".to_owned(),
        };
        Ledger {
            login,
            balance,
            next_order,
            next_deal: next_deal + 1,
            positions: Vec::new(),
            pending: Vec::new(),
            deals: vec![deposit],
            orders: Vec::new(),
            changes,
        }
    }

    /// Checks what a loaded file could get wrong that would later confuse the terminal.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let symbols = self
            .positions
            .iter()
            .map(|p| &p.symbol)
            .chain(self.pending.iter().map(|p| &p.symbol))
            .chain(self.orders.iter().map(|o| &o.symbol));
        for symbol in symbols {
            if spec::find(symbol).is_none() {
                return Err(format!("unknown symbol {symbol:?}"));
            }
        }
        let highest_order = self
            .positions
            .iter()
            .map(|p| p.ticket)
            .chain(self.pending.iter().map(|p| p.ticket))
            .chain(self.orders.iter().map(|o| o.ticket))
            .max()
            .unwrap_or(0);
        let highest_deal = self.deals.iter().map(|d| d.ticket).max().unwrap_or(0);
        if highest_order >= self.next_order || highest_deal >= self.next_deal {
            return Err("ticket counters behind the tickets in use".to_owned());
        }
        Ok(())
    }

    fn take_order_ticket(&mut self) -> u64 {
        let ticket = self.next_order;
        self.next_order += 1;
        ticket
    }

    fn take_deal_ticket(&mut self) -> u64 {
        let ticket = self.next_deal;
        self.next_deal += 1;
        ticket
    }

    pub(crate) fn totals(&self, quotes: &Quotes, leverage: u32) -> Totals {
        let profit: Decimal =
            self.positions.iter().map(|position| floating_profit(position, quotes)).sum();
        let margin: Decimal =
            self.positions.iter().map(|position| position_margin(position, leverage)).sum();
        let equity = self.balance + profit;
        let margin_level = (!margin.is_zero()).then(|| money::percent(equity, margin));
        Totals {
            balance: self.balance,
            profit,
            equity,
            margin,
            margin_free: equity - margin,
            margin_level,
        }
    }

    pub(crate) fn positions(&self, quotes: &Quotes) -> Vec<Position> {
        self.positions
            .iter()
            .filter_map(|record| {
                let (index, spec) = resolve(&record.symbol)?;
                Some(Position {
                    ticket: record.ticket,
                    symbol: record.symbol.clone(),
                    side: record.side,
                    volume: record.volume,
                    price_open: spec.price(record.price_open),
                    price_current: spec.price(close_price(record.side, quotes[index])),
                    sl: record.sl.map(|points| spec.price(points)),
                    tp: record.tp.map(|points| spec.price(points)),
                    profit: floating_profit(record, quotes),
                    swap: Decimal::ZERO,
                    time: from_ms(record.time_ms),
                    magic: record.magic,
                    comment: record.comment.clone(),
                })
            })
            .collect()
    }

    pub(crate) fn pending_orders(&self) -> Vec<PendingOrder> {
        self.pending
            .iter()
            .filter_map(|record| {
                let (_, spec) = resolve(&record.symbol)?;
                Some(PendingOrder {
                    ticket: record.ticket,
                    symbol: record.symbol.clone(),
                    order_type: record.order_type,
                    volume: record.volume,
                    price_open: spec.price(record.price),
                    sl: record.sl.map(|points| spec.price(points)),
                    tp: record.tp.map(|points| spec.price(points)),
                    time_setup: from_ms(record.time_setup_ms),
                    expiration: record.expiration_ms.map(from_ms),
                    magic: record.magic,
                    comment: record.comment.clone(),
                })
            })
            .collect()
    }

    /// Deals with `since_ms <= time < until_ms`, of `symbol` if given, oldest first.
    pub(crate) fn deals(&self, since_ms: i64, until_ms: i64, symbol: Option<&str>) -> Vec<Deal> {
        self.deals
            .iter()
            .filter(|deal| (since_ms..until_ms).contains(&deal.time_ms))
            .filter(|deal| symbol.is_none_or(|name| deal.symbol == name))
            .map(|deal| {
                let price =
                    resolve(&deal.symbol).map_or(Decimal::ZERO, |(_, spec)| spec.price(deal.price));
                Deal {
                    ticket: deal.ticket,
                    order: deal.order,
                    position_id: deal.position_id,
                    symbol: deal.symbol.clone(),
                    deal_type: deal.deal_type,
                    entry: deal.entry,
                    volume: deal.volume,
                    price,
                    profit: deal.profit,
                    swap: Decimal::ZERO,
                    commission: Decimal::ZERO,
                    time: from_ms(deal.time_ms),
                    magic: deal.magic,
                    comment: deal.comment.clone(),
                }
            })
            .collect()
    }

    /// Orders that left the market with `since_ms <= time done < until_ms`, oldest first.
    pub(crate) fn history_orders(
        &self,
        since_ms: i64,
        until_ms: i64,
        symbol: Option<&str>,
    ) -> Vec<HistoryOrder> {
        self.orders
            .iter()
            .filter(|order| (since_ms..until_ms).contains(&order.time_done_ms))
            .filter(|order| symbol.is_none_or(|name| order.symbol == name))
            .filter_map(|order| {
                let (_, spec) = resolve(&order.symbol)?;
                Some(HistoryOrder {
                    ticket: order.ticket,
                    symbol: order.symbol.clone(),
                    order_type: order.order_type,
                    state: order.state,
                    volume_initial: order.volume_initial,
                    volume_current: order.volume_current,
                    price_open: spec.price(order.price_open),
                    sl: order.sl.map(|points| spec.price(points)),
                    tp: order.tp.map(|points| spec.price(points)),
                    time_setup: from_ms(order.time_setup_ms),
                    time_done: Some(from_ms(order.time_done_ms)),
                    position_id: order.position_id,
                    magic: order.magic,
                    comment: order.comment.clone(),
                })
            })
            .collect()
    }

    /// Plays one tick of symbol `index` against pending orders, then stop losses and take
    /// profits. Returns whether anything changed.
    pub(crate) fn on_tick(&mut self, index: usize, market: MarketView<'_>) -> bool {
        let before = self.changes;
        let name = SPECS[index].name;
        let quote = market.quotes[index];

        let triggered: Vec<PendingRecord> = self
            .pending
            .extract_if(.., |order| order.symbol == name && pending_triggers(order, quote))
            .collect();
        for order in triggered {
            self.fill_pending(order, index, market);
        }

        let stopped: Vec<(PositionRecord, &'static str, i64)> = self
            .positions
            .extract_if(.., |position| {
                position.symbol == name && stop_hit(position, quote).is_some()
            })
            .filter_map(|position| {
                let (kind, level) = stop_hit(&position, quote)?;
                Some((position, kind, level))
            })
            .collect();
        for (position, kind, level) in stopped {
            let comment = format!("[{kind} {}]", SPECS[index].price(level));
            let volume = position.volume;
            let magic = position.magic;
            self.close(position, volume, index, quote, magic, comment);
        }
        self.changes != before
    }

    /// Removes pending orders whose expiration is at or before `now_ms`.
    pub(crate) fn expire(&mut self, now_ms: i64) -> bool {
        let expired: Vec<PendingRecord> = self
            .pending
            .extract_if(.., |order| order.expiration_ms.is_some_and(|at| at <= now_ms))
            .collect();
        let any = !expired.is_empty();
        for order in expired {
            let done_ms = order.expiration_ms.unwrap_or(now_ms);
            self.archive_pending(order, OrderState::Expired, done_ms, 0);
        }
        any
    }

    fn fill_pending(&mut self, order: PendingRecord, index: usize, market: MarketView<'_>) {
        let spec = &SPECS[index];
        let quote = market.quotes[index];
        let side = order.order_type.side();
        let price = open_price(side, quote);
        let margin = margin_for(spec, order.volume, price, market.leverage);
        let free = self.totals(market.quotes, market.leverage).margin_free;
        if margin > free {
            // MT5 cancels a triggered order the account cannot carry.
            let mut order = order;
            "[no money]".clone_into(&mut order.comment);
            self.archive_pending(order, OrderState::Rejected, quote.time_ms, 0);
            return;
        }
        let position = PositionRecord {
            ticket: order.ticket,
            symbol: order.symbol.clone(),
            side,
            volume: order.volume,
            price_open: price,
            sl: order.sl,
            tp: order.tp,
            time_ms: quote.time_ms,
            magic: order.magic,
            comment: order.comment.clone(),
        };
        self.record_deal(&position, DealEntry::In, price, Decimal::ZERO, quote.time_ms);
        self.positions.push(position);
        self.archive_pending(order.clone(), OrderState::Filled, quote.time_ms, order.ticket);
    }

    fn archive_pending(
        &mut self,
        order: PendingRecord,
        state: OrderState,
        done_ms: i64,
        position_id: u64,
    ) {
        let volume_current = if state == OrderState::Filled { Decimal::ZERO } else { order.volume };
        self.orders.push(OrderRecord {
            ticket: order.ticket,
            symbol: order.symbol,
            order_type: order.order_type,
            state,
            volume_initial: order.volume,
            volume_current,
            price_open: order.price,
            sl: order.sl,
            tp: order.tp,
            time_setup_ms: order.time_setup_ms,
            time_done_ms: done_ms,
            position_id,
            magic: order.magic,
            comment: order.comment,
        });
        self.changes += 1;
    }

    /// Closes `volume` of `position` at the quote with a new market order and its deal;
    /// the rest, if any, stays open. Returns the order and deal tickets and the price.
    fn close(
        &mut self,
        mut position: PositionRecord,
        volume: Decimal,
        index: usize,
        quote: Quote,
        magic: i64,
        comment: String,
    ) -> (u64, u64, i64) {
        let spec = &SPECS[index];
        let price = close_price(position.side, quote);
        let profit = deal_profit(spec, position.side, volume, position.price_open, price);
        let order = self.take_order_ticket();
        self.orders.push(OrderRecord {
            ticket: order,
            symbol: position.symbol.clone(),
            order_type: market_type(position.side.opposite()),
            state: OrderState::Filled,
            volume_initial: volume,
            volume_current: Decimal::ZERO,
            price_open: price,
            sl: None,
            tp: None,
            time_setup_ms: quote.time_ms,
            time_done_ms: quote.time_ms,
            position_id: position.ticket,
            magic,
            comment: comment.clone(),
        });
        let closing = PositionRecord { volume, magic, comment, ..position.clone() };
        let deal = self.record_deal_for_order(
            &closing,
            order,
            DealEntry::Out,
            price,
            profit,
            quote.time_ms,
        );
        self.balance += profit;

        position.volume -= volume;
        if position.volume > Decimal::ZERO {
            self.positions.push(position);
            self.positions.sort_by_key(|open| open.ticket);
        }
        self.changes += 1;
        (order, deal, price)
    }

    fn record_deal(
        &mut self,
        position: &PositionRecord,
        entry: DealEntry,
        price: i64,
        profit: Decimal,
        time_ms: i64,
    ) -> u64 {
        self.record_deal_for_order(position, position.ticket, entry, price, profit, time_ms)
    }

    /// Writes a deal of `position.volume` on `position`'s symbol. For an exit the deal's
    /// direction is the opposite of the position's.
    fn record_deal_for_order(
        &mut self,
        position: &PositionRecord,
        order: u64,
        entry: DealEntry,
        price: i64,
        profit: Decimal,
        time_ms: i64,
    ) -> u64 {
        let side = if entry == DealEntry::Out { position.side.opposite() } else { position.side };
        let ticket = self.take_deal_ticket();
        self.deals.push(DealRecord {
            ticket,
            order,
            position_id: position.ticket,
            symbol: position.symbol.clone(),
            deal_type: match side {
                Side::Buy => DealType::Buy,
                Side::Sell => DealType::Sell,
            },
            entry,
            volume: position.volume,
            price,
            profit,
            time_ms,
            magic: position.magic,
            comment: position.comment.clone(),
        });
        self.changes += 1;
        ticket
    }
}

fn resolve(name: &str) -> Option<(usize, &'static Spec)> {
    spec::find(name).map(|index| (index, &SPECS[index]))
}

/// A buy opens at the ask and closes at the bid; a sell the other way round.
fn open_price(side: Side, quote: Quote) -> i64 {
    match side {
        Side::Buy => quote.ask,
        Side::Sell => quote.bid,
    }
}

fn close_price(side: Side, quote: Quote) -> i64 {
    open_price(side.opposite(), quote)
}

fn market_type(side: Side) -> OrderType {
    match side {
        Side::Buy => OrderType::Buy,
        Side::Sell => OrderType::Sell,
    }
}

/// Which stop, if any, this tick hits, with its level. A buy's stops watch the bid (the
/// price it would close at), a sell's the ask.
fn stop_hit(position: &PositionRecord, quote: Quote) -> Option<(&'static str, i64)> {
    let price = close_price(position.side, quote);
    let (sl_hit, tp_hit) = match position.side {
        Side::Buy => {
            (position.sl.is_some_and(|sl| price <= sl), position.tp.is_some_and(|tp| price >= tp))
        }
        Side::Sell => {
            (position.sl.is_some_and(|sl| price >= sl), position.tp.is_some_and(|tp| price <= tp))
        }
    };
    if sl_hit {
        position.sl.map(|level| ("sl", level))
    } else if tp_hit {
        position.tp.map(|level| ("tp", level))
    } else {
        None
    }
}

fn pending_triggers(order: &PendingRecord, quote: Quote) -> bool {
    match order.order_type {
        OrderType::BuyLimit => quote.ask <= order.price,
        OrderType::SellLimit => quote.bid >= order.price,
        OrderType::BuyStop => quote.ask >= order.price,
        OrderType::SellStop => quote.bid <= order.price,
        OrderType::Buy | OrderType::Sell => false,
    }
}
