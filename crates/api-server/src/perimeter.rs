//! The checks every request passes before authentication: who the client is, the `Host`
//! allow-list, the `Origin` allow-list, the body's size, type and read deadline; and, on the
//! way out, the metrics of every response and the security events of refusals.
//!
//! The `Host` check reads the raw header, never actix's connection info: that prefers
//! `Forwarded` and `X-Forwarded-Host`, which a page's script can set during a DNS-rebinding
//! attack. Requests refused here never reach the gate, so they do not count toward the
//! lockout, and a caller cannot use them to get another client banned.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::PayloadError;
use actix_web::http::{Method, header};
use actix_web::web::{Bytes, Data};
use actix_web::{Error, HttpMessage};
use audit_log::SecurityEventKind;
use futures_util::Stream;
use futures_util::future::LocalBoxFuture;
use security_core::ClientKey;

use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::routes;
use crate::settings::{Settings, SettingsError};

/// Largest request body the gateway reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The client's address as the gateway believes it: the socket peer, or the address a trusted
/// proxy reported in `X-Forwarded-For`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Checks the perimeter settings when the configuration loads.
pub fn validate(settings: &Settings) -> Result<(), SettingsError> {
    let server = &settings.server;
    for origin in &server.cors_origins {
        if let Err(reason) = check_origin_entry(origin) {
            return Err(SettingsError::Value {
                key: "server.cors_origins",
                value: format!("{origin:?}"),
                reason: reason.into(),
            });
        }
    }
    for host in &server.allowed_hosts {
        if host.is_empty() || host.contains(['/', '*', ' ', ',']) {
            return Err(SettingsError::Value {
                key: "server.allowed_hosts",
                value: format!("{host:?}"),
                reason: "a host name or address without port, scheme or wildcard".into(),
            });
        }
    }
    if !(1..=120).contains(&server.request_timeout_secs) {
        return Err(SettingsError::Value {
            key: "server.request_timeout_secs",
            value: server.request_timeout_secs.to_string(),
            reason: "must be between 1 and 120 seconds".into(),
        });
    }
    if !(1..=100_000).contains(&server.max_connections) {
        return Err(SettingsError::Value {
            key: "server.max_connections",
            value: server.max_connections.to_string(),
            reason: "must be between 1 and 100000".into(),
        });
    }
    server.tls.validate()?;
    settings.rate_limits.validate()
}

/// An allowed origin is exact: `scheme://host[:port]`, nothing else.
fn check_origin_entry(origin: &str) -> Result<(), &'static str> {
    if origin.contains('*') {
        return Err("wildcards are not allowed; list each origin exactly");
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("an origin is scheme://host[:port], such as http://localhost:3000");
    };
    if scheme != "http" && scheme != "https" {
        return Err("the scheme must be http or https");
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err("an origin has no path, query or spaces");
    }
    Ok(())
}

/// What the perimeter enforces, built once from the settings and the bound port.
#[derive(Debug)]
pub struct Policy {
    /// Allowed host names, lower case, IPv6 in brackets.
    hosts: Vec<String>,
    port: u16,
    /// The port a `Host` without one means: 443 under TLS, 80 otherwise.
    default_port: u16,
    origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    body_deadline: Duration,
    metrics: Arc<Metrics>,
    events: EventThrottle,
}

impl Policy {
    #[must_use]
    pub fn new(settings: &Settings, port: u16, metrics: Arc<Metrics>) -> Policy {
        let server = &settings.server;
        let mut hosts: Vec<String> =
            server.allowed_hosts.iter().map(|host| host.to_ascii_lowercase()).collect();
        if !server.bind.is_unspecified() {
            hosts.push(match server.bind {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            });
        }
        Policy {
            hosts,
            port,
            default_port: if server.tls.enabled() { 443 } else { 80 },
            origins: server.cors_origins.clone(),
            trusted_proxies: server.trusted_proxies.iter().map(IpAddr::to_canonical).collect(),
            body_deadline: Duration::from_secs(server.request_timeout_secs),
            metrics,
            events: EventThrottle::default(),
        }
    }

    /// True when `value` (a `Host` header or a URI authority) names this gateway.
    fn host_allowed(&self, value: &str) -> bool {
        let Some((name, port)) = split_host(value) else {
            return false;
        };
        port.unwrap_or(self.default_port) == self.port
            && self.hosts.iter().any(|host| host.eq_ignore_ascii_case(name))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }

