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

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use audit_log::{AuditLogs, Number, OrderEntry, OrderPhase, OrderStatus, SecurityEventKind};
use garde::Validate;
use mt5_bridge::TerminalError;
use mt5_bridge::types::{
    HistoryQuery, OrderType, PendingOrder, Position, TradeRequest, TradeResult,
};
use parking_lot::Mutex;
use risk::{Denial, Market, NewOrder, Order, Reservation, RiskGate, Snapshot, Volume};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::{AppState, terminal_error};
use crate::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::idempotency::{self, Begin, IdempotencyStore, Stored};
use crate::reads::valid_symbol;

/// MT5 keeps 31 characters of an order comment; the client order id takes the first 11.
const MT5_COMMENT_CHARS: usize = 31;
/// Slippage accepted on closes, in points, when the caller names none.
const CLOSE_DEVIATION: u32 = 20;
/// How long reconciliation looks for an order whose outcome was not seen.
const RECONCILE_FOR: Duration = Duration::from_secs(120);
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
}

impl Trading {
    #[must_use]
    pub fn new(gate: RiskGate, idempotency: Arc<IdempotencyStore>, seed: u32) -> Trading {
        Trading {
            gate,
            idempotency,
            ids: ClientOrderIds { prefix: seed & 0xffff, counter: AtomicU64::new(0) },
            deals_from: Mutex::new(OffsetDateTime::UNIX_EPOCH),
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

// ---------------------------------------------------------------------------------------------
// Request bodies.

/// `POST /api/orders`.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    #[garde(custom(symbol_rule))]
    pub symbol: String,
    #[serde(rename = "type")]
    #[garde(skip)]
    pub order_type: OrderType,
    #[garde(custom(positive_number))]
    pub volume: f64,
    #[garde(inner(custom(price_number)))]
    pub price: Option<f64>,
    #[garde(inner(custom(price_number)))]
    pub sl: Option<f64>,
    #[garde(inner(custom(price_number)))]
    pub tp: Option<f64>,
    #[garde(inner(range(max = 10_000)))]
    pub deviation: Option<u32>,
    #[garde(inner(custom(comment_rule)))]
    pub comment: Option<String>,
    #[garde(skip)]
    pub magic: Option<i64>,
    #[garde(inner(custom(time_rule)))]
    pub expiration: Option<String>,
}

/// `PATCH /api/orders/{ticket}`: what is left out keeps its value; 0 removes a stop.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ModifyOrder {
    #[garde(inner(custom(price_number)))]
    pub price: Option<f64>,
    #[garde(inner(custom(stop_number)))]
    pub sl: Option<f64>,
    #[garde(inner(custom(stop_number)))]
    pub tp: Option<f64>,
    #[garde(inner(custom(time_rule)))]
    pub expiration: Option<String>,
}

/// `PATCH /api/positions/{ticket}`: what is left out keeps its value; 0 removes a stop.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ModifyPosition {
    #[garde(inner(custom(stop_number)))]
    pub sl: Option<f64>,
    #[garde(inner(custom(stop_number)))]
    pub tp: Option<f64>,
}

/// `POST /api/positions/{ticket}/close`: the whole position without a volume.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ClosePosition {
    #[garde(inner(custom(positive_number)))]
    pub volume: Option<f64>,
    #[garde(inner(range(max = 10_000)))]
    pub deviation: Option<u32>,
}

