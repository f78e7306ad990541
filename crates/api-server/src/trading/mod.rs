//! Trading endpoints: place, modify and cancel orders, modify and close positions.
//!
//! Every trading request walks the same steps, in this order:
//! 1. replay or claim its `Idempotency-Key`,
//! 2. validate the body,
//! 3. read what the check needs from the terminal (fail closed: nothing readable, nothing sent),
//! 4. check it against the risk limits and hold its place,
//! 5. write its intent to `orders.csv` and wait for the disk,
//! 6. send it to the terminal, bounded by the call timeout,
//! 7. write its outcome and wait for the disk, then answer.
//!
//! A request refused at step 2 or 4 leaves one `refused` row with the rule that refused it.
//! An order whose outcome the gateway could not see (a timeout) is written as `unknown` and
//! reconciled from the terminal's history by the client order id its comment carries; it is
//! never sent again.

mod body;
mod pipeline;
mod reconcile;

pub use reconcile::resume_unreconciled;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use audit_log::SecurityEventKind;
use mt5_bridge::types::{OrderType, TradeRequest};
use parking_lot::Mutex;
use risk::{NewOrder, Order, RiskGate, Volume};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::audit;
use crate::error::{ApiError, ErrorCode};
use crate::idempotency::IdempotencyStore;

pub use body::{ClosePosition, Halt, ModifyOrder, ModifyPosition, PlaceOrder};
use body::{decimal, optional_decimal, parse_body, parse_expiration, stop};
use pipeline::{
    Context, Plan, execute, feed_deals, find_pending, find_position, idempotent, order_comment,
    refused, report_loss_limit,
};

/// MT5 keeps 31 characters of an order comment; the client order id takes the first 11.
const MT5_COMMENT_CHARS: usize = 31;
/// Slippage accepted on closes, in points, when the caller names none.
const CLOSE_DEVIATION: u32 = 20;
/// Overlap between two reads of the deal history for the day's P&L.
const DEAL_OVERLAP: time::Duration = time::Duration::minutes(5);

/// The trading side of the server's state.
#[derive(Debug)]
pub struct Trading {
    pub gate: RiskGate,
    pub idempotency: Arc<IdempotencyStore>,
    ids: ClientOrderIds,
    /// Where the next read of the deal history starts.
    deals_from: Mutex<OffsetDateTime>,
    /// How long reconciliation looks for an order whose outcome was not seen.
    reconcile_for: Duration,
}

impl Trading {
    #[must_use]
    pub fn new(
        gate: RiskGate,
        idempotency: Arc<IdempotencyStore>,
        seed: u32,
        reconcile_for: Duration,
    ) -> Trading {
        Trading {
            gate,
            idempotency,
            ids: ClientOrderIds { prefix: seed & 0xffff, counter: AtomicU64::new(0) },
            deals_from: Mutex::new(OffsetDateTime::UNIX_EPOCH),
            reconcile_for,
        }
    }
}

/// Client order ids: `g`, four hex digits fixed per process, then a counter.
#[derive(Debug)]
struct ClientOrderIds {
    prefix: u32,
    counter: AtomicU64,
}

impl ClientOrderIds {
    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) & 0xff_ffff;
        format!("g{:04x}{n:06x}", self.prefix)
    }
}

