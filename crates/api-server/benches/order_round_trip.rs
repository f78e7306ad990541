//! The cost of one order round trip through the simulated terminal: a market buy of 0.01 lot
//! of EURUSD and its close, each taken through the steps `src/trading/pipeline.rs` takes for a
//! trading request, built from the same library pieces the server holds.
//!
//! Three measurements, each per round trip (two orders):
//! - `terminal`: the two `order_send` calls alone;
//! - `risk_and_terminal`: what the server reads before a check (the day's new deals, account,
//!   positions, pending orders, symbol, tick), the gate's reservation, the send and the commit,
//!   with no audit rows;
//! - `full_pipeline`: the same with a durable intent row before each send and a durable
//!   outcome row after it, as `orders.csv` gets them.
//!
//! Syncs to disk dominate: every trade makes the simulated terminal rewrite its account file
//! and sync it, and every durable audit row waits for one `fdatasync`. The account file holds
//! the whole paper history, so the account is reset outside the timed part every
//! `RESET_EVERY` round trips; the figures are for a short history. HTTP, authentication,
//! validation and idempotency are not part of any of the three.

#![allow(clippy::panic, reason = "a bench that cannot set up or trade has nothing to measure")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use api_server::audit::number;
use audit_log::{AuditConfig, AuditLogs, OrderEntry, OrderPhase, OrderStatus};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mt5_bridge::Terminal;
use mt5_bridge::sim::{MarketHours, SimConfig, SimulatedTerminal, StartMode, SystemClock};
use mt5_bridge::types::{HistoryQuery, OrderType, Side, TradeRequest, TradeResult};
use risk::{Market, NewOrder, Order, RiskConfig, RiskGate, Snapshot, SymbolRules, Volume};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use tokio::runtime::Runtime;

const SYMBOL: &str = "EURUSD";
const LOTS: f64 = 0.01;
/// Slippage accepted on every market order, in points, as the server's default.
const DEVIATION: u32 = 20;
/// Round trips between two resets of the paper account, which keep its file small.
const RESET_EVERY: u64 = 50;
/// Overlap between two reads of the deal history, as the server has it.
const DEAL_OVERLAP: time::Duration = time::Duration::minutes(5);

/// How much of the server's pipeline a round trip goes through.
#[derive(Clone, Copy, Debug)]
enum Stages {
    /// `order_send` alone.
    Terminal,
    /// Terminal reads, risk gate, `order_send`, commit.
    RiskAndTerminal,
    /// All of the above with a durable intent and outcome row per order.
    Full,
}