/// `POST /api/risk/halt`.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Halt {
    /// Also close every open position.
    #[garde(skip)]
    pub close_all: Option<bool>,
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
fn symbol_rule(value: &str, (): &()) -> garde::Result {
    valid_symbol(value).map(|_| ()).map_err(|err| garde::Error::new(err.message))
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
fn positive_number(value: &f64, (): &()) -> garde::Result {
    if value.is_finite() && *value > 0.0 {
        Ok(())
    } else {
        Err(garde::Error::new("must be a number above 0"))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
fn price_number(value: &f64, (): &()) -> garde::Result {
    if value.is_finite() && *value > 0.0 && *value < 1e12 {
        Ok(())
    } else {
        Err(garde::Error::new("must be a price above 0"))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
fn stop_number(value: &f64, (): &()) -> garde::Result {
    if value.is_finite() && *value >= 0.0 && *value < 1e12 {
        Ok(())
    } else {
        Err(garde::Error::new("must be a price, or 0 for none"))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
fn comment_rule(value: &str, (): &()) -> garde::Result {
    let room = MT5_COMMENT_CHARS - 12;
    if value.chars().count() > room {
        return Err(garde::Error::new(format!("must be at most {room} characters")));
    }
    if value.chars().any(|c| !c.is_ascii() || c.is_ascii_control()) {
        return Err(garde::Error::new("must be printable ASCII"));
    }
    Ok(())
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
fn time_rule(value: &str, (): &()) -> garde::Result {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|_| ())
        .map_err(|_| garde::Error::new("must be an RFC 3339 time such as 2026-01-02T15:04:05Z"))
}

/// Reads a JSON body into `T` and validates it, naming each bad field. An empty body reads
/// as `T::default()` where the route allows it.
fn parse_body<T>(req: &HttpRequest, body: &[u8], empty: Option<T>) -> Result<T, ApiError>
where
    T: DeserializeOwned + Validate<Context = ()>,
{
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let mime = value.split(';').next().unwrap_or_default().trim();
            mime.eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        ));
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let reason = describe_json_error(err.inner());
        match (path.as_str(), err.inner().classify()) {
            (_, serde_json::error::Category::Syntax | serde_json::error::Category::Eof) => {
                ApiError::new(ErrorCode::ValidationFailed, "the request body is not valid JSON")
            }
            (".", _) => match field_in_message(&reason) {
                Some(field) => ApiError::invalid_field(&field, reason),
                None => ApiError::new(ErrorCode::ValidationFailed, reason),
            },
            (field, _) => ApiError::invalid_field(field, reason),
        }
    })?;
    deserializer.end().map_err(|_| {
        ApiError::new(ErrorCode::ValidationFailed, "the request body is not valid JSON")
    })?;

    value.validate().map_err(|report| {
        let mut fields = serde_json::Map::new();
        for (path, error) in report.iter() {
            fields.insert(path.to_string(), Value::String(error.message().to_string()));
        }
        let message = fields
            .iter()
            .map(|(field, reason)| format!("{field}: {}", reason.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::new(ErrorCode::ValidationFailed, message)
            .with_details(json!({ "fields": fields }))
    })?;
    Ok(value)
}

/// serde's wording, without the parser's types and positions.
fn describe_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let text = text
        .replace("expected f64", "expected a number")
        .replace("expected u32", "expected a whole number")
        .replace("expected i64", "expected a whole number")
        .replace("expected a boolean", "expected true or false");
    if text.contains("invalid type")
        && let Some((_, expected)) = text.split_once("expected ")
    {
        return format!("must be {expected}");
    }
    text
}

/// The field a message such as "unknown field `x`" or "missing field `x`" names.
fn field_in_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].chars().take(40).collect())
}

fn decimal(value: f64) -> Result<Decimal, ApiError> {
    Decimal::from_str(&value.to_string())
        .map_err(|_| ApiError::new(ErrorCode::ValidationFailed, "a price is out of range"))
}

fn optional_decimal(value: Option<f64>) -> Result<Option<Decimal>, ApiError> {
    value.map(decimal).transpose()
}

/// A stop as MT5 takes it: 0 means none.
fn stop(value: Option<f64>, current: Option<Decimal>) -> Result<Option<Decimal>, ApiError> {
    match value {
        None => Ok(current),
        Some(0.0) => Ok(None),
        Some(v) => decimal(v).map(Some),
    }
}

fn parse_expiration(value: Option<&str>) -> Option<OffsetDateTime> {
    value.and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
}

// ---------------------------------------------------------------------------------------------
// Handlers.

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
    let ctx = Context::of(&req, &state);
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
    let ctx = Context::of(&req, &state);
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

// ---------------------------------------------------------------------------------------------
// The pipeline.

/// Who asked, for the audit rows.
#[derive(Clone, Debug)]
struct Context {
    request_id: String,
    caller: Caller,
    peer: Option<std::net::IpAddr>,
}

impl Context {
    fn of(req: &HttpRequest, _state: &AppState) -> Context {
        let request_id = req
            .extensions()
            .get::<crate::envelope::RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        let caller = req.extensions().get::<Caller>().copied().unwrap_or(Caller::Anonymous);
        Context { request_id, caller, peer: req.peer_addr().map(|addr| addr.ip()) }
    }

    fn key_id(&self) -> Option<security_core::KeyId> {
        self.caller.key_id()
    }
}

/// One trading request, ready for the check and the terminal.
struct Plan {
    action: &'static str,
    symbol: String,
    order_type: Option<OrderType>,
    check: Order,
    price: Option<Decimal>,
    sl: Option<Decimal>,
    tp: Option<Decimal>,
    success: StatusCode,
}

type Outcome = Result<(StatusCode, Value), ApiError>;

/// Step 1: the idempotency key, around the rest.
async fn idempotent<F, Fut>(
    state: &Data<AppState>,
    req: &HttpRequest,
    body: &Bytes,
    run: F,
) -> HttpResponse
where
    F: FnOnce(Data<AppState>, HttpRequest, Bytes, Context) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let ctx = Context::of(req, state);
    let header = req.headers().get("idempotency-key").map(|value| value.to_str());
    let claim = match header {
        None => None,
        Some(Err(_)) => return bad_idempotency_key(),
        Some(Ok(key)) if !idempotency::valid_key(key) => return bad_idempotency_key(),
        Some(Ok(key)) => {
            let owner = ctx.key_id().map_or_else(|| "-".to_owned(), |id| id.as_str().to_owned());
            let print = idempotency::fingerprint(req.method().as_str(), req.path(), body);
            match state.trading.idempotency.begin(&owner, key, &print, OffsetDateTime::now_utc()) {
                Begin::Fresh(claim) => Some(claim),
                Begin::Replay(stored) => return replay(&stored),
                Begin::Conflict => {
                    return error_response(&ApiError::new(
                        ErrorCode::IdempotencyConflict,
                        "this Idempotency-Key was used with a different request",
                    ));
                }
                Begin::InFlight => {
                    return error_response(&ApiError::new(
                        ErrorCode::IdempotencyConflict,
                        "a request with this Idempotency-Key is still being handled",
                    ));
                }
            }
        }
    };

    let outcome = run(state.clone(), req.clone(), body.clone(), ctx).await;
    let (status, body) = match &outcome {
        Ok((status, body)) => (*status, Some(body.clone())),
        Err(err) => (err.code.status(), None),
    };

    // Nothing reached the terminal on a 503: the caller may retry under the same key.
    if let Some(claim) = claim
        && status != StatusCode::SERVICE_UNAVAILABLE
    {
        let stored = match (&outcome, body) {
            (Ok(_), Some(body)) => Stored { status: status.as_u16(), body },
            (Err(err), _) => Stored { status: status.as_u16(), body: stored_error(err) },
            (Ok(_), None) => Stored { status: status.as_u16(), body: Value::Null },
        };
        let now = OffsetDateTime::now_utc();
        match actix_web::web::block(move || claim.complete(stored, now)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "cannot store an idempotency record"),
            Err(err) => tracing::error!(error = %err, "cannot store an idempotency record"),
        }
    }

    match outcome {
        Ok((status, body)) => HttpResponse::build(status).json(body),
        Err(err) => error_response(&err),
    }
}

