//! `GET /metrics`: counters and histograms in the Prometheus text format.
//!
//! Everything is a fixed set of atomics, bumped without a lock on the request path. Labels
//! are drawn from closed sets (route class, status, error code, outcome), so nothing a caller
//! sends, and no key id, address or symbol, can become a label.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use audit_log::HealthStatus;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::routes::LimitClass;

/// Route classes as label values; the last is "no route" (404, 405, preflights, refusals at
/// the perimeter).
const CLASSES: [&str; 4] = ["read", "trading", "admin", "none"];
/// The statuses counted one by one; any other lands in "other".
const STATUSES: [u16; 18] =
    [200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 500, 502, 503, 504, 0];
/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Distinct error codes that can be counted for refused orders.
const CODE_SLOTS: usize = 64;

/// How a trading request ended, for `mt5gw_orders_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderOutcome {
    /// The terminal accepted it (retcode 10008, 10009 or 10010).
    Accepted,
    /// Refused before the terminal: validation, risk, idempotency.
    Rejected,
    /// The terminal refused it, or failed.
    Failed,
    /// No answer in time: reconciled later.
    Unknown,
}

impl OrderOutcome {
    const ALL: [OrderOutcome; 4] = [
        OrderOutcome::Accepted,
        OrderOutcome::Rejected,
        OrderOutcome::Failed,
        OrderOutcome::Unknown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            OrderOutcome::Accepted => "accepted",
            OrderOutcome::Rejected => "rejected",
            OrderOutcome::Failed => "failed",
            OrderOutcome::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // Only the first fitting bucket is bumped; the exposition sums them into the
        // cumulative buckets Prometheus expects.
        if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let labels = labels.trim_end_matches(',');
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{labels} {sum}");
        let _ = writeln!(out, "{name}_count{labels} {count}");
    }
}