/// One paper account with the gate and the audit logs the server would hold for it.
struct Rig {
    terminal: SimulatedTerminal,
    gate: RiskGate,
    audit: AuditLogs,
    /// Where the next read of the deal history starts.
    deals_from: OffsetDateTime,
    orders_sent: u64,
    round_trips: u64,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn open() -> Rig {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));

        let sim = SimConfig {
            data_dir: dir.path().join("sim"),
            market_hours: MarketHours::Always,
            start: StartMode::Reset,
            ..SimConfig::default()
        };
        let terminal = SimulatedTerminal::open(&sim, Arc::new(SystemClock))
            .unwrap_or_else(|error| panic!("simulated terminal: {error}"));

        let mut limits = RiskConfig::default();
        limits.symbols.insert(SYMBOL.to_owned(), SymbolRules::default());
        let gate = RiskGate::new(limits).unwrap_or_else(|error| panic!("risk limits: {error}"));

        let logs = AuditConfig::new(dir.path().join("logs"), dir.path().join("chain.key"));
        let (audit, _report) =
            AuditLogs::open(&logs).unwrap_or_else(|error| panic!("audit logs: {error}"));

        Rig {
            terminal,
            gate,
            audit,
            deals_from: OffsetDateTime::UNIX_EPOCH,
            orders_sent: 0,
            round_trips: 0,
            _dir: dir,
        }
    }

    /// Times `iters` round trips, resetting the account between them where it is due.
    fn measure(&mut self, runtime: &Runtime, stages: Stages, iters: u64) -> Duration {
        let mut elapsed = Duration::ZERO;
        for _ in 0..iters {
            if self.round_trips.is_multiple_of(RESET_EVERY) {
                self.terminal.reset().unwrap_or_else(|error| panic!("account reset: {error}"));
            }
            let start = Instant::now();
            runtime.block_on(self.round_trip(stages));
            elapsed += start.elapsed();
            self.round_trips += 1;
        }
        elapsed
    }

    async fn round_trip(&mut self, stages: Stages) {
        if let Stages::Terminal = stages {
            let opened = send(&self.terminal, market(Side::Buy, lots(), None, "bench")).await;
            let ticket = ticket(&opened);
            let close = market(Side::Sell, opened.volume, Some(ticket), "bench close");
            send(&self.terminal, close).await;
            return;
        }

        let open = Order::Open(NewOrder {
            symbol: SYMBOL.to_owned(),
            order_type: OrderType::Buy,
            volume: Volume::from_f64(LOTS).unwrap_or_else(|error| panic!("{error}")),
            price: None,
            sl: None,
            tp: None,
        });
        let ticket = self
            .execute(&open, "place", OrderType::Buy, stages, |volume, client_id| {
                market(Side::Buy, volume, None, client_id)
            })
            .await;

        // The close is found among the positions first, as the server's close route does.
        let positions = read(self.terminal.positions().await);
        let Some(position) = positions.into_iter().find(|position| position.ticket == ticket)
        else {
            panic!("position {ticket} is not open");
        };
        let side = position.side.opposite();
        let close = Order::Close { ticket, volume: None };
        self.execute(&close, "close", OrderType::Sell, stages, |volume, client_id| {
            market(side, volume, Some(ticket), client_id)
        })
        .await;
    }

    /// One order through the server's steps 3 to 7 (`src/trading/mod.rs`); returns its ticket.
    async fn execute(
        &mut self,
        order: &Order,
        action: &str,
        order_type: OrderType,
        stages: Stages,
        build: impl FnOnce(Decimal, &str) -> TradeRequest,
    ) -> u64 {
        let durable = matches!(stages, Stages::Full);

        // 3. What the check needs, read fresh from the terminal.
        let stamp = self.gate.stamp();
        self.feed_deals().await;
        let snapshot = self.snapshot().await;

        // 4. The check, holding the order's place against the limits.
        let reservation = self
            .gate
            .reserve(order, &snapshot, stamp, OffsetDateTime::now_utc())
            .unwrap_or_else(|denial| panic!("{denial}"));
        let approved = reservation.approved().clone();
        let volume = approved.volume.unwrap_or_default();
        self.orders_sent += 1;
        let client_id = format!("g0000{:06x}", self.orders_sent);

        // 5. The intent, on disk before anything is sent.
        let mut intent =
            OrderEntry::new(format!("bench-{}", self.orders_sent), OrderPhase::Intent, action);
        intent.client_order_id = Some(client_id.clone());
        intent.symbol = Some(SYMBOL.to_owned());
        intent.order_type = Some(order_type.as_str().to_owned());
        intent.volume_requested = approved.volume_requested.map(number);
        intent.volume = approved.volume.map(number);
        if durable {
            self.audit
                .orders
                .append_durable(intent.clone())
                .await
                .unwrap_or_else(|error| panic!("intent: {error}"));
        }

        // 6. The terminal.
        let result = send(&self.terminal, build(volume, &client_id)).await;
        let ticket = ticket(&result);
        reservation.commit(ticket);

        // 7. The outcome, on disk before the answer.
        if durable {
            let mut outcome = intent;
            outcome.phase = OrderPhase::Outcome;
            outcome.status = Some(OrderStatus::Accepted);
            outcome.retcode = Some(result.retcode.0);
            outcome.ticket = Some(ticket);
            outcome.price = result.price.map(number);
            outcome.volume = Some(number(result.volume));
            self.audit
                .orders
                .append_durable(outcome)
                .await
                .unwrap_or_else(|error| panic!("outcome: {error}"));
        }
        ticket
    }

    /// Feeds the deals since the last read to the gate's ledger.
    async fn feed_deals(&mut self) {
        let to = OffsetDateTime::now_utc() + time::Duration::seconds(1);
        let query = HistoryQuery { from: self.deals_from - DEAL_OVERLAP, to, symbol: None };
        let deals = read(self.terminal.history_deals(&query).await);
        self.gate.record_deals(&deals, OffsetDateTime::now_utc());
        self.deals_from = to - time::Duration::seconds(1);
    }

    async fn snapshot(&self) -> Snapshot {
        let terminal = &self.terminal;
        let account = read(terminal.account().await);
        let positions = read(terminal.positions().await);
        let pending = read(terminal.orders().await);
        let info = read(terminal.symbol(SYMBOL).await);
        let tick = read(terminal.tick(SYMBOL).await);
        let market = Market::new(info, tick).unwrap_or_else(|error| panic!("quote: {error}"));
        Snapshot::new(account, positions, pending, market)
    }
}

/// A terminal read that must succeed: the server would answer 503 and send nothing.
fn read<T>(answer: mt5_bridge::Result<T>) -> T {
    answer.unwrap_or_else(|error| panic!("terminal read: {error}"))
}

fn lots() -> Decimal {
    Decimal::new(1, 2)
}

fn market(side: Side, volume: Decimal, position: Option<u64>, comment: &str) -> TradeRequest {
    TradeRequest::Market {
        symbol: SYMBOL.to_owned(),
        side,
        volume,
        sl: None,
        tp: None,
        deviation: DEVIATION,
        price: None,
        position,
        magic: 0,
        comment: comment.to_owned(),
    }
}

/// Sends a request that must succeed: a refused trade would leave nothing to measure.
async fn send(terminal: &SimulatedTerminal, request: TradeRequest) -> TradeResult {
    let result = terminal.order_send(request).await.unwrap_or_else(|error| panic!("{error}"));
    let retcode = result.retcode;
    assert!(retcode.is_success(), "the simulated terminal refused a bench order: {retcode}");
    result
}

fn ticket(result: &TradeResult) -> u64 {
    result.order.or(result.deal).unwrap_or_else(|| panic!("an accepted order without a ticket"))
}

fn round_trips(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("runtime: {error}"));
    let mut rig = Rig::open();

    let mut group = c.benchmark_group("order_round_trip");
    // Two orders per round trip: the buy and its close.
    group.throughput(Throughput::Elements(2));
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, stages) in [
        ("terminal", Stages::Terminal),
        ("risk_and_terminal", Stages::RiskAndTerminal),
        ("full_pipeline", Stages::Full),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| rig.measure(&runtime, stages, iters));
        });
    }
    group.finish();
    rig.audit.close();
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
