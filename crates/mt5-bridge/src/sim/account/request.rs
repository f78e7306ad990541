//! Trade requests: what an MT5 trade server does with each action, and the retcode it
//! answers with.

// A refusal is the request's answer, not a failure to propagate far: it is built once per
// request and returned at once, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use rust_decimal::Decimal;

use super::checks::{
    check_expected_price, check_expiration, check_stops, check_volume, open_symbol, pending_points,
    stop_points,
};
use super::money::margin_for;
use super::{
    COMMENT_MAX_CHARS, Ledger, MarketView, OrderRecord, PendingRecord, PositionRecord, close_price,
    market_type, open_price,
};
use crate::Retcode;
use crate::sim::clock::to_ms;
use crate::sim::feed::Quote;
use crate::sim::spec::{SPECS, Spec};
use crate::types::{DealEntry, OrderState, OrderType, Side, TradeRequest, TradeResult};

impl Ledger {
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
                let expiration_ms = expiration.map(to_ms);
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
                let expiration_ms = expiration.map(to_ms);
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

pub(super) fn clip_comment(comment: &str) -> String {
    comment.chars().take(COMMENT_MAX_CHARS).collect()
}

pub(super) fn with_quote(mut result: TradeResult, spec: &Spec, quote: Quote) -> TradeResult {
    result.bid = Some(spec.price(quote.bid));
    result.ask = Some(spec.price(quote.ask));
    result
}

pub(super) fn refuse_plain(retcode: Retcode, comment: String) -> TradeResult {
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

pub(super) fn refuse(retcode: Retcode, comment: String, spec: &Spec, quote: Quote) -> TradeResult {
    with_quote(refuse_plain(retcode, comment), spec, quote)
}

pub(super) fn done(
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
