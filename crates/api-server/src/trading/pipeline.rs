//! The steps every trading request walks: idempotency, snapshot, risk, intent, terminal,
//! outcome.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use audit_log::{OrderEntry, OrderPhase, OrderStatus, SecurityEventKind};
use mt5_bridge::TerminalError;
use mt5_bridge::types::{
    HistoryQuery, OrderType, PendingOrder, Position, TradeRequest, TradeResult,
};
use risk::{Denial, Market, Order, Snapshot};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::app::{AppState, terminal_error};
use crate::audit::{self, number};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::idempotency::{self, Begin, Stored};
use crate::metrics::OrderOutcome;

use super::reconcile::spawn_reconciliation;
use super::{DEAL_OVERLAP, MT5_COMMENT_CHARS};

/// Who asked, for the audit rows.
#[derive(Clone, Debug)]
pub(super) struct Context {
    pub(super) request_id: String,
    pub(super) caller: Caller,
    pub(super) peer: Option<std::net::IpAddr>,
}

impl Context {
    pub(super) fn of(req: &HttpRequest) -> Context {
        let request_id = req
            .extensions()
            .get::<crate::envelope::RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        let caller = req.extensions().get::<Caller>().copied().unwrap_or(Caller::Anonymous);
        Context { request_id, caller, peer: req.peer_addr().map(|addr| addr.ip()) }
    }

    pub(super) fn key_id(&self) -> Option<security_core::KeyId> {
        self.caller.key_id()
    }
}

/// One trading request, ready for the check and the terminal.
pub(super) struct Plan {
    pub(super) action: &'static str,
    pub(super) symbol: String,
    pub(super) order_type: Option<OrderType>,
    pub(super) check: Order,
    pub(super) price: Option<Decimal>,
    pub(super) sl: Option<Decimal>,
    pub(super) tp: Option<Decimal>,
    pub(super) success: StatusCode,
}

pub(super) type Outcome = Result<(StatusCode, Value), ApiError>;

/// Step 1: the idempotency key, around the rest.
pub(super) async fn idempotent<F, Fut>(
    state: &Data<AppState>,
    req: &HttpRequest,
    body: &Bytes,
    run: F,
) -> HttpResponse
where
    F: FnOnce(Data<AppState>, HttpRequest, Bytes, Context) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let ctx = Context::of(req);
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

pub(super) fn bad_idempotency_key() -> HttpResponse {
    error_response(&ApiError::invalid_field(
        "Idempotency-Key",
        "must be 1 to 64 letters, digits, _ or -",
    ))
}

pub(super) fn error_response(err: &ApiError) -> HttpResponse {
    actix_web::ResponseError::error_response(err)
}

/// An error kept for replays: its code, message and details (the request id is the new
/// request's own).
pub(super) fn stored_error(err: &ApiError) -> Value {
    json!({ "code": err.code.as_str(), "message": err.message, "details": err.details })
}

pub(super) fn replay(stored: &Stored) -> HttpResponse {
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

pub(super) fn code_named(code: &str, status: StatusCode) -> ErrorCode {
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
pub(super) async fn execute<B>(state: &AppState, ctx: &Context, plan: Plan, build: B) -> Outcome
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
        let error = ApiError::new(
            ErrorCode::AuditUnavailable,
            "the order cannot be recorded, so it was not sent",
        )
        .with_cause(err.to_string());
        state.metrics.order(OrderOutcome::Rejected, Some(&error));
        return Err(error);
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
            state.metrics.order(OrderOutcome::Accepted, None);
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
            state.metrics.order(OrderOutcome::Failed, None);
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
            state.metrics.order(OrderOutcome::Unknown, None);
            outcome.status = Some(OrderStatus::Unknown);
            "no answer from the terminal in time; reconciling".clone_into(&mut outcome.detail);
            let _ = state.audit.orders.append_durable(outcome.clone()).await;
            let since = OffsetDateTime::now_utc() - state.call_timeout;
            spawn_reconciliation(state, outcome, client_id.clone(), Some(reservation), since);
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
            state.metrics.order(OrderOutcome::Failed, None);
            outcome.status = Some(OrderStatus::Rejected);
            outcome.detail = err.to_string();
            record_outcome(state, outcome, &client_id, None).await?;
            Err(terminal_error(err))
        }
    }
}

/// Writes an outcome durably; an order that happened but cannot be recorded is reported as
/// such, with its ticket, rather than as a plain success.
pub(super) async fn record_outcome(
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

pub(super) fn success_body(
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
pub(super) fn entry(ctx: &Context, plan: &Plan, phase: OrderPhase, client_id: &str) -> OrderEntry {
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
pub(super) fn refused(
    state: &AppState,
    ctx: &Context,
    action: &str,
    symbol: Option<&str>,
    error: &ApiError,
) {
    let mut entry = OrderEntry::new(ctx.request_id.clone(), OrderPhase::Outcome, action);
    entry.key_id = ctx.key_id().map(|id| id.as_str().to_owned());
    entry.symbol = symbol.map(str::to_owned);
    entry.status = Some(OrderStatus::Refused);
    entry.rule = Some(error.code.as_str().to_owned());
    entry.detail = error.message.to_string();
    state.metrics.order(OrderOutcome::Rejected, Some(error));
    if !state.audit.orders.record(entry) {
        tracing::warn!("an order refusal could not be queued for orders.csv");
    }
}

pub(super) fn denial_error(denial: &Denial) -> ApiError {
    let details = serde_json::to_value(denial).unwrap_or(Value::Null);
    ApiError::new(ErrorCode::from_risk(denial.code()), denial.to_string()).with_details(details)
}

/// The security event for a loss limit reached, once.
pub(super) fn report_loss_limit(
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

/// The comment MT5 stores: the client order id first, so reconciliation can find it.
pub(super) fn order_comment(client_id: &str, comment: &str) -> String {
    let text =
        if comment.is_empty() { client_id.to_owned() } else { format!("{client_id} {comment}") };
    text.chars().take(MT5_COMMENT_CHARS).collect()
}

/// Feeds the deals since the last read to the day's ledger.
pub(super) async fn feed_deals(state: &AppState) -> Result<(), ApiError> {
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

pub(super) async fn read_snapshot(state: &AppState, symbol: &str) -> Result<Snapshot, ApiError> {
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

pub(super) async fn find_position(state: &AppState, ticket: u64) -> Result<Position, ApiError> {
    let positions = state.call(state.terminal.positions()).await?;
    positions.into_iter().find(|p| p.ticket == ticket).ok_or_else(|| {
        ApiError::new(ErrorCode::PositionNotFound, format!("no open position {ticket}"))
    })
}

pub(super) async fn find_pending(state: &AppState, ticket: u64) -> Result<PendingOrder, ApiError> {
    let orders = state.call(state.terminal.orders()).await?;
    orders.into_iter().find(|o| o.ticket == ticket).ok_or_else(|| {
        ApiError::new(ErrorCode::OrderNotFound, format!("no pending order {ticket}"))
    })
}
