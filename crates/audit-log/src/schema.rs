//! The four sinks, their fixed headers, and the typed rows a caller appends to each.
//!
//! Every file has the columns `timestamp,seq,…,chain`: the writer fills the first two and the
//! last; a [`Record`] supplies the ones in between. The first row of every file is a *link row*
//! (see `chain.rs`) that reuses two of the sink's own columns: a marker column holding
//! `log_link` and a detail column naming the previous file and its last chain.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::cell::{Cell, Number};

/// One of the four audit files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sink {
    /// `security.csv`: authentication, denials, key and trading-state changes, log deletions.
    Security,
    /// `errors.csv`: 500 responses, terminal failures, log repairs.
    Errors,
    /// `orders.csv`: every trading request's intent and outcome.
    Orders,
    /// `deals.csv`: every fill reported by the terminal, once.
    Deals,
}

const SECURITY_HEADER: &[&str] =
    &["timestamp", "seq", "event", "client_ip", "key_id", "detail", "chain"];
const ERRORS_HEADER: &[&str] =
    &["timestamp", "seq", "request_id", "status", "code", "message", "chain"];
const ORDERS_HEADER: &[&str] = &[
    "timestamp",
    "seq",
    "request_id",
    "client_order_id",
    "phase",
    "key_id",
    "action",
    "symbol",
    "type",
    "volume_requested",
    "volume",
    "price",
    "sl",
    "tp",
    "rule",
    "retcode",
    "ticket",
    "status",
    "detail",
    "chain",
];
const DEALS_HEADER: &[&str] = &[
    "timestamp",
    "seq",
    "ticket",
    "order",
    "position_id",
    "symbol",
    "type",
    "entry",
    "volume",
    "price",
    "profit",
    "swap",
    "commission",
    "deal_time",
    "comment",
    "chain",
];

/// The value of the marker column in a link row.
pub const LINK_MARKER: &str = "log_link";

impl Sink {
    /// All sinks, in the order they are opened and verified.
    pub const ALL: [Sink; 4] = [Sink::Security, Sink::Errors, Sink::Orders, Sink::Deals];

    /// The short name used in file names: `security`, `errors`, `orders`, `deals`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Errors => "errors",
            Self::Orders => "orders",
            Self::Deals => "deals",
        }
    }

    /// The current file's name in the logs folder, e.g. `orders.csv`.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Security => "security.csv",
            Self::Errors => "errors.csv",
            Self::Orders => "orders.csv",
            Self::Deals => "deals.csv",
        }
    }

    /// The header row's column names, `chain` last.
    #[must_use]
    pub fn header(self) -> &'static [&'static str] {
        match self {
            Self::Security => SECURITY_HEADER,
            Self::Errors => ERRORS_HEADER,
            Self::Orders => ORDERS_HEADER,
            Self::Deals => DEALS_HEADER,
        }
    }

    /// Number of columns a [`Record`] of this sink supplies (all but timestamp, seq and chain).
    #[must_use]
    pub fn record_width(self) -> usize {
        self.header().len() - 3
    }

    /// Orders and deals are trading records and are kept for years; the others for months.
    #[must_use]
    pub fn is_trading_record(self) -> bool {
        matches!(self, Self::Orders | Self::Deals)
    }

    /// Column indexes (in the full row) of the link row's marker and detail.
    pub(crate) fn link_columns(self) -> (usize, usize) {
        match self {
            Self::Security => (2, 5),
            Self::Errors => (4, 5),
            Self::Orders => (4, 18),
            Self::Deals => (6, 14),
        }
    }
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// A typed row of one sink.
pub trait Record: Send + 'static {
    /// The sink this row belongs to.
    const SINK: Sink;

    /// The row's cells between `seq` and `chain`, in header order; exactly
    /// [`Sink::record_width`] of them.
    fn into_cells(self) -> Vec<Cell>;
}

/// What happened, in `security.csv`'s `event` column.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityEventKind {
    /// A trade or admin call authenticated.
    AuthSuccess,
    /// A key was presented and refused.
    AuthFailure,
    /// A valid key lacked the scope.
    Forbidden,
    /// A caller hit its rate limit (the caller writes at most one per client per minute).
    RateLimited,
    /// A client was banned after repeated authentication failures.
    LockedOut,
    /// A request's `Host` header was not allowed.
    HostRejected,
    /// A state-changing request's `Origin` was not allowed.
    OriginRejected,
    /// An API key was created.
    KeyCreated,
    /// An API key was rotated.
    KeyRotated,
    /// An API key was revoked.
    KeyRevoked,
    /// Trading was halted (kill switch or loss limit).
    TradingHalted,
    /// Trading was resumed.
    TradingResumed,
    /// The daily loss limit was reached.
    DailyLossLimitHit,
    /// The terminal credentials were set or imported.
    CredentialsChanged,
    /// The server started.
    ServerStarted,
    /// The server stopped.
    ServerStopped,
    /// An archived log file was deleted by retention.
    LogDeleted,
    /// A torn last line was cut from a log file on open.
    LogRepaired,
    /// Rows were dropped because a sink's queue was full.
    AuditRowsDropped,
    /// An event this crate does not name yet; written as sanitized text.
    Other(String),
}

