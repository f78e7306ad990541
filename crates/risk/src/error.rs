//! The crate's errors: bad configuration, unusable market data and unusable volumes.
//!
//! None of these is a risk denial. A denial ([`crate::Denial`]) says an order breaks a rule;
//! these say the inputs cannot be checked at all.

use rust_decimal::Decimal;
use thiserror::Error;

/// A risk configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("unknown time zone {name:?}")]
    UnknownTimeZone { name: String },
    #[error("time {text:?} is not like \"17:00\"")]
    InvalidClockTime { text: String },
    #[error("session window {text:?} is not like \"mon-fri 08:00-17:00\": {reason}")]
    InvalidWindow { text: String, reason: String },
    #[error("{field} must be positive, not {value}")]
    NotPositive { field: String, value: Decimal },
    #[error("{field} must be between 0 and 100 percent, not {value}")]
    PercentOutOfRange { field: String, value: Decimal },
    #[error("{field} must be at least 1")]
    ZeroLimit { field: String },
    #[error("volume_min {min} is above volume_max {max} for {symbol}")]
    VolumeRange { symbol: String, min: Decimal, max: Decimal },
    #[error("volume_step {step} for {symbol} is not a multiple of the terminal's step {terminal}")]
    StepNotMultiple { symbol: String, step: Decimal, terminal: Decimal },
    #[error("sessions for {symbol} list no window; leave sessions out to trade at any time")]
    NoWindows { symbol: String },
}

/// Market data that cannot be checked against: the check refuses to run on it, and a
/// server answers 503 as it would if the data could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("quote for {tick} given with the specification of {symbol}")]
    SymbolMismatch { symbol: String, tick: String },
    #[error("quote for {symbol} is unusable: bid {bid}, ask {ask}")]
    InvalidQuote { symbol: String, bid: Decimal, ask: Decimal },
    #[error("{field} {value} of {symbol} is unusable")]
    InvalidSpecification { symbol: String, field: &'static str, value: Decimal },
    #[error("conversion rate {rate} for {symbol} must be positive")]
    InvalidConversionRate { symbol: String, rate: Decimal },
}

/// A requested volume that is not a usable number of lots.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum VolumeError {
    #[error("volume must be a number")]
    NotANumber,
    #[error("volume must be finite")]
    Infinite,
    #[error("volume must be positive, not {value}")]
    NotPositive { value: f64 },
    #[error("volume {value:e} is above the largest accepted volume {max}")]
    TooLarge { value: f64, max: Decimal },
    #[error("volume {value:e} is below the smallest representable volume")]
    TooSmall { value: f64 },
}

impl VolumeError {
    /// The error code of the HTTP API (SPEC §4) this error is reported under.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            VolumeError::NotANumber | VolumeError::Infinite => "VALIDATION_FAILED",
            VolumeError::NotPositive { .. } | VolumeError::TooSmall { .. } => "VOLUME_TOO_SMALL",
            VolumeError::TooLarge { .. } => "VOLUME_TOO_LARGE",
        }
    }
}
