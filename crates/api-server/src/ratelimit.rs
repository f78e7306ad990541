//! Rate limits: one GCRA limiter per route class (read, trading, admin), keyed by the caller's
//! verified key id, or by its client address when it has no key.
//!
//! The limiters run inside the authentication gate, so the key they count against is one the
//! gate has verified: a caller cannot pick its bucket by sending someone else's key id, a
//! made-up header or another loopback source address (all of `127.0.0.0/8` and `::1` are one
//! client). Each resource is wrapped with the limiter of every class; a limiter lets through,
//! uncounted, the requests of routes that belong to another class.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::StateInformationMiddleware;
use actix_governor::{
    Governor, GovernorConfig, GovernorConfigBuilder, GovernorMiddleware, KeyExtractor,
};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::{Error, HttpMessage, HttpResponse, HttpResponseBuilder};
use futures_util::future::LocalBoxFuture;
use security_core::{ClientKey, KeyId};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::perimeter::ClientAddr;
use crate::routes::{self, LimitClass};
use crate::settings::SettingsError;

/// `[rate_limits]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Off only for load tests on a trusted machine; `config check` flags it.
    pub enabled: bool,
    pub read: ClassLimit,
    pub trading: ClassLimit,
    pub admin: ClassLimit,
}

/// The pace and burst of one class.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl RateLimitSettings {
    fn class(&self, class: LimitClass) -> ClassLimit {
        match class {
            LimitClass::Read => self.read,
            LimitClass::Trading => self.trading,
            LimitClass::Admin => self.admin,
        }
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, limit) in [
            ("rate_limits.read", self.read),
            ("rate_limits.trading", self.trading),
            ("rate_limits.admin", self.admin),
        ] {
            if !(1..=60_000).contains(&limit.per_minute) {
                return Err(SettingsError::Value {
                    key,
                    value: format!("per_minute = {}", limit.per_minute),
                    reason: "must be from 1 to 60000".into(),
                });
            }
            if !(1..=10_000).contains(&limit.burst) {
                return Err(SettingsError::Value {
                    key,
                    value: format!("burst = {}", limit.burst),
                    reason: "must be from 1 to 10000".into(),
                });
            }
        }
        Ok(())
    }
}

/// Whose budget a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// A route of another class, or limits switched off: not counted here.
    Exempt,
    Key(KeyId),
    Client(ClientKey),
}

/// Picks the [`RateKey`] of a request for the limiter of one class.
#[derive(Clone, Copy, Debug)]
pub struct RateKeyExtractor {
    class: LimitClass,
    enabled: bool,
}

impl KeyExtractor for RateKeyExtractor {
    type Key = RateKey;
    type KeyExtractionError = ApiError;

