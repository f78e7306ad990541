//! The gateway's configuration: layered files, `.env` and `MT5GW__SECTION__KEY` overrides.
//!
//! Layers, later ones winning: the base file (`--config FILE`, else `config/default.toml`
//! in the working directory, else the copy of that file compiled into the binary), then
//! `local.toml` beside the base file, then the environment. Relative paths resolve against
//! the base folder: the `--config` file's folder, or the working directory otherwise.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use config::{Config, ConfigError, Environment, File, FileFormat};
use serde::Deserialize;

/// The documented defaults, compiled in so the binary runs from any folder.
const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");
const DEFAULT_FILE: &str = "config/default.toml";
const ENV_PREFIX: &str = "MT5GW";

/// Every setting the gateway reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub logs: AuditSettings,
    pub log: LogSettings,
    pub terminal: TerminalSettings,
    pub rate_limits: crate::ratelimit::RateLimitSettings,
    pub trading: TradingSettings,
    pub risk: risk::RiskConfig,
}

/// Trading settings outside the risk limits (`[trading]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingSettings {
    /// Where `Idempotency-Key` records are kept for 24 hours.
    pub idempotency_file: PathBuf,
    /// Seconds the gateway looks in the terminal's orders and history for an order whose
    /// outcome it did not see, before it records the order as never executed.
    pub reconcile_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: IpAddr,
    pub port: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// Host names the `Host` header may carry, besides the bind address.
    pub allowed_hosts: Vec<String>,
    /// Exact origins (`scheme://host[:port]`) a browser page may call from.
    pub cors_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Whether a non-loopback bind without TLS may start.
    pub allow_insecure_remote: bool,
    /// Seconds a client gets to send one request, headers and body.
    pub request_timeout_secs: u64,
    /// Connections open at once, per worker.
    pub max_connections: usize,
    pub tls: crate::tls::TlsSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The keys file: hashes of the API keys, never a secret.
    pub keys_file: PathBuf,
    /// When false, read routes are open to callers without a key.
    pub require_key_for_reads: bool,
    /// Seconds between checks of the keys file for changes made by the CLI.
    pub reload_interval_secs: u64,
    pub lockout: security_core::LockoutConfig,
}

/// The audit logs (`[logs]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Folder of security.csv, errors.csv, orders.csv, deals.csv and archive/.
    pub dir: PathBuf,
    /// The key of the HMAC chain; kept outside `dir`.
    pub chain_key_file: PathBuf,
    pub retention_days: u32,
    pub trade_retention_days: u32,
    pub max_file_bytes: u64,
}

