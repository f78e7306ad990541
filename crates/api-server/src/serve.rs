//! `mt5-gateway serve`: open the terminal, bind, serve until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use audit_log::{AuditLogs, SecurityEventKind};
use mt5_bridge::Terminal;
use mt5_bridge::sim::{SimulatedTerminal, SystemClock};
use risk::RiskGate;
use secrecy::ExposeSecret;
use security_core::{ApiKey, KeyStore, Lockout, Scope};
use time::OffsetDateTime;

use crate::app::{self, AppState};
use crate::audit;
use crate::auth::Auth;
use crate::idempotency::IdempotencyStore;
use crate::metrics::Metrics;
use crate::settings::{Loaded, Settings, TerminalKind};
use crate::trading::Trading;

/// Runs the server on the current thread's actix system until it is told to stop.
pub fn run(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    actix_web::rt::System::new().block_on(serve(loaded))
}

async fn serve(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let settings = &loaded.settings;
    for file in &loaded.files {
        tracing::info!(file = %file.display(), "configuration loaded");
    }
    crate::tls::refuse_insecure_remote(&settings.server)?;

    // 1. The audit logs: nothing is served that cannot be recorded.
    let (audit, report) =
        AuditLogs::open(&settings.logs.audit_config()).context("cannot open the audit logs")?;
    let audit = Arc::new(audit);
    for repair in &report.repairs {
        tracing::warn!(?repair, "audit log repaired after an interrupted write");
    }
    tracing::info!(dir = %settings.logs.dir.display(), "audit logs open");

    // 2. The terminal.
    let terminal: Arc<dyn Terminal> = match settings.terminal.kind {
        TerminalKind::Simulated => {
            let sim = SimulatedTerminal::open(&settings.terminal.sim, Arc::new(SystemClock))
                .context("cannot open the simulated terminal")?;
            let sim = Arc::new(sim);
            actix_web::rt::spawn(sim.run_ticker());
            tracing::info!(
                data_dir = %settings.terminal.sim.data_dir.display(),
                "simulated terminal ready"
            );
            sim
        }
    };

    // 3. The keys, and the first admin key when there is none.
    let keys =
        Arc::new(KeyStore::open(&settings.auth.keys_file).context("cannot open the keys file")?);
    if let Some(key) = keys
        .create_if_none("initial-admin", Scope::Admin, OffsetDateTime::now_utc())
        .context("cannot create the first admin key")?
    {
        tracing::info!(key_id = %key.id(), "no API key existed; created the first admin key");
        audit::security_event(
            &audit,
            SecurityEventKind::KeyCreated,
            None,
            Some(key.id()),
            "first admin key, created at start",
        );
        announce_first_key(&key);
    }
    spawn_key_maintenance(&keys, &audit, Duration::from_secs(settings.auth.reload_interval_secs));
    audit::spawn_deal_recorder(Arc::clone(&audit), Arc::clone(&terminal), &settings.logs.dir);
    let lockout =
        Lockout::new(settings.auth.lockout.clone()).context("invalid lockout settings")?;
    let auth = Auth {
        keys: Arc::clone(&keys),
        lockout,
        require_key_for_reads: settings.auth.require_key_for_reads,
    };
    if !auth.require_key_for_reads {
        tracing::warn!("auth.require_key_for_reads is false: reads are open to any caller");
    }

    // 4. Trading: the risk gate and the idempotency records.
    let trading = open_trading(settings, terminal.as_ref()).await?;

    // 5. The server.
    let state = AppState {
        trading,
        terminal,
        auth,
        audit: Arc::clone(&audit),
        call_timeout: Duration::from_secs(settings.terminal.call_timeout_secs),
        metrics: Arc::new(Metrics::default()),
    };
    let unreconciled = crate::trading::resume_unreconciled(&state);
    if unreconciled > 0 {
        tracing::warn!(unreconciled, "orders from before the stop are being reconciled");
    }
    let bound = app::bind(settings, state)?;
    let scheme = if bound.tls { "https" } else { "http" };
    for addr in &bound.addrs {
        tracing::info!(%addr, "listening");
        audit::security_event(
            &audit,
            SecurityEventKind::ServerStarted,
            None,
            None,
            format!("listening on {addr}"),
        );
        announce(&format!("mt5-gateway listening on {scheme}://{addr}"));
    }

    // 6. Serve; actix stops gracefully on Ctrl-C and SIGTERM.
    let served = bound.server.await;
    if let Err(err) = keys.flush_last_used() {
        tracing::warn!(error = %err, "could not record the keys' last use");
    }
    audit::security_event(&audit, SecurityEventKind::ServerStopped, None, None, "shut down");
    // Closing writes every queued row and joins the writers: a blocking wait.
    let closing = Arc::clone(&audit);
    if actix_web::rt::task::spawn_blocking(move || closing.close()).await.is_err() {
        tracing::error!("audit logs did not close cleanly");
    }
    served.context("server failed")?;
    tracing::info!("server stopped");
    Ok(ExitCode::SUCCESS)
}

