//! Authentication and scopes: the gate in front of every route, and the lockout of clients
//! that keep presenting bad keys.
//!
//! The gate wraps each resource with the access its rows of the route table declare. A key
//! travels in `X-API-Key` or `Authorization: Bearer`; a query string or cookie carrying one is
//! never read. Every refusal of a key gets the same 401 body, whatever the reason, so a caller
//! learns nothing about which keys exist. A valid key is never refused by the lockout: every
//! local process shares the loopback address, and a ban on valid keys would let any of them
//! lock the user's own UI out.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{Error, HttpMessage};
use audit_log::{AuditLogs, SecurityEventKind};
use futures_util::future::LocalBoxFuture;
use security_core::{AuthFailure, ClientKey, FailureOutcome, KeyId, KeyStore, Lockout, Scope};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::audit;
use crate::error::{ApiError, ErrorCode};
use crate::routes::Access;

/// The one message for every refused key.
pub const UNAUTHORIZED_MESSAGE: &str = "a valid API key is required in the X-API-Key header";

/// Keys, the lockout and the policy for anonymous reads.
#[derive(Debug)]
pub struct Auth {
    pub keys: Arc<KeyStore>,
    pub lockout: Lockout,
    pub require_key_for_reads: bool,
}

/// Who is calling, once the gate has let the request through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No key, on a route open to anyone (or a read while reads are open).
    Anonymous,
    Key {
        key_id: KeyId,
        scope: Scope,
    },
}

impl Caller {
    /// The key id for logs and audit rows; never the secret.
    #[must_use]
    pub fn key_id(self) -> Option<KeyId> {
        match self {
            Caller::Anonymous => None,
            Caller::Key { key_id, .. } => Some(key_id),
        }
    }
}

/// What the gate decided for one request.
#[derive(Debug)]
enum Verdict {
    Pass(Caller),
    Refuse(ApiError),
}

impl Auth {
    /// Decides whether `presented` may call a route needing `access`, from `peer`.
    fn judge(
        &self,
        access: Access,
        presented: Presented<'_>,
        peer: Option<IpAddr>,
        audit: &AuditLogs,
    ) -> Verdict {
        let key = match presented {
            Presented::InUrl => {
                audit::security_event(
                    audit,
                    SecurityEventKind::AuthFailure,
                    peer,
                    None,
                    "key in the URL refused",
                );
                return Verdict::Refuse(unauthorized());
            }
            Presented::None => {
                return match access {
                    Access::Public => Verdict::Pass(Caller::Anonymous),
                    Access::Scope(Scope::Read) if !self.require_key_for_reads => {
                        Verdict::Pass(Caller::Anonymous)
                    }
                    // A request without a key does not count toward the lockout: it cannot be
                    // guessing keys.
                    Access::Scope(_) => Verdict::Refuse(unauthorized()),
                };
            }
            Presented::Key(key) => key,
        };

        match self.keys.verify(key, OffsetDateTime::now_utc()) {
            Ok(verified) => {
                let caller = Caller::Key { key_id: verified.key_id, scope: verified.scope };
                match access {
                    Access::Scope(needed) if !verified.scope.allows(needed) => {
                        audit::security_event(
                            audit,
                            SecurityEventKind::Forbidden,
                            peer,
                            Some(verified.key_id),
                            format!("scope {} lacks {}", verified.scope.as_str(), needed.as_str()),
                        );
                        Verdict::Refuse(ApiError::new(
                            ErrorCode::Forbidden,
                            format!("this key's scope does not allow {} calls", needed.as_str()),
                        ))
                    }
                    Access::Scope(needed @ (Scope::Trade | Scope::Admin)) => {
                        audit::security_event(
                            audit,
                            SecurityEventKind::AuthSuccess,
                            peer,
                            Some(verified.key_id),
                            format!("{} call", needed.as_str()),
                        );
                        Verdict::Pass(caller)
                    }
                    _ => Verdict::Pass(caller),
                }
            }
            // A bad key on a public route is ignored: the route needs none.
            Err(_) if access == Access::Public => Verdict::Pass(Caller::Anonymous),
            Err(failure) => self.refuse(failure, peer, audit),
        }
    }

