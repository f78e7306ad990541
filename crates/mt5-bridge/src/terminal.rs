//! The `Terminal` trait: everything the gateway asks of MT5, whoever answers.

use async_trait::async_trait;

use crate::types::{
    AccountInfo, Bar, Deal, HistoryOrder, HistoryQuery, PendingOrder, Position, SymbolInfo,
    TerminalStatus, Tick, Timeframe, TradeRequest, TradeResult,
};

/// Why a terminal call produced no answer.
///
/// A trade the server *refused* is not an error: it is a [`TradeResult`] with a failing
/// retcode. Errors mean the question itself could not be asked or answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    /// The terminal is not connected or its process is down.
    #[error("terminal unavailable: {0}")]
    Unavailable(String),
    /// The call was sent but no answer came in time; a trade's outcome is then unknown.
    #[error("terminal call timed out")]
    Timeout,
    #[error("unknown symbol {0}")]
    SymbolNotFound(String),
    #[error("no position with ticket {0}")]
    PositionNotFound(u64),
    #[error("no pending order with ticket {0}")]
    OrderNotFound(u64),
    /// The arguments cannot be served (a bar count of zero, a reversed time range).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The terminal answered with something the bridge could not understand.
    #[error("terminal protocol error: {0}")]
    Protocol(String),
    /// The terminal's own storage failed (the simulated account's file, for one).
    #[error("terminal storage error: {0}")]
    Storage(String),
    /// The terminal cannot start with the settings or files it was given.
    #[error("terminal configuration error: {0}")]
    Config(String),
}

pub type Result<T, E = TerminalError> = std::result::Result<T, E>;

/// An MT5 terminal, real or simulated.
///
/// Every method is one MT5 call. Implementations must be cheap to call concurrently; the
/// gateway bounds each call with its own timeout, so an implementation may block for as long
/// as the terminal does.
#[async_trait]
pub trait Terminal: Send + Sync + 'static {
    /// Connection state, for health reports. Never fails.
    async fn status(&self) -> TerminalStatus;
    async fn account(&self) -> Result<AccountInfo>;
    async fn symbols(&self) -> Result<Vec<SymbolInfo>>;
    async fn symbol(&self, name: &str) -> Result<SymbolInfo>;
    async fn tick(&self, symbol: &str) -> Result<Tick>;
    /// The newest `count` bars of `symbol`, oldest first; the last one may still be forming.
    async fn bars(&self, symbol: &str, timeframe: Timeframe, count: usize) -> Result<Vec<Bar>>;
    async fn positions(&self) -> Result<Vec<Position>>;
    /// Pending orders still in the market.
    async fn orders(&self) -> Result<Vec<PendingOrder>>;
    async fn history_deals(&self, query: &HistoryQuery) -> Result<Vec<Deal>>;
    async fn history_orders(&self, query: &HistoryQuery) -> Result<Vec<HistoryOrder>>;
    /// Sends a trade request; the result's retcode says whether the server took it.
    async fn order_send(&self, request: TradeRequest) -> Result<TradeResult>;
}
