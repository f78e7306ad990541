//! The error envelope: every failure leaves the gateway as
//! `{"error":{"code","message","details","request_id"}}`.
//!
//! Handlers return [`ApiError`]. Its response carries the error in the response's extensions
//! with an empty body; the envelope middleware ([`crate::envelope`]) writes the body once it
//! knows the request id. Errors raised by actix itself (a payload it could not read, a method
//! a route does not have) reach the same middleware without that marker and are given an
//! envelope from their status, so no plain-text error ever leaves.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

/// Every error code of the HTTP contract (SPEC §4).
///
/// The OpenAPI description lists these variants as the values of `error.code`, so a code added
/// here is documented without further work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationFailed,
    InvalidSymbol,
    VolumeTooSmall,
    VolumeTooLarge,
    InvalidStops,
    InvalidPrice,
    SymbolDisabled,
    OutsideSession,
    DailyLossLimit,
    MaxPositions,
    MaxNotional,
    StaleQuote,
    TradingHalted,
    ReduceOnly,
    BrokerRejected,
    IdempotencyConflict,
    AuditUnavailable,
    Unauthorized,
    Forbidden,
    HostNotAllowed,
    OriginNotAllowed,
    RateLimited,
    LockedOut,
    RequestTimeout,
    NotFound,
    SymbolNotFound,
    OrderNotFound,
    PositionNotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Internal,
    TerminalUnavailable,
    TerminalTimeout,
}

impl ErrorCode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::InvalidSymbol => "INVALID_SYMBOL",
            ErrorCode::VolumeTooSmall => "VOLUME_TOO_SMALL",
            ErrorCode::VolumeTooLarge => "VOLUME_TOO_LARGE",
            ErrorCode::InvalidStops => "INVALID_STOPS",
            ErrorCode::InvalidPrice => "INVALID_PRICE",
            ErrorCode::SymbolDisabled => "SYMBOL_DISABLED",
            ErrorCode::OutsideSession => "OUTSIDE_SESSION",
            ErrorCode::DailyLossLimit => "DAILY_LOSS_LIMIT",
            ErrorCode::MaxPositions => "MAX_POSITIONS",
            ErrorCode::MaxNotional => "MAX_NOTIONAL",
            ErrorCode::StaleQuote => "STALE_QUOTE",
            ErrorCode::TradingHalted => "TRADING_HALTED",
            ErrorCode::ReduceOnly => "REDUCE_ONLY",
            ErrorCode::BrokerRejected => "BROKER_REJECTED",
            ErrorCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ErrorCode::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::HostNotAllowed => "HOST_NOT_ALLOWED",
            ErrorCode::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::LockedOut => "LOCKED_OUT",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::SymbolNotFound => "SYMBOL_NOT_FOUND",
            ErrorCode::OrderNotFound => "ORDER_NOT_FOUND",
            ErrorCode::PositionNotFound => "POSITION_NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::TerminalUnavailable => "TERMINAL_UNAVAILABLE",
            ErrorCode::TerminalTimeout => "TERMINAL_TIMEOUT",
        }
    }

    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::ValidationFailed
            | ErrorCode::InvalidSymbol
            | ErrorCode::VolumeTooSmall
            | ErrorCode::VolumeTooLarge
            | ErrorCode::InvalidStops
            | ErrorCode::InvalidPrice => StatusCode::BAD_REQUEST,
            ErrorCode::SymbolDisabled
            | ErrorCode::OutsideSession
            | ErrorCode::DailyLossLimit
            | ErrorCode::MaxPositions
            | ErrorCode::MaxNotional
            | ErrorCode::StaleQuote
            | ErrorCode::TradingHalted
            | ErrorCode::ReduceOnly
            | ErrorCode::BrokerRejected
            | ErrorCode::IdempotencyConflict => StatusCode::CONFLICT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::HostNotAllowed | ErrorCode::OriginNotAllowed => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::RateLimited | ErrorCode::LockedOut => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::NotFound
            | ErrorCode::SymbolNotFound
            | ErrorCode::OrderNotFound
            | ErrorCode::PositionNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TerminalUnavailable | ErrorCode::AuditUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::TerminalTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The code of a risk denial; every `risk::Denial::code` has one.
    #[must_use]
    pub fn from_risk(code: &str) -> ErrorCode {
        match code {
            "SYMBOL_DISABLED" => ErrorCode::SymbolDisabled,
            "INVALID_SYMBOL" => ErrorCode::InvalidSymbol,
            "OUTSIDE_SESSION" => ErrorCode::OutsideSession,
            "DAILY_LOSS_LIMIT" => ErrorCode::DailyLossLimit,
            "MAX_POSITIONS" => ErrorCode::MaxPositions,
            "MAX_NOTIONAL" => ErrorCode::MaxNotional,
            "STALE_QUOTE" => ErrorCode::StaleQuote,
            "TRADING_HALTED" => ErrorCode::TradingHalted,
            "REDUCE_ONLY" => ErrorCode::ReduceOnly,
            "VOLUME_TOO_SMALL" => ErrorCode::VolumeTooSmall,
            "VOLUME_TOO_LARGE" => ErrorCode::VolumeTooLarge,
            "INVALID_STOPS" => ErrorCode::InvalidStops,
            "INVALID_PRICE" => ErrorCode::InvalidPrice,
            "POSITION_NOT_FOUND" => ErrorCode::PositionNotFound,
            "ORDER_NOT_FOUND" => ErrorCode::OrderNotFound,
            _ => ErrorCode::ValidationFailed,
        }
    }

    /// The envelope for an error actix produced itself, chosen by its status.
    #[must_use]
    pub fn for_status(status: StatusCode) -> (ErrorCode, &'static str) {
        match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (ErrorCode::MethodNotAllowed, "this route does not take that method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorCode::PayloadTooLarge, "the request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (ErrorCode::UnsupportedMediaType, "the request body must be application/json")
            }
            StatusCode::TOO_MANY_REQUESTS => {
                (ErrorCode::RateLimited, "too many requests; try again later")
            }
            StatusCode::REQUEST_TIMEOUT => {
                (ErrorCode::RequestTimeout, "the request was not received in time")
            }
            status if status.is_client_error() => {
                (ErrorCode::ValidationFailed, "the request could not be read")
            }
            _ => (ErrorCode::Internal, "internal error"),
        }
    }
}

