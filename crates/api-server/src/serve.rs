//! `mt5-gateway serve`: open the terminal, bind, serve until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mt5_bridge::Terminal;
use mt5_bridge::sim::{SimulatedTerminal, SystemClock};

use crate::app::{self, AppState};
use crate::settings::{Loaded, TerminalKind};

/// Runs the server on the current thread's actix system until it is told to stop.
pub fn run(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    actix_web::rt::System::new().block_on(serve(loaded))
}

async fn serve(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let settings = &loaded.settings;
    for file in &loaded.files {
        tracing::info!(file = %file.display(), "configuration loaded");
    }

    // 1. The terminal.
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

    // 2. The server.
    let state = AppState {
        terminal,
        call_timeout: Duration::from_secs(settings.terminal.call_timeout_secs),
    };
    let bound = app::bind(settings, state).with_context(|| {
        format!("cannot listen on {}:{}", settings.server.bind, settings.server.port)
    })?;
    for addr in &bound.addrs {
        tracing::info!(%addr, "listening");
        announce(&format!("mt5-gateway listening on http://{addr}"));
    }

    // 3. Serve; actix stops gracefully on Ctrl-C and SIGTERM.
    bound.server.await.context("server failed")?;
    tracing::info!("server stopped");
    Ok(ExitCode::SUCCESS)
}

/// Tells whoever started the process where to connect (scripts read this line).
#[allow(clippy::print_stdout, reason = "the command's own output")]
fn announce(line: &str) {
    println!("{line}");
}