pub async fn place(state: Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    idempotent(&state, &req, &body, |state, req, body, ctx| async move {
        let order: PlaceOrder = parse_body(&req, &body, None)
            .inspect_err(|err| refused(&state, &ctx, "place", None, err))?;
        let symbol = order.symbol.clone();
        let volume = Volume::from_f64(order.volume).map_err(|err| {
            let error = ApiError::new(ErrorCode::from_risk(err.code()), err.to_string())
                .with_details(json!({ "fields": { "volume": err.to_string() } }));
            refused(&state, &ctx, "place", Some(&symbol), &error);
            error
        })?;
        let is_pending = order.order_type.is_pending();
        let price = optional_decimal(order.price)?;
        let invalid = match (is_pending, price) {
            (true, None) => Some("is required for limit and stop orders"),
            (false, Some(_)) => Some("is only for limit and stop orders"),
            _ => None,
        };
        if let Some(reason) = invalid {
            let error = ApiError::invalid_field("price", reason);
            refused(&state, &ctx, "place", Some(&symbol), &error);
            return Err(error);
        }
        let sl = optional_decimal(order.sl)?.filter(|v| !v.is_zero());
        let tp = optional_decimal(order.tp)?.filter(|v| !v.is_zero());
        let check = Order::Open(NewOrder {
            symbol: symbol.clone(),
            order_type: order.order_type,
            volume,
            price,
            sl,
            tp,
        });

        let comment = order.comment.unwrap_or_default();
        let magic = order.magic.unwrap_or(0);
        let deviation = order.deviation.unwrap_or(CLOSE_DEVIATION);
        let expiration = parse_expiration(order.expiration.as_deref());
        let build = move |approved_volume: Decimal, client_id: &str| {
            let comment = order_comment(client_id, &comment);
            if is_pending {
                TradeRequest::Pending {
                    symbol: symbol.clone(),
                    order_type: order.order_type,
                    volume: approved_volume,
                    price: price.unwrap_or_default(),
                    sl,
                    tp,
                    expiration,
                    magic,
                    comment,
                }
            } else {
                TradeRequest::Market {
                    symbol: symbol.clone(),
                    side: order.order_type.side(),
                    volume: approved_volume,
                    sl,
                    tp,
                    deviation,
                    price: None,
                    position: None,
                    magic,
                    comment,
                }
            }
        };
        let plan = Plan {
            action: "place",
            symbol: order.symbol.clone(),
            order_type: Some(order.order_type),
            check,
            price,
            sl,
            tp,
            success: StatusCode::CREATED,
        };
        execute(&state, &ctx, plan, build).await
    })
    .await
}

pub async fn modify_order(
    state: Data<AppState>,
    req: HttpRequest,
    path: Path<u64>,
    body: Bytes,
) -> HttpResponse {
    let ticket = path.into_inner();
    idempotent(&state, &req, &body, |state, req, body, ctx| async move {
        let change: ModifyOrder = parse_body(&req, &body, None)
            .inspect_err(|err| refused(&state, &ctx, "modify_order", None, err))?;
        let pending = find_pending(&state, ticket).await?;
        let price = match change.price {
            Some(price) => decimal(price)?,
            None => pending.price_open,
        };
        let sl = stop(change.sl, pending.sl)?;
        let tp = stop(change.tp, pending.tp)?;
        let expiration = match change.expiration.as_deref() {
            Some(text) => parse_expiration(Some(text)),
            None => pending.expiration,
        };
        let plan = Plan {
            action: "modify_order",
            symbol: pending.symbol.clone(),
            order_type: Some(pending.order_type),
            check: Order::ModifyPending { ticket, price, sl, tp },
            price: Some(price),
            sl,
            tp,
            success: StatusCode::OK,
        };
        let build = move |_: Decimal, _: &str| TradeRequest::ModifyOrder {
            order: ticket,
            price,
            sl,
            tp,
            expiration,
        };
        execute(&state, &ctx, plan, build).await
    })
    .await
}

pub async fn cancel_order(
    state: Data<AppState>,
    req: HttpRequest,
    path: Path<u64>,
    body: Bytes,
) -> HttpResponse {
    let ticket = path.into_inner();
    idempotent(&state, &req, &body, |state, _req, _body, ctx| async move {
        let pending = find_pending(&state, ticket).await?;
        let plan = Plan {
            action: "cancel_order",
            symbol: pending.symbol.clone(),
            order_type: Some(pending.order_type),
            check: Order::CancelPending { ticket },
            price: Some(pending.price_open),
            sl: pending.sl,
            tp: pending.tp,
            success: StatusCode::OK,
        };
        execute(&state, &ctx, plan, move |_: Decimal, _: &str| TradeRequest::CancelOrder {
            order: ticket,
        })
        .await
    })
    .await
}

pub async fn modify_position(
    state: Data<AppState>,
    req: HttpRequest,
    path: Path<u64>,
    body: Bytes,
) -> HttpResponse {
    let ticket = path.into_inner();
    idempotent(&state, &req, &body, |state, req, body, ctx| async move {
        let change: ModifyPosition = parse_body(&req, &body, None)
            .inspect_err(|err| refused(&state, &ctx, "modify_position", None, err))?;
        let position = find_position(&state, ticket).await?;
        let sl = stop(change.sl, position.sl)?;
        let tp = stop(change.tp, position.tp)?;
        let plan = Plan {
            action: "modify_position",
            symbol: position.symbol.clone(),
            order_type: None,
            check: Order::ModifyPosition { ticket, sl, tp },
            price: None,
            sl,
            tp,
            success: StatusCode::OK,
        };
        execute(&state, &ctx, plan, move |_: Decimal, _: &str| TradeRequest::ModifyPosition {
            position: ticket,
            sl,
            tp,
        })
        .await
    })
    .await
}

