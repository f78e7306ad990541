//! The risk limits, as read from a configuration file's `[risk]` table.
//!
//! Every field has a default, so an empty table is valid; but with no `symbols` listed no
//! symbol may be traded at all, which is the safe default for a gateway that moves money.

use std::collections::BTreeMap;

use mt5_bridge::types::SymbolInfo;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::session::Sessions;
use crate::trading_day::TradingCalendar;
use crate::volume::{Rounding, VolumeRules};
use crate::zone::{ClockTime, Zone};

/// Pre-trade limits. Defaults are given per field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// IANA zone the trading day is reckoned in. Default `"UTC"`.
    pub timezone: Zone,
    /// Local time at which one trading day ends and the next begins. Default `"00:00"`.
    pub rollover: ClockTime,
    /// Daily loss, in the account currency, at which trading turns reduce-only. Default none.
    pub daily_loss_limit: Option<Decimal>,
    /// Daily loss as a percentage of the day's opening equity at which trading turns
    /// reduce-only. Default none. With both limits set the tighter one applies.
    pub daily_loss_limit_pct: Option<Decimal>,
    /// Open positions plus pending orders, over all symbols. Default none (no limit).
    pub max_positions: Option<u32>,
    /// Largest distance of a pending price or an expected fill from the quote's mid price,
    /// in basis points. Default 500 (5 %).
    pub max_price_deviation_bps: u32,
    /// Oldest quote an opening order may be checked against, in milliseconds. Default 10 000.
    pub max_quote_age_ms: u64,
    /// Largest volume × contract size × price of one order, in the account currency.
    /// Default none.
    pub max_notional_per_order: Option<Decimal>,
    /// How volumes are brought onto the step. Default `"down"`; `"nearest"` rounds to the
    /// nearest step.
    pub rounding: Rounding,
    /// The symbols that may be traded, by their terminal names. Default none.
    pub symbols: BTreeMap<String, SymbolRules>,
}

impl Default for RiskConfig {
    fn default() -> RiskConfig {
        RiskConfig {
            timezone: Zone::utc(),
            rollover: ClockTime::MIDNIGHT,
            daily_loss_limit: None,
            daily_loss_limit_pct: None,
            max_positions: None,
            max_price_deviation_bps: 500,
            max_quote_age_ms: 10_000,
            max_notional_per_order: None,
            rounding: Rounding::Down,
            symbols: BTreeMap::new(),
        }
    }
}

/// One symbol's rules, narrowing what the terminal allows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SymbolRules {
    /// Default `true`; `false` keeps the entry but refuses new orders on the symbol.
    pub enabled: bool,
    /// Raises the terminal's minimum volume. Default none.
    pub volume_min: Option<Decimal>,
    /// Lowers the terminal's maximum volume. Default none.
    pub volume_max: Option<Decimal>,
    /// Coarsens the terminal's volume step; must be a multiple of it. Default none.
    pub volume_step: Option<Decimal>,
    /// Open positions plus pending orders on this symbol. Default none (no limit).
    pub max_positions: Option<u32>,
    /// When the symbol may be opened. Default none: at any time the terminal trades it.
    pub sessions: Option<Sessions>,
}

impl Default for SymbolRules {
    fn default() -> SymbolRules {
        SymbolRules {
            enabled: true,
            volume_min: None,
            volume_max: None,
            volume_step: None,
            max_positions: None,
            sessions: None,
        }
    }
}

impl RiskConfig {
    /// Checks the limits for values that cannot be meant (negative amounts, a zero
    /// position limit, a percentage over 100, a session list with no window).
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("daily_loss_limit", self.daily_loss_limit)?;
        positive("max_notional_per_order", self.max_notional_per_order)?;
        if let Some(pct) = self.daily_loss_limit_pct
            && (pct <= Decimal::ZERO || pct > Decimal::ONE_HUNDRED)
        {
            let field = "daily_loss_limit_pct".to_owned();
            return Err(ConfigError::PercentOutOfRange { field, value: pct });
        }
        at_least_one("max_positions", self.max_positions)?;

        for (symbol, rules) in &self.symbols {
            let field = |name: &str| format!("symbols.{symbol}.{name}");
            positive(&field("volume_min"), rules.volume_min)?;
            positive(&field("volume_max"), rules.volume_max)?;
            positive(&field("volume_step"), rules.volume_step)?;
            at_least_one(&field("max_positions"), rules.max_positions)?;
            if let (Some(min), Some(max)) = (rules.volume_min, rules.volume_max)
                && min > max
            {
                return Err(ConfigError::VolumeRange { symbol: symbol.clone(), min, max });
            }
            if rules.sessions.as_ref().is_some_and(|sessions| sessions.windows.is_empty()) {
                return Err(ConfigError::NoWindows { symbol: symbol.clone() });
            }
        }
        Ok(())
    }

    /// Checks one symbol's narrowing against the terminal's specification: a configured
    /// step must be a multiple of the terminal's, and the narrowed range must not be empty.
    /// A server runs this for every configured symbol when it starts.
    pub fn validate_against(&self, info: &SymbolInfo) -> Result<(), ConfigError> {
        let Some(rules) = self.symbols.get(&info.name) else {
            return Ok(());
        };
        if let Some(step) = rules.volume_step
            && !info.volume_step.is_zero()
            && !(step % info.volume_step).is_zero()
        {
            return Err(ConfigError::StepNotMultiple {
                symbol: info.name.clone(),
                step,
                terminal: info.volume_step,
            });
        }
        let volumes = self.volume_rules(info);
        if volumes.min > volumes.max {
            let (min, max) = (volumes.min, volumes.max);
            return Err(ConfigError::VolumeRange { symbol: info.name.clone(), min, max });
        }
        Ok(())
    }

    /// The trading-day calendar these limits use.
    #[must_use]
    pub fn calendar(&self) -> TradingCalendar {
        TradingCalendar::new(self.timezone.clone(), self.rollover)
    }

    /// The rules for `symbol` when it is configured and enabled.
    #[must_use]
    pub fn enabled(&self, symbol: &str) -> Option<&SymbolRules> {
        self.symbols.get(symbol).filter(|rules| rules.enabled)
    }

    /// The terminal's volume limits for a symbol, narrowed by its configuration. A
    /// configured step that is not a multiple of the terminal's is not used (see
    /// [`RiskConfig::validate_against`]): the terminal would refuse its volumes.
    #[must_use]
    pub fn volume_rules(&self, info: &SymbolInfo) -> VolumeRules {
        let rules = self.symbols.get(&info.name);
        let min = rules
            .and_then(|rules| rules.volume_min)
            .map_or(info.volume_min, |min| min.max(info.volume_min));
        let max = rules
            .and_then(|rules| rules.volume_max)
            .map_or(info.volume_max, |max| max.min(info.volume_max));
        let step = rules
            .and_then(|rules| rules.volume_step)
            .filter(|step| *step >= info.volume_step && (*step % info.volume_step).is_zero())
            .unwrap_or(info.volume_step);
        VolumeRules { min, step, max }
    }
}

