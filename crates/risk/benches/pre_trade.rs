//! The cost of a pre-trade check with an empty trading day and with a million deals fed into
//! the day's ledger. The two must cost the same: the check reads running totals, never the
//! history.

#![allow(clippy::panic, reason = "a bench that cannot set up has nothing to measure")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mt5_bridge::types::{
    AccountInfo, AccountMode, Deal, DealEntry, DealType, OrderType, Position, Side, SymbolInfo,
    Tick, TradeMode,
};
use risk::{
    DayLedger, InFlight, Market, NewOrder, Order, RiskConfig, RiskGate, Snapshot, Standing,
    SymbolRules, TradingState, Volume, check,
};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2024-06-05 20:00 UTC);
const DAY_START: OffsetDateTime = datetime!(2024-06-05 00:00 UTC);

fn config() -> RiskConfig {
    let mut config = RiskConfig {
        daily_loss_limit: Some(Decimal::from(1_000_000_000)),
        max_positions: Some(50),
        max_notional_per_order: Some(Decimal::from(10_000_000)),
        ..RiskConfig::default()
    };
    config.symbols.insert("EURUSD".to_owned(), SymbolRules::default());
    config
}

fn eurusd() -> SymbolInfo {
    SymbolInfo {
        name: "EURUSD".to_owned(),
        description: "Euro vs US Dollar".to_owned(),
        digits: 5,
        point: Decimal::new(1, 5),
        contract_size: Decimal::from(100_000),
        volume_min: Decimal::new(1, 2),
        volume_step: Decimal::new(1, 2),
        volume_max: Decimal::from(100),
        stops_level: 10,
        spread: 10,
        currency_base: "EUR".to_owned(),
        currency_profit: "USD".to_owned(),
        currency_margin: "EUR".to_owned(),
        trade_mode: TradeMode::Full,
    }
}

fn snapshot() -> Snapshot {
    let tick = Tick {
        symbol: "EURUSD".to_owned(),
        time: NOW,
        bid: Decimal::new(108_500, 5),
        ask: Decimal::new(108_510, 5),
    };
    let market = Market::new(eurusd(), tick).unwrap_or_else(|error| panic!("{error}"));
    let equity = Decimal::from(100_000);
    let account = AccountInfo {
        login: 1,
        server: "Simulated".to_owned(),
        name: "Paper".to_owned(),
        currency: "USD".to_owned(),
        mode: AccountMode::Simulated,
        leverage: 100,
        balance: equity,
        equity,
        profit: Decimal::ZERO,
        margin: Decimal::ZERO,
        margin_free: equity,
        margin_level: None,
        trade_allowed: true,
    };
    // Ten open positions: a realistic book, the same in both cases.
    let positions = (1..=10)
        .map(|ticket| Position {
            ticket,
            symbol: "EURUSD".to_owned(),
            side: Side::Buy,
            volume: Decimal::new(10, 2),
            price_open: Decimal::new(108_000, 5),
            price_current: Decimal::new(108_500, 5),
            sl: None,
            tp: None,
            profit: Decimal::new(5_000, 2),
            swap: Decimal::new(-12, 2),
            time: DAY_START,
            magic: 0,
            comment: String::new(),
        })
        .collect();
    Snapshot::new(account, positions, vec![], market)
}

/// `count` closing deals spread over the trading day so far.
fn history(count: u64) -> Vec<Deal> {
    (0..count)
        .map(|index| Deal {
            ticket: 1_000 + index,
            order: 1_000 + index,
            position_id: 1_000 + index,
            symbol: "EURUSD".to_owned(),
            deal_type: DealType::Sell,
            entry: DealEntry::Out,
            volume: Decimal::new(10, 2),
            price: Decimal::new(108_500, 5),
            profit: Decimal::new(i64::try_from(index % 200).unwrap_or(0) - 100, 2),
            swap: Decimal::new(-3, 2),
            commission: Decimal::new(-70, 2),
            time: DAY_START + time::Duration::milliseconds(i64::try_from(index).unwrap_or(0)),
            magic: 0,
            comment: String::new(),
        })
        .collect()
}

fn order() -> Order {
    Order::Open(NewOrder {
        symbol: "EURUSD".to_owned(),
        order_type: OrderType::Buy,
        volume: Volume::from_f64(0.015).unwrap_or_else(|error| panic!("{error}")),
        price: None,
        sl: Some(Decimal::new(108_000, 5)),
        tp: Some(Decimal::new(109_000, 5)),
    })
}

fn pre_trade(c: &mut Criterion) {
    let config = config();
    let snapshot = snapshot();
    let order = order();
    let mut group = c.benchmark_group("pre_trade");

    for deals in [0, 1_000_000] {
        let history = history(deals);

        // The pure check, after the ledger has taken in the day's deals.
        let mut ledger = DayLedger::new(config.calendar());
        ledger.roll(NOW);
        for deal in &history {
            ledger.record(deal);
        }
        group.bench_function(format!("check/{deals}_deals"), |b| {
            b.iter(|| {
                let day = ledger.evaluate(snapshot.account(), snapshot.positions(), &config, NOW);
                let standing = Standing {
                    state: TradingState::Active,
                    day: &day,
                    in_flight: InFlight::default(),
                };
                black_box(check(black_box(&order), &snapshot, &standing, &config, NOW))
            });
        });

        // The gate as a server uses it: stamp, reserve under the lock, release.
        let gate = RiskGate::new(config.clone()).unwrap_or_else(|error| panic!("{error}"));
        gate.record_deals(&history, NOW);
        drop(history);
        group.bench_function(format!("reserve_release/{deals}_deals"), |b| {
            b.iter(|| {
                let stamp = gate.stamp();
                match gate.reserve(black_box(&order), &snapshot, stamp, NOW) {
                    Ok(reservation) => reservation.release(),
                    Err(denial) => panic!("{denial}"),
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, pre_trade);
criterion_main!(benches);
