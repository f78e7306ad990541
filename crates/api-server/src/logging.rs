//! The operator log: `tracing` events on stderr, written by a background thread so a slow
//! terminal or pipe never stalls a request.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Installs the global subscriber; keep the guard alive until exit so buffered lines are
/// written. A filter that does not parse falls back to `info` (the settings validate it).
pub fn init(format: LogFormat, level: &str) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Losing log lines under a flood is better than blocking requests on stderr.
        .lossy(true)
        .finish(std::io::stderr());
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    // A second call (in tests) leaves the first subscriber in place.
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}
