//! The running gateway: shared state, the actix app and the server's life cycle.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use audit_log::AuditLogs;
use mt5_bridge::{Terminal, TerminalError};

use crate::auth::Auth;
use crate::envelope::{EnvelopeLayer, RequestIds};
use crate::error::{ApiError, ErrorCode};
use crate::routes;
use crate::settings::Settings;

/// What every handler shares.
pub struct AppState {
    pub terminal: Arc<dyn Terminal>,
    pub auth: Auth,
    pub audit: Arc<AuditLogs>,
    pub trading: crate::trading::Trading,
    pub call_timeout: Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("call_timeout", &self.call_timeout).finish_non_exhaustive()
    }
}

impl AppState {
    /// Runs one terminal call under the configured timeout and maps its failure to the
    /// contract's errors.
    pub async fn call<T>(
        &self,
        call: impl Future<Output = mt5_bridge::Result<T>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(terminal_error(err)),
            Err(_elapsed) => Err(terminal_error(TerminalError::Timeout)),
        }
    }
}

/// Maps a terminal failure to the response the caller sees; the cause of a 500 goes to the
/// operator's log, never to the caller.
pub fn terminal_error(err: TerminalError) -> ApiError {
    match err {
        TerminalError::SymbolNotFound(symbol) => {
            ApiError::new(ErrorCode::SymbolNotFound, format!("unknown symbol {symbol}"))
        }
        TerminalError::PositionNotFound(ticket) => {
            ApiError::new(ErrorCode::PositionNotFound, format!("no open position {ticket}"))
        }
        TerminalError::OrderNotFound(ticket) => {
            ApiError::new(ErrorCode::OrderNotFound, format!("no pending order {ticket}"))
        }
        TerminalError::InvalidRequest(reason) => ApiError::new(ErrorCode::ValidationFailed, reason),
        TerminalError::Unavailable(reason) => {
            tracing::warn!(%reason, "terminal unavailable");
            ApiError::new(ErrorCode::TerminalUnavailable, "the terminal is not available")
                .with_cause(format!("terminal unavailable: {reason}"))
        }
        TerminalError::Timeout => {
            tracing::warn!("terminal call timed out");
            ApiError::new(ErrorCode::TerminalTimeout, "the terminal did not answer in time")
                .with_cause("terminal call timed out")
        }
        other => {
            tracing::error!(error = %other, "terminal call failed");
            ApiError::internal().with_cause(other.to_string())
        }
    }
}

/// A bound server, ready to run.
#[allow(missing_debug_implementations, reason = "actix's Server has no Debug")]
pub struct Bound {
    pub server: actix_web::dev::Server,
    pub addrs: Vec<SocketAddr>,
}

/// Builds the app around `state` and binds it as `settings` say.
pub fn bind(settings: &Settings, state: AppState) -> std::io::Result<Bound> {
    let state = Data::new(state);
    let ids = Arc::new(RequestIds::new()?);

    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json_config())
            .wrap(EnvelopeLayer::new(Arc::clone(&ids)))
            .configure(routes::configure)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs);
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    let server = server.bind((settings.server.bind, settings.server.port))?;
    let addrs = server.addrs();
    Ok(Bound { server: server.run(), addrs })
}

/// JSON bodies: at most 64 KiB, `application/json` only, errors in the envelope.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(64 * 1024).error_handler(|err, _req| {
        use actix_web::error::JsonPayloadError;
        let api = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than 64 KiB")
            }
            JsonPayloadError::ContentType => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the request body must be application/json",
            ),
            _ => ApiError::new(ErrorCode::ValidationFailed, "the request body is not valid JSON"),
        };
        api.into()
    })
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, "no such route"))
}
