//! The paper account: balance, positions, pending orders, history, and the trade server's
//! checks that turn a request into a retcode.
//!
//! Money follows MT5: each deal's profit is converted to the account currency (USD) and
//! rounded to cents, half away from zero, when the deal happens; the balance is the sum of
//! those rounded amounts. A position's floating profit and margin are rounded to cents the
//! same way before they are summed into equity and margin.

// A refusal is the request's answer, not a failure to propagate far: it is built once per
// request and returned at once, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::feed::Quote;
use super::hours::MarketHours;
use super::spec::{self, MarginMode, ProfitConversion, SPECS, Spec};
use crate::Retcode;
use crate::types::{
    Deal, DealEntry, DealType, HistoryOrder, OrderState, OrderType, PendingOrder, Position, Side,
    TradeRequest, TradeResult,
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

    // ---- reading -------------------------------------------------------------------------

    pub(crate) fn totals(&self, quotes: &Quotes, leverage: u32) -> Totals {
        let profit: Decimal =
            self.positions.iter().map(|position| floating_profit(position, quotes)).sum();
        let margin: Decimal =
            self.positions.iter().map(|position| position_margin(position, leverage)).sum();
        let equity = self.balance + profit;
        let margin_level = (!margin.is_zero())
            .then(|| (equity / margin * Decimal::ONE_HUNDRED).round_dp_with_strategy(2, MONEY));
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
                    time: super::clock::from_ms(record.time_ms),
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
                    time_setup: super::clock::from_ms(record.time_setup_ms),
                    expiration: record.expiration_ms.map(super::clock::from_ms),
                    magic: record.magic,
                    comment: record.comment.clone(),
                })
            })
            .collect()
    }

    /// Deals with `from_ms <= time < to_ms`, of `symbol` if given, oldest first.
    pub(crate) fn deals(&self, from_ms: i64, to_ms: i64, symbol: Option<&str>) -> Vec<Deal> {
        self.deals
            .iter()
            .filter(|deal| (from_ms..to_ms).contains(&deal.time_ms))
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
                    time: super::clock::from_ms(deal.time_ms),
                    magic: deal.magic,
                    comment: deal.comment.clone(),
                }
            })
            .collect()
    }

    /// Orders that left the market with `from_ms <= time done < to_ms`, oldest first.
    pub(crate) fn history_orders(
        &self,
        from_ms: i64,
        to_ms: i64,
        symbol: Option<&str>,
    ) -> Vec<HistoryOrder> {
        self.orders
            .iter()
            .filter(|order| (from_ms..to_ms).contains(&order.time_done_ms))
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
                    time_setup: super::clock::from_ms(order.time_setup_ms),
                    time_done: Some(super::clock::from_ms(order.time_done_ms)),
                    position_id: order.position_id,
                    magic: order.magic,
                    comment: order.comment.clone(),
                })
            })
            .collect()
    }

    // ---- ticks ---------------------------------------------------------------------------

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

    // ---- trade requests ------------------------------------------------------------------

    /// Executes a trade request the way an MT5 trade server would, answering with a retcode.
    pub(crate) fn send(&mut self, request: TradeRequest, market: MarketView<'_>) -> TradeResult {
        let outcome = match request {
            TradeRequest::Market {
                symbol,
                side,
                volume,
                sl,
                tp,
                deviation,
                price,
                position,
                magic,
                comment,
            } => {
                let order = MarketOrder { side, volume, sl, tp, deviation, price, magic, comment };
                self.market_order(&symbol, position, &order, market)
            }
            TradeRequest::Pending {
                symbol,
                order_type,
                volume,
                price,
                sl,
                tp,
                expiration,
                magic,
                comment,
            } => {
                let expiration_ms = expiration.map(super::clock::to_ms);
                let order = PendingPlacement {
                    order_type,
                    volume,
                    price,
                    sl,
                    tp,
                    expiration_ms,
                    magic,
                    comment,
                };
                self.place_pending(&symbol, &order, market)
            }
            TradeRequest::ModifyPosition { position, sl, tp } => {
                self.modify_position(position, sl, tp, market)
            }
            TradeRequest::ModifyOrder { order, price, sl, tp, expiration } => {
                let expiration_ms = expiration.map(super::clock::to_ms);
                self.modify_order(order, price, sl, tp, expiration_ms, market)
            }
            TradeRequest::CancelOrder { order } => self.cancel_order(order, market),
        };
        outcome.unwrap_or_else(|refusal| refusal)
    }

    fn market_order(
        &mut self,
        symbol: &str,
        position: Option<u64>,
        order: &MarketOrder,
        market: MarketView<'_>,
    ) -> Result<TradeResult, TradeResult> {
        let (index, spec) = open_symbol(symbol, market)?;
        let quote = market.quotes[index];
        let price = open_price(order.side, quote);
        check_volume(spec, order.volume, quote)?;
        check_expected_price(spec, order.price, order.deviation, price, quote)?;
        let comment = clip_comment(&order.comment);

        if let Some(ticket) = position {
            return self.close_by_request(
                ticket,
                index,
                order.side,
                order.volume,
                order.magic,
                comment,
                market,
            );
        }

        let sl = stop_points(spec, order.sl, "sl", quote)?;
        let tp = stop_points(spec, order.tp, "tp", quote)?;
        check_stops(spec, order.side, close_price(order.side, quote), sl, tp, quote)?;
        let margin = margin_for(spec, order.volume, price, market.leverage);
        let free = self.totals(market.quotes, market.leverage).margin_free;
        if margin > free {
            return Err(refuse(
                Retcode::NO_MONEY,
                format!("margin {margin} USD needed, free margin {free} USD"),
                spec,
                quote,
            ));
        }

        let ticket = self.take_order_ticket();
        let position = PositionRecord {
            ticket,
            symbol: spec.name.to_owned(),
            side: order.side,
            volume: order.volume,
            price_open: price,
            sl,
            tp,
            time_ms: market.now_ms,
            magic: order.magic,
            comment: comment.clone(),
        };
        let deal = self.record_deal(&position, DealEntry::In, price, Decimal::ZERO, market.now_ms);
        self.orders.push(OrderRecord {
            ticket,
            symbol: spec.name.to_owned(),
            order_type: market_type(order.side),
            state: OrderState::Filled,
            volume_initial: order.volume,
            volume_current: Decimal::ZERO,
            price_open: price,
            sl,
            tp,
            time_setup_ms: market.now_ms,
            time_done_ms: market.now_ms,
            position_id: ticket,
            magic: order.magic,
            comment,
        });
        self.positions.push(position);
        Ok(done(Retcode::DONE, Some(deal), Some(ticket), order.volume, price, spec, quote))
    }

    #[allow(clippy::too_many_arguments, reason = "one request's fields, used once")]
    fn close_by_request(
        &mut self,
        ticket: u64,
        index: usize,
        side: Side,
        volume: Decimal,
        magic: i64,
        comment: String,
        market: MarketView<'_>,
    ) -> Result<TradeResult, TradeResult> {
        let spec = &SPECS[index];
        let quote = market.quotes[index];
        let slot =
            self.positions.iter().position(|open| open.ticket == ticket).ok_or_else(|| {
                refuse(Retcode::INVALID, format!("no position with ticket {ticket}"), spec, quote)
            })?;
        let position = &self.positions[slot];
        if position.symbol != spec.name {
            let message = format!("position {ticket} is on {}, not {}", position.symbol, spec.name);
            return Err(refuse(Retcode::INVALID, message, spec, quote));
        }
        if position.side == side {
            let message = format!(
                "position {ticket} is a {:?}; close it with the opposite side",
                position.side
            );
            return Err(refuse(Retcode::INVALID, message.to_lowercase(), spec, quote));
        }
        if volume > position.volume {
            let message =
                format!("volume {volume} above the position's volume {}", position.volume);
            return Err(refuse(Retcode::INVALID_VOLUME, message, spec, quote));
        }

        let position = self.positions.remove(slot);
        let mut time_quote = quote;
        time_quote.time_ms = market.now_ms;
        let (order, deal, price) = self.close(position, volume, index, time_quote, magic, comment);
        Ok(done(Retcode::DONE, Some(deal), Some(order), volume, price, spec, quote))
    }

    fn place_pending(
        &mut self,
        symbol: &str,
        order: &PendingPlacement,
        market: MarketView<'_>,
    ) -> Result<TradeResult, TradeResult> {
        let (index, spec) = open_symbol(symbol, market)?;
        let quote = market.quotes[index];
        if !order.order_type.is_pending() {
            let message = format!("{} is a market order type", order.order_type.as_str());
            return Err(refuse(Retcode::INVALID, message, spec, quote));
        }
        check_volume(spec, order.volume, quote)?;
        let price = pending_points(spec, order.order_type, order.price, quote)?;
        let sl = stop_points(spec, order.sl, "sl", quote)?;
        let tp = stop_points(spec, order.tp, "tp", quote)?;
        check_stops(spec, order.order_type.side(), price, sl, tp, quote)?;
        check_expiration(order.expiration_ms, market.now_ms, spec, quote)?;

        let ticket = self.take_order_ticket();
        self.pending.push(PendingRecord {
            ticket,
            symbol: spec.name.to_owned(),
            order_type: order.order_type,
            volume: order.volume,
            price,
            sl,
            tp,
            time_setup_ms: market.now_ms,
            expiration_ms: order.expiration_ms,
            magic: order.magic,
            comment: clip_comment(&order.comment),
        });
        self.changes += 1;
        Ok(done(Retcode::PLACED, None, Some(ticket), order.volume, price, spec, quote))
    }

    fn modify_position(
        &mut self,
        ticket: u64,
        sl: Option<Decimal>,
        tp: Option<Decimal>,
        market: MarketView<'_>,
    ) -> Result<TradeResult, TradeResult> {
        let slot = self.positions.iter().position(|open| open.ticket == ticket);
        let Some(slot) = slot else {
            return Err(refuse_plain(
                Retcode::INVALID,
                format!("no position with ticket {ticket}"),
            ));
        };
        let (index, spec) = open_symbol(&self.positions[slot].symbol, market)?;
        let quote = market.quotes[index];
        let sl = stop_points(spec, sl, "sl", quote)?;
        let tp = stop_points(spec, tp, "tp", quote)?;
        let position = &self.positions[slot];
        if position.sl == sl && position.tp == tp {
            return Err(refuse(Retcode::NO_CHANGES, "sl and tp unchanged".to_owned(), spec, quote));
        }
        check_stops(spec, position.side, close_price(position.side, quote), sl, tp, quote)?;

        let position = &mut self.positions[slot];
        position.sl = sl;
        position.tp = tp;
        let volume = position.volume;
        self.changes += 1;
        let mut result = done(Retcode::DONE, None, None, volume, 0, spec, quote);
        result.price = None;
        Ok(result)
    }

    fn modify_order(
        &mut self,
        ticket: u64,
        price: Decimal,
        sl: Option<Decimal>,
        tp: Option<Decimal>,
        expiration_ms: Option<i64>,
        market: MarketView<'_>,
    ) -> Result<TradeResult, TradeResult> {
        let slot = self.pending.iter().position(|order| order.ticket == ticket);
        let Some(slot) = slot else {
            return Err(refuse_plain(
                Retcode::INVALID,
                format!("no pending order with ticket {ticket}"),
            ));
        };
        let (index, spec) = open_symbol(&self.pending[slot].symbol, market)?;
        let quote = market.quotes[index];
        let order_type = self.pending[slot].order_type;
        let price = spec.points(price).ok_or_else(|| {
            refuse(
                Retcode::INVALID_PRICE,
                format!("price {price} is not a valid quote"),
                spec,
                quote,
            )
        })?;
        let sl = stop_points(spec, sl, "sl", quote)?;
        let tp = stop_points(spec, tp, "tp", quote)?;
        let order = &self.pending[slot];
        if (order.price, order.sl, order.tp, order.expiration_ms) == (price, sl, tp, expiration_ms)
        {
            return Err(refuse(Retcode::NO_CHANGES, "order unchanged".to_owned(), spec, quote));
        }
        let price = pending_points(spec, order_type, spec.price(price), quote)?;
        check_stops(spec, order_type.side(), price, sl, tp, quote)?;
        check_expiration(expiration_ms, market.now_ms, spec, quote)?;

        let order = &mut self.pending[slot];
        order.price = price;
        order.sl = sl;
        order.tp = tp;
        order.expiration_ms = expiration_ms;
        let volume = order.volume;
        self.changes += 1;
        Ok(done(Retcode::DONE, None, Some(ticket), volume, price, spec, quote))
    }

    fn cancel_order(
        &mut self,
        ticket: u64,
        market: MarketView<'_>,
    ) -> Result<TradeResult, TradeResult> {
        let slot = self.pending.iter().position(|order| order.ticket == ticket);
        let Some(slot) = slot else {
            return Err(refuse_plain(
                Retcode::INVALID,
                format!("no pending order with ticket {ticket}"),
            ));
        };
        let (index, spec) = open_symbol(&self.pending[slot].symbol, market)?;
        let quote = market.quotes[index];
        let order = self.pending.remove(slot);
        let (volume, price) = (order.volume, order.price);
        self.archive_pending(order, OrderState::Canceled, market.now_ms, 0);
        Ok(done(Retcode::DONE, None, Some(ticket), volume, price, spec, quote))
    }
}