fn bad_idempotency_key() -> HttpResponse {
    error_response(&ApiError::invalid_field(
        "Idempotency-Key",
        "must be 1 to 64 letters, digits, _ or -",
    ))
}

fn error_response(err: &ApiError) -> HttpResponse {
    actix_web::ResponseError::error_response(err)
}

/// An error kept for replays: its code, message and details (the request id is the new
/// request's own).
fn stored_error(err: &ApiError) -> Value {
    json!({ "code": err.code.as_str(), "message": err.message, "details": err.details })
}

fn replay(stored: &Stored) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if status.is_success() {
        return HttpResponse::build(status)
            .insert_header(("Idempotent-Replayed", "true"))
            .json(&stored.body);
    }
    let code = stored.body["code"].as_str().unwrap_or_default();
    let message = stored.body["message"].as_str().unwrap_or_default().to_owned();
    let mut err = ApiError::new(code_named(code, status), message);
    if !stored.body["details"].is_null() {
        err = err.with_details(stored.body["details"].clone());
    }
    let mut response = error_response(&err);
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
        actix_web::http::header::HeaderValue::from_static("true"),
    );
    response
}

fn code_named(code: &str, status: StatusCode) -> ErrorCode {
    let from_risk = ErrorCode::from_risk(code);
    if from_risk.as_str() == code {
        return from_risk;
    }
    [
        ErrorCode::ValidationFailed,
        ErrorCode::BrokerRejected,
        ErrorCode::TerminalTimeout,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::SymbolNotFound,
        ErrorCode::Internal,
    ]
    .into_iter()
    .find(|known| known.as_str() == code)
    .unwrap_or_else(|| ErrorCode::for_status(status).0)
}

