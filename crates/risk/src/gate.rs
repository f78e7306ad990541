//! The gate a server holds: it serialises checks so concurrent orders cannot together pass
//! a limit that each respects alone.
//!
//! Each approved order leaves a reservation behind that counts as an open position until
//! the order is settled. A reservation committed (the terminal accepted the order) goes on
//! counting until a snapshot read after the commit is presented, or one that already holds
//! its ticket: a snapshot read before the terminal knew of the position cannot then let a
//! second order slip into the same room.
//!
//! The lock is held for one check only: microseconds, no I/O, never across an `await`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use mt5_bridge::types::{AccountInfo, Deal, PendingOrder, Position};
use parking_lot::Mutex;
use serde::Serialize;
use time::OffsetDateTime;

use crate::check::{Approved, InFlight, Standing, check};
use crate::ledger::{DayLedger, DayStatus, LossLimitHit, Recorded};
use crate::order::{Order, TradingState};
use crate::snapshot::Snapshot;
use crate::{ConfigError, Denial, RiskConfig};

/// Marks when a snapshot's reading began; take it before reading the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotStamp(u64);

/// The risk state of one account, shared by every request handler (clones share it).
#[derive(Clone)]
pub struct RiskGate {
    shared: Arc<Shared>,
}

struct Shared {
    config: RiskConfig,
    inner: Mutex<Inner>,
}

struct Inner {
    ledger: DayLedger,
    /// The state an operator set; the loss limit's reduce-only lives in the ledger.
    state: TradingState,
    held: HashMap<u64, Held>,
    next_id: u64,
    /// How many reservations have been committed; snapshot stamps count against it.
    commits: u64,
    unreported_hit: Option<LossLimitHit>,
}

struct Held {
    symbol: String,
    opens: bool,
    /// The ticket the terminal gave the order, and the commit count when it did.
    committed: Option<(u64, u64)>,
}

/// One symbol's standing, for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolStatus {
    pub symbol: String,
    pub enabled: bool,
    /// Open positions plus pending orders on the symbol.
    pub positions: u32,
    pub max_positions: Option<u32>,
    /// Whether a session is open (always, for a symbol without sessions).
    pub session_open: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_open: Option<OffsetDateTime>,
}

/// The gate's state, for reports (`GET /api/risk`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RiskStatus {
    /// The state orders are held to: halted, reduce-only (set by an operator, or the loss
    /// limit reached today) or active.
    pub state: TradingState,
    pub day: DayStatus,
    /// Open positions plus pending orders.
    pub positions: u32,
    pub max_positions: Option<u32>,
    /// Orders approved and not yet seen in a snapshot.
    pub in_flight: u32,
    pub symbols: Vec<SymbolStatus>,
}

impl RiskGate {
    /// Validates the limits and starts with an empty day in the active state.
    pub fn new(config: RiskConfig) -> Result<RiskGate, ConfigError> {
        config.validate()?;
        let inner = Inner {
            ledger: DayLedger::new(config.calendar()),
            state: TradingState::Active,
            held: HashMap::new(),
            next_id: 0,
            commits: 0,
            unreported_hit: None,
        };
        Ok(RiskGate { shared: Arc::new(Shared { config, inner: Mutex::new(inner) }) })
    }

    #[must_use]
    pub fn config(&self) -> &RiskConfig {
        &self.shared.config
    }

    /// Take this before reading the snapshot an order will be checked against.
    #[must_use]
    pub fn stamp(&self) -> SnapshotStamp {
        SnapshotStamp(self.shared.inner.lock().commits)
    }

    /// Checks `order` and, when it passes, holds its place against the limits until the
    /// returned reservation is committed or released (dropping it releases it).
    pub fn reserve(
        &self,
        order: &Order,
        snapshot: &Snapshot,
        stamp: SnapshotStamp,
        now: OffsetDateTime,
    ) -> Result<Reservation, Denial> {
        let config = &self.shared.config;
        let mut guard = self.shared.inner.lock();
        let inner = &mut *guard;

        // 1. Forget committed orders that this snapshot already reflects.
        inner.held.retain(|_, held| match held.committed {
            Some((ticket, at)) => at > stamp.0 && !snapshot.holds_ticket(ticket),
            None => true,
        });

        // 2. The day's P&L, which may reach the loss limit now.
        let day = inner.ledger.evaluate(snapshot.account(), snapshot.positions(), config, now);
        if day.newly_hit {
            inner.unreported_hit = day.loss_limit_hit;
        }

        // 3. The orders on their way count as positions.
        let symbol = &snapshot.market().info().name;
        let mut in_flight = InFlight::default();
        for held in inner.held.values().filter(|held| held.opens) {
            in_flight.total = in_flight.total.saturating_add(1);
            if held.symbol == *symbol {
                in_flight.on_symbol = in_flight.on_symbol.saturating_add(1);
            }
        }

        // 4. The check, and a place held for the order if it passes.
        let standing = Standing { state: inner.state, day: &day, in_flight };
        let approved = check(order, snapshot, &standing, config, now)?;
        let id = inner.next_id;
        inner.next_id += 1;
        let held = Held { symbol: approved.symbol.clone(), opens: approved.opens, committed: None };
        inner.held.insert(id, held);
        drop(guard);

        Ok(Reservation { gate: self.clone(), id, approved, settled: false })
    }

