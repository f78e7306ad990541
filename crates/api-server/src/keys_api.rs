//! Admin endpoints for API keys: list (masked), create, rotate, revoke.
//!
//! The secret of a key leaves the gateway twice only: in the response to its creation and to
//! its rotation. Listings show `mt5gw_<id>_…`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Data, Json, Path};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::StatusCode};
use audit_log::SecurityEventKind;
use secrecy::ExposeSecret;
use security_core::{ApiKey, KeyId, KeyStore, Scope, StoreError};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// Longest expiry and grace the API accepts; the CLI shares them.
pub const MAX_EXPIRY_DAYS: u32 = 3_650;
pub const DEFAULT_GRACE_HOURS: u32 = 24;

type Reply = Result<HttpResponse, ApiError>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    scopes: String,
    expires_in_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    grace_hours: Option<u32>,
}

pub async fn list(state: Data<AppState>) -> Reply {
    let now = OffsetDateTime::now_utc();
    let keys: Vec<serde_json::Value> = state
        .auth
        .keys
        .list()
        .into_iter()
        .map(|summary| {
            let status = summary.status(now);
            let mut value = serde_json::to_value(&summary).unwrap_or_default();
            value["status"] = json!(status);
            value
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

pub async fn create(state: Data<AppState>, req: HttpRequest, body: Json<CreateKey>) -> Reply {
    let body = body.into_inner();
    let scope: Scope = body.scopes.parse().map_err(|err: security_core::scope::ScopeError| {
        ApiError::invalid_field("scopes", err.to_string())
    })?;
    let expires_at = expiry(body.expires_in_days)?;
    let keys = Arc::clone(&state.auth.keys);
    let name = body.name;
    let key =
        blocking(move || keys.create(&name, scope, expires_at, OffsetDateTime::now_utc())).await?;
    tracing::info!(key_id = %key.id(), scope = scope.as_str(), "API key created");
    admin_event(&state, &req, SecurityEventKind::KeyCreated, key.id());
    Ok(key_response(StatusCode::CREATED, &state.auth.keys, &key))
}

pub async fn rotate(
    state: Data<AppState>,
    req: HttpRequest,
    path: Path<String>,
    body: Option<Json<RotateKey>>,
) -> Reply {
    let id = key_id(&path)?;
    let grace_hours = body.map(Json::into_inner).unwrap_or_default().grace_hours;
    let grace = Duration::from_secs(u64::from(grace_hours.unwrap_or(DEFAULT_GRACE_HOURS)) * 3_600);
    let keys = Arc::clone(&state.auth.keys);
    let key = blocking(move || keys.rotate(id, grace, OffsetDateTime::now_utc())).await?;
    tracing::info!(key_id = %key.id(), "API key rotated");
    admin_event(&state, &req, SecurityEventKind::KeyRotated, key.id());
    Ok(key_response(StatusCode::OK, &state.auth.keys, &key))
}

pub async fn revoke(state: Data<AppState>, req: HttpRequest, path: Path<String>) -> Reply {
    let id = key_id(&path)?;
    let keys = Arc::clone(&state.auth.keys);
    blocking(move || keys.revoke(id, OffsetDateTime::now_utc())).await?;
    tracing::info!(key_id = %id, "API key revoked");
    admin_event(&state, &req, SecurityEventKind::KeyRevoked, id);
    Ok(HttpResponse::Ok().json(json!({ "id": id, "revoked": true })))
}

/// A key change made through the API, with the admin key that made it.
fn admin_event(state: &AppState, req: &HttpRequest, kind: SecurityEventKind, target: KeyId) {
    let by = req.extensions().get::<Caller>().copied().and_then(Caller::key_id);
    let detail = match by {
        Some(admin) => format!("key {target} changed by admin key {admin}"),
        None => format!("key {target} changed"),
    };
    let peer = req.peer_addr().map(|addr| addr.ip());
    audit::security_event(&state.audit, kind, peer, Some(target), detail);
}

/// The one response that carries a secret.
fn key_response(status: StatusCode, keys: &KeyStore, key: &ApiKey) -> HttpResponse {
    let summary = keys.summary(key.id());
    HttpResponse::build(status).json(json!({
        "id": key.id(),
        "key": key.key().expose_secret(),
        "name": summary.as_ref().map(|s| s.name.clone()),
        "scope": summary.as_ref().map(|s| s.scope),
        "expires_at": summary.as_ref().and_then(|s| s.expires_at).map(crate::reads::format_time),
        "previous_valid_until": summary
            .as_ref()
            .and_then(|s| s.previous_valid_until)
            .map(crate::reads::format_time),
    }))
}

pub fn expiry(days: Option<u32>) -> Result<Option<OffsetDateTime>, ApiError> {
    match days {
        None => Ok(None),
        Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
            Ok(Some(OffsetDateTime::now_utc() + time::Duration::days(i64::from(days))))
        }
        Some(_) => Err(ApiError::invalid_field(
            "expires_in_days",
            format!("must be from 1 to {MAX_EXPIRY_DAYS}"),
        )),
    }
}

fn key_id(text: &str) -> Result<KeyId, ApiError> {
    text.parse().map_err(|_| ApiError::new(ErrorCode::NotFound, "no key with that id"))
}

/// Runs a keys-file change off the worker thread: it takes a file lock and fsyncs.
async fn blocking<T: Send + 'static>(
    change: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match web::block(change).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(store_error(&err)),
        Err(_) => Err(ApiError::internal()),
    }
}

fn store_error(err: &StoreError) -> ApiError {
    match err {
        StoreError::NotFound { .. } => ApiError::new(ErrorCode::NotFound, "no key with that id"),
        StoreError::Revoked { .. } => {
            ApiError::new(ErrorCode::ValidationFailed, "a revoked key cannot be rotated")
        }
        StoreError::InvalidName { problem } => ApiError::invalid_field("name", problem.to_string()),
        StoreError::GraceTooLong { limit_hours, .. } => {
            ApiError::invalid_field("grace_hours", format!("must be at most {limit_hours}"))
        }
        StoreError::ExpiryInPast { .. } => {
            ApiError::invalid_field("expires_in_days", "must lie in the future")
        }
        other => {
            tracing::error!(error = %other, "keys file change failed");
            ApiError::internal()
        }
    }
}