/// An error response on its way to the caller.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header (429 responses).
    pub retry_after: Option<u64>,
    /// What went wrong inside, for `errors.csv` only; the caller never sees it.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError { code, message: message.into(), details: None, retry_after: None, cause: None }
    }

    #[must_use]
    pub fn with_cause(mut self, cause: impl Into<String>) -> ApiError {
        self.cause = Some(cause.into());
        self
    }

    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    #[must_use]
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// A 400 naming one bad field: `details` is `{"fields": {field: reason}}`.
    pub fn invalid_field(field: &str, reason: impl Into<String>) -> ApiError {
        let reason = reason.into();
        let message = format!("{field}: {reason}");
        let mut fields = serde_json::Map::new();
        fields.insert(field.to_owned(), Value::String(reason));
        ApiError::new(ErrorCode::ValidationFailed, message)
            .with_details(serde_json::json!({ "fields": fields }))
    }

    /// An unexpected failure: the caller learns only the request id; the cause goes to the
    /// operator's log by the caller of this function.
    #[must_use]
    pub fn internal() -> ApiError {
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::new(self.status_code());
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub error: EnvelopeBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct EnvelopeBody<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'a Value>,
    pub request_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_risk_denial_code_maps_to_itself() {
        for code in [
            "SYMBOL_DISABLED",
            "INVALID_SYMBOL",
            "OUTSIDE_SESSION",
            "DAILY_LOSS_LIMIT",
            "MAX_POSITIONS",
            "MAX_NOTIONAL",
            "STALE_QUOTE",
            "TRADING_HALTED",
            "REDUCE_ONLY",
            "VOLUME_TOO_SMALL",
            "VOLUME_TOO_LARGE",
            "INVALID_STOPS",
            "INVALID_PRICE",
            "POSITION_NOT_FOUND",
            "ORDER_NOT_FOUND",
        ] {
            assert_eq!(ErrorCode::from_risk(code).as_str(), code);
        }
    }
}
