//! The running gateway: shared state, the actix app and the server's life cycle.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::KeepAlive;
use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use audit_log::AuditLogs;
use mt5_bridge::{Terminal, TerminalError};

use crate::auth::Auth;
use crate::envelope::{EnvelopeLayer, RequestIds};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::perimeter::{MAX_BODY_BYTES, Perimeter, Policy};
use crate::ratelimit::RateLimiters;
use crate::settings::Settings;
use crate::{routes, tls};

/// What every handler shares.
pub struct AppState {
    pub terminal: Arc<dyn Terminal>,
    pub auth: Auth,
    pub audit: Arc<AuditLogs>,
    pub trading: crate::trading::Trading,
    pub call_timeout: Duration,
    pub metrics: Arc<Metrics>,
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
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.call_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(terminal_error(err)),
            Err(_elapsed) => Err(terminal_error(TerminalError::Timeout)),
        };
        self.metrics.terminal_call(started.elapsed(), outcome.is_ok());
        outcome
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
    /// Whether the server speaks HTTPS.
    pub tls: bool,
}

/// Why the server could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error("cannot start the server: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the app around `state` and binds it as `settings` say.
///
/// Each connection carries one request: actix bounds the time to send the headers of a
/// connection's first request only, so with keep-alive a client could dribble the headers
/// of its second request for ever. Without it, every request is within the header deadline
/// (`client_request_timeout`) and the perimeter's body deadline.
pub fn bind(settings: &Settings, state: AppState) -> Result<Bound, BindError> {
    let server_settings = &settings.server;
    let addr = SocketAddr::new(server_settings.bind, server_settings.port);
    let listener = TcpListener::bind(addr).map_err(|source| BindError::Listen { addr, source })?;
    let local = listener.local_addr()?;
    let tls_config = tls::server_config(&server_settings.tls)?;
    let tls = tls_config.is_some();

    let limits = RateLimiters::new(&settings.rate_limits)?;
    limits.spawn_cleanup();
    let policy = Arc::new(Policy::new(settings, local.port(), Arc::clone(&state.metrics)));
    let origins = server_settings.cors_origins.clone();
    let state = Data::new(state);
    let ids = Arc::new(RequestIds::new()?);

    let mut server = HttpServer::new(move || {
        let limits = limits.clone();
        App::new()
            .app_data(state.clone())
            .app_data(json_config())
            .configure(move |cfg| routes::configure(cfg, &limits))
            .default_service(web::to(not_found))
            .wrap(cors(&origins))
            .wrap(Perimeter::new(Arc::clone(&policy)))
            .wrap(EnvelopeLayer::new(Arc::clone(&ids), tls))
    })
    .keep_alive(KeepAlive::Disabled)
    .client_request_timeout(Duration::from_secs(server_settings.request_timeout_secs))
    .client_disconnect_timeout(Duration::from_secs(1))
    .max_connections(server_settings.max_connections)
    .shutdown_timeout(server_settings.shutdown_timeout_secs);
    if server_settings.workers > 0 {
        server = server.workers(server_settings.workers);
    }
    let server = match tls_config {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    };
    let addrs = server.addrs();
    Ok(Bound { server: server.run(), addrs, tls })
}

/// CORS for the listed origins only; the perimeter has already refused every other origin.
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::{Method, header};
    let mut cors = actix_cors::Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-ratelimit-limit"),
            header::HeaderName::from_static("x-ratelimit-remaining"),
        ])
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// JSON bodies: at most 64 KiB, `application/json` only, errors in the envelope.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(|err, _req| {
        use actix_web::error::{JsonPayloadError, PayloadError};
        let api = match &err {
            JsonPayloadError::OverflowKnownLength { .. }
            | JsonPayloadError::Overflow { .. }
            | JsonPayloadError::Payload(PayloadError::Overflow) => {
                ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than 64 KiB")
            }
            JsonPayloadError::Payload(PayloadError::Io(_) | PayloadError::Incomplete(_)) => {
                ApiError::new(
                    ErrorCode::RequestTimeout,
                    "the request body was not received in time",
                )
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