    /// The client: the peer, unless the peer is a trusted proxy; then the right-most address
    /// of `X-Forwarded-For` that is not itself a trusted proxy.
    fn client(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let mut hops: Vec<&str> = Vec::new();
        for value in req.headers().get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else { return Some(peer) };
            hops.extend(text.split(',').map(str::trim));
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !self.trusted_proxies.contains(&client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(client)
    }
}

/// Splits `host[:port]` or `[v6]:port`; `None` when it is not a host at all.
fn split_host(value: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let (name, rest) = value.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(port) => (name, Some(port)),
            None if rest.is_empty() => (name, None),
            None => return None,
        }
    } else {
        match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        }
    };
    if name.is_empty() {
        return None;
    }
    let port = match port {
        Some(text) => Some(text.parse::<u16>().ok()?),
        None => None,
    };
    Some((name, port))
}

/// Security events of the perimeter, at most one per kind and client per minute: a page
/// retrying in a loop must not be able to fill the disk through `security.csv`. Every
/// refusal is still counted in the metrics. The lock is taken on refusals only.
#[derive(Debug, Default)]
struct EventThrottle {
    last: Mutex<HashMap<(PerimeterEvent, ClientKey), Instant>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PerimeterEvent {
    Host,
    Origin,
    RateLimited,
}

impl EventThrottle {
    const EVERY: Duration = Duration::from_secs(60);
    const MAX_ENTRIES: usize = 10_000;

    fn admit(&self, event: PerimeterEvent, client: ClientKey, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() >= Self::MAX_ENTRIES {
            last.retain(|_, at| now.duration_since(*at) < Self::EVERY);
        }
        match last.get(&(event, client)) {
            Some(at) if now.duration_since(*at) < Self::EVERY => false,
            _ => {
                last.insert((event, client), now);
                true
            }
        }
    }
}

/// The app-wide middleware; see the module documentation.
#[derive(Clone, Debug)]
pub struct Perimeter {
    policy: Arc<Policy>,
}

impl Perimeter {
    #[must_use]
    pub fn new(policy: Arc<Policy>) -> Perimeter {
        Perimeter { policy }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Perimeter
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = PerimeterService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(PerimeterService { service: Rc::new(service), policy: Arc::clone(&self.policy) }))
    }
}

#[derive(Debug)]
pub struct PerimeterService<S> {
    service: Rc<S>,
    policy: Arc<Policy>,
}

impl<S, B> Service<ServiceRequest> for PerimeterService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let policy = Arc::clone(&self.policy);
        let client = policy.client(&req);
        if let Some(ip) = client {
            req.extensions_mut().insert(ClientAddr(ip));
        }

        if let Some(refusal) = refusal(&policy, &req) {
            if let Some(event) = refusal.event {
                record_event(&policy, &req, event, client, None, refusal.detail);
            }
            let response = req.error_response(refusal.error);
            policy.metrics.request(None, response.status(), started.elapsed());
            return Box::pin(async move { Ok(response.map_into_right_body()) });
        }

        // The body is read through a stream that stops at the size limit and the deadline,
        // whether or not it announced its length.
        let deadline = tokio::time::Instant::from_std(started + policy.body_deadline);
        let payload = LimitedPayload {
            inner: req.take_payload(),
            read: 0,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        };
        req.set_payload(Payload::from(
            Box::pin(payload) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
        ));

        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let response = service.call(req).await?;
            let request = response.request();
            let class = routes::class_of(request.method(), request.match_pattern().as_deref());
            policy.metrics.request(class, response.status(), started.elapsed());
            if let Some(error) = response.response().extensions().get::<ApiError>() {
                policy.metrics.refusal(error.code, class);
                if error.code == ErrorCode::RateLimited {
                    let key_id =
                        request.extensions().get::<Caller>().copied().and_then(Caller::key_id);
                    let detail = format!(
                        "{} rate limit reached; further refusals this minute not recorded",
                        class.map_or("unknown", routes::LimitClass::as_str)
                    );
                    record_event(
                        &policy,
                        request,
                        PerimeterEvent::RateLimited,
                        client,
                        key_id,
                        detail,
                    );
                }
            }
            Ok(response.map_into_left_body())
        })
    }
}

/// Why a request is refused before authentication.
struct Refusal {
    error: ApiError,
    event: Option<PerimeterEvent>,
    detail: String,
}