/// Steps 3 to 7.
async fn execute<B>(state: &AppState, ctx: &Context, plan: Plan, build: B) -> Outcome
where
    B: FnOnce(Decimal, &str) -> TradeRequest,
{
    // 3. What the check needs, read fresh; nothing readable means nothing sent.
    let stamp = state.trading.gate.stamp();
    feed_deals(state).await?;
    let snapshot = read_snapshot(state, &plan.symbol).await?;

    // 4. The check, holding the order's place against the limits.
    let now = OffsetDateTime::now_utc();
    let reservation = match state.trading.gate.reserve(&plan.check, &snapshot, stamp, now) {
        Ok(reservation) => reservation,
        Err(denial) => {
            report_loss_limit(state, ctx.peer, ctx.key_id());
            let error = denial_error(&denial);
            refused(state, ctx, plan.action, Some(&plan.symbol), &error);
            return Err(error);
        }
    };
    report_loss_limit(state, ctx.peer, ctx.key_id());
    let approved = reservation.approved().clone();
    let volume = approved.volume.unwrap_or_default();

    // 5. The intent, on disk before anything is sent.
    let client_id = state.trading.ids.next();
    let mut intent = entry(ctx, &plan, OrderPhase::Intent, &client_id);
    intent.volume_requested = approved.volume_requested.map(number);
    intent.volume = approved.volume.map(number);
    if let Err(err) = state.audit.orders.append_durable(intent.clone()).await {
        tracing::error!(error = %err, "cannot record an order's intent; nothing sent");
        reservation.release();
        return Err(ApiError::new(
            ErrorCode::AuditUnavailable,
            "the order cannot be recorded, so it was not sent",
        )
        .with_cause(err.to_string()));
    }

    // 6. The terminal.
    let request = build(volume, &client_id);
    let sent = tokio::time::timeout(state.call_timeout, state.terminal.order_send(request)).await;
    let sent = match sent {
        Ok(result) => result,
        Err(_elapsed) => Err(TerminalError::Timeout),
    };

    // 7. The outcome, on disk before the answer.
    let mut outcome = intent;
    outcome.phase = OrderPhase::Outcome;
    match sent {
        Ok(result) if result.retcode.is_success() => {
            let ticket = result.order.or(result.deal).unwrap_or_default();
            reservation.commit(ticket);
            outcome.status = Some(OrderStatus::Accepted);
            outcome.retcode = Some(result.retcode.0);
            outcome.ticket = Some(ticket);
            outcome.price = result.price.map(number);
            outcome.volume = Some(number(result.volume));
            record_outcome(state, outcome, &client_id, Some(ticket)).await?;
            Ok((plan.success, success_body(&plan, &approved, &result, &client_id, ticket)))
        }
        Ok(result) => {
            reservation.release();
            outcome.status = Some(OrderStatus::Rejected);
            outcome.retcode = Some(result.retcode.0);
            outcome.rule = Some("BROKER_REJECTED".to_owned());
            outcome.detail = result.comment.clone();
            record_outcome(state, outcome, &client_id, None).await?;
            Err(ApiError::new(
                ErrorCode::BrokerRejected,
                format!("the trade server refused the order: {}", result.retcode),
            )
            .with_details(json!({
                "retcode": result.retcode.0,
                "retcode_name": result.retcode.name(),
                "comment": result.comment,
                "client_order_id": client_id,
            })))
        }
        Err(TerminalError::Timeout) => {
            // The order may have been executed: never send it again; find out instead.
            outcome.status = Some(OrderStatus::Unknown);
            "no answer from the terminal in time; reconciling".clone_into(&mut outcome.detail);
            let _ = state.audit.orders.append_durable(outcome.clone()).await;
            spawn_reconciliation(state, outcome, client_id.clone(), reservation);
            Err(ApiError::new(
                ErrorCode::TerminalTimeout,
                "the terminal did not answer in time; the order's outcome is being reconciled",
            )
            .with_details(json!({ "client_order_id": client_id, "outcome": "unknown" }))
            .with_cause("order_send timed out"))
        }
        Err(err) => {
            // An error before the request reached the server: nothing was executed.
            reservation.release();
            outcome.status = Some(OrderStatus::Rejected);
            outcome.detail = err.to_string();
            record_outcome(state, outcome, &client_id, None).await?;
            Err(terminal_error(err))
        }
    }
}

