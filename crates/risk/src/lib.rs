//! Pre-trade risk checks for an MT5 account: the trading day and its P&L, the daily loss
//! limit, trading sessions, volume rules, position and notional limits, price sanity and
//! the trading state.
//!
//! The crate stands alone, so any Rust trading tool can embed it, and it does no I/O: it
//! reads no clock, file or terminal. Callers hand it a [`Snapshot`] of the account, its
//! positions and pending orders and the symbol's quote, the current time, and the day's
//! deals as they arrive; it answers with an [`Approved`] order (its volume rounded onto
//! the step) or a [`Denial`] that carries the numbers behind it. Money and volumes are
//! decimals throughout.
//!
//! A server holds one [`RiskGate`]: per order it takes a [`SnapshotStamp`], reads the
//! snapshot, and calls [`RiskGate::reserve`], which checks the order under a lock and
//! holds its place against the position limits until the [`Reservation`] is committed or
//! released. The check itself is the pure function [`check`].

mod check;
mod config;
mod denial;
mod error;
mod gate;
mod ledger;
mod order;
mod session;
mod snapshot;
mod trading_day;
mod volume;
mod zone;

#[cfg(test)]
mod fixtures;

pub use check::{Approved, InFlight, Standing, check};
pub use config::{RiskConfig, SymbolRules};
pub use denial::{Denial, DisabledBy, StopKind};
pub use error::{ConfigError, SnapshotError, VolumeError};
pub use gate::{Reservation, RiskGate, RiskStatus, SnapshotStamp, SymbolStatus};
pub use ledger::{DayLedger, DayStatus, LossLimitHit, Recorded};
pub use order::{NewOrder, Order, TradingState};
pub use session::{Sessions, Window};
pub use snapshot::{Market, Snapshot};
pub use trading_day::{TradingCalendar, TradingDay};
pub use volume::{FLOAT_NOISE, Rounding, Volume, VolumeRules};
pub use zone::{ClockTime, Zone};