    /// Feeds the terminal's deals to the day's ledger; each ticket counts once, so feeding
    /// overlapping history is harmless. Returns how many deals were newly counted as P&L.
    pub fn record_deals<'a>(
        &self,
        deals: impl IntoIterator<Item = &'a Deal>,
        now: OffsetDateTime,
    ) -> usize {
        let mut inner = self.shared.inner.lock();
        inner.ledger.roll(now);
        deals.into_iter().filter(|deal| inner.ledger.record(deal) == Recorded::Counted).count()
    }

    /// The day's standing against every limit; reaching the loss limit here latches it as
    /// a check would.
    #[must_use]
    pub fn status(
        &self,
        account: &AccountInfo,
        positions: &[Position],
        pending_orders: &[PendingOrder],
        now: OffsetDateTime,
    ) -> RiskStatus {
        let config = &self.shared.config;
        let mut inner = self.shared.inner.lock();
        let day = inner.ledger.evaluate(account, positions, config, now);
        if day.newly_hit {
            inner.unreported_hit = day.loss_limit_hit;
        }
        let state = effective_state(inner.state, &day);
        let in_flight = inner.held.values().filter(|held| held.opens).count();
        drop(inner);

        let symbols_open = positions.iter().map(|p| &p.symbol);
        let symbols_open: Vec<&String> =
            symbols_open.chain(pending_orders.iter().map(|o| &o.symbol)).collect();
        let symbols = config
            .symbols
            .iter()
            .map(|(symbol, rules)| {
                let sessions = rules.sessions.as_ref();
                let count = symbols_open.iter().filter(|name| **name == symbol).count();
                SymbolStatus {
                    symbol: symbol.clone(),
                    enabled: rules.enabled,
                    positions: u32::try_from(count).unwrap_or(u32::MAX),
                    max_positions: rules.max_positions,
                    session_open: sessions.is_none_or(|sessions| sessions.is_open(now)),
                    next_open: sessions.and_then(|sessions| sessions.next_open(now)),
                }
            })
            .collect();

        RiskStatus {
            state,
            day,
            positions: u32::try_from(symbols_open.len()).unwrap_or(u32::MAX),
            max_positions: config.max_positions,
            in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
            symbols,
        }
    }

    /// The state orders are held to now, the loss-limit latch included (as of the last
    /// check or status; the day's rollover is applied at `now`).
    #[must_use]
    pub fn state(&self, now: OffsetDateTime) -> TradingState {
        let mut inner = self.shared.inner.lock();
        inner.ledger.roll(now);
        if inner.state == TradingState::Active && inner.ledger.loss_limit_hit().is_some() {
            return TradingState::ReduceOnly;
        }
        inner.state
    }

    /// The kill switch: only closes and cancellations pass until [`RiskGate::resume`].
    /// Returns the state set before.
    #[allow(clippy::must_use_candidate, reason = "the previous state is for callers that log it")]
    pub fn halt(&self) -> TradingState {
        std::mem::replace(&mut self.shared.inner.lock().state, TradingState::Halted)
    }

    /// Restricts trading to orders that reduce exposure until [`RiskGate::resume`].
    #[allow(clippy::must_use_candidate, reason = "the previous state is for callers that log it")]
    pub fn reduce_only(&self) -> TradingState {
        std::mem::replace(&mut self.shared.inner.lock().state, TradingState::ReduceOnly)
    }

    /// Lifts a halt or an operator's reduce-only. A loss limit reached today still holds
    /// until the next trading day. Returns the state set before.
    #[allow(clippy::must_use_candidate, reason = "the previous state is for callers that log it")]
    pub fn resume(&self) -> TradingState {
        std::mem::replace(&mut self.shared.inner.lock().state, TradingState::Active)
    }

    /// The loss-limit hit not yet reported, once: a server records it as a security event.
    #[must_use]
    pub fn take_loss_limit_hit(&self) -> Option<LossLimitHit> {
        self.shared.inner.lock().unreported_hit.take()
    }

    fn settle(&self, id: u64, ticket: Option<u64>) {
        let mut inner = self.shared.inner.lock();
        match ticket {
            Some(ticket) if inner.held.get(&id).is_some_and(|held| held.opens) => {
                inner.commits += 1;
                let at = inner.commits;
                if let Some(held) = inner.held.get_mut(&id) {
                    held.committed = Some((ticket, at));
                }
            }
            _ => {
                inner.held.remove(&id);
            }
        }
    }
}

fn effective_state(state: TradingState, day: &DayStatus) -> TradingState {
    match state {
        TradingState::Active if day.loss_limit_hit.is_some() => TradingState::ReduceOnly,
        state => state,
    }
}

impl fmt::Debug for RiskGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.shared.inner.lock();
        f.debug_struct("RiskGate")
            .field("state", &inner.state)
            .field("day", &inner.ledger.day())
            .field("held", &inner.held.len())
            .finish_non_exhaustive()
    }
}

/// An approved order's place against the limits. Settle it with [`Reservation::commit`]
/// once the terminal has accepted the order, or [`Reservation::release`] when it was not
/// sent or was refused; dropping it unsettled releases it.
#[must_use = "a reservation holds a place against the limits until it is settled"]
pub struct Reservation {
    gate: RiskGate,
    id: u64,
    approved: Approved,
    settled: bool,
}

impl Reservation {
    /// What the check approved, with the volume to send.
    #[must_use]
    pub fn approved(&self) -> &Approved {
        &self.approved
    }

    /// The terminal accepted the order under `ticket` (the position's or the pending
    /// order's). An opening order goes on counting until a snapshot shows it.
    pub fn commit(mut self, ticket: u64) {
        self.settled = true;
        self.gate.settle(self.id, Some(ticket));
    }

    /// The order was not sent, or the terminal refused it: its place is given back. An
    /// order whose outcome is unknown should be committed, not released, once its ticket
    /// is known, and kept (not dropped) until then.
    pub fn release(mut self) {
        self.settled = true;
        self.gate.settle(self.id, None);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.gate.settle(self.id, None);
        }
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("id", &self.id)
            .field("approved", &self.approved)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
