//! The gate under concurrency: reservations, commits and releases against the limits.

use std::sync::Barrier;

use mt5_bridge::types::Side;
use rust_decimal_macros::dec;

use super::*;
use crate::fixtures::{NOW, account, buy, config, eurusd, position, snapshot};

/// A gate with room for `max_positions` in all.
fn gate(max_positions: u32) -> RiskGate {
    let mut config = config();
    config.max_positions = Some(max_positions);
    config.daily_loss_limit = Some(dec!(100));
    RiskGate::new(config).unwrap()
}

#[test]
fn fifty_simultaneous_orders_against_room_for_one_more_position_one_passes() {
    // Four positions open, a limit of five: room for exactly one more.
    let gate = gate(5);
    let open = (1..=4).map(|ticket| position(ticket, "EURUSD", Side::Buy, dec!(0.1))).collect();
    let snapshot = snapshot(eurusd(), open, vec![]);
    let barrier = Barrier::new(50);

    let outcomes: Vec<Result<Reservation, Denial>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                scope.spawn(|| {
                    let stamp = gate.stamp();
                    barrier.wait();
                    gate.reserve(&buy("EURUSD", 0.1), &snapshot, stamp, NOW)
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });

    let passed = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(passed, 1);
    for denial in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(denial, &Denial::MaxPositions { symbol: None, open: 5, limit: 5 });
    }
}

#[test]
fn a_released_reservation_gives_its_place_back() {
    let gate = gate(1);
    let empty = snapshot(eurusd(), vec![], vec![]);
    let first = gate.reserve(&buy("EURUSD", 0.1), &empty, gate.stamp(), NOW).unwrap();
    assert_eq!(first.approved().volume, Some(dec!(0.1)));
    assert!(gate.reserve(&buy("EURUSD", 0.1), &empty, gate.stamp(), NOW).is_err());
    first.release();
    let second = gate.reserve(&buy("EURUSD", 0.1), &empty, gate.stamp(), NOW).unwrap();
    // Dropping an unsettled reservation releases it too.
    drop(second);
    assert!(gate.reserve(&buy("EURUSD", 0.1), &empty, gate.stamp(), NOW).is_ok());
}

#[test]
fn a_committed_order_counts_until_a_later_snapshot_shows_it() {
    let gate = gate(1);
    let empty = snapshot(eurusd(), vec![], vec![]);

    // Read before the fill: this snapshot cannot know of position 42.
    let stale = gate.stamp();
    let reservation = gate.reserve(&buy("EURUSD", 0.1), &empty, gate.stamp(), NOW).unwrap();
    reservation.commit(42);
    assert_eq!(
        gate.reserve(&buy("EURUSD", 0.1), &empty, stale, NOW).map(|_| ()),
        Err(Denial::MaxPositions { symbol: None, open: 1, limit: 1 })
    );

    // Read after the fill, showing the position: counted once, from the snapshot.
    let filled = snapshot(eurusd(), vec![position(42, "EURUSD", Side::Buy, dec!(0.1))], vec![]);
    assert_eq!(
        gate.reserve(&buy("EURUSD", 0.1), &filled, gate.stamp(), NOW).map(|_| ()),
        Err(Denial::MaxPositions { symbol: None, open: 1, limit: 1 })
    );
    // Read after the fill, the position already closed by its stop: room again.
    assert!(gate.reserve(&buy("EURUSD", 0.1), &empty, gate.stamp(), NOW).is_ok());
}

#[test]
fn closes_and_modifications_hold_no_place() {
    let gate = gate(1);
    let one = snapshot(eurusd(), vec![position(7, "EURUSD", Side::Buy, dec!(0.1))], vec![]);
    let close = gate.reserve(&Order::Close { ticket: 7, volume: None }, &one, gate.stamp(), NOW);
    let close = close.unwrap();
    assert!(!close.approved().opens);
    let modify = Order::ModifyPosition { ticket: 7, sl: Some(dec!(1.08)), tp: None };
    assert!(gate.reserve(&modify, &one, gate.stamp(), NOW).is_ok());
    close.commit(7);
    assert!(gate.reserve(&modify, &one, gate.stamp(), NOW).is_ok());
}

#[test]
fn the_loss_limit_turns_the_gate_reduce_only_until_the_next_day() {
    let gate = gate(10);
    let mut losing = position(7, "EURUSD", Side::Buy, dec!(1));
    losing.profit = dec!(-95);
    losing.swap = dec!(-5);
    let snapshot = Snapshot::new(account(dec!(9_900)), vec![losing.clone()], vec![], eurusd());

    assert_eq!(
        gate.reserve(&buy("EURUSD", 0.1), &snapshot, gate.stamp(), NOW).map(|_| ()),
        Err(Denial::DailyLossLimit { pnl: dec!(-100), limit: dec!(100) })
    );
    assert_eq!(
        gate.take_loss_limit_hit().map(|hit| (hit.pnl, hit.limit)),
        Some((dec!(-100), dec!(100)))
    );
    assert_eq!(gate.take_loss_limit_hit(), None);
    assert_eq!(gate.state(NOW), TradingState::ReduceOnly);
    assert!(
        gate.reserve(&Order::Close { ticket: 7, volume: None }, &snapshot, gate.stamp(), NOW)
            .is_ok()
    );

    // A resume lifts halts, not the day's loss limit.
    gate.halt();
    assert_eq!(gate.state(NOW), TradingState::Halted);
    gate.resume();
    assert_eq!(gate.state(NOW), TradingState::ReduceOnly);

    // The next UTC day starts clean.
    let tomorrow = NOW + time::Duration::days(1);
    assert_eq!(gate.state(tomorrow), TradingState::Active);
}

#[test]
fn deals_fed_twice_count_once_and_status_reports_the_day() {
    use mt5_bridge::types::{Deal, DealEntry, DealType};
    let gate = gate(10);
    let deal = |ticket, profit| Deal {
        ticket,
        order: ticket,
        position_id: ticket,
        symbol: "EURUSD".into(),
        deal_type: DealType::Sell,
        entry: DealEntry::Out,
        volume: dec!(0.1),
        price: dec!(1.085),
        profit,
        swap: dec!(-0.5),
        commission: dec!(-0.7),
        time: NOW,
        magic: 0,
        comment: String::new(),
    };
    let deals = [deal(1, dec!(10)), deal(2, dec!(-4))];
    assert_eq!(gate.record_deals(&deals, NOW), 2);
    assert_eq!(gate.record_deals(&deals, NOW), 0);

    let status = gate.status(
        &account(dec!(10_000)),
        &[position(7, "EURUSD", Side::Buy, dec!(0.1))],
        &[],
        NOW,
    );
    assert_eq!(status.state, TradingState::Active);
    assert_eq!(status.day.realised, dec!(3.6));
    assert_eq!(status.day.remaining, Some(dec!(103.6)));
    assert_eq!(status.positions, 1);
    let eurusd = status.symbols.iter().find(|s| s.symbol == "EURUSD").unwrap();
    assert_eq!((eurusd.positions, eurusd.session_open, eurusd.next_open), (1, true, None));
}