/// Writes an outcome durably; an order that happened but cannot be recorded is reported as
/// such, with its ticket, rather than as a plain success.
async fn record_outcome(
    state: &AppState,
    outcome: OrderEntry,
    client_id: &str,
    ticket: Option<u64>,
) -> Result<(), ApiError> {
    state.audit.orders.append_durable(outcome).await.map(|_| ()).map_err(|err| {
        tracing::error!(error = %err, client_id, "cannot record an order's outcome");
        ApiError::new(
            ErrorCode::AuditUnavailable,
            "the order was handled by the terminal but its outcome could not be recorded",
        )
        .with_details(json!({ "client_order_id": client_id, "ticket": ticket }))
        .with_cause(err.to_string())
    })
}

fn success_body(
    plan: &Plan,
    approved: &risk::Approved,
    result: &TradeResult,
    client_id: &str,
    ticket: u64,
) -> Value {
    json!({
        "ticket": ticket,
        "deal": result.deal,
        "retcode": result.retcode.0,
        "retcode_name": result.retcode.name(),
        "symbol": plan.symbol,
        "type": plan.order_type,
        "action": plan.action,
        "volume": approved.volume.unwrap_or(result.volume),
        "volume_requested": approved.volume_requested,
        "price": result.price.or(plan.price),
        "sl": plan.sl,
        "tp": plan.tp,
        "client_order_id": client_id,
    })
}

/// An audit row for this request.
fn entry(ctx: &Context, plan: &Plan, phase: OrderPhase, client_id: &str) -> OrderEntry {
    let mut entry = OrderEntry::new(ctx.request_id.clone(), phase, plan.action);
    entry.client_order_id = Some(client_id.to_owned());
    entry.key_id = ctx.key_id().map(|id| id.as_str().to_owned());
    entry.symbol = Some(plan.symbol.clone());
    entry.order_type = plan.order_type.map(|t| t.as_str().to_owned());
    entry.price = plan.price.map(number);
    entry.sl = plan.sl.map(number);
    entry.tp = plan.tp.map(number);
    entry
}

/// One `refused` row for a request that never got past validation or the check.
fn refused(state: &AppState, ctx: &Context, action: &str, symbol: Option<&str>, error: &ApiError) {
    let mut entry = OrderEntry::new(ctx.request_id.clone(), OrderPhase::Outcome, action);
    entry.key_id = ctx.key_id().map(|id| id.as_str().to_owned());
    entry.symbol = symbol.map(str::to_owned);
    entry.status = Some(OrderStatus::Refused);
    entry.rule = Some(error.code.as_str().to_owned());
    entry.detail = error.message.to_string();
    if !state.audit.orders.record(entry) {
        tracing::warn!("an order refusal could not be queued for orders.csv");
    }
}

fn denial_error(denial: &Denial) -> ApiError {
    let details = serde_json::to_value(denial).unwrap_or(Value::Null);
    ApiError::new(ErrorCode::from_risk(denial.code()), denial.to_string()).with_details(details)
}

/// The security event for a loss limit reached, once.
fn report_loss_limit(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    key_id: Option<security_core::KeyId>,
) {
    if let Some(hit) = state.trading.gate.take_loss_limit_hit() {
        tracing::warn!(?hit, "daily loss limit reached; trading is reduce-only until tomorrow");
        audit::security_event(
            &state.audit,
            SecurityEventKind::DailyLossLimitHit,
            peer,
            key_id,
            format!("{hit:?}"),
        );
    }
}

fn number(value: Decimal) -> Number {
    Number::parse(&value.normalize().to_string()).unwrap_or_else(|| Number::from(0u32))
}

/// The comment MT5 stores: the client order id first, so reconciliation can find it.
fn order_comment(client_id: &str, comment: &str) -> String {
    let text =
        if comment.is_empty() { client_id.to_owned() } else { format!("{client_id} {comment}") };
    text.chars().take(MT5_COMMENT_CHARS).collect()
}

/// Feeds the deals since the last read to the day's ledger.
async fn feed_deals(state: &AppState) -> Result<(), ApiError> {
    let from = *state.trading.deals_from.lock() - DEAL_OVERLAP;
    let to = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let query = HistoryQuery { from, to, symbol: None };
    let deals = state.call(state.terminal.history_deals(&query)).await?;
    state.trading.gate.record_deals(&deals, OffsetDateTime::now_utc());
    let mut next = state.trading.deals_from.lock();
    if to - time::Duration::seconds(1) > *next {
        *next = to - time::Duration::seconds(1);
    }
    Ok(())
}