/// The risk gate, checked against the terminal's symbols, and the idempotency records.
async fn open_trading(settings: &Settings, terminal: &dyn Terminal) -> anyhow::Result<Trading> {
    let gate = RiskGate::new(settings.risk.clone()).context("invalid risk settings")?;
    for symbol in settings.risk.symbols.keys() {
        match terminal.symbol(symbol).await {
            Ok(info) => settings
                .risk
                .validate_against(&info)
                .with_context(|| format!("risk settings for {symbol} do not fit the terminal"))?,
            Err(err) => {
                tracing::warn!(%symbol, error = %err, "risk settings name an unknown symbol");
            }
        }
    }
    let now = OffsetDateTime::now_utc();
    let idempotency = IdempotencyStore::open(&settings.trading.idempotency_file, now)
        .context("cannot open the idempotency records")?;
    let mut seed = [0u8; 4];
    getrandom::fill(&mut seed).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let reconcile_for = Duration::from_secs(settings.trading.reconcile_secs);
    Ok(Trading::new(gate, idempotency, u32::from_le_bytes(seed), reconcile_for))
}

/// Keeps the running server in step with the keys file (the CLI may change it at any time)
/// and writes the keys' last-use times now and then rather than on every request.
fn spawn_key_maintenance(keys: &Arc<KeyStore>, audit: &Arc<AuditLogs>, every: Duration) {
    const FLUSH_EVERY: u32 = 30;
    let keys = Arc::clone(keys);
    let audit = Arc::clone(audit);
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        let mut ticks: u32 = 0;
        loop {
            interval.tick().await;
            ticks = ticks.wrapping_add(1);
            let store = Arc::clone(&keys);
            let flush = ticks.is_multiple_of(FLUSH_EVERY);
            // File checks and writes stay off the server's own thread.
            let before = keys.list();
            let outcome = actix_web::web::block(move || {
                let reloaded = store.reload_if_changed();
                if flush {
                    store.flush_last_used().map(|_| ())?;
                }
                reloaded
            })
            .await;
            match outcome {
                Ok(Ok(true)) => {
                    tracing::info!("keys file changed; keys reloaded");
                    audit::key_changes(&audit, &before, &keys.list());
                }
                Ok(Ok(false)) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "cannot reload the keys file"),
                Err(err) => tracing::error!(error = %err, "key maintenance task failed"),
            }
        }
    });
}

/// Shows the first admin key on the terminal that started the gateway, once. It goes to
/// stdout, never to the log.
#[allow(clippy::print_stdout, reason = "the one time a key is shown")]
fn announce_first_key(key: &ApiKey) {
    println!("No API key existed, so this admin key was created:");
    println!();
    println!("{}", key.key().expose_secret());
    println!();
    println!("It will not be shown again: store it now (in a password manager, for example).");
    println!("Create more keys with `mt5-gateway keys create --name NAME --scopes read,trade`.");
}

/// Tells whoever started the process where to connect (scripts read this line).
#[allow(clippy::print_stdout, reason = "the command's own output")]
fn announce(line: &str) {
    println!("{line}");
}