fn refusal(policy: &Policy, req: &ServiceRequest) -> Option<Refusal> {
    // 1. Host: the raw header, and the request line's authority when it has one.
    let host = req.headers().get(header::HOST).map(|value| value.to_str().unwrap_or(""));
    let authority = req.uri().authority().map(actix_web::http::uri::Authority::as_str);
    let host_ok = match (host, authority) {
        (None, None) => false,
        (host, authority) => {
            host.is_none_or(|h| policy.host_allowed(h))
                && authority.is_none_or(|a| policy.host_allowed(a))
        }
    };
    if !host_ok {
        let shown = host.or(authority).unwrap_or("(none)");
        return Some(Refusal {
            error: ApiError::new(
                ErrorCode::HostNotAllowed,
                "this host name is not allowed; use the gateway's own address",
            ),
            event: Some(PerimeterEvent::Host),
            detail: format!("host {shown:?} refused"),
        });
    }

    // 2. Origin: a browser page from anywhere not listed gets nothing, preflight included.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let text = origin.to_str().unwrap_or("");
        if !policy.origin_allowed(text) {
            let state_changing =
                [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(req.method());
            return Some(Refusal {
                error: ApiError::new(
                    ErrorCode::OriginNotAllowed,
                    "requests from this web page's origin are not allowed",
                ),
                event: Some(PerimeterEvent::Origin),
                detail: format!(
                    "origin {text:?} refused on {} {}",
                    req.method(),
                    if state_changing { "(state-changing)" } else { "(read or preflight)" }
                ),
            });
        }
    }

    // 3. The body: announced size, then type.
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if length.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Some(Refusal {
            error: ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than 64 KiB",
            ),
            event: None,
            detail: String::new(),
        });
    }
    let has_body = length.is_some_and(|length| length > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body && !is_json(req) {
        return Some(Refusal {
            error: ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the request body must be application/json",
            ),
            event: None,
            detail: String::new(),
        });
    }
    None
}

fn is_json(req: &ServiceRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else { return false };
    let Ok(text) = value.to_str() else { return false };
    let essence = text.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn record_event(
    policy: &Policy,
    req: &impl RequestParts,
    event: PerimeterEvent,
    client: Option<IpAddr>,
    key_id: Option<security_core::KeyId>,
    detail: String,
) {
    let client_key = ClientKey::from(client.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)));
    if !policy.events.admit(event, client_key, Instant::now()) {
        return;
    }
    let kind = match event {
        PerimeterEvent::Host => SecurityEventKind::HostRejected,
        PerimeterEvent::Origin => SecurityEventKind::OriginRejected,
        PerimeterEvent::RateLimited => SecurityEventKind::RateLimited,
    };
    tracing::warn!(event = ?kind, client = %client_key, "request refused at the perimeter");
    if let Some(state) = req.state() {
        audit::security_event(&state.audit, kind, client, key_id, detail);
    }
}

/// The app state from a request, before or after the service ran.
trait RequestParts {
    fn state(&self) -> Option<Data<AppState>>;
}

impl RequestParts for ServiceRequest {
    fn state(&self) -> Option<Data<AppState>> {
        self.app_data::<Data<AppState>>().cloned()
    }
}

impl RequestParts for actix_web::HttpRequest {
    fn state(&self) -> Option<Data<AppState>> {
        self.app_data::<Data<AppState>>().cloned()
    }
}

/// A request body that fails once it passes [`MAX_BODY_BYTES`] or its deadline.
struct LimitedPayload {
    inner: Payload,
    read: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for LimitedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.read += chunk.len();
                if this.read > MAX_BODY_BYTES {
                    return Poll::Ready(Some(Err(PayloadError::Overflow)));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body not received in time",
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_into_name_and_port() {
        assert_eq!(split_host("localhost:5001"), Some(("localhost", Some(5001))));
        assert_eq!(split_host("LOCALHOST"), Some(("LOCALHOST", None)));
        assert_eq!(split_host("[::1]:5001"), Some(("[::1]", Some(5001))));
        assert_eq!(split_host("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_host("[::1]x"), None);
        assert_eq!(split_host("localhost:http"), None);
        assert_eq!(split_host(":5001"), None);
    }

    #[test]
    fn origins_must_be_exact() {
        assert!(check_origin_entry("http://localhost:3000").is_ok());
        assert!(check_origin_entry("https://app.example").is_ok());
        assert!(check_origin_entry("*").is_err());
        assert!(check_origin_entry("https://*.example").is_err());
        assert!(check_origin_entry("localhost:3000").is_err());
        assert!(check_origin_entry("http://localhost:3000/").is_err());
        assert!(check_origin_entry("file://x").is_err());
    }

    #[test]
    fn perimeter_events_are_throttled_per_client_and_kind() {
        let throttle = EventThrottle::default();
        let now = Instant::now();
        let local = ClientKey::Loopback;
        assert!(throttle.admit(PerimeterEvent::Host, local, now));
        assert!(!throttle.admit(PerimeterEvent::Host, local, now + Duration::from_secs(30)));
        assert!(throttle.admit(PerimeterEvent::Origin, local, now));
        assert!(throttle.admit(PerimeterEvent::Host, local, now + Duration::from_secs(61)));
    }
}