fn positive(field: &str, value: Option<Decimal>) -> Result<(), ConfigError> {
    match value {
        Some(value) if value <= Decimal::ZERO => {
            Err(ConfigError::NotPositive { field: field.to_owned(), value })
        }
        _ => Ok(()),
    }
}

fn at_least_one(field: &str, value: Option<u32>) -> Result<(), ConfigError> {
    match value {
        Some(0) => Err(ConfigError::ZeroLimit { field: field.to_owned() }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<RiskConfig, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    #[test]
    fn an_empty_table_takes_the_documented_defaults() {
        let config = parse(json!({}));
        assert_eq!(config, Ok(RiskConfig::default()));
        let config = RiskConfig::default();
        assert_eq!(config.timezone.name(), "UTC");
        assert_eq!(config.rollover.to_string(), "00:00");
        assert_eq!(config.max_price_deviation_bps, 500);
        assert_eq!(config.max_quote_age_ms, 10_000);
        assert_eq!(config.rounding, Rounding::Down);
        assert!(config.symbols.is_empty());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn a_full_table_reads() {
        let config = parse(json!({
            "timezone": "America/New_York",
            "rollover": "17:00",
            "daily_loss_limit": 500,
            "daily_loss_limit_pct": "2.5",
            "max_positions": 5,
            "max_notional_per_order": 1_000_000,
            "rounding": "nearest",
            "symbols": {
                "EURUSD": {
                    "volume_max": 10,
                    "max_positions": 2,
                    "sessions": {
                        "timezone": "America/New_York",
                        "windows": ["sun-thu 17:00-17:00"]
                    }
                },
                "XAUUSD": { "enabled": false }
            }
        }));
        let Ok(config) = config else { panic!("{config:?}") };
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.daily_loss_limit_pct, Some(dec!(2.5)));
        assert_eq!(config.rounding, Rounding::Nearest);
        assert!(config.enabled("EURUSD").is_some());
        assert!(config.enabled("XAUUSD").is_none());
        assert!(config.enabled("GBPUSD").is_none());
    }

    #[test]
    fn mistakes_are_refused_when_read() {
        let refused = |value: serde_json::Value, expect: &str| {
            let error = parse(value).err().unwrap_or_default();
            assert!(error.contains(expect), "{error:?} lacks {expect:?}");
        };
        refused(json!({ "max_position": 3 }), "unknown field `max_position`");
        refused(json!({ "timezone": "Europe/Atlantis" }), "unknown time zone \"Europe/Atlantis\"");
        refused(json!({ "rollover": "5pm" }), "time \"5pm\" is not like \"17:00\"");
        refused(json!({ "rounding": "up" }), "unknown variant `up`");
        refused(
            json!({ "symbols": { "EURUSD": { "sessions": { "windows": ["weekdays 9-5"] } } } }),
            "session window \"weekdays 9-5\"",
        );
        refused(json!({ "symbols": { "EURUSD": { "volume": 1 } } }), "unknown field `volume`");
    }

    #[test]
    fn values_that_cannot_be_meant_fail_validation() {
        let invalid = |value: serde_json::Value| parse(value).map(|config| config.validate());
        assert_eq!(
            invalid(json!({ "daily_loss_limit": -5 })),
            Ok(Err(ConfigError::NotPositive { field: "daily_loss_limit".into(), value: dec!(-5) }))
        );
        assert!(matches!(
            invalid(json!({ "daily_loss_limit_pct": 150 })),
            Ok(Err(ConfigError::PercentOutOfRange { .. }))
        ));
        assert!(matches!(
            invalid(json!({ "max_positions": 0 })),
            Ok(Err(ConfigError::ZeroLimit { .. }))
        ));
        assert!(matches!(
            invalid(json!({ "symbols": { "EURUSD": { "volume_min": 2, "volume_max": 1 } } })),
            Ok(Err(ConfigError::VolumeRange { .. }))
        ));
        assert!(matches!(
            invalid(json!({ "symbols": { "EURUSD": { "sessions": { "windows": [] } } } })),
            Ok(Err(ConfigError::NoWindows { .. }))
        ));
    }
}