async fn read_snapshot(state: &AppState, symbol: &str) -> Result<Snapshot, ApiError> {
    let account = state.call(state.terminal.account()).await?;
    let positions = state.call(state.terminal.positions()).await?;
    let pending = state.call(state.terminal.orders()).await?;
    let info = state.call(state.terminal.symbol(symbol)).await?;
    let tick = state.call(state.terminal.tick(symbol)).await?;
    let market = Market::new(info, tick).map_err(|err| {
        ApiError::new(ErrorCode::TerminalUnavailable, "the terminal's prices cannot be used")
            .with_cause(err.to_string())
    })?;
    Ok(Snapshot::new(account, positions, pending, market))
}

async fn find_position(state: &AppState, ticket: u64) -> Result<Position, ApiError> {
    let positions = state.call(state.terminal.positions()).await?;
    positions.into_iter().find(|p| p.ticket == ticket).ok_or_else(|| {
        ApiError::new(ErrorCode::PositionNotFound, format!("no open position {ticket}"))
    })
}

async fn find_pending(state: &AppState, ticket: u64) -> Result<PendingOrder, ApiError> {
    let orders = state.call(state.terminal.orders()).await?;
    orders.into_iter().find(|o| o.ticket == ticket).ok_or_else(|| {
        ApiError::new(ErrorCode::OrderNotFound, format!("no pending order {ticket}"))
    })
}

// ---------------------------------------------------------------------------------------------
// Reconciliation.

/// Looks for the order in the terminal's history and open orders by its client order id,
/// and writes what it finds as a `reconciled` row. The reservation is committed when the
/// order turns out executed, released when it turns out never to have happened.
fn spawn_reconciliation(
    state: &AppState,
    unknown: OrderEntry,
    client_id: String,
    reservation: Reservation,
) {
    let terminal = Arc::clone(&state.terminal);
    let audit: Arc<AuditLogs> = Arc::clone(&state.audit);
    let call_timeout = state.call_timeout;
    actix_web::rt::spawn(async move {
        let started = OffsetDateTime::now_utc();
        let deadline = tokio::time::Instant::now() + RECONCILE_FOR;
        let mut row = unknown;
        row.status = Some(OrderStatus::Reconciled);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let found = find_by_client_id(&*terminal, &client_id, started, call_timeout).await;
            match found {
                Some(Found { ticket, state: found_state }) => {
                    reservation.commit(ticket);
                    row.ticket = Some(ticket);
                    row.detail = format!("found in the terminal: {found_state}");
                    break;
                }
                None if tokio::time::Instant::now() >= deadline => {
                    reservation.release();
                    "not found in the terminal's orders or history".clone_into(&mut row.detail);
                    break;
                }
                None => {}
            }
        }
        if let Err(err) = audit.orders.append_durable(row).await {
            tracing::error!(error = %err, client_id, "cannot record a reconciled outcome");
        } else {
            tracing::info!(client_id, "order outcome reconciled");
        }
    });
}

struct Found {
    ticket: u64,
    state: String,
}

async fn find_by_client_id(
    terminal: &dyn mt5_bridge::Terminal,
    client_id: &str,
    since: OffsetDateTime,
    call_timeout: Duration,
) -> Option<Found> {
    let matches = |comment: &str| comment.split(' ').next() == Some(client_id);
    let query = HistoryQuery {
        from: since - time::Duration::minutes(1),
        to: OffsetDateTime::now_utc() + time::Duration::minutes(1),
        symbol: None,
    };
    if let Ok(Ok(orders)) =
        tokio::time::timeout(call_timeout, terminal.history_orders(&query)).await
        && let Some(order) = orders.iter().find(|o| matches(&o.comment))
    {
        return Some(Found {
            ticket: order.ticket,
            state: format!("{:?}", order.state).to_lowercase(),
        });
    }
    if let Ok(Ok(orders)) = tokio::time::timeout(call_timeout, terminal.orders()).await
        && let Some(order) = orders.iter().find(|o| matches(&o.comment))
    {
        return Some(Found { ticket: order.ticket, state: "placed".to_owned() });
    }
    if let Ok(Ok(positions)) = tokio::time::timeout(call_timeout, terminal.positions()).await
        && let Some(position) = positions.iter().find(|p| matches(&p.comment))
    {
        return Some(Found { ticket: position.ticket, state: "open position".to_owned() });
    }
    None
}
