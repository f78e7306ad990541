//! `GET /api/openapi.json`: the OpenAPI 3 description of the HTTP API, generated with utoipa.
//!
//! Each route's own parameters, body and answers are declared below; what every route shares
//! (its scope, the key headers, rate limits and the perimeter's refusals) is added from the
//! route table, so the description cannot disagree with the gate about who may call what. A
//! test checks that every row of the table is described.
#![allow(dead_code, reason = "the types and functions here describe the API; none is called")]

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::Method;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, SecurityRequirement};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::ErrorCode;
use crate::routes::{Access, ROUTES};

/// Every error response.
#[derive(ToSchema)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(ToSchema)]
struct ErrorBody {
    code: ErrorCode,
    /// Written for the caller; never a parser's words, a path or a secret.
    message: String,
    /// The numbers behind a refusal; for `VALIDATION_FAILED`, `{"fields": {name: reason}}`.
    details: Option<Value>,
    /// Equal to the response's `X-Request-Id`.
    request_id: String,
}

/// `POST /api/keys`.
#[derive(ToSchema)]
struct CreateKey {
    name: String,
    /// `read`, `read,trade` or `read,trade,admin`.
    scopes: String,
    /// 1 to 3650; no expiry when absent.
    expires_in_days: Option<u32>,
}

/// `POST /api/keys/{id}/rotate`.
#[derive(ToSchema)]
struct RotateKey {
    /// Hours the old secret stays valid (default 24).
    grace_hours: Option<u32>,
}

/// The one answer that carries a key's secret.
#[derive(ToSchema)]
struct IssuedKey {
    id: String,
    /// The whole key: shown once, store it now.
    key: String,
    name: Option<String>,
    scope: Option<String>,
    expires_at: Option<String>,
    previous_valid_until: Option<String>,
}

#[utoipa::path(get, path = "/api/health", tag = "status",
    description = "Without a key: whether the gateway is up. With one: the terminal and audit logs.",
    responses((status = 200, description = "Up (and, with a key, the details)", body = Value)))]
fn health() {}

#[utoipa::path(get, path = "/metrics", tag = "status",
    description = "Counters and histograms in the Prometheus text format.",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
fn metrics() {}

#[utoipa::path(get, path = "/api/openapi.json", tag = "status",
    responses((status = 200, description = "This document", body = Value)))]
fn openapi() {}

