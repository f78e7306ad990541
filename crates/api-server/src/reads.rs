//! Read endpoints: account, symbols, quotes, bars, positions, pending orders and history.
//!
//! Each handler validates its input, asks the terminal once (bounded by the call timeout)
//! and returns what the terminal said. A terminal failure is an error response, never an
//! empty list or zeros with a 200.

use actix_web::web::{Data, Path};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use mt5_bridge::types::{HistoryQuery, Timeframe};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use audit_log::HealthStatus;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::query::QueryParams;

/// Bars one request may ask for; MT5's own charts rarely need more.
pub const MAX_BARS: usize = 5_000;
const DEFAULT_BARS: usize = 100;
/// History span when the caller names no `from`.
const DEFAULT_HISTORY_DAYS: i64 = 7;

type Reply = Result<HttpResponse, ApiError>;

/// Without a key: only whether the gateway is up. With a valid key: the terminal's state.
pub async fn health(state: Data<AppState>, req: HttpRequest) -> Reply {
    let caller = req.extensions().get::<Caller>().copied().unwrap_or(Caller::Anonymous);
    if caller == Caller::Anonymous {
        return Ok(HttpResponse::Ok().json(json!({ "status": "up" })));
    }
    let terminal = state.terminal.status().await;
    let audit = state.audit.health();
    let sinks: Vec<serde_json::Value> =
        [&audit.security, &audit.errors, &audit.orders, &audit.deals]
            .iter()
            .map(|sink| {
                let (status, error) = match &sink.status {
                    HealthStatus::Ok => ("ok", None),
                    HealthStatus::Failing { last_error } => ("failing", Some(last_error.clone())),
                };
                json!({
                    "sink": sink.sink.name(),
                    "status": status,
                    "last_error": error,
                    "queue_depth": sink.queue_depth,
                    "write_failures": sink.write_failures,
                    "dropped_rows": sink.dropped_rows,
                })
            })
            .collect();
    let status = if terminal.connected && audit.is_ok() { "ok" } else { "degraded" };
    Ok(HttpResponse::Ok().json(json!({
        "status": status,
        "terminal": terminal,
        "audit": { "status": if audit.is_ok() { "ok" } else { "failing" }, "sinks": sinks },
    })))
}

/// The newest security events, newest first (admin).
pub async fn security_events(state: Data<AppState>, req: HttpRequest) -> Reply {
    let mut params = QueryParams::parse(req.query_string())?;
    let limit = match params.take("limit")? {
        None => 100,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_EVENTS).contains(&limit) => limit,
            _ => {
                return Err(ApiError::invalid_field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_EVENTS}"),
                ));
            }
        },
    };
    params.finish()?;
    let dir = state.audit.logs_dir().to_path_buf();
    let events = actix_web::web::block(move || audit_log::newest_security_events(&dir, limit))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|err| ApiError::internal().with_cause(err.to_string()))?;
    let events: Vec<serde_json::Value> = events
        .into_iter()
        .map(|event| {
            json!({
                "timestamp": format_time(event.timestamp),
                "seq": event.seq,
                "event": event.event,
                "client_ip": event.client_ip,
                "key_id": event.key_id,
                "detail": event.detail,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "events": events })))
}

/// Security events one request may ask for.
const MAX_EVENTS: usize = 1_000;

pub async fn account(state: Data<AppState>) -> Reply {
    let account = state.call(state.terminal.account()).await?;
    Ok(HttpResponse::Ok().json(account))
}

pub async fn symbols(state: Data<AppState>) -> Reply {
    let symbols = state.call(state.terminal.symbols()).await?;
    Ok(HttpResponse::Ok().json(json!({ "symbols": symbols })))
}

pub async fn symbol(state: Data<AppState>, path: Path<String>) -> Reply {
    let name = valid_symbol(&path)?;
    let symbol = state.call(state.terminal.symbol(name)).await?;
    Ok(HttpResponse::Ok().json(symbol))
}

pub async fn tick(state: Data<AppState>, path: Path<String>) -> Reply {
    let name = valid_symbol(&path)?;
    let tick = state.call(state.terminal.tick(name)).await?;
    Ok(HttpResponse::Ok().json(tick))
}

pub async fn bars(state: Data<AppState>, path: Path<String>, req: HttpRequest) -> Reply {
    let name = valid_symbol(&path)?;
    let mut params = QueryParams::parse(req.query_string())?;
    let timeframe = match params.take("timeframe")? {
        None => Timeframe::M1,
        Some(text) => Timeframe::parse(&text).ok_or_else(|| {
            ApiError::invalid_field(
                "timeframe",
                "must be one of M1, M5, M15, M30, H1, H4, D1, W1, MN1",
            )
        })?,
    };
    let count = match params.take("count")? {
        None => DEFAULT_BARS,
        Some(text) => match text.parse::<usize>() {
            Ok(count) if (1..=MAX_BARS).contains(&count) => count,
            _ => {
                return Err(ApiError::invalid_field(
                    "count",
                    format!("must be a whole number from 1 to {MAX_BARS}"),
                ));
            }
        },
    };
    params.finish()?;

    let bars = state.call(state.terminal.bars(name, timeframe, count)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "symbol": name,
        "timeframe": timeframe.as_str(),
        "bars": bars,
    })))
}

pub async fn positions(state: Data<AppState>) -> Reply {
    let positions = state.call(state.terminal.positions()).await?;
    Ok(HttpResponse::Ok().json(json!({ "positions": positions })))
}

pub async fn orders(state: Data<AppState>) -> Reply {
    let orders = state.call(state.terminal.orders()).await?;
    Ok(HttpResponse::Ok().json(json!({ "orders": orders })))
}

pub async fn history_deals(state: Data<AppState>, req: HttpRequest) -> Reply {
    let query = history_query(req.query_string())?;
    let deals = state.call(state.terminal.history_deals(&query)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "from": format_time(query.from),
        "to": format_time(query.to),
        "deals": deals,
    })))
}

pub async fn history_orders(state: Data<AppState>, req: HttpRequest) -> Reply {
    let query = history_query(req.query_string())?;
    let orders = state.call(state.terminal.history_orders(&query)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "from": format_time(query.from),
        "to": format_time(query.to),
        "orders": orders,
    })))
}

/// Symbol names as MT5 brokers spell them: letters, digits and `._#+-`, at most 32.
pub fn valid_symbol(name: &str) -> Result<&str, ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._#+-".contains(c);
    if name.is_empty() || name.len() > 32 || !name.chars().all(allowed) {
        return Err(ApiError::new(
            ErrorCode::InvalidSymbol,
            "symbol must be 1 to 32 letters, digits or . _ # + -",
        ));
    }
    Ok(name)
}

fn history_query(query: &str) -> Result<HistoryQuery, ApiError> {
    let mut params = QueryParams::parse(query)?;
    let to = match params.take("to")? {
        Some(text) => parse_time("to", &text)?,
        None => OffsetDateTime::now_utc(),
    };
    let from = match params.take("from")? {
        Some(text) => parse_time("from", &text)?,
        None => to - Duration::days(DEFAULT_HISTORY_DAYS),
    };
    let symbol = params.take("symbol")?;
    if let Some(name) = &symbol {
        valid_symbol(name)?;
    }
    params.finish()?;

    if from >= to {
        return Err(ApiError::invalid_field("from", "must be earlier than to"));
    }
    Ok(HistoryQuery { from, to, symbol })
}

fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::invalid_field(field, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
    })
}

#[must_use]
pub fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}