/// A counter per error code, claimed on first use; lock-free after that.
#[derive(Debug)]
struct CodeCounters {
    slots: [(OnceLock<&'static str>, AtomicU64); CODE_SLOTS],
}

impl Default for CodeCounters {
    fn default() -> CodeCounters {
        CodeCounters { slots: std::array::from_fn(|_| (OnceLock::new(), AtomicU64::new(0))) }
    }
}

impl CodeCounters {
    fn add(&self, code: &'static str) {
        for (name, count) in &self.slots {
            if *name.get_or_init(|| code) == code {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }

    fn each(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.slots.iter().filter_map(|(name, count)| {
            name.get().map(|name| (*name, count.load(Ordering::Relaxed)))
        })
    }
}

/// Every metric of the gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; CLASSES.len()],
    latency: [Histogram; CLASSES.len()],
    unauthorized: AtomicU64,
    forbidden: AtomicU64,
    locked_out: AtomicU64,
    rate_limited: [AtomicU64; CLASSES.len()],
    host_rejected: AtomicU64,
    origin_rejected: AtomicU64,
    orders: [AtomicU64; OrderOutcome::ALL.len()],
    order_rejections: CodeCounters,
    terminal_calls: Histogram,
    terminal_failures: AtomicU64,
}

fn class_index(class: Option<LimitClass>) -> usize {
    match class {
        Some(LimitClass::Read) => 0,
        Some(LimitClass::Trading) => 1,
        Some(LimitClass::Admin) => 2,
        None => 3,
    }
}

impl Metrics {
    /// One response: its route class, status and time in the gateway.
    pub fn request(&self, class: Option<LimitClass>, status: StatusCode, elapsed: Duration) {
        let class = class_index(class);
        let status =
            STATUSES.iter().position(|s| *s == status.as_u16()).unwrap_or(STATUSES.len() - 1);
        self.requests[class][status].fetch_add(1, Ordering::Relaxed);
        self.latency[class].observe(elapsed);
    }

    /// An error response, counted by what refused it.
    pub fn refusal(&self, code: ErrorCode, class: Option<LimitClass>) {
        let counter = match code {
            ErrorCode::Unauthorized => &self.unauthorized,
            ErrorCode::Forbidden => &self.forbidden,
            ErrorCode::LockedOut => &self.locked_out,
            ErrorCode::RateLimited => &self.rate_limited[class_index(class)],
            ErrorCode::HostNotAllowed => &self.host_rejected,
            ErrorCode::OriginNotAllowed => &self.origin_rejected,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One trading request's end; `refused_by` is the error code of a rejection or failure.
    pub fn order(&self, outcome: OrderOutcome, refused_by: Option<&ApiError>) {
        let index = OrderOutcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.orders[index].fetch_add(1, Ordering::Relaxed);
        if let Some(error) = refused_by {
            self.order_rejections.add(error.code.as_str());
        }
    }

    /// One terminal call and whether it succeeded.
    pub fn terminal_call(&self, elapsed: Duration, ok: bool) {
        self.terminal_calls.observe(elapsed);
        if !ok {
            self.terminal_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition, with the gauges read now from the terminal and the audit logs.
    fn render(&self, terminal_up: bool, audit: &audit_log::AuditHealth) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);

        header(&mut out, "mt5gw_requests_total", "counter", "Responses by route class and status.");
        for (class, row) in CLASSES.iter().zip(&self.requests) {
            for (status, counter) in STATUSES.iter().zip(row) {
                let count = load(counter);
                if count > 0 {
                    let status = if *status == 0 { "other".to_owned() } else { status.to_string() };
                    let _ = writeln!(
                        out,
                        "mt5gw_requests_total{{class=\"{class}\",status=\"{status}\"}} {count}"
                    );
                }
            }
        }
        header(&mut out, "mt5gw_request_duration_seconds", "histogram", "Time in the gateway.");
        for (class, histogram) in CLASSES.iter().zip(&self.latency) {
            histogram.render(
                &mut out,
                "mt5gw_request_duration_seconds",
                &format!("class=\"{class}\","),
            );
        }

        for (name, help, counter) in [
            (
                "mt5gw_auth_failures_total",
                "401 responses: a key missing or refused.",
                &self.unauthorized,
            ),
            (
                "mt5gw_forbidden_total",
                "403 responses: a valid key without the scope.",
                &self.forbidden,
            ),
            ("mt5gw_locked_out_total", "429 LOCKED_OUT responses.", &self.locked_out),
            ("mt5gw_host_rejected_total", "403 HOST_NOT_ALLOWED responses.", &self.host_rejected),
            (
                "mt5gw_origin_rejected_total",
                "403 ORIGIN_NOT_ALLOWED responses.",
                &self.origin_rejected,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", load(counter));
        }
        header(&mut out, "mt5gw_rate_limited_total", "counter", "429 RATE_LIMITED responses.");
        for (class, counter) in CLASSES.iter().zip(&self.rate_limited).take(3) {
            let _ =
                writeln!(out, "mt5gw_rate_limited_total{{class=\"{class}\"}} {}", load(counter));
        }

        header(&mut out, "mt5gw_orders_total", "counter", "Trading requests by outcome.");
        for (outcome, counter) in OrderOutcome::ALL.iter().zip(&self.orders) {
            let _ = writeln!(
                out,
                "mt5gw_orders_total{{outcome=\"{}\"}} {}",
                outcome.as_str(),
                load(counter)
            );
        }
        header(&mut out, "mt5gw_order_rejections_total", "counter", "Refused orders by code.");
        for (code, count) in self.order_rejections.each() {
            let _ = writeln!(out, "mt5gw_order_rejections_total{{code=\"{code}\"}} {count}");
        }

        header(&mut out, "mt5gw_terminal_up", "gauge", "1 when the terminal is connected.");
        let _ = writeln!(out, "mt5gw_terminal_up {}", u8::from(terminal_up));
        header(&mut out, "mt5gw_terminal_call_duration_seconds", "histogram", "Terminal calls.");
        self.terminal_calls.render(&mut out, "mt5gw_terminal_call_duration_seconds", "");
        header(&mut out, "mt5gw_terminal_call_failures_total", "counter", "Failed terminal calls.");
        let _ =
            writeln!(out, "mt5gw_terminal_call_failures_total {}", load(&self.terminal_failures));

        render_audit(&mut out, audit);
        out
    }
}

/// The audit sinks' gauges and counters, read at scrape time.
fn render_audit(out: &mut String, audit: &audit_log::AuditHealth) {
    let sinks = [&audit.security, &audit.errors, &audit.orders, &audit.deals];
    header(out, "mt5gw_audit_queue_depth", "gauge", "Audit rows queued, not yet written.");
    for sink in sinks {
        let _ = writeln!(
            out,
            "mt5gw_audit_queue_depth{{sink=\"{}\"}} {}",
            sink.sink.name(),
            sink.queue_depth
        );
    }
    header(out, "mt5gw_audit_write_failures_total", "counter", "Failed audit writes.");
    for sink in sinks {
        let _ = writeln!(
            out,
            "mt5gw_audit_write_failures_total{{sink=\"{}\"}} {}",
            sink.sink.name(),
            sink.write_failures
        );
    }
    header(out, "mt5gw_audit_dropped_rows_total", "counter", "Audit rows lost.");
    for sink in sinks {
        let _ = writeln!(
            out,
            "mt5gw_audit_dropped_rows_total{{sink=\"{}\"}} {}",
            sink.sink.name(),
            sink.dropped_rows
        );
    }
    header(out, "mt5gw_audit_up", "gauge", "1 when the audit sink is writing.");
    for sink in sinks {
        let up = matches!(sink.status, HealthStatus::Ok);
        let _ = writeln!(out, "mt5gw_audit_up{{sink=\"{}\"}} {}", sink.sink.name(), u8::from(up));
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `GET /metrics`.
pub async fn scrape(state: Data<AppState>) -> HttpResponse {
    let terminal = state.terminal.status().await;
    let body = state.metrics.render(terminal.connected, &state.audit.health());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_render_cumulatively() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(30));
        histogram.observe(Duration::from_secs(20));
        let mut out = String::new();
        histogram.render(&mut out, "h", "");
        assert!(out.contains("h_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("h_count 3\n"), "{out}");
    }

    #[test]
    fn rejection_codes_get_a_counter_each() {
        let counters = CodeCounters::default();
        counters.add("DAILY_LOSS_LIMIT");
        counters.add("MAX_POSITIONS");
        counters.add("DAILY_LOSS_LIMIT");
        let seen: Vec<_> = counters.each().collect();
        assert_eq!(seen, vec![("DAILY_LOSS_LIMIT", 2), ("MAX_POSITIONS", 1)]);
    }
}