impl AuditSettings {
    #[must_use]
    pub fn audit_config(&self) -> audit_log::AuditConfig {
        let mut config = audit_log::AuditConfig::new(&self.dir, &self.chain_key_file);
        config.retention_days = self.retention_days;
        config.trade_retention_days = self.trade_retention_days;
        config.max_file_bytes = self.max_file_bytes;
        config
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,api_server=debug`.
    pub level: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    Simulated,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSettings {
    pub kind: TerminalKind,
    /// Upper bound on every call to the terminal, in seconds.
    pub call_timeout_secs: u64,
    pub sim: mt5_bridge::sim::SimConfig,
}

/// Why the configuration could not be loaded; every message names the key and the value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read configuration file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("invalid configuration: {key} = {value}: {reason}")]
    Value { key: &'static str, value: String, reason: String },
}

/// Where the configuration was read from, for `config check` and the start-up log.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// The files that were read, base first.
    pub files: Vec<PathBuf>,
    /// The folder relative paths were resolved against.
    pub base_dir: PathBuf,
}

impl Settings {
    /// Loads the layered configuration; `config_file` is `--config`.
    pub fn load(config_file: Option<&Path>) -> Result<Loaded, SettingsError> {
        let cwd = std::env::current_dir().map_err(|err| SettingsError::File {
            path: PathBuf::from("."),
            reason: err.to_string(),
        })?;
        // `.env` in the working directory feeds the environment layer; variables already set
        // in the environment win over it. A missing file is normal.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(SettingsError::File { path: cwd.join(".env"), reason: err.to_string() });
        }
        Self::load_from(config_file, &cwd, &EnvSource::Process)
    }

    fn load_from(
        config_file: Option<&Path>,
        cwd: &Path,
        env: &EnvSource,
    ) -> Result<Loaded, SettingsError> {
        let mut builder = Config::builder();
        let mut files = Vec::new();

        // 1. The base file, and the folder that relative paths resolve against.
        let (base_dir, config_dir) = match config_file {
            Some(file) => {
                let file = cwd.join(file);
                let text = read_file(&file)?;
                builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
                let folder = file.parent().map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
                files.push(file);
                (folder.clone(), folder)
            }
            None => {
                let file = cwd.join(DEFAULT_FILE);
                if file.exists() {
                    let text = read_file(&file)?;
                    builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
                    files.push(file);
                } else {
                    builder = builder.add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
                }
                (cwd.to_path_buf(), cwd.join("config"))
            }
        };

        // 2. The user's own overrides beside it.
        let local = config_dir.join("local.toml");
        if local.exists() {
            let text = read_file(&local)?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
            files.push(local);
        }

        // 3. The environment: MT5GW__SERVER__PORT=5002 sets server.port.
        let environment = Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            // Lists are comma-separated: MT5GW__SERVER__CORS_ORIGINS=http://a,http://b.
            .list_separator(",")
            .with_list_parse_key("server.allowed_hosts")
            .with_list_parse_key("server.cors_origins")
            .with_list_parse_key("server.trusted_proxies");
        let environment = match env {
            EnvSource::Process => environment,
            EnvSource::Fixed(vars) => environment.source(Some(vars.iter().cloned().collect())),
        };
        builder = builder.add_source(environment);

        let mut settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|err| describe_config_error(&err))?;
        settings.resolve_paths(&base_dir);
        settings.validate()?;
        Ok(Loaded { settings, files, base_dir })
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.auth.keys_file = base.join(&self.auth.keys_file);
        self.logs.dir = base.join(&self.logs.dir);
        self.trading.idempotency_file = base.join(&self.trading.idempotency_file);
        self.logs.chain_key_file = base.join(&self.logs.chain_key_file);
        self.server.tls.resolve_paths(base);
        let sim = &mut self.terminal.sim;
        sim.data_dir = base.join(&sim.data_dir);
        if let Some(replay) = sim.replay_dir.take() {
            sim.replay_dir = Some(base.join(replay));
        }
    }

    /// Checks what types alone cannot: ranges and combinations.
    fn validate(&self) -> Result<(), SettingsError> {
        if self.server.workers > 256 {
            return Err(SettingsError::Value {
                key: "server.workers",
                value: self.server.workers.to_string(),
                reason: "at most 256 workers".into(),
            });
        }
        if !(1..=300).contains(&self.terminal.call_timeout_secs) {
            return Err(SettingsError::Value {
                key: "terminal.call_timeout_secs",
                value: self.terminal.call_timeout_secs.to_string(),
                reason: "must be between 1 and 300 seconds".into(),
            });
        }
        if !(1..=60).contains(&self.auth.reload_interval_secs) {
            return Err(SettingsError::Value {
                key: "auth.reload_interval_secs",
                value: self.auth.reload_interval_secs.to_string(),
                reason: "must be between 1 and 60 seconds".into(),
            });
        }
        crate::perimeter::validate(self)?;
        if let Err(err) = self.logs.audit_config().validate() {
            return Err(SettingsError::Invalid(format!("logs: {err}")));
        }
        if !(1..=3_600).contains(&self.trading.reconcile_secs) {
            return Err(SettingsError::Value {
                key: "trading.reconcile_secs",
                value: self.trading.reconcile_secs.to_string(),
                reason: "must be between 1 and 3600 seconds".into(),
            });
        }
        if let Err(err) = self.risk.validate() {
            return Err(SettingsError::Invalid(format!("risk: {err}")));
        }
        if let Err(err) = self.auth.lockout.validate() {
            return Err(SettingsError::Invalid(format!("auth.lockout: {err}")));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(SettingsError::Value {
                key: "log.level",
                value: format!("{:?}", self.log.level),
                reason: "not a log filter such as \"info\" or \"info,api_server=debug\"".into(),
            });
        }
        Ok(())
    }
}

/// Where environment overrides come from: the process, or a fixed map in tests.
enum EnvSource {
    Process,
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed(Vec<(String, String)>),
}

fn read_file(path: &Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map_err(|err| SettingsError::File { path: path.to_path_buf(), reason: err.to_string() })
}

/// Rewords the `config` crate's errors so the operator sees the key and the value at fault.
fn describe_config_error(err: &ConfigError) -> SettingsError {
    match err {
        ConfigError::Type { origin, unexpected, expected, key } => {
            let key = key.as_deref().unwrap_or("(top level)");
            let origin = origin.as_deref().map(|o| format!(" (from {o})")).unwrap_or_default();
            SettingsError::Invalid(format!(
                "{key} has the invalid value {unexpected}{origin}: expected {expected}"
            ))
        }
        other => SettingsError::Invalid(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(dir: &Path, file: Option<&str>, vars: &[(&str, &str)]) -> Result<Loaded, String> {
        let vars = vars.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        Settings::load_from(file.map(Path::new), dir, &EnvSource::Fixed(vars))
            .map_err(|err| err.to_string())
    }

    #[test]
    fn compiled_in_defaults_load_and_bind_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(dir.path(), None, &[]).unwrap();
        assert!(loaded.files.is_empty());
        assert_eq!(loaded.settings.server.bind.to_string(), "127.0.0.1");
        assert_eq!(loaded.settings.server.port, 5001);
        assert_eq!(loaded.settings.terminal.sim.data_dir, dir.path().join("data/sim"));
    }

    #[test]
    fn environment_overrides_a_file_value() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(dir.path(), None, &[("MT5GW__SERVER__PORT", "5002")]).unwrap();
        assert_eq!(loaded.settings.server.port, 5002);
    }

    #[test]
    fn malformed_value_is_rejected_with_its_key_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), None, &[("MT5GW__SERVER__PORT", "fivethousand")]).unwrap_err();
        assert!(err.contains("server.port"), "{err}");
        assert!(err.contains("fivethousand"), "{err}");

        let err =
            load(dir.path(), None, &[("MT5GW__TERMINAL__CALL_TIMEOUT_SECS", "0")]).unwrap_err();
        assert!(err.contains("terminal.call_timeout_secs = 0"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_rather_than_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), None, &[("MT5GW__SERVER__PROT", "5002")]).unwrap_err();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn config_file_replaces_defaults_and_relative_paths_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let text = DEFAULT_TOML.replace("port = 5001", "port = 6001");
        std::fs::write(elsewhere.join("gateway.toml"), text).unwrap();
        std::fs::write(elsewhere.join("local.toml"), "[server]\nworkers = 3\n").unwrap();

        let loaded = load(dir.path(), Some("elsewhere/gateway.toml"), &[]).unwrap();
        assert_eq!(loaded.settings.server.port, 6001);
        assert_eq!(loaded.settings.server.workers, 3);
        assert_eq!(loaded.base_dir, elsewhere);
        assert_eq!(loaded.settings.terminal.sim.data_dir, elsewhere.join("data/sim"));
    }

    #[test]
    fn missing_config_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), Some("nope.toml"), &[]).unwrap_err();
        assert!(err.contains("nope.toml"), "{err}");
    }
}
