//! The bodies of trading requests, and reading them with every bad field named.

use std::str::FromStr;

use actix_web::HttpRequest;
use garde::Validate;
use mt5_bridge::types::OrderType;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ApiError, ErrorCode};
use crate::reads::valid_symbol;

use super::MT5_COMMENT_CHARS;

/// `POST /api/orders`.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    #[garde(custom(symbol_rule))]
    pub symbol: String,
    #[serde(rename = "type")]
    #[garde(skip)]
    pub order_type: OrderType,
    #[garde(custom(positive_number))]
    pub volume: f64,
    #[garde(inner(custom(price_number)))]
    pub price: Option<f64>,
    #[garde(inner(custom(price_number)))]
    pub sl: Option<f64>,
    #[garde(inner(custom(price_number)))]
    pub tp: Option<f64>,
    #[garde(inner(range(max = 10_000)))]
    pub deviation: Option<u32>,
    #[garde(inner(custom(comment_rule)))]
    pub comment: Option<String>,
    #[garde(skip)]
    pub magic: Option<i64>,
    #[garde(inner(custom(time_rule)))]
    pub expiration: Option<String>,
}

/// `PATCH /api/orders/{ticket}`: what is left out keeps its value; 0 removes a stop.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ModifyOrder {
    #[garde(inner(custom(price_number)))]
    pub price: Option<f64>,
    #[garde(inner(custom(stop_number)))]
    pub sl: Option<f64>,
    #[garde(inner(custom(stop_number)))]
    pub tp: Option<f64>,
    #[garde(inner(custom(time_rule)))]
    pub expiration: Option<String>,
}

/// `PATCH /api/positions/{ticket}`: what is left out keeps its value; 0 removes a stop.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ModifyPosition {
    #[garde(inner(custom(stop_number)))]
    pub sl: Option<f64>,
    #[garde(inner(custom(stop_number)))]
    pub tp: Option<f64>,
}

/// `POST /api/positions/{ticket}/close`: the whole position without a volume.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ClosePosition {
    #[garde(inner(custom(positive_number)))]
    pub volume: Option<f64>,
    #[garde(inner(range(max = 10_000)))]
    pub deviation: Option<u32>,
}

/// `POST /api/risk/halt`.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Halt {
    /// Also close every open position.
    #[garde(skip)]
    pub close_all: Option<bool>,
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
pub(super) fn symbol_rule(value: &str, (): &()) -> garde::Result {
    valid_symbol(value).map(|_| ()).map_err(|err| garde::Error::new(err.message))
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
pub(super) fn positive_number(value: &f64, (): &()) -> garde::Result {
    if value.is_finite() && *value > 0.0 {
        Ok(())
    } else {
        Err(garde::Error::new("must be a number above 0"))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
pub(super) fn price_number(value: &f64, (): &()) -> garde::Result {
    if value.is_finite() && *value > 0.0 && *value < 1e12 {
        Ok(())
    } else {
        Err(garde::Error::new("must be a price above 0"))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
pub(super) fn stop_number(value: &f64, (): &()) -> garde::Result {
    if value.is_finite() && *value >= 0.0 && *value < 1e12 {
        Ok(())
    } else {
        Err(garde::Error::new("must be a price, or 0 for none"))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
pub(super) fn comment_rule(value: &str, (): &()) -> garde::Result {
    let room = MT5_COMMENT_CHARS - 12;
    if value.chars().count() > room {
        return Err(garde::Error::new(format!("must be at most {room} characters")));
    }
    if value.chars().any(|c| !c.is_ascii() || c.is_ascii_control()) {
        return Err(garde::Error::new("must be printable ASCII"));
    }
    Ok(())
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "garde passes references")]
pub(super) fn time_rule(value: &str, (): &()) -> garde::Result {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|_| ())
        .map_err(|_| garde::Error::new("must be an RFC 3339 time such as 2026-01-02T15:04:05Z"))
}

/// Reads a JSON body into `T` and validates it, naming each bad field. An empty body reads
/// as `T::default()` where the route allows it.
pub(super) fn parse_body<T>(req: &HttpRequest, body: &[u8], empty: Option<T>) -> Result<T, ApiError>
where
    T: DeserializeOwned + Validate<Context = ()>,
{
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let mime = value.split(';').next().unwrap_or_default().trim();
            mime.eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        ));
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let reason = describe_json_error(err.inner());
        match (path.as_str(), err.inner().classify()) {
            (_, serde_json::error::Category::Syntax | serde_json::error::Category::Eof) => {
                ApiError::new(ErrorCode::ValidationFailed, "the request body is not valid JSON")
            }
            (".", _) => match field_in_message(&reason) {
                Some(field) => ApiError::invalid_field(&field, reason),
                None => ApiError::new(ErrorCode::ValidationFailed, reason),
            },
            (field, _) => ApiError::invalid_field(field, reason),
        }
    })?;
    deserializer.end().map_err(|_| {
        ApiError::new(ErrorCode::ValidationFailed, "the request body is not valid JSON")
    })?;

    value.validate().map_err(|report| {
        let mut fields = serde_json::Map::new();
        for (path, error) in report.iter() {
            fields.insert(path.to_string(), Value::String(error.message().to_string()));
        }
        let message = fields
            .iter()
            .map(|(field, reason)| format!("{field}: {}", reason.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::new(ErrorCode::ValidationFailed, message)
            .with_details(json!({ "fields": fields }))
    })?;
    Ok(value)
}

/// serde's wording, without the parser's types and positions.
pub(super) fn describe_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let text = text
        .replace("expected f64", "expected a number")
        .replace("expected u32", "expected a whole number")
        .replace("expected i64", "expected a whole number")
        .replace("expected a boolean", "expected true or false");
    if text.contains("invalid type")
        && let Some((_, expected)) = text.split_once("expected ")
    {
        return format!("must be {expected}");
    }
    text
}

/// The field a message such as "unknown field `x`" or "missing field `x`" names.
pub(super) fn field_in_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].chars().take(40).collect())
}

pub(super) fn decimal(value: f64) -> Result<Decimal, ApiError> {
    Decimal::from_str(&value.to_string())
        .map_err(|_| ApiError::new(ErrorCode::ValidationFailed, "a price is out of range"))
}

pub(super) fn optional_decimal(value: Option<f64>) -> Result<Option<Decimal>, ApiError> {
    value.map(decimal).transpose()
}

/// A stop as MT5 takes it: 0 means none.
pub(super) fn stop(
    value: Option<f64>,
    current: Option<Decimal>,
) -> Result<Option<Decimal>, ApiError> {
    match value {
        None => Ok(current),
        Some(0.0) => Ok(None),
        Some(v) => decimal(v).map(Some),
    }
}

pub(super) fn parse_expiration(value: Option<&str>) -> Option<OffsetDateTime> {
    value.and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
}