    fn refuse(&self, failure: AuthFailure, peer: Option<IpAddr>, audit: &AuditLogs) -> Verdict {
        tracing::warn!(reason = failure.as_str(), "API key refused");
        let client = ClientKey::from(peer.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let now = Instant::now();
        // While banned, refusals are answered without a row each: the ban's own row says it.
        if failure.counts_toward_lockout()
            && let Some(retry_after) = self.lockout.check(client, now)
        {
            return Verdict::Refuse(locked_out(retry_after));
        }
        audit::security_event(
            audit,
            SecurityEventKind::AuthFailure,
            peer,
            failure.key_id(),
            failure.as_str(),
        );
        if !failure.counts_toward_lockout() {
            return Verdict::Refuse(unauthorized());
        }
        match self.lockout.record_failure(client, now) {
            FailureOutcome::Counted { .. } => Verdict::Refuse(unauthorized()),
            FailureOutcome::Banned { retry_after, newly } => {
                if newly {
                    tracing::warn!(%client, seconds = retry_after.as_secs(), "client locked out");
                    audit::security_event(
                        audit,
                        SecurityEventKind::LockedOut,
                        peer,
                        None,
                        format!("client {client} banned for {} s", retry_after.as_secs()),
                    );
                }
                Verdict::Refuse(locked_out(retry_after))
            }
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, UNAUTHORIZED_MESSAGE)
}

fn locked_out(retry_after: std::time::Duration) -> ApiError {
    // Round up, so a client that waits exactly `Retry-After` seconds is let back in.
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    ApiError::new(ErrorCode::LockedOut, "too many refused keys from this client; try again later")
        .with_details(serde_json::json!({ "retry_after_secs": seconds }))
        .with_retry_after(seconds)
}

/// Where the caller put its key.
#[derive(Clone, Copy, Debug)]
enum Presented<'a> {
    None,
    Key(&'a str),
    /// A key, or a parameter that holds keys, in the query string: refused outright, since
    /// URLs end up in browser history, proxies and logs.
    InUrl,
}

/// Query parameter names that carry credentials in other APIs.
const KEY_PARAMS: [&str; 6] = ["api_key", "apikey", "key", "token", "access_token", "x-api-key"];

fn presented_key(req: &ServiceRequest) -> Presented<'_> {
    let query = req.query_string();
    if !query.is_empty() {
        let lower = query.to_ascii_lowercase();
        let names_a_key_param = query.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            KEY_PARAMS.iter().any(|param| name.eq_ignore_ascii_case(param))
        });
        if names_a_key_param || lower.contains("mt5gw_") {
            return Presented::InUrl;
        }
    }
    let headers = req.headers();
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().map_or(Presented::Key(""), |text| Presented::Key(text.trim()));
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        return match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Presented::Key(token.trim())
            }
            _ => Presented::Key(""),
        };
    }
    Presented::None
}

/// The middleware guarding one resource: the access of each method its rows declare.
#[derive(Clone, Debug)]
pub struct Gate {
    rules: Rc<Vec<(Method, Access)>>,
}

impl Gate {
    #[must_use]
    pub fn new(rules: Vec<(Method, Access)>) -> Gate {
        Gate { rules: Rc::new(rules) }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Gate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GateService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateService { service: Rc::new(service), rules: Rc::clone(&self.rules) }))
    }
}

#[derive(Debug)]
pub struct GateService<S> {
    service: Rc<S>,
    rules: Rc<Vec<(Method, Access)>>,
}

impl<S, B> Service<ServiceRequest> for GateService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let access = self.rules.iter().find(|(method, _)| method == req.method()).map(|r| r.1);
        let verdict = match (access, req.app_data::<Data<AppState>>()) {
            // A method the resource does not have: let the resource answer 405.
            (None, _) => Verdict::Pass(Caller::Anonymous),
            (Some(access), Some(state)) => {
                let peer = req.peer_addr().map(|addr| addr.ip());
                state.auth.judge(access, presented_key(&req), peer, &state.audit)
            }
            // No state means no key store: fail closed.
            (Some(_), None) => Verdict::Refuse(ApiError::internal()),
        };

        match verdict {
            Verdict::Pass(caller) => {
                req.extensions_mut().insert(caller);
                let service = Rc::clone(&self.service);
                Box::pin(
                    async move { service.call(req).await.map(ServiceResponse::map_into_left_body) },
                )
            }
            Verdict::Refuse(error) => {
                let response = req.error_response(error).map_into_right_body();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
