//! The route table: the one place that says which routes exist, what scope each needs and
//! which rate-limit class it counts against.
//!
//! Routes are registered only from this table, so a route cannot exist without declaring its
//! access and class.

use actix_web::Route;
use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};

use security_core::Scope;

use crate::auth::Gate;
use crate::ratelimit::RateLimiters;
use crate::{keys_api, metrics, openapi, reads, trading};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the gateway (health, metrics, the API description).
    Public,
    /// Callers whose key has at least this scope.
    Scope(Scope),
}

/// The rate-limit bucket a route draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitClass {
    Read,
    Trading,
    Admin,
}

impl LimitClass {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LimitClass::Read => "read",
            LimitClass::Trading => "trading",
            LimitClass::Admin => "admin",
        }
    }
}

/// The class of the route `method` `pattern` (a path pattern such as `/api/keys/{id}`).
#[must_use]
pub fn class_of(method: &Method, pattern: Option<&str>) -> Option<LimitClass> {
    let pattern = pattern?;
    ROUTES.iter().find(|spec| spec.method == method && spec.path == pattern).map(|spec| spec.class)
}

/// One row of the table.
#[derive(Debug)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub class: LimitClass,
    /// Attaches the handler to a route already restricted to `method`.
    pub handler: fn(Route) -> Route,
}

const READ: Access = Access::Scope(Scope::Read);
const ADMIN: Access = Access::Scope(Scope::Admin);
const TRADE: Access = Access::Scope(Scope::Trade);

/// Every route of the gateway.
pub static ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: Method::GET,
        path: "/api/health",
        access: Access::Public,
        class: LimitClass::Read,
        handler: |route| route.to(reads::health),
    },
    RouteSpec {
        method: Method::GET,
        path: "/metrics",
        access: Access::Public,
        class: LimitClass::Read,
        handler: |route| route.to(metrics::scrape),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/openapi.json",
        access: Access::Public,
        class: LimitClass::Read,
        handler: |route| route.to(openapi::document),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/account",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::account),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/symbols",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::symbols),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/symbols/{symbol}",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::symbol),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/symbols/{symbol}/tick",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::tick),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/symbols/{symbol}/bars",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::bars),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/positions",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::positions),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/orders",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::orders),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/history/deals",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::history_deals),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/history/orders",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(reads::history_orders),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/risk",
        access: READ,
        class: LimitClass::Read,
        handler: |route| route.to(trading::status),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/orders",
        access: TRADE,
        class: LimitClass::Trading,
        handler: |route| route.to(trading::place),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/api/orders/{ticket}",
        access: TRADE,
        class: LimitClass::Trading,
        handler: |route| route.to(trading::modify_order),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/api/orders/{ticket}",
        access: TRADE,
        class: LimitClass::Trading,
        handler: |route| route.to(trading::cancel_order),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/api/positions/{ticket}",
        access: TRADE,
        class: LimitClass::Trading,
        handler: |route| route.to(trading::modify_position),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/positions/{ticket}/close",
        access: TRADE,
        class: LimitClass::Trading,
        handler: |route| route.to(trading::close_position),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/risk/halt",
        access: TRADE,
        class: LimitClass::Trading,
        handler: |route| route.to(trading::halt),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/risk/resume",
        access: ADMIN,
        class: LimitClass::Admin,
        handler: |route| route.to(trading::resume),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/keys",
        access: ADMIN,
        class: LimitClass::Admin,
        handler: |route| route.to(keys_api::list),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/keys",
        access: ADMIN,
        class: LimitClass::Admin,
        handler: |route| route.to(keys_api::create),
    },
    RouteSpec {
        method: Method::POST,
        path: "/api/keys/{id}/rotate",
        access: ADMIN,
        class: LimitClass::Admin,
        handler: |route| route.to(keys_api::rotate),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/api/keys/{id}",
        access: ADMIN,
        class: LimitClass::Admin,
        handler: |route| route.to(keys_api::revoke),
    },
    RouteSpec {
        method: Method::GET,
        path: "/api/security/events",
        access: ADMIN,
        class: LimitClass::Admin,
        handler: |route| route.to(reads::security_events),
    },
];

/// Registers every route of [`ROUTES`], one resource per path.
///
/// The last `wrap` runs first: the gate authenticates, then the limiters count the request
/// against the verified key (or the client address of an anonymous caller).
pub fn configure(cfg: &mut ServiceConfig, limits: &RateLimiters) {
    let mut paths: Vec<&'static str> = Vec::new();
    for spec in ROUTES {
        if !paths.contains(&spec.path) {
            paths.push(spec.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        let mut rules = Vec::new();
        for spec in ROUTES.iter().filter(|spec| spec.path == path) {
            resource = resource.route((spec.handler)(web::route().method(spec.method.clone())));
            rules.push((spec.method.clone(), spec.access));
        }
        cfg.service(resource.wrap(limits.layer()).wrap(Gate::new(rules)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_and_path_pair_is_declared_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} is declared twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn only_health_metrics_and_the_api_description_are_public() {
        let public: Vec<&str> = ROUTES
            .iter()
            .filter(|spec| spec.access == Access::Public)
            .map(|spec| spec.path)
            .collect();
        for path in public {
            assert!(
                ["/api/health", "/metrics", "/api/openapi.json"].contains(&path),
                "{path} must not be public"
            );
        }
    }
}
