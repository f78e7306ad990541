//! The outermost middleware: request ids, the error envelope, security headers and the one
//! log line per request.
//!
//! It runs for every response, errors and 404s included, so that no path can skip the
//! envelope or the headers. The log line names the route pattern (`/api/symbols/{symbol}`),
//! never the raw path, a header value or a body, so nothing a caller sends can reach the log.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;

use security_core::KeyId;

use crate::auth::Caller;
use crate::error::{ApiError, Envelope, EnvelopeBody, ErrorCode};

/// The id of one request, echoed in `X-Request-Id` and in error bodies.
#[derive(Clone, Debug)]
pub struct RequestId(Rc<str>);

impl RequestId {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Issues request ids: a random per-process prefix and a counter, so ids are unique across
/// restarts without a random draw per request.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u32,
    counter: AtomicU64,
}

impl RequestIds {
    pub fn new() -> std::io::Result<RequestIds> {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
        Ok(RequestIds { prefix: u32::from_le_bytes(bytes), counter: AtomicU64::new(0) })
    }

    fn next(&self) -> RequestId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        RequestId(format!("{:08x}-{n:010x}", self.prefix).into())
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Set by the limiters of the classes a route does not belong to; it says nothing useful.
const X_RATELIMIT_WHITELISTED: HeaderName = HeaderName::from_static("x-ratelimit-whitelisted");
/// A browser that once reached the gateway over HTTPS never falls back to plain HTTP.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// The headers SPEC §6 puts on every response.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// Wraps the whole app; see the module documentation.
#[derive(Clone, Debug)]
pub struct EnvelopeLayer {
    ids: Arc<RequestIds>,
    /// Whether the server speaks HTTPS, and so sends `Strict-Transport-Security`.
    tls: bool,
}

impl EnvelopeLayer {
    #[must_use]
    pub fn new(ids: Arc<RequestIds>, tls: bool) -> EnvelopeLayer {
        EnvelopeLayer { ids, tls }
    }
}

impl<S, B> Transform<S, ServiceRequest> for EnvelopeLayer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = EnvelopeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(EnvelopeService {
            service: Rc::new(service),
            ids: Arc::clone(&self.ids),
            tls: self.tls,
        }))
    }
}

#[derive(Debug)]
pub struct EnvelopeService<S> {
    service: Rc<S>,
    ids: Arc<RequestIds>,
    tls: bool,
}

impl<S, B> Service<ServiceRequest> for EnvelopeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let id = self.ids.next();
        req.extensions_mut().insert(id.clone());
        // No clone of the request may be held here: routing below needs it unshared.
        let service = Rc::clone(&self.service);
        let tls = self.tls;

        Box::pin(async move {
            match service.call(req).await {
                Ok(response) => {
                    let mut response = if is_error(response.status()) {
                        let (request, old) = response.into_parts();
                        let fresh = error_response(&old, &id);
                        record_server_error(&request, &fresh, &id);
                        ServiceResponse::new(request, fresh).map_into_right_body()
                    } else {
                        response.map_into_left_body()
                    };
                    finish_headers(response.headers_mut(), &id, tls);
                    let caller = response.request().extensions().get::<Caller>().copied();
                    log_request(
                        response.request().method(),
                        response.request().match_pattern().as_deref(),
                        response.status(),
                        caller.and_then(Caller::key_id),
                        &id,
                        started,
                    );
                    Ok(response)
                }
                // An error from a middleware below never became a response, and the request
                // is gone with it. Hand actix an error whose response is already the
                // envelope with every header.
                Err(err) => {
                    let mut fresh = error_response(&err.error_response(), &id);
                    finish_headers(fresh.headers_mut(), &id, tls);
                    log_request(&Method::GET, None, fresh.status(), None, &id, started);
                    Err(Error::from(Enveloped::from_response(fresh)))
                }
            }
        })
    }
}

/// A finished error response travelling as an `actix_web::Error`.
#[derive(Debug)]
struct Enveloped {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Enveloped {
    fn from_response(response: HttpResponse) -> Enveloped {
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.into_body().try_into_bytes() {
            Ok(bytes) => bytes,
            Err(_) => Bytes::new(),
        };
        Enveloped { status, headers, body }
    }
}

impl std::fmt::Display for Enveloped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request failed with status {}", self.status)
    }
}

impl ResponseError for Enveloped {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::with_body(self.status, self.body.clone());
        *response.headers_mut() = self.headers.clone();
        response.map_into_boxed_body()
    }
}

/// Builds the envelope response for an error response, keeping headers such as
/// `Retry-After` and `Allow` that the error set.
fn error_response<B>(old: &HttpResponse<B>, id: &RequestId) -> HttpResponse {
    let status = old.status();
    let error = old.extensions().get::<ApiError>().cloned();
    let (code, message, details) = match &error {
        Some(error) => (error.code, error.message.as_ref(), error.details.as_ref()),
        None => {
            let (code, message) = ErrorCode::for_status(status);
            (code, message, None)
        }
    };
    let envelope =
        Envelope { error: EnvelopeBody { code, message, details, request_id: id.as_str() } };
    // Serializing strings and a JSON value cannot fail; the fallback keeps the response
    // well-formed regardless.
    let body = serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{}".to_vec());

    let mut fresh = HttpResponse::build(status).body(body);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(error) = error {
        fresh.extensions_mut().insert(error);
    }
    fresh
}

/// Every 5xx goes to `errors.csv`, with the cause the caller was not shown.
fn record_server_error(request: &actix_web::HttpRequest, response: &HttpResponse, id: &RequestId) {
    if !response.status().is_server_error() {
        return;
    }
    let Some(state) = request.app_data::<actix_web::web::Data<crate::app::AppState>>() else {
        return;
    };
    let error = response.extensions().get::<ApiError>().cloned();
    let (code, message) = match error {
        Some(error) => {
            (error.code.as_str(), error.cause.unwrap_or_else(|| error.message.into_owned()))
        }
        None => ("INTERNAL", format!("status {}", response.status().as_u16())),
    };
    let entry = audit_log::ErrorEntry {
        request_id: Some(id.as_str().to_owned()),
        status: Some(response.status().as_u16()),
        code: code.to_owned(),
        message,
    };
    // A full queue is counted by the sink and shown in health.
    let _ = state.audit.errors.record(entry);
}

fn finish_headers(headers: &mut HeaderMap, id: &RequestId, tls: bool) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value);
    }
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    headers.remove(X_RATELIMIT_WHITELISTED);
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        headers.insert(X_REQUEST_ID, value);
    }
}

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

fn log_request(
    method: &Method,
    route: Option<&str>,
    status: StatusCode,
    key_id: Option<KeyId>,
    id: &RequestId,
    started: Instant,
) {
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "mt5_gateway::request",
        method = %method,
        route = route.unwrap_or("(unmatched)"),
        status = status.as_u16(),
        latency_us,
        request_id = id.as_str(),
        key_id = key_id.as_ref().map_or("-", KeyId::as_str),
    );
}