pub async fn close_position(
    state: Data<AppState>,
    req: HttpRequest,
    path: Path<u64>,
    body: Bytes,
) -> HttpResponse {
    let ticket = path.into_inner();
    idempotent(&state, &req, &body, |state, req, body, ctx| async move {
        let close: ClosePosition = parse_body(&req, &body, Some(ClosePosition::default()))
            .inspect_err(|err| refused(&state, &ctx, "close", None, err))?;
        let volume = close
            .volume
            .map(Volume::from_f64)
            .transpose()
            .map_err(|err| ApiError::invalid_field("volume", err.to_string()))?;
        close_one(&state, &ctx, ticket, volume, close.deviation).await
    })
    .await
}

/// Closes (part of) one position through the whole pipeline.
async fn close_one(
    state: &AppState,
    ctx: &Context,
    ticket: u64,
    volume: Option<Volume>,
    deviation: Option<u32>,
) -> Result<(StatusCode, Value), ApiError> {
    let position = find_position(state, ticket).await?;
    let plan = Plan {
        action: "close",
        symbol: position.symbol.clone(),
        order_type: Some(match position.side.opposite() {
            mt5_bridge::types::Side::Buy => OrderType::Buy,
            mt5_bridge::types::Side::Sell => OrderType::Sell,
        }),
        check: Order::Close { ticket, volume },
        price: None,
        sl: None,
        tp: None,
        success: StatusCode::OK,
    };
    let symbol = position.symbol.clone();
    let side = position.side.opposite();
    let magic = position.magic;
    let build = move |approved: Decimal, client_id: &str| TradeRequest::Market {
        symbol: symbol.clone(),
        side,
        volume: approved,
        sl: None,
        tp: None,
        deviation: deviation.unwrap_or(CLOSE_DEVIATION),
        price: None,
        position: Some(ticket),
        magic,
        comment: order_comment(client_id, "close"),
    };
    execute(state, ctx, plan, build).await
}

/// `POST /api/risk/halt`: the kill switch. New exposure stops at once; with `close_all`,
/// every open position is closed too, each through the usual pipeline.
pub async fn halt(state: Data<AppState>, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ctx = Context::of(&req);
    let result = async {
        let halt: Halt = parse_body(&req, &body, Some(Halt::default()))?;
        let before = state.trading.gate.halt();
        audit::security_event(
            &state.audit,
            SecurityEventKind::TradingHalted,
            ctx.peer,
            ctx.key_id(),
            format!("kill switch (state was {})", before.as_str()),
        );
        let mut closed = Vec::new();
        let mut failed = Vec::new();
        if halt.close_all.unwrap_or(false) {
            let positions = state.call(state.terminal.positions()).await?;
            for position in positions {
                match close_one(&state, &ctx, position.ticket, None, None).await {
                    Ok(_) => closed.push(position.ticket),
                    Err(err) => failed.push(json!({
                        "ticket": position.ticket,
                        "code": err.code.as_str(),
                        "message": err.message,
                    })),
                }
            }
        }
        let now_state = state.trading.gate.state(OffsetDateTime::now_utc());
        Ok::<_, ApiError>(json!({ "state": now_state, "closed": closed, "failed": failed }))
    }
    .await;
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(err) => actix_web::ResponseError::error_response(&err),
    }
}

/// `POST /api/risk/resume` (admin).
pub async fn resume(state: Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = Context::of(&req);
    let before = state.trading.gate.resume();
    let new_state = state.trading.gate.state(OffsetDateTime::now_utc());
    audit::security_event(
        &state.audit,
        SecurityEventKind::TradingResumed,
        ctx.peer,
        ctx.key_id(),
        format!("state was {}, now {}", before.as_str(), new_state.as_str()),
    );
    Ok(HttpResponse::Ok().json(json!({ "state": new_state })))
}

/// `GET /api/risk`: the state, the day's P&L against the limit, positions against their
/// limits, and each symbol's session.
pub async fn status(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    feed_deals(&state).await?;
    let account = state.call(state.terminal.account()).await?;
    let positions = state.call(state.terminal.positions()).await?;
    let pending = state.call(state.terminal.orders()).await?;
    let now = OffsetDateTime::now_utc();
    let status = state.trading.gate.status(&account, &positions, &pending, now);
    report_loss_limit(&state, None, None);
    Ok(HttpResponse::Ok().json(status))
}
