//! `mt5-gateway`: the MT5 Gateway server and its administration commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use api_server::keys_cli::KeysCommand;
use api_server::settings::{LogFormat, Settings};

#[derive(Debug, Parser)]
#[command(name = "mt5-gateway", version, about = "A security-hardened gateway to MetaTrader 5")]
struct Cli {
    /// Configuration file replacing config/default.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Operator log format on stderr, overriding log.format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<CliLogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CliLogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create, list, revoke and rotate API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the audit logs.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// HTTPS certificates.
    #[command(subcommand)]
    Tls(TlsCommand),
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Write a self-signed certificate and key (mode 0600) for localhost.
    SelfSigned {
        /// Folder for cert.pem and key.pem.
        #[arg(long, value_name = "DIR", default_value = "config/tls")]
        out: PathBuf,
        /// Another name or address the certificate covers (repeatable), such as gateway.lan.
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify every log's hash chain, archives included; exit 1 at the first break.
    Verify {
        /// The logs folder (default: logs.dir of the configuration).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load the effective configuration and report every problem found in it.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Settings::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(err) => {
            report(&format!("mt5-gateway: {err}"));
            return ExitCode::from(2);
        }
    };
    let format = match cli.log_format {
        Some(CliLogFormat::Human) => LogFormat::Human,
        Some(CliLogFormat::Json) => LogFormat::Json,
        None => loaded.settings.log.format,
    };

    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let _log_guard = api_server::logging::init(format, &loaded.settings.log.level);
            api_server::serve::run(&loaded)
        }
        Command::Config(ConfigCommand::Check) => api_server::check::run(&loaded),
        Command::Keys(command) => api_server::keys_cli::run(&loaded.settings, command),
        Command::Audit(AuditCommand::Verify { dir }) => {
            api_server::audit_cli::verify(&loaded.settings, dir.as_deref())
        }
        Command::Tls(TlsCommand::SelfSigned { out, names }) => {
            api_server::tls::self_signed(&loaded.base_dir.join(out), &names)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            report(&format!("mt5-gateway: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Errors before (or instead of) the log go straight to the terminal.
#[allow(clippy::print_stderr, reason = "the command's own error output")]
fn report(message: &str) {
    eprintln!("{message}");
}