#[utoipa::path(get, path = "/api/account", tag = "reads",
    responses((status = 200, description = "Balance, equity, margin, leverage, currency", body = Value),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn account() {}

#[utoipa::path(get, path = "/api/symbols", tag = "reads",
    responses((status = 200, description = "`{\"symbols\": [...]}`", body = Value),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn symbols() {}

#[utoipa::path(get, path = "/api/symbols/{symbol}", tag = "reads",
    params(("symbol" = String, Path, description = "1 to 32 of letters, digits and . _ # + -")),
    responses((status = 200, description = "Digits, contract size, volume min/step/max, stops level", body = Value),
        (status = 400, description = "INVALID_SYMBOL", body = ErrorEnvelope),
        (status = 404, description = "SYMBOL_NOT_FOUND", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn symbol() {}

#[utoipa::path(get, path = "/api/symbols/{symbol}/tick", tag = "reads",
    params(("symbol" = String, Path, description = "1 to 32 of letters, digits and . _ # + -")),
    responses((status = 200, description = "Bid, ask and time of the last quote", body = Value),
        (status = 400, description = "INVALID_SYMBOL", body = ErrorEnvelope),
        (status = 404, description = "SYMBOL_NOT_FOUND", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn tick() {}

#[utoipa::path(get, path = "/api/symbols/{symbol}/bars", tag = "reads",
    params(("symbol" = String, Path, description = "1 to 32 of letters, digits and . _ # + -"),
        ("timeframe" = Option<String>, Query, description = "M1 (default), M5, M15, M30, H1, H4, D1, W1, MN1"),
        ("count" = Option<u32>, Query, description = "1 to 5000, default 100")),
    responses((status = 200, description = "`{\"symbol\", \"timeframe\", \"bars\": [...]}`", body = Value),
        (status = 400, description = "VALIDATION_FAILED or INVALID_SYMBOL", body = ErrorEnvelope),
        (status = 404, description = "SYMBOL_NOT_FOUND", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn bars() {}

#[utoipa::path(get, path = "/api/positions", tag = "reads",
    responses((status = 200, description = "`{\"positions\": [...]}`", body = Value),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn positions() {}

#[utoipa::path(get, path = "/api/orders", tag = "reads",
    description = "Pending orders.",
    responses((status = 200, description = "`{\"orders\": [...]}`", body = Value),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn orders() {}

#[utoipa::path(get, path = "/api/history/deals", tag = "reads",
    params(("from" = Option<String>, Query, description = "RFC 3339; default 7 days before `to`"),
        ("to" = Option<String>, Query, description = "RFC 3339; default now"),
        ("symbol" = Option<String>, Query, description = "Only this symbol")),
    responses((status = 200, description = "`{\"from\", \"to\", \"deals\": [...]}`", body = Value),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn history_deals() {}

#[utoipa::path(get, path = "/api/history/orders", tag = "reads",
    params(("from" = Option<String>, Query, description = "RFC 3339; default 7 days before `to`"),
        ("to" = Option<String>, Query, description = "RFC 3339; default now"),
        ("symbol" = Option<String>, Query, description = "Only this symbol")),
    responses((status = 200, description = "`{\"from\", \"to\", \"orders\": [...]}`", body = Value),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn history_orders() {}

#[utoipa::path(get, path = "/api/keys", tag = "keys",
    description = "Every key, masked as `mt5gw_<id>_…`.",
    responses((status = 200, description = "`{\"keys\": [...]}`", body = Value)))]
fn keys_list() {}

#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, description = "The new key, shown this once", body = IssuedKey),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorEnvelope)))]
fn keys_create() {}

#[utoipa::path(post, path = "/api/keys/{id}/rotate", tag = "keys", request_body = Option<RotateKey>,
    params(("id" = String, Path, description = "The key id (8 characters)")),
    responses((status = 200, description = "The new secret; the old one stays valid for the grace", body = IssuedKey),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope)))]
fn keys_rotate() {}

#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key id (8 characters)")),
    responses((status = 200, description = "`{\"id\", \"revoked\": true}`", body = Value),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope)))]
fn keys_revoke() {}

#[utoipa::path(get, path = "/api/security/events", tag = "keys",
    params(("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, description = "`{\"events\": [...]}`, newest first", body = Value),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorEnvelope)))]
fn security_events() {}

/// `POST /api/orders`; unknown fields are refused.
#[derive(ToSchema)]
struct PlaceOrder {
    symbol: String,
    /// `buy`, `sell`, `buy_limit`, `sell_limit`, `buy_stop` or `sell_stop`.
    #[schema(rename = "type")]
    order_type: String,
    /// Lots; rounded down to the symbol's step (or to the nearest, as configured).
    volume: f64,
    /// Required for limit and stop orders, refused for market orders.
    price: Option<f64>,
    sl: Option<f64>,
    tp: Option<f64>,
    /// Accepted slippage in points (default 20).
    deviation: Option<u32>,
    /// At most 19 printable ASCII characters; the gateway's client order id goes first.
    comment: Option<String>,
    magic: Option<i64>,
    /// RFC 3339, for pending orders.
    expiration: Option<String>,
}

/// `PATCH /api/orders/{ticket}`: what is left out keeps its value; 0 removes a stop.
#[derive(ToSchema)]
struct ModifyOrder {
    price: Option<f64>,
    sl: Option<f64>,
    tp: Option<f64>,
    expiration: Option<String>,
}

/// `PATCH /api/positions/{ticket}`: what is left out keeps its value; 0 removes a stop.
#[derive(ToSchema)]
struct ModifyPosition {
    sl: Option<f64>,
    tp: Option<f64>,
}

/// `POST /api/positions/{ticket}/close`: without a volume, the whole position.
#[derive(ToSchema)]
struct ClosePosition {
    volume: Option<f64>,
    deviation: Option<u32>,
}

/// `POST /api/risk/halt`.
#[derive(ToSchema)]
struct Halt {
    /// Also close every open position.
    close_all: Option<bool>,
}

/// A trade the terminal accepted.
#[derive(ToSchema)]
struct TradeAccepted {
    ticket: u64,
    deal: Option<u64>,
    /// 10008 placed, 10009 done or 10010 partially done.
    retcode: u32,
    retcode_name: String,
    symbol: String,
    #[schema(rename = "type")]
    order_type: Option<String>,
    action: String,
    volume: f64,
    volume_requested: Option<f64>,
    price: Option<f64>,
    sl: Option<f64>,
    tp: Option<f64>,
    /// Carried at the start of the order's comment; finds the order in the terminal's history.
    client_order_id: String,
}

#[utoipa::path(get, path = "/api/risk", tag = "risk",
    description = "Trading state, the day's realised, floating and total P&L against the loss limit, positions against their limits, each symbol's session.",
    responses((status = 200, description = "The risk status", body = Value),
        (status = 503, description = "TERMINAL_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn risk_status() {}

#[utoipa::path(post, path = "/api/orders", tag = "trading", request_body = PlaceOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 64 of [A-Za-z0-9_-]; a replay within 24 h returns the first answer")),
    responses((status = 201, description = "Placed or filled", body = TradeAccepted),
        (status = 400, description = "VALIDATION_FAILED, INVALID_SYMBOL, VOLUME_TOO_SMALL, VOLUME_TOO_LARGE, INVALID_STOPS or INVALID_PRICE", body = ErrorEnvelope),
        (status = 404, description = "SYMBOL_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "SYMBOL_DISABLED, OUTSIDE_SESSION, DAILY_LOSS_LIMIT, MAX_POSITIONS, MAX_NOTIONAL, STALE_QUOTE, TRADING_HALTED, REDUCE_ONLY, BROKER_REJECTED or IDEMPOTENCY_CONFLICT", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE or AUDIT_UNAVAILABLE: nothing was sent", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT: the outcome is unknown and being reconciled", body = ErrorEnvelope)))]
fn orders_place() {}

#[utoipa::path(patch, path = "/api/orders/{ticket}", tag = "trading", request_body = ModifyOrder,
    params(("ticket" = u64, Path, description = "The pending order's ticket"),
        ("Idempotency-Key" = Option<String>, Header, description = "As for POST /api/orders")),
    responses((status = 200, description = "Modified", body = TradeAccepted),
        (status = 400, description = "VALIDATION_FAILED, INVALID_STOPS or INVALID_PRICE", body = ErrorEnvelope),
        (status = 404, description = "ORDER_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "TRADING_HALTED, BROKER_REJECTED or IDEMPOTENCY_CONFLICT", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE or AUDIT_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn orders_modify() {}

#[utoipa::path(delete, path = "/api/orders/{ticket}", tag = "trading",
    params(("ticket" = u64, Path, description = "The pending order's ticket"),
        ("Idempotency-Key" = Option<String>, Header, description = "As for POST /api/orders")),
    responses((status = 200, description = "Cancelled", body = TradeAccepted),
        (status = 404, description = "ORDER_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "BROKER_REJECTED or IDEMPOTENCY_CONFLICT", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE or AUDIT_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn orders_cancel() {}

#[utoipa::path(patch, path = "/api/positions/{ticket}", tag = "trading", request_body = ModifyPosition,
    params(("ticket" = u64, Path, description = "The position's ticket"),
        ("Idempotency-Key" = Option<String>, Header, description = "As for POST /api/orders")),
    responses((status = 200, description = "Stops changed", body = TradeAccepted),
        (status = 400, description = "VALIDATION_FAILED or INVALID_STOPS", body = ErrorEnvelope),
        (status = 404, description = "POSITION_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "BROKER_REJECTED or IDEMPOTENCY_CONFLICT", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE or AUDIT_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn positions_modify() {}

#[utoipa::path(post, path = "/api/positions/{ticket}/close", tag = "trading", request_body = Option<ClosePosition>,
    params(("ticket" = u64, Path, description = "The position's ticket"),
        ("Idempotency-Key" = Option<String>, Header, description = "As for POST /api/orders")),
    responses((status = 200, description = "Closed (all or the volume given)", body = TradeAccepted),
        (status = 400, description = "VALIDATION_FAILED, VOLUME_TOO_SMALL or VOLUME_TOO_LARGE", body = ErrorEnvelope),
        (status = 404, description = "POSITION_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "BROKER_REJECTED or IDEMPOTENCY_CONFLICT", body = ErrorEnvelope),
        (status = 503, description = "TERMINAL_UNAVAILABLE or AUDIT_UNAVAILABLE", body = ErrorEnvelope),
        (status = 504, description = "TERMINAL_TIMEOUT", body = ErrorEnvelope)))]
fn positions_close() {}

#[utoipa::path(post, path = "/api/risk/halt", tag = "risk", request_body = Option<Halt>,
    description = "The kill switch: only closes and cancellations pass until an admin resumes.",
    responses((status = 200, description = "`{\"state\", \"closed\": [tickets], \"failed\": [...]}`", body = Value),
        (status = 400, description = "VALIDATION_FAILED", body = ErrorEnvelope)))]
fn risk_halt() {}

#[utoipa::path(post, path = "/api/risk/resume", tag = "risk",
    description = "Lifts a halt; a daily loss limit reached today still holds until the next trading day.",
    responses((status = 200, description = "`{\"state\"}`", body = Value)))]
fn risk_resume() {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MT5 Gateway",
        description = "A security-hardened HTTP gateway to a MetaTrader 5 terminal. Every error \
            is the envelope `{\"error\":{\"code\",\"message\",\"details\",\"request_id\"}}`."
    ),
    paths(
        health, metrics, openapi, account, symbols, symbol, tick, bars, positions, orders,
        history_deals, history_orders, keys_list, keys_create, keys_rotate, keys_revoke,
        security_events, risk_status, orders_place, orders_modify, orders_cancel,
        positions_modify, positions_close, risk_halt, risk_resume
    ),
    components(schemas(
        ErrorEnvelope, ErrorBody, ErrorCode, CreateKey, RotateKey, IssuedKey, PlaceOrder,
        ModifyOrder, ModifyPosition, ClosePosition, Halt, TradeAccepted
    )),
    modifiers(&FromRouteTable)
)]
struct ApiDoc;

/// Adds to each described route what the route table says about it.
struct FromRouteTable;

impl Modify for FromRouteTable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );

        for spec in ROUTES {
            let Some(item) = openapi.paths.paths.get_mut(spec.path) else { continue };
            let operation = match spec.method {
                Method::GET => item.get.as_mut(),
                Method::POST => item.post.as_mut(),
                Method::PATCH => item.patch.as_mut(),
                Method::DELETE => item.delete.as_mut(),
                Method::PUT => item.put.as_mut(),
                _ => None,
            };
            let Some(operation) = operation else { continue };

            let scope = match spec.access {
                Access::Public => "none".to_owned(),
                Access::Scope(scope) => {
                    operation.security = Some(vec![
                        SecurityRequirement::new("api_key", Vec::<String>::new()),
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                    ]);
                    add_error(operation, "401", "UNAUTHORIZED: a valid key is required");
                    scope.as_str().to_owned()
                }
            };
            let note = format!("Scope: {scope}. Rate-limit class: {}.", spec.class.as_str());
            operation.description = Some(match operation.description.take() {
                Some(text) => format!("{text}\n\n{note}"),
                None => note,
            });

            add_error(
                operation,
                "403",
                "FORBIDDEN (scope), HOST_NOT_ALLOWED (Host header) or ORIGIN_NOT_ALLOWED",
            );
            add_error(operation, "429", "RATE_LIMITED or LOCKED_OUT, with Retry-After");
            add_error(operation, "500", "INTERNAL: the request id only");
            if operation.request_body.is_some() {
                add_error(operation, "413", "PAYLOAD_TOO_LARGE: bodies are at most 64 KiB");
                add_error(operation, "415", "UNSUPPORTED_MEDIA_TYPE: bodies are application/json");
                add_error(operation, "408", "REQUEST_TIMEOUT: the body arrived too slowly");
            }
        }
    }
}

/// Adds an error response to `operation`, or widens the description of one already there.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    let responses = &mut operation.responses.responses;
    if responses.contains_key(status) {
        return;
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
        )
        .build();
    responses.insert(status.to_owned(), response.into());
}

/// The description as JSON, built on first use.
#[must_use]
pub fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|err| {
            tracing::error!(error = %err, "cannot serialize the API description");
            String::from("{}")
        })
    })
}

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_described() {
        let document: Value = serde_json::from_str(json()).unwrap();
        for spec in ROUTES {
            let method = spec.method.as_str().to_ascii_lowercase();
            assert!(
                document["paths"][spec.path][&method].is_object(),
                "{} {} is missing from the API description",
                spec.method,
                spec.path
            );
        }
    }
}
