//! The simulated terminal's settings, as the server's configuration file spells them.

use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::hours::MarketHours;
use crate::TerminalError;

/// What to do with an existing account file when the terminal opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// Carry on with the saved account, or open a new one if there is none.
    #[default]
    Resume,
    /// Open a new account with the initial balance, replacing the saved one. Ticket numbers
    /// carry on from the old account when it can be read, so none is ever reused.
    Reset,
}

/// Settings of the simulated terminal. Every field has a default, so an empty table is a
/// working paper account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Folder of the account file (`sim-account.json`); created if missing. Default `data`.
    pub data_dir: PathBuf,
    /// Seed of the random walk and the synthesised bar history of a new account. Default 42.
    pub seed: u64,
    /// Time between two ticks of each random-walk symbol. Default 1000 ms, at least 10.
    pub tick_interval_ms: u64,
    /// Folder of recorded ticks to replay instead of the random walk; the file format is in
    /// the [`sim`](crate::sim) module's documentation. Default none.
    pub replay_dir: Option<PathBuf>,
    /// Balance of a new account. Default 10,000.00.
    pub initial_balance: Decimal,
    /// Account currency. Only `USD` is supported: the conversions of profit and margin are
    /// those of a USD account.
    pub currency: String,
    /// Account leverage, 1 to 1000. Default 100.
    pub leverage: u32,
    /// When the market trades. Default [`MarketHours::Forex`].
    pub market_hours: MarketHours,
    /// Resume the saved account or start afresh. Default [`StartMode::Resume`].
    pub start: StartMode,
    /// Login number a new account reports. Default 10,000,001.
    pub login: u64,
    /// After an idle spell, at most this many ticks per symbol are played to catch up; the
    /// time before them is skipped. Default 10,000.
    pub max_catch_up_ticks: u64,
    /// Milliseconds every trade request waits before it is carried out, like a terminal on
    /// a slow link; the trade still executes after the wait. For testing the gateway's
    /// timeouts and the reconciliation of orders whose outcome it could not see. Default 0.
    pub stall_trades_ms: u64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            data_dir: PathBuf::from("data"),
            seed: 42,
            tick_interval_ms: 1_000,
            replay_dir: None,
            initial_balance: Decimal::new(10_000, 0),
            currency: "USD".to_owned(),
            leverage: 100,
            market_hours: MarketHours::Forex,
            start: StartMode::Resume,
            login: 10_000_001,
            max_catch_up_ticks: 10_000,
            stall_trades_ms: 0,
        }
    }
}

/// The checked, ready-to-use form of [`SimConfig`].
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) interval_ms: i64,
    pub(crate) catch_up_ms: i64,
    pub(crate) hours: MarketHours,
    pub(crate) leverage: u32,
    pub(crate) seed: u64,
    pub(crate) login: u64,
    pub(crate) initial_balance: Decimal,
}

impl Settings {
    pub(crate) fn from_config(config: &SimConfig) -> Result<Settings, TerminalError> {
        let invalid = |message: String| Err(TerminalError::Config(message));
        if !(10..=3_600_000).contains(&config.tick_interval_ms) {
            return invalid(format!(
                "tick_interval_ms {} outside 10..=3600000",
                config.tick_interval_ms
            ));
        }
        if !(1..=1_000).contains(&config.leverage) {
            return invalid(format!("leverage {} outside 1..=1000", config.leverage));
        }
        if config.currency != "USD" {
            return invalid(format!("currency {:?} unsupported; only USD is", config.currency));
        }
        let balance = config.initial_balance;
        if balance <= Decimal::ZERO
            || balance > Decimal::new(1_000_000_000_000, 0)
            || balance.normalize().scale() > 2
        {
            return invalid(format!(
                "initial_balance {balance} must be positive, in cents, at most 10^12"
            ));
        }
        if !(1..=1_000_000).contains(&config.max_catch_up_ticks) {
            return invalid(format!(
                "max_catch_up_ticks {} outside 1..=1000000",
                config.max_catch_up_ticks
            ));
        }
        // Both fit: the interval is at most 3.6·10^6 and the product at most 3.6·10^12.
        let interval_ms = i64::try_from(config.tick_interval_ms).unwrap_or(1_000);
        let catch_up_ticks = i64::try_from(config.max_catch_up_ticks).unwrap_or(10_000);
        Ok(Settings {
            interval_ms,
            catch_up_ms: interval_ms * catch_up_ticks,
            hours: config.market_hours,
            leverage: config.leverage,
            seed: config.seed,
            login: config.login,
            initial_balance: balance,
        })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn empty_table_gives_the_defaults() {
        let config: SimConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, SimConfig::default());
        assert!(Settings::from_config(&config).is_ok());
    }

    #[test]
    fn fields_deserialize_from_config_spellings() {
        let config: SimConfig = serde_json::from_str(
            r#"{"initial_balance": 2500.5, "leverage": 30, "market_hours": "always",
                "start": "reset", "replay_dir": "ticks"}"#,
        )
        .unwrap();
        assert_eq!(config.initial_balance, dec!(2500.5));
        assert_eq!(config.market_hours, MarketHours::Always);
        assert_eq!(config.start, StartMode::Reset);
        assert!(serde_json::from_str::<SimConfig>(r#"{"levrage": 30}"#).is_err());
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        type Change = fn(&mut SimConfig);
        let cases: [(Change, &str); 6] = [
            (|c| c.tick_interval_ms = 0, "tick_interval_ms 0"),
            (|c| c.leverage = 0, "leverage 0"),
            (|c| c.currency = "EUR".to_owned(), "only USD"),
            (|c| c.initial_balance = dec!(-1), "initial_balance -1"),
            (|c| c.initial_balance = dec!(100.001), "in cents"),
            (|c| c.max_catch_up_ticks = 0, "max_catch_up_ticks 0"),
        ];
        for (change, expected) in cases {
            let mut config = SimConfig::default();
            change(&mut config);
            let error = Settings::from_config(&config).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
