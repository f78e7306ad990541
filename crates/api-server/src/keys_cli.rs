//! `mt5-gateway keys …`: manage API keys from the command line.
//!
//! The commands change the keys file directly; a running server picks the change up within
//! `auth.reload_interval_secs`. A new or rotated key is printed alone on the last line of
//! stdout, so a script can take it with `tail -n 1`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use security_core::{ApiKey, KeyId, KeyStore, Scope};
use time::OffsetDateTime;

use crate::keys_api::{DEFAULT_GRACE_HOURS, MAX_EXPIRY_DAYS};
use crate::settings::Settings;

/// One `keys` subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// A name saying who or what uses the key.
        #[arg(long)]
        name: String,
        /// read, trade or admin (or a list such as read,trade: the highest wins).
        #[arg(long)]
        scopes: Scope,
        /// Days until the key stops working; without it, it works until revoked.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_EXPIRY_DAYS)))]
        expires_in_days: Option<u32>,
    },
    /// List keys, masked.
    List,
    /// Revoke a key at once.
    Revoke {
        /// The key id (the 8 characters after `mt5gw_`).
        id: KeyId,
    },
    /// Give a key a new secret; the old one keeps working for the grace period.
    Rotate {
        id: KeyId,
        /// Hours the old secret stays valid.
        #[arg(long, default_value_t = DEFAULT_GRACE_HOURS)]
        grace_hours: u32,
    },
}

#[allow(clippy::print_stdout, reason = "the command's own output")]
pub fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let path = &settings.auth.keys_file;
    let store = KeyStore::open(path)
        .with_context(|| format!("cannot open the keys file {}", path.display()))?;
    let now = OffsetDateTime::now_utc();
    match command {
        KeysCommand::Create { name, scopes, expires_in_days } => {
            let expires_at = expires_in_days.map(|days| now + time::Duration::days(days.into()));
            let key = store.create(&name, scopes, expires_at, now)?;
            println!("created key {} ({}) with scope {}", key.id(), name, scopes.as_str());
            print_key(&key);
        }
        KeysCommand::List => {
            println!(
                "{:<8}  {:<20}  {:<5}  {:<7}  {:<20}  {:<20}  last used",
                "id", "name", "scope", "status", "created", "expires"
            );
            for key in store.list() {
                let time = |at: Option<OffsetDateTime>| {
                    at.map_or_else(|| "-".to_string(), crate::reads::format_time)
                };
                println!(
                    "{:<8}  {:<20}  {:<5}  {:<7}  {:<20}  {:<20}  {}",
                    key.id,
                    key.name,
                    key.scope.as_str(),
                    format!("{:?}", key.status(now)).to_lowercase(),
                    time(Some(key.created_at)),
                    time(key.expires_at),
                    time(key.last_used_at),
                );
            }
        }
        KeysCommand::Revoke { id } => {
            store.revoke(id, now)?;
            println!("revoked key {}", id.masked());
        }
        KeysCommand::Rotate { id, grace_hours } => {
            let grace = Duration::from_secs(u64::from(grace_hours) * 3_600);
            let key = store.rotate(id, grace, now)?;
            println!("rotated key {id}; the old secret works for {grace_hours} more hour(s)");
            print_key(&key);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key alone on the last line of stdout.
#[allow(clippy::print_stdout, reason = "the one time a key is shown")]
fn print_key(key: &ApiKey) {
    println!("{}", key.key().expose_secret());
}