    fn extract(&self, req: &ServiceRequest) -> Result<RateKey, ApiError> {
        if !self.enabled {
            return Ok(RateKey::Exempt);
        }
        let pattern = req.match_pattern();
        if routes::class_of(req.method(), pattern.as_deref()) != Some(self.class) {
            return Ok(RateKey::Exempt);
        }
        let extensions = req.extensions();
        // The gate put the caller here; only a verified key has an id.
        if let Some(key_id) = extensions.get::<Caller>().copied().and_then(Caller::key_id) {
            return Ok(RateKey::Key(key_id));
        }
        let address = extensions
            .get::<ClientAddr>()
            .map(|client| client.0)
            .or_else(|| req.peer_addr().map(|peer| peer.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Ok(RateKey::Client(ClientKey::from(address)))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        mut response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        // Round up, so a client that waits exactly `Retry-After` seconds gets through.
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        let error = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many {} calls; try again in {seconds} s", self.class.as_str()),
        )
        .with_details(serde_json::json!({
            "class": self.class.as_str(),
            "retry_after_secs": seconds,
        }))
        .with_retry_after(seconds);
        response.insert_header((header::RETRY_AFTER, seconds));
        let mut response = response.finish();
        response.extensions_mut().insert(error);
        response
    }

    fn whitelisted_keys(&self) -> Vec<RateKey> {
        vec![RateKey::Exempt]
    }
}

type ClassConfig = GovernorConfig<RateKeyExtractor, StateInformationMiddleware>;

/// The three limiters. Clones share their counts: every resource of a class draws from the
/// same budget.
#[derive(Clone, Debug)]
pub struct RateLimiters {
    read: ClassConfig,
    trading: ClassConfig,
    admin: ClassConfig,
}

type ClassGovernor = Governor<RateKeyExtractor, StateInformationMiddleware>;

impl RateLimiters {
    pub fn new(settings: &RateLimitSettings) -> Result<RateLimiters, SettingsError> {
        settings.validate()?;
        let config = |class: LimitClass| -> Result<ClassConfig, SettingsError> {
            let limit = settings.class(class);
            let period = Duration::from_secs(60) / limit.per_minute;
            GovernorConfigBuilder::default()
                .period(period)
                .burst_size(limit.burst)
                .key_extractor(RateKeyExtractor { class, enabled: settings.enabled })
                .use_headers()
                .finish()
                .ok_or_else(|| {
                    SettingsError::Invalid(format!("rate_limits.{}: no rate", class.as_str()))
                })
        };
        Ok(RateLimiters {
            read: config(LimitClass::Read)?,
            trading: config(LimitClass::Trading)?,
            admin: config(LimitClass::Admin)?,
        })
    }

    /// The middleware for one resource: every class's limiter, sharing its counts with the
    /// other resources.
    #[must_use]
    pub fn layer(&self) -> ClassLimits {
        ClassLimits {
            read: Governor::new(&self.read),
            trading: Governor::new(&self.trading),
            admin: Governor::new(&self.admin),
        }
    }

    /// Forgets, once a minute, the callers whose budget has refilled, so the limiters' memory
    /// follows the callers of the last minute rather than every caller ever seen.
    pub fn spawn_cleanup(&self) {
        let limiters: Vec<Arc<_>> = [&self.read, &self.trading, &self.admin]
            .iter()
            .map(|config| config.limiter())
            .collect();
        actix_web::rt::spawn(async move {
            let mut interval = actix_web::rt::time::interval(Duration::from_secs(60));
            loop {
                interval.tick().await;
                for limiter in &limiters {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        });
    }
}

/// The three class limiters around one resource, as one middleware.
///
/// actix-governor's header-setting service needs an `Unpin` future from the service inside
/// it, which a resource wrapped once already no longer promises; so the three are stacked here,
/// each inner service's future boxed.
#[allow(missing_debug_implementations, reason = "actix-governor's Governor has no Debug")]
pub struct ClassLimits {
    read: ClassGovernor,
    trading: ClassGovernor,
    admin: ClassGovernor,
}

type Stage<S> = GovernorMiddleware<Unpinned<S>, RateKeyExtractor, StateInformationMiddleware>;
type Stacked<S> = Stage<Stage<Stage<S>>>;

impl<S, B> Transform<S, ServiceRequest> for ClassLimits
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<EitherBody<EitherBody<B>>>>;
    type Error = Error;
    type Transform = Stacked<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        // Governor's transforms are ready at once and never fail.
        let stacked = self
            .read
            .new_transform(Unpinned(service))
            .into_inner()
            .and_then(|read| self.trading.new_transform(Unpinned(read)).into_inner())
            .and_then(|trading| self.admin.new_transform(Unpinned(trading)).into_inner());
        ready(stacked)
    }
}

/// A service whose future is boxed, and so `Unpin`.
#[allow(missing_debug_implementations, reason = "wraps services without Debug")]
pub struct Unpinned<S>(S);

impl<S, B> Service<ServiceRequest> for Unpinned<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> Self::Future {
        Box::pin(self.0.call(req))
    }
}