/// The parts of a market request the checks need.
#[derive(Debug)]
struct MarketOrder {
    side: Side,
    volume: Decimal,
    sl: Option<Decimal>,
    tp: Option<Decimal>,
    deviation: u32,
    price: Option<Decimal>,
    magic: i64,
    comment: String,
}

/// The parts of a pending request the checks need.
#[derive(Debug)]
struct PendingPlacement {
    order_type: OrderType,
    volume: Decimal,
    price: Decimal,
    sl: Option<Decimal>,
    tp: Option<Decimal>,
    expiration_ms: Option<i64>,
    magic: i64,
    comment: String,
}

const MONEY: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, MONEY)
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

/// Profit of `volume` lots moved from `open` to `close`, in USD, rounded to cents. Profit
/// in JPY is converted at the closing rate of USDJPY itself.
fn deal_profit(spec: &Spec, side: Side, volume: Decimal, open: i64, close: i64) -> Decimal {
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

fn floating_profit(position: &PositionRecord, quotes: &Quotes) -> Decimal {
    resolve(&position.symbol).map_or(Decimal::ZERO, |(index, spec)| {
        let close = close_price(position.side, quotes[index]);
        deal_profit(spec, position.side, position.volume, position.price_open, close)
    })
}

/// Margin in USD at the opening price, fixed for the position's life.
fn margin_for(spec: &Spec, volume: Decimal, price: i64, leverage: u32) -> Decimal {
    let notional = volume * Decimal::from(spec.contract_size);
    let in_usd = match spec.margin_mode {
        MarginMode::NotionalAtPrice => notional * spec.price(price),
        MarginMode::Notional => notional,
    };
    cents(in_usd / Decimal::from(leverage.max(1)))
}

fn position_margin(position: &PositionRecord, leverage: u32) -> Decimal {
    resolve(&position.symbol).map_or(Decimal::ZERO, |(_, spec)| {
        margin_for(spec, position.volume, position.price_open, leverage)
    })
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

fn clip_comment(comment: &str) -> String {
    comment.chars().take(COMMENT_MAX_CHARS).collect()
}

fn with_quote(mut result: TradeResult, spec: &Spec, quote: Quote) -> TradeResult {
    result.bid = Some(spec.price(quote.bid));
    result.ask = Some(spec.price(quote.ask));
    result
}

fn refuse_plain(retcode: Retcode, comment: String) -> TradeResult {
    TradeResult {
        retcode,
        deal: None,
        order: None,
        volume: Decimal::ZERO,
        price: None,
        bid: None,
        ask: None,
        comment,
    }
}

fn refuse(retcode: Retcode, comment: String, spec: &Spec, quote: Quote) -> TradeResult {
    with_quote(refuse_plain(retcode, comment), spec, quote)
}

fn done(
    retcode: Retcode,
    deal: Option<u64>,
    order: Option<u64>,
    volume: Decimal,
    price: i64,
    spec: &Spec,
    quote: Quote,
) -> TradeResult {
    let comment = if retcode == Retcode::PLACED { "Request placed" } else { "Request executed" };
    let result = TradeResult {
        retcode,
        deal,
        order,
        volume,
        price: Some(spec.price(price)),
        bid: None,
        ask: None,
        comment: comment.to_owned(),
    };
    with_quote(result, spec, quote)
}

/// The symbol a request names, if it exists and its market is open.
fn open_symbol(
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

fn check_volume(spec: &Spec, volume: Decimal, quote: Quote) -> Result<(), TradeResult> {
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
fn check_expected_price(
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
fn stop_points(
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
fn check_stops(
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
fn pending_points(
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

fn check_expiration(
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
