//! The operator log: `tracing` events on stderr, written by a background thread so a slow
//! terminal or pipe never stalls a request.
//!
//! Every line passes through `security_core::redact` on its way out, so a key or password that
//! slipped into an error message is replaced before it reaches the terminal, and a message
//! with line breaks cannot forge extra log lines. Lines are cut at 500 characters.

use std::io::{self, Write};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::settings::LogFormat;

/// Installs the global subscriber; keep the guard alive until exit so buffered lines are
/// written. A filter that does not parse falls back to `info` (the settings validate it).
pub fn init(format: LogFormat, level: &str) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Losing log lines under a flood is better than blocking requests on stderr.
        .lossy(true)
        .finish(io::stderr());
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Redacting(writer));
    // A second call (in tests) leaves the first subscriber in place.
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

/// Makes writers that redact each formatted event before passing it on.
struct Redacting<W>(W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Redacting<W> {
    type Writer = RedactedLine<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedLine(self.0.make_writer())
    }
}

/// One event's writer: the formatter hands it the whole line in one write.
struct RedactedLine<W>(W);

impl<W: Write> Write for RedactedLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let mut clean = security_core::redact(line);
        clean.push('\n');
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::RedactedLine;

    #[test]
    fn a_secret_in_a_log_line_is_redacted_and_the_line_stays_one_line() {
        let mut out = Vec::new();
        let mut writer = RedactedLine(&mut out);
        writer.write_all(b"login failed password=hunter2\nforged line\n").unwrap();
        let written = String::from_utf8(out).unwrap();
        assert!(!written.contains("hunter2"), "{written}");
        assert_eq!(written.matches('\n').count(), 1, "{written}");
    }
}