impl SecurityEventKind {
    /// The text written to the file.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::AuthSuccess => "auth_success",
            Self::AuthFailure => "auth_failure",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::LockedOut => "locked_out",
            Self::HostRejected => "host_rejected",
            Self::OriginRejected => "origin_rejected",
            Self::KeyCreated => "key_created",
            Self::KeyRotated => "key_rotated",
            Self::KeyRevoked => "key_revoked",
            Self::TradingHalted => "trading_halted",
            Self::TradingResumed => "trading_resumed",
            Self::DailyLossLimitHit => "daily_loss_limit_hit",
            Self::CredentialsChanged => "credentials_changed",
            Self::ServerStarted => "server_started",
            Self::ServerStopped => "server_stopped",
            Self::LogDeleted => "log_deleted",
            Self::LogRepaired => "log_repaired",
            Self::AuditRowsDropped => "audit_rows_dropped",
            Self::Other(name) => name,
        }
    }
}

/// A row of `security.csv`. Never put a key's secret in any field; `key_id` is the public id.
#[derive(Clone, Debug, PartialEq)]
pub struct SecurityEvent {
    /// What happened.
    pub event: SecurityEventKind,
    /// The client's address, after the trusted-proxy rules.
    pub client_ip: Option<IpAddr>,
    /// The public id of the key involved, never the secret.
    pub key_id: Option<String>,
    /// Free text; sanitized on write.
    pub detail: String,
}

impl SecurityEvent {
    /// An event with no client, key or detail yet.
    #[must_use]
    pub fn new(event: SecurityEventKind) -> Self {
        Self { event, client_ip: None, key_id: None, detail: String::new() }
    }

    /// Sets the client address.
    #[must_use]
    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Sets the key id.
    #[must_use]
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// Sets the detail text.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

impl Record for SecurityEvent {
    const SINK: Sink = Sink::Security;

    fn into_cells(self) -> Vec<Cell> {
        vec![
            Cell::text(self.event.as_str()),
            Cell::opt_text(self.client_ip.map(|ip| ip.to_string())),
            Cell::opt_text(self.key_id),
            Cell::Text(self.detail),
        ]
    }
}

/// A row of `errors.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorEntry {
    /// The request's `X-Request-Id`, when the error answered a request.
    pub request_id: Option<String>,
    /// The HTTP status sent, when there was a response.
    pub status: Option<u16>,
    /// The error code (`INTERNAL`, `TERMINAL_TIMEOUT`, `LOG_REPAIRED`, ...).
    pub code: String,
    /// What went wrong, for the operator; sanitized on write.
    pub message: String,
}

impl Record for ErrorEntry {
    const SINK: Sink = Sink::Errors;

    fn into_cells(self) -> Vec<Cell> {
        vec![
            Cell::opt_text(self.request_id),
            Cell::opt_number(self.status),
            Cell::Text(self.code),
            Cell::Text(self.message),
        ]
    }
}

/// Whether an `orders.csv` row was written before the terminal was called or after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderPhase {
    /// Written and synced before anything is sent to the terminal.
    Intent,
    /// Written and synced before the response is sent.
    Outcome,
}

impl OrderPhase {
    /// The text written to the file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Outcome => "outcome",
        }
    }
}

/// How a trading request ended, in an outcome row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// The terminal accepted it (retcode 10008, 10009 or 10010).
    Accepted,
    /// The terminal refused it (any other retcode).
    Rejected,
    /// The gateway refused it before sending (validation or a risk rule).
    Refused,
    /// The terminal's answer never came; the order awaits reconciliation.
    Unknown,
    /// An unknown outcome settled against the terminal's history.
    Reconciled,
}

impl OrderStatus {
    /// The text written to the file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Refused => "refused",
            Self::Unknown => "unknown",
            Self::Reconciled => "reconciled",
        }
    }
}

/// A row of `orders.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderEntry {
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// The caller's `Idempotency-Key`, if any.
    pub client_order_id: Option<String>,
    /// Intent or outcome.
    pub phase: OrderPhase,
    /// The public id of the key that sent the request.
    pub key_id: Option<String>,
    /// What was asked: `place`, `modify`, `cancel`, `close`, `halt`, ...
    pub action: String,
    /// The symbol, as the caller sent it.
    pub symbol: Option<String>,
    /// The order type (`buy`, `sell_limit`, ...), as the caller sent it.
    pub order_type: Option<String>,
    /// The volume the caller asked for.
    pub volume_requested: Option<Number>,
    /// The volume after rounding to the symbol's step.
    pub volume: Option<Number>,
    /// The requested or filled price.
    pub price: Option<Number>,
    /// Stop loss.
    pub sl: Option<Number>,
    /// Take profit.
    pub tp: Option<Number>,
    /// The validation or risk rule that refused the request.
    pub rule: Option<String>,
    /// The terminal's retcode.
    pub retcode: Option<u32>,
    /// The terminal's order ticket.
    pub ticket: Option<u64>,
    /// How the request ended; `None` in an intent row.
    pub status: Option<OrderStatus>,
    /// Free text; sanitized on write.
    pub detail: String,
}

impl OrderEntry {
    /// A row with only the request id, phase and action set.
    #[must_use]
    pub fn new(
        request_id: impl Into<String>,
        phase: OrderPhase,
        action: impl Into<String>,
    ) -> Self {
        Self {
            request_id: request_id.into(),
            client_order_id: None,
            phase,
            key_id: None,
            action: action.into(),
            symbol: None,
            order_type: None,
            volume_requested: None,
            volume: None,
            price: None,
            sl: None,
            tp: None,
            rule: None,
            retcode: None,
            ticket: None,
            status: None,
            detail: String::new(),
        }
    }
}

impl Record for OrderEntry {
    const SINK: Sink = Sink::Orders;

    fn into_cells(self) -> Vec<Cell> {
        vec![
            Cell::Text(self.request_id),
            Cell::opt_text(self.client_order_id),
            Cell::text(self.phase.as_str()),
            Cell::opt_text(self.key_id),
            Cell::Text(self.action),
            Cell::opt_text(self.symbol),
            Cell::opt_text(self.order_type),
            Cell::opt_number(self.volume_requested),
            Cell::opt_number(self.volume),
            Cell::opt_number(self.price),
            Cell::opt_number(self.sl),
            Cell::opt_number(self.tp),
            Cell::opt_text(self.rule),
            Cell::opt_number(self.retcode),
            Cell::opt_number(self.ticket),
            Cell::opt_text(self.status.map(OrderStatus::as_str)),
            Cell::Text(self.detail),
        ]
    }
}

/// A row of `deals.csv`: one fill as the terminal reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct DealEntry {
    /// The deal's ticket; unique per account, the key for writing each fill once.
    pub ticket: u64,
    /// The order that produced the deal.
    pub order: u64,
    /// The position the deal opened, changed or closed.
    pub position_id: u64,
    /// The symbol.
    pub symbol: String,
    /// The deal type (`buy`, `sell`, `balance`, ...).
    pub deal_type: String,
    /// The entry (`in`, `out`, `inout`, `out_by`).
    pub entry: String,
    /// Volume in lots.
    pub volume: Number,
    /// Fill price.
    pub price: Number,
    /// Profit in the account currency; negative stays a plain number.
    pub profit: Number,
    /// Swap.
    pub swap: Number,
    /// Commission.
    pub commission: Number,
    /// When the terminal executed the deal.
    pub deal_time: OffsetDateTime,
    /// The terminal's comment; sanitized on write.
    pub comment: String,
}

impl Record for DealEntry {
    const SINK: Sink = Sink::Deals;

    fn into_cells(self) -> Vec<Cell> {
        vec![
            Cell::Number(self.ticket.into()),
            Cell::Number(self.order.into()),
            Cell::Number(self.position_id.into()),
            Cell::Text(self.symbol),
            Cell::Text(self.deal_type),
            Cell::Text(self.entry),
            Cell::Number(self.volume),
            Cell::Number(self.price),
            Cell::Number(self.profit),
            Cell::Number(self.swap),
            Cell::Number(self.commission),
            Cell::Time(self.deal_time),
            Cell::Text(self.comment),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_start_with_timestamp_seq_and_end_with_chain() {
        for sink in Sink::ALL {
            let header = sink.header();
            assert_eq!(&header[..2], &["timestamp", "seq"], "{sink}");
            assert_eq!(header.last(), Some(&"chain"), "{sink}");
            let (marker, detail) = sink.link_columns();
            assert!(marker > 1 && detail > 1 && detail < header.len() - 1, "{sink}");
        }
    }

    #[test]
    fn records_fill_exactly_their_columns() {
        let at = time::macros::datetime!(2026-12-03 14:05:09 UTC);
        let zero = Number::from(0_u64);
        let deal = DealEntry {
            ticket: 1,
            order: 2,
            position_id: 3,
            symbol: "EURUSD".into(),
            deal_type: "buy".into(),
            entry: "in".into(),
            volume: zero.clone(),
            price: zero.clone(),
            profit: zero.clone(),
            swap: zero.clone(),
            commission: zero,
            deal_time: at,
            comment: String::new(),
        };
        assert_eq!(deal.into_cells().len(), Sink::Deals.record_width());
        let order = OrderEntry::new("r", OrderPhase::Intent, "place");
        assert_eq!(order.into_cells().len(), Sink::Orders.record_width());
        let error =
            ErrorEntry { request_id: None, status: None, code: "X".into(), message: "m".into() };
        assert_eq!(error.into_cells().len(), Sink::Errors.record_width());
        let event = SecurityEvent::new(SecurityEventKind::AuthFailure);
        assert_eq!(event.into_cells().len(), Sink::Security.record_width());
    }
}
