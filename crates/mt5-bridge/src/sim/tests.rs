//! Behaviour of the simulated terminal as a client sees it, on a manual clock and, where
//! the numbers are checked by hand, on replayed prices.

use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tempfile::TempDir;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::Retcode;
use crate::types::{DealEntry, DealType, OrderState, OrderType, Side};

/// A Wednesday noon: the forex market is open.
const START: OffsetDateTime = datetime!(2024-06-05 12:00 UTC);

struct Fixture {
    dir: TempDir,
    clock: Arc<ManualClock>,
    sim: SimulatedTerminal,
}

impl Fixture {
    fn config(&self) -> SimConfig {
        config_in(&self.dir)
    }

    fn reopen(self, config: &SimConfig) -> Result<Fixture> {
        let Fixture { dir, clock, sim } = self;
        drop(sim);
        let sim = SimulatedTerminal::open(config, clock.clone())?;
        Ok(Fixture { dir, clock, sim })
    }

    fn advance_ms(&self, ms: i64) {
        self.clock.advance(Duration::milliseconds(ms));
    }

    async fn send(&self, request: TradeRequest) -> TradeResult {
        self.sim.order_send(request).await.unwrap()
    }

    async fn balance(&self) -> Decimal {
        self.sim.account().await.unwrap().balance
    }
}

fn config_in(dir: &TempDir) -> SimConfig {
    let replay = dir.path().join("replay");
    SimConfig {
        data_dir: dir.path().join("data"),
        replay_dir: replay.exists().then_some(replay),
        market_hours: MarketHours::Always,
        ..SimConfig::default()
    }
}

/// A terminal whose `files` (symbol, rows of `ms,bid,ask`) are replayed; other symbols walk.
fn fixture(files: &[(&str, &str)]) -> Fixture {
    fixture_at(START, files, |_| {})
}

fn fixture_at(start: OffsetDateTime, files: &[(&str, &str)], tune: fn(&mut SimConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    if !files.is_empty() {
        let replay = dir.path().join("replay");
        std::fs::create_dir(&replay).unwrap();
        for (symbol, rows) in files {
            std::fs::write(replay.join(format!("{symbol}.csv")), rows).unwrap();
        }
    }
    let clock = Arc::new(ManualClock::new(start));
    let mut config = config_in(&dir);
    tune(&mut config);
    let sim = SimulatedTerminal::open(&config, clock.clone()).unwrap();
    Fixture { dir, clock, sim }
}

fn market(symbol: &str, side: Side, volume: Decimal) -> TradeRequest {
    TradeRequest::Market {
        symbol: symbol.to_owned(),
        side,
        volume,
        sl: None,
        tp: None,
        deviation: 0,
        price: None,
        position: None,
        magic: 0,
        comment: String::new(),
    }
}

fn close(symbol: &str, side: Side, volume: Decimal, ticket: u64) -> TradeRequest {
    let mut request = market(symbol, side, volume);
    if let TradeRequest::Market { position, .. } = &mut request {
        *position = Some(ticket);
    }
    request
}

fn with_stops(mut request: TradeRequest, sl: Option<Decimal>, tp: Option<Decimal>) -> TradeRequest {
    if let TradeRequest::Market { sl: old_sl, tp: old_tp, .. }
    | TradeRequest::Pending { sl: old_sl, tp: old_tp, .. } = &mut request
    {
        (*old_sl, *old_tp) = (sl, tp);
    }
    request
}

/// A market buy that expects `expected` and accepts `slippage` points from it.
fn buy_expecting(expected: Decimal, slippage: u32) -> TradeRequest {
    let mut request = market("EURUSD", Side::Buy, dec!(0.10));
    if let TradeRequest::Market { price, deviation, .. } = &mut request {
        (*price, *deviation) = (Some(expected), slippage);
    }
    request
}

fn pending(symbol: &str, order_type: OrderType, volume: Decimal, price: Decimal) -> TradeRequest {
    TradeRequest::Pending {
        symbol: symbol.to_owned(),
        order_type,
        volume,
        price,
        sl: None,
        tp: None,
        expiration: None,
        magic: 0,
        comment: String::new(),
    }
}

fn all_time(symbol: Option<&str>) -> HistoryQuery {
    HistoryQuery {
        from: datetime!(2000-01-01 0:00 UTC),
        to: datetime!(2100-01-01 0:00 UTC),
        symbol: symbol.map(str::to_owned),
    }
}

const EURUSD_UP: &str = "0,1.08502,1.08512\n1000,1.08612,1.08622\n2000,1.08712,1.08722\n";

#[tokio::test]
async fn eurusd_buy_closed_100_points_higher_earns_ten_dollars() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    let opened = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    assert_eq!(opened.retcode, Retcode::DONE);
    assert_eq!(opened.price, Some(dec!(1.08512)));
    let ticket = opened.order.unwrap();

    f.advance_ms(1_000);
    let tick = f.sim.tick("EURUSD").await.unwrap();
    assert_eq!((tick.bid, tick.ask), (dec!(1.08612), dec!(1.08622)));
    let positions = f.sim.positions().await.unwrap();
    assert_eq!((positions[0].ticket, positions[0].profit), (ticket, dec!(10.00)));
    assert_eq!(positions[0].price_current, dec!(1.08612));

    let closed = f.send(close("EURUSD", Side::Sell, dec!(0.10), ticket)).await;
    assert_eq!((closed.retcode, closed.price), (Retcode::DONE, Some(dec!(1.08612))));
    assert_eq!(f.balance().await, dec!(10010.00));
    assert!(f.sim.positions().await.unwrap().is_empty());

    let deals = f.sim.history_deals(&all_time(None)).await.unwrap();
    let summary: Vec<_> = deals.iter().map(|d| (d.deal_type, d.entry, d.profit)).collect();
    assert_eq!(
        summary,
        vec![
            (DealType::Balance, DealEntry::None, dec!(10000)),
            (DealType::Buy, DealEntry::In, dec!(0)),
            (DealType::Sell, DealEntry::Out, dec!(10.00)),
        ]
    );
    assert!(deals.iter().all(|deal| deal.ticket > 0));
    assert!(deals.windows(2).all(|pair| pair[0].ticket < pair[1].ticket));
    assert_eq!((deals[2].position_id, deals[2].order), (ticket, closed.order.unwrap()));
    assert!(closed.order.unwrap() > ticket);
}

#[tokio::test]
async fn usdjpy_profit_in_yen_is_converted_at_the_closing_rate() {
    let rows = "0,150.000,150.012\n1000,150.512,150.524\n";
    let f = fixture(&[("USDJPY", rows)]);
    let buy = f.send(market("USDJPY", Side::Buy, dec!(0.10))).await;
    let sell = f.send(market("USDJPY", Side::Sell, dec!(0.10))).await;
    f.advance_ms(1_000);

    // Buy: (150.512 - 150.012) × 0.10 × 100,000 = 5,000 JPY; / 150.512 = 33.2199… USD.
    let closed = f.send(close("USDJPY", Side::Sell, dec!(0.10), buy.order.unwrap())).await;
    assert_eq!(closed.retcode, Retcode::DONE);
    // Sell: (150.000 - 150.524) × 10,000 = -5,240 JPY; / 150.524 = -34.8117… USD.
    f.send(close("USDJPY", Side::Buy, dec!(0.10), sell.order.unwrap())).await;
    let deals = f.sim.history_deals(&all_time(Some("USDJPY"))).await.unwrap();
    let profits: Vec<Decimal> = deals.iter().map(|deal| deal.profit).collect();
    assert_eq!(profits, vec![dec!(0), dec!(0), dec!(33.22), dec!(-34.81)]);
    assert_eq!(f.balance().await, dec!(9998.41));
}

#[tokio::test]
async fn margin_free_margin_and_level_follow_leverage() {
    let f = fixture(&[
        ("EURUSD", "0,1.09990,1.10000\n"),
        ("USDJPY", "0,150.000,150.010\n"),
        ("XAUUSD", "0,2349.75,2350.00\n"),
    ]);
    // 1 lot EURUSD at 1.1: 100,000 × 1.1 / 100 = 1,100 USD.
    f.send(market("EURUSD", Side::Buy, dec!(1))).await;
    let account = f.sim.account().await.unwrap();
    assert_eq!(account.margin, dec!(1100.00));
    // Bought at the ask, valued at the bid: 10 points × 1 USD = -10 USD floating.
    assert_eq!((account.profit, account.equity), (dec!(-10.00), dec!(9990.00)));
    assert_eq!(account.margin_free, dec!(8890.00));
    assert_eq!(account.margin_level, Some(dec!(908.18))); // 9990 / 1100 = 9.08181…

    // USDJPY: margin currency USD, 100,000 / 100 = 1,000. Gold: 100 oz × 2350 / 100.
    f.send(market("USDJPY", Side::Sell, dec!(1))).await;
    f.send(market("XAUUSD", Side::Buy, dec!(1))).await;
    let account = f.sim.account().await.unwrap();
    assert_eq!(account.margin, dec!(4450.00));
    assert_eq!(account.leverage, 100);
}

#[tokio::test]
async fn an_order_the_free_margin_cannot_carry_gets_no_money() {
    let f = fixture_at(START, &[("EURUSD", "0,1.09990,1.10000\n")], |config| {
        config.initial_balance = dec!(1000);
    });
    let refused = f.send(market("EURUSD", Side::Buy, dec!(1))).await;
    assert_eq!(refused.retcode, Retcode::NO_MONEY);
    assert_eq!(refused.comment, "margin 1100.00 USD needed, free margin 1000 USD");
    assert_eq!(f.send(market("EURUSD", Side::Buy, dec!(0.5))).await.retcode, Retcode::DONE);
    assert_eq!(f.sim.account().await.unwrap().margin, dec!(550.00));
}

#[tokio::test]
async fn pending_orders_trigger_on_the_right_price_and_become_positions() {
    // Ask falls from 1.08510 to 1.08410, then rises to 1.08710.
    let rows = "0,1.08500,1.08510\n1000,1.08400,1.08410\n2000,1.08700,1.08710\n";
    let f = fixture(&[("EURUSD", rows)]);
    let cases = [
        (OrderType::BuyLimit, dec!(1.08450), Some(dec!(1.08410))),
        (OrderType::SellStop, dec!(1.08450), Some(dec!(1.08400))),
        (OrderType::BuyStop, dec!(1.08650), None),
        (OrderType::SellLimit, dec!(1.08800), None),
    ];
    let mut tickets = Vec::new();
    for (order_type, price, _) in &cases {
        let placed = f.send(pending("EURUSD", *order_type, dec!(0.10), *price)).await;
        assert_eq!(placed.retcode, Retcode::PLACED, "{order_type:?}: {}", placed.comment);
        tickets.push(placed.order.unwrap());
    }
    assert_eq!(f.sim.orders().await.unwrap().len(), 4);

    f.advance_ms(1_000);
    let positions = f.sim.positions().await.unwrap();
    for ((order_type, _, filled_at), ticket) in cases.iter().zip(&tickets) {
        let position = positions.iter().find(|position| position.ticket == *ticket);
        assert_eq!(position.map(|p| p.price_open), *filled_at, "{order_type:?}");
    }
    let still_pending: Vec<u64> = f.sim.orders().await.unwrap().iter().map(|o| o.ticket).collect();
    assert_eq!(still_pending, tickets[2..]);

    // The buy stop at 1.08650 fills when the ask reaches 1.08710.
    f.advance_ms(1_000);
    assert_eq!(f.sim.positions().await.unwrap().len(), 3);
    let history = f.sim.history_orders(&all_time(None)).await.unwrap();
    let filled: Vec<(u64, OrderState)> = history.iter().map(|o| (o.ticket, o.state)).collect();
    assert_eq!(
        filled,
        vec![
            (tickets[0], OrderState::Filled),
            (tickets[1], OrderState::Filled),
            (tickets[2], OrderState::Filled)
        ]
    );
    assert_eq!(history[0].position_id, tickets[0]);
}

#[tokio::test]
async fn take_profit_and_stop_loss_close_at_the_trigger_tick() {
    let rows = "0,1.08500,1.08510\n1000,1.08700,1.08710\n2000,1.08900,1.08910\n";
    let f = fixture(&[("EURUSD", rows)]);
    // A buy's TP watches the bid: 1.08700 reaches 1.08650. A sell's SL watches the ask:
    // 1.08910 reaches 1.08850 one tick later.
    let buy = with_stops(market("EURUSD", Side::Buy, dec!(0.10)), None, Some(dec!(1.08650)));
    let sell = with_stops(market("EURUSD", Side::Sell, dec!(0.10)), Some(dec!(1.08850)), None);
    let buy = f.send(buy).await;
    let sell = f.send(sell).await;
    assert_eq!((buy.retcode, sell.retcode), (Retcode::DONE, Retcode::DONE));

    f.advance_ms(1_000);
    let open: Vec<u64> = f.sim.positions().await.unwrap().iter().map(|p| p.ticket).collect();
    assert_eq!(open, vec![sell.order.unwrap()]);
    f.advance_ms(1_000);
    assert!(f.sim.positions().await.unwrap().is_empty());

    let deals = f.sim.history_deals(&all_time(Some("EURUSD"))).await.unwrap();
    let exits: Vec<_> = deals
        .iter()
        .filter(|d| d.entry == DealEntry::Out)
        .map(|d| (d.price, d.profit, d.comment.as_str()))
        .collect();
    // Buy 1.08510 → 1.08700: 190 points = 19.00. Sell 1.08500 → 1.08910: -41.00.
    assert_eq!(
        exits,
        vec![
            (dec!(1.08700), dec!(19.00), "[tp 1.08650]"),
            (dec!(1.08910), dec!(-41.00), "[sl 1.08850]")
        ]
    );
    assert_eq!(f.balance().await, dec!(9978.00));
}

#[tokio::test]
async fn partial_close_leaves_the_rest_open() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    let ticket = f.send(market("EURUSD", Side::Buy, dec!(0.30))).await.order.unwrap();
    f.advance_ms(1_000);
    let partial = f.send(close("EURUSD", Side::Sell, dec!(0.10), ticket)).await;
    assert_eq!((partial.retcode, partial.volume), (Retcode::DONE, dec!(0.10)));
    let positions = f.sim.positions().await.unwrap();
    assert_eq!((positions.len(), positions[0].volume), (1, dec!(0.20)));
    assert_eq!(positions[0].ticket, ticket);
    assert_eq!(f.balance().await, dec!(10010.00));

    let too_much = f.send(close("EURUSD", Side::Sell, dec!(0.30), ticket)).await;
    assert_eq!(too_much.retcode, Retcode::INVALID_VOLUME);
    let rest = f.send(close("EURUSD", Side::Sell, dec!(0.20), ticket)).await;
    assert_eq!(rest.retcode, Retcode::DONE);
    assert!(f.sim.positions().await.unwrap().is_empty());
    assert_eq!(f.balance().await, dec!(10030.00));
}

#[tokio::test]
async fn hedging_keeps_several_positions_per_symbol() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    f.send(market("EURUSD", Side::Sell, dec!(0.10))).await;
    f.send(market("EURUSD", Side::Buy, dec!(0.20))).await;
    let sides: Vec<Side> = f.sim.positions().await.unwrap().iter().map(|p| p.side).collect();
    assert_eq!(sides, vec![Side::Buy, Side::Sell, Side::Buy]);
}

#[tokio::test]
async fn comment_is_cut_to_31_characters_and_magic_travels() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    let mut request = market("EURUSD", Side::Buy, dec!(0.10));
    if let TradeRequest::Market { magic, comment, .. } = &mut request {
        *magic = 7_001;
        *comment = "cid:0123456789abcdef0123456789abcdef".to_owned();
    }
    let ticket = f.send(request).await.order.unwrap();
    let expected = "cid:0123456789abcdef0123456789a";
    assert_eq!(expected.chars().count(), 31);
    let position = &f.sim.positions().await.unwrap()[0];
    assert_eq!((position.magic, position.comment.as_str()), (7_001, expected));
    let deal = f.sim.history_deals(&all_time(Some("EURUSD"))).await.unwrap().remove(0);
    assert_eq!((deal.magic, deal.comment.as_str(), deal.order), (7_001, expected, ticket));
    let order = f.sim.history_orders(&all_time(None)).await.unwrap().remove(0);
    assert_eq!((order.magic, order.comment.as_str()), (7_001, expected));
}

#[tokio::test]
async fn account_survives_a_restart() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    let first = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await.order.unwrap();
    let placed = f.send(pending("EURUSD", OrderType::BuyLimit, dec!(0.10), dec!(1.08000))).await;
    f.advance_ms(1_000);
    f.send(close("EURUSD", Side::Sell, dec!(0.05), first)).await;
    let before = (
        f.sim.positions().await.unwrap(),
        f.sim.orders().await.unwrap(),
        f.sim.history_deals(&all_time(None)).await.unwrap(),
        f.sim.history_orders(&all_time(None)).await.unwrap(),
        f.balance().await,
    );

    let config = f.config();
    let f = f.reopen(&config).unwrap();
    let after = (
        f.sim.positions().await.unwrap(),
        f.sim.orders().await.unwrap(),
        f.sim.history_deals(&all_time(None)).await.unwrap(),
        f.sim.history_orders(&all_time(None)).await.unwrap(),
        f.balance().await,
    );
    // The replay starts over on reopen, so only the floating numbers may differ.
    assert_eq!(after.1, before.1);
    assert_eq!(after.2, before.2);
    assert_eq!(after.3, before.3);
    assert_eq!(after.4, before.4);
    assert_eq!(
        after.0.iter().map(|p| (p.ticket, p.volume)).collect::<Vec<_>>(),
        vec![(first, dec!(0.05))]
    );

    let next = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await.order.unwrap();
    assert!(next > placed.order.unwrap());
}

#[tokio::test]
async fn reset_starts_a_fresh_account_with_rising_tickets() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    let old = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    f.advance_ms(1_000);
    f.send(close("EURUSD", Side::Sell, dec!(0.10), old.order.unwrap())).await;
    assert_eq!(f.balance().await, dec!(10010.00));

    f.sim.reset().unwrap();
    assert_eq!(f.balance().await, dec!(10000));
    assert!(f.sim.positions().await.unwrap().is_empty());
    let deals = f.sim.history_deals(&all_time(None)).await.unwrap();
    assert_eq!(deals.len(), 1);
    assert!(deals[0].ticket > old.deal.unwrap());
    let new = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    assert!(new.order.unwrap() > old.order.unwrap());

    // The reset is saved, and a reset at start does the same.
    let config = f.config();
    let f = f.reopen(&config).unwrap();
    assert_eq!(f.sim.positions().await.unwrap().len(), 1);
    let config = SimConfig { start: StartMode::Reset, ..f.config() };
    let f = f.reopen(&config).unwrap();
    assert!(f.sim.positions().await.unwrap().is_empty());
    let again = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    assert!(again.order.unwrap() > new.order.unwrap());
}

#[tokio::test]
async fn corrupt_account_file_stops_the_terminal_naming_it() {
    let f = fixture(&[]);
    let path = f.sim.account_file().to_owned();
    let config = f.config();
    drop(f.sim);
    std::fs::write(&path, "{ not json").unwrap();
    let error = SimulatedTerminal::open(&config, f.clock.clone()).unwrap_err();
    assert!(matches!(error, TerminalError::Storage(_)));
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");

    // A reset replaces it and keeps the damaged file aside.
    let config = SimConfig { start: StartMode::Reset, ..config };
    let sim = SimulatedTerminal::open(&config, f.clock.clone()).unwrap();
    assert_eq!(sim.account().await.unwrap().balance, dec!(10000));
    assert!(path.with_extension("json.unreadable").exists());
    drop(f.dir);
}

#[tokio::test]
async fn malformed_replay_file_stops_the_terminal_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("replay")).unwrap();
    std::fs::write(dir.path().join("replay/GBPUSD.csv"), "time,bid,ask\n0,1.27,1.2701\n5,1.27\n")
        .unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let error = SimulatedTerminal::open(&config_in(&dir), clock).unwrap_err().to_string();
    assert!(error.contains("GBPUSD.csv line 3: expected 3 fields"), "{error}");
}

#[tokio::test]
async fn weekend_closes_the_market_unless_always() {
    let saturday = datetime!(2024-06-08 10:00 UTC);
    let f = fixture_at(saturday, &[], |config| config.market_hours = MarketHours::Forex);
    let refused = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    assert_eq!(refused.retcode, Retcode::MARKET_CLOSED);
    let tick = f.sim.tick("EURUSD").await.unwrap();
    f.advance_ms(3_600_000);
    assert_eq!(f.sim.tick("EURUSD").await.unwrap(), tick, "no ticks while closed");

    // Sunday 22:00 the market opens and ticks resume.
    f.clock.set(datetime!(2024-06-09 22:00:05 UTC));
    assert_eq!(f.send(market("EURUSD", Side::Buy, dec!(0.10))).await.retcode, Retcode::DONE);
    assert_eq!(f.sim.tick("EURUSD").await.unwrap().time, datetime!(2024-06-09 22:00:05 UTC));

    let always = fixture_at(saturday, &[], |_| {});
    assert_eq!(always.send(market("EURUSD", Side::Buy, dec!(0.10))).await.retcode, Retcode::DONE);
}

/// Sends each request and checks its retcode; a refusal carries no ticket.
async fn check_retcodes(f: &Fixture, cases: Vec<(&str, TradeRequest, Retcode)>) {
    for (name, request, expected) in cases {
        let result = f.send(request).await;
        assert_eq!(result.retcode, expected, "{name}: {}", result.comment);
        if !expected.is_success() {
            assert!(result.deal.is_none() && result.order.is_none(), "{name}");
        }
    }
}

/// Bid 1.08500, ask 1.08510; EURUSD's stops level is 10 points.
const EURUSD_FLAT: &str = "0,1.08500,1.08510\n";

#[tokio::test]
async fn invalid_market_orders_get_mt5_retcodes() {
    let f = fixture(&[("EURUSD", EURUSD_FLAT)]);
    let buy = |volume| market("EURUSD", Side::Buy, volume);
    let stops = |sl, tp| with_stops(buy(dec!(0.1)), sl, tp);
    let ticket = f.send(buy(dec!(0.10))).await.order.unwrap();
    // The ask is 1.08510: 20 points from 1.08490, 10 from 1.08500.
    let cases: Vec<(&str, TradeRequest, Retcode)> = vec![
        ("unknown symbol", market("EURGBP", Side::Buy, dec!(0.10)), Retcode::INVALID),
        ("below min", buy(dec!(0.001)), Retcode::INVALID_VOLUME),
        ("off step", buy(dec!(0.015)), Retcode::INVALID_VOLUME),
        ("above max", buy(dec!(100.01)), Retcode::INVALID_VOLUME),
        ("zero volume", buy(dec!(0)), Retcode::INVALID_VOLUME),
        ("negative volume", buy(dec!(-1)), Retcode::INVALID_VOLUME),
        ("requote", buy_expecting(dec!(1.08490), 10), Retcode::REQUOTE),
        ("within deviation", buy_expecting(dec!(1.08500), 10), Retcode::DONE),
        ("expected price off grid", buy_expecting(dec!(1.085001), 10), Retcode::INVALID_PRICE),
        ("sl above a buy", stops(Some(dec!(1.086)), None), Retcode::INVALID_STOPS),
        ("sl inside level", stops(Some(dec!(1.08495)), None), Retcode::INVALID_STOPS),
        ("sl at level", stops(Some(dec!(1.08490)), None), Retcode::DONE),
        ("tp below a buy", stops(None, Some(dec!(1.08))), Retcode::INVALID_STOPS),
        ("sl off grid", stops(Some(dec!(1.080001)), None), Retcode::INVALID_STOPS),
        (
            "close with the same side",
            close("EURUSD", Side::Buy, dec!(0.10), ticket),
            Retcode::INVALID,
        ),
        (
            "close on another symbol",
            close("GBPUSD", Side::Sell, dec!(0.10), ticket),
            Retcode::INVALID,
        ),
        ("close unknown ticket", close("EURUSD", Side::Sell, dec!(0.10), 42), Retcode::INVALID),
        (
            "close more than held",
            close("EURUSD", Side::Sell, dec!(0.20), ticket),
            Retcode::INVALID_VOLUME,
        ),
        (
            "unchanged stops",
            TradeRequest::ModifyPosition { position: ticket, sl: None, tp: None },
            Retcode::NO_CHANGES,
        ),
        (
            "stops of unknown position",
            TradeRequest::ModifyPosition { position: 42, sl: None, tp: None },
            Retcode::INVALID,
        ),
        (
            "modified sl inside level",
            TradeRequest::ModifyPosition { position: ticket, sl: Some(dec!(1.08495)), tp: None },
            Retcode::INVALID_STOPS,
        ),
    ];
    check_retcodes(&f, cases).await;
    let comment = f.send(buy(dec!(0.001))).await.comment;
    assert_eq!(comment, "volume 0.001 below the minimum 0.01 for EURUSD");
}

#[tokio::test]
async fn invalid_pending_orders_get_mt5_retcodes() {
    let f = fixture(&[("EURUSD", EURUSD_FLAT)]);
    let place = |order_type, price| pending("EURUSD", order_type, dec!(0.1), price);
    let order = f.send(place(OrderType::BuyLimit, dec!(1.08000))).await.order.unwrap();
    let mut expired = place(OrderType::BuyLimit, dec!(1.08000));
    if let TradeRequest::Pending { expiration, .. } = &mut expired {
        *expiration = Some(START - Duration::seconds(1));
    }
    let modify =
        |price| TradeRequest::ModifyOrder { order, price, sl: None, tp: None, expiration: None };
    let cases: Vec<(&str, TradeRequest, Retcode)> = vec![
        ("limit above ask", place(OrderType::BuyLimit, dec!(1.086)), Retcode::INVALID_PRICE),
        ("limit inside level", place(OrderType::BuyLimit, dec!(1.08505)), Retcode::INVALID_PRICE),
        ("limit at level", place(OrderType::BuyLimit, dec!(1.08500)), Retcode::PLACED),
        ("stop below ask", place(OrderType::BuyStop, dec!(1.08)), Retcode::INVALID_PRICE),
        ("sell limit below bid", place(OrderType::SellLimit, dec!(1.08)), Retcode::INVALID_PRICE),
        ("sell stop above bid", place(OrderType::SellStop, dec!(1.09)), Retcode::INVALID_PRICE),
        ("price off grid", place(OrderType::BuyLimit, dec!(1.080001)), Retcode::INVALID_PRICE),
        ("market type as pending", place(OrderType::Buy, dec!(1.08)), Retcode::INVALID),
        (
            "volume off step",
            pending("EURUSD", OrderType::BuyLimit, dec!(0.015), dec!(1.08)),
            Retcode::INVALID_VOLUME,
        ),
        (
            "sl above a buy limit",
            with_stops(place(OrderType::BuyLimit, dec!(1.08)), Some(dec!(1.081)), None),
            Retcode::INVALID_STOPS,
        ),
        ("past expiration", expired, Retcode::INVALID_EXPIRATION),
        ("unchanged order", modify(dec!(1.08)), Retcode::NO_CHANGES),
        ("order moved above ask", modify(dec!(1.09)), Retcode::INVALID_PRICE),
        (
            "modify unknown order",
            TradeRequest::ModifyOrder {
                order: 42,
                price: dec!(1.08),
                sl: None,
                tp: None,
                expiration: None,
            },
            Retcode::INVALID,
        ),
        ("cancel unknown order", TradeRequest::CancelOrder { order: 42 }, Retcode::INVALID),
    ];
    check_retcodes(&f, cases).await;
}

#[tokio::test]
async fn positions_and_orders_can_be_modified_and_cancelled() {
    let f = fixture(&[("EURUSD", "0,1.08500,1.08510\n")]);
    let ticket = f.send(market("EURUSD", Side::Buy, dec!(0.10))).await.order.unwrap();
    let modify = TradeRequest::ModifyPosition {
        position: ticket,
        sl: Some(dec!(1.08000)),
        tp: Some(dec!(1.09000)),
    };
    assert_eq!(f.send(modify).await.retcode, Retcode::DONE);
    let position = &f.sim.positions().await.unwrap()[0];
    assert_eq!((position.sl, position.tp), (Some(dec!(1.08000)), Some(dec!(1.09000))));

    let order = f.send(pending("EURUSD", OrderType::SellLimit, dec!(0.10), dec!(1.09))).await;
    let order = order.order.unwrap();
    let expiration = Some(START + Duration::hours(1));
    let modify = TradeRequest::ModifyOrder {
        order,
        price: dec!(1.09500),
        sl: Some(dec!(1.10000)),
        tp: None,
        expiration,
    };
    assert_eq!(f.send(modify).await.retcode, Retcode::DONE);
    let pending_order = &f.sim.orders().await.unwrap()[0];
    assert_eq!((pending_order.price_open, pending_order.expiration), (dec!(1.09500), expiration));

    assert_eq!(f.send(TradeRequest::CancelOrder { order }).await.retcode, Retcode::DONE);
    assert!(f.sim.orders().await.unwrap().is_empty());
    let history = f.sim.history_orders(&all_time(None)).await.unwrap();
    assert_eq!(history.last().map(|o| (o.ticket, o.state)), Some((order, OrderState::Canceled)));
}

#[tokio::test]
async fn pending_orders_expire() {
    let f = fixture(&[]);
    let mut request = pending("XAUUSD", OrderType::BuyLimit, dec!(0.01), dec!(2000.00));
    if let TradeRequest::Pending { expiration, .. } = &mut request {
        *expiration = Some(START + Duration::seconds(90));
    }
    let order = f.send(request).await.order.unwrap();
    f.advance_ms(89_000);
    assert_eq!(f.sim.orders().await.unwrap().len(), 1);
    f.advance_ms(2_000);
    assert!(f.sim.orders().await.unwrap().is_empty());
    let history = f.sim.history_orders(&all_time(Some("XAUUSD"))).await.unwrap();
    assert_eq!(history[0].state, OrderState::Expired);
    assert_eq!(history[0].time_done, Some(START + Duration::seconds(90)));
    assert_eq!(history[0].ticket, order);
}

#[tokio::test]
async fn a_triggered_order_the_account_cannot_carry_is_rejected() {
    let rows = "0,1.10500,1.10510\n1000,1.09990,1.10000\n";
    let f = fixture_at(START, &[("EURUSD", rows)], |config| config.initial_balance = dec!(500));
    let order = f.send(pending("EURUSD", OrderType::BuyLimit, dec!(1), dec!(1.10000))).await;
    assert_eq!(order.retcode, Retcode::PLACED);
    f.advance_ms(1_000);
    assert!(f.sim.positions().await.unwrap().is_empty());
    let history = f.sim.history_orders(&all_time(None)).await.unwrap();
    assert_eq!(history[0].state, OrderState::Rejected);
}

#[tokio::test]
async fn reads_of_unknown_symbols_and_bad_arguments_are_errors() {
    let f = fixture(&[]);
    assert!(matches!(f.sim.tick("EURGBP").await, Err(TerminalError::SymbolNotFound(_))));
    assert!(matches!(f.sim.symbol("eurusd").await, Err(TerminalError::SymbolNotFound(_))));
    let bars = f.sim.bars("EURUSD", Timeframe::M1, 0).await;
    assert!(matches!(bars, Err(TerminalError::InvalidRequest(_))));
    let bars = f.sim.bars("EURUSD", Timeframe::M1, MAX_BARS + 1).await;
    assert!(matches!(bars, Err(TerminalError::InvalidRequest(_))));
    assert!(matches!(
        f.sim.bars("XAGUSD", Timeframe::M1, 1).await,
        Err(TerminalError::SymbolNotFound(_))
    ));
    let reversed = HistoryQuery { from: START, to: START - Duration::days(1), symbol: None };
    assert!(matches!(f.sim.history_deals(&reversed).await, Err(TerminalError::InvalidRequest(_))));
    let unknown = all_time(Some("EURGBP"));
    assert!(matches!(f.sim.history_orders(&unknown).await, Err(TerminalError::SymbolNotFound(_))));
}

#[tokio::test]
async fn history_filters_by_time_and_symbol() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    f.send(market("EURUSD", Side::Buy, dec!(0.10))).await;
    f.advance_ms(60_000);
    f.send(market("GBPUSD", Side::Buy, dec!(0.10))).await;
    let later = HistoryQuery {
        from: START + Duration::seconds(1),
        to: START + Duration::hours(1),
        symbol: None,
    };
    let deals = f.sim.history_deals(&later).await.unwrap();
    assert_eq!(deals.iter().map(|d| d.symbol.as_str()).collect::<Vec<_>>(), vec!["GBPUSD"]);
    // `to` is exclusive: the deposit and the EURUSD buy happened at START exactly.
    let before = HistoryQuery { from: START - Duration::days(1), to: START, symbol: None };
    assert!(f.sim.history_deals(&before).await.unwrap().is_empty());
    let eurusd = f.sim.history_orders(&all_time(Some("EURUSD"))).await.unwrap();
    assert_eq!(eurusd.len(), 1);
}

#[tokio::test]
async fn bars_agree_with_ticks_on_every_timeframe() {
    let f = fixture(&[]);
    f.advance_ms(3 * 3_600_000 + 17_000);
    let tick = f.sim.tick("GBPUSD").await.unwrap();
    for timeframe in Timeframe::ALL {
        let bars = f.sim.bars("GBPUSD", timeframe, 500).await.unwrap();
        assert_eq!(bars.len(), 500);
        let last = bars.last().unwrap();
        assert_eq!(last.close, tick.bid, "{timeframe:?}");
        for bar in &bars {
            assert!(bar.high >= bar.open.max(bar.close) && bar.low <= bar.open.min(bar.close));
        }
        assert!(bars.windows(2).all(|pair| pair[0].time < pair[1].time));
    }
    // Three hours of one tick a second: the last three M1 bars hold 60 ticks each.
    let minutes = f.sim.bars("GBPUSD", Timeframe::M1, 3).await.unwrap();
    assert!(minutes[..2].iter().all(|bar| bar.tick_volume == 60));
}

#[tokio::test]
async fn same_seed_same_prices_and_long_idle_catches_up_quickly() {
    let a = fixture(&[]);
    let b = fixture(&[]);
    a.advance_ms(600_000);
    b.advance_ms(600_000);
    let quote_a = a.sim.tick("XAUUSD").await.unwrap();
    assert_eq!(quote_a, b.sim.tick("XAUUSD").await.unwrap());
    assert_eq!(quote_a.time, START + Duration::minutes(10));

    let idle = std::time::Instant::now();
    a.advance_ms(90 * 86_400_000);
    let later = a.sim.tick("XAUUSD").await.unwrap();
    assert_eq!(later.time, START + Duration::minutes(10) + Duration::days(90));
    assert!(idle.elapsed() < std::time::Duration::from_secs(2));

    let other_seed = fixture_at(START, &[], |config| config.seed = 7);
    other_seed.advance_ms(600_000);
    assert_ne!(other_seed.sim.tick("XAUUSD").await.unwrap(), quote_a);
}

#[tokio::test]
async fn stalled_order_is_executed_after_the_caller_gives_up() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    f.sim.set_stall(Some(std::time::Duration::from_millis(200)));
    let request = market("EURUSD", Side::Buy, dec!(0.10));
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(20), f.sim.order_send(request)).await;
    assert!(waited.is_err(), "the call should still be stalled");
    f.sim.set_stall(None);
    assert!(f.sim.positions().await.unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(f.sim.positions().await.unwrap().len(), 1);
}

#[tokio::test]
async fn ticker_fires_triggers_without_calls_and_saves_them() {
    let rows = "0,1.08500,1.08510\n1000,1.08700,1.08710\n";
    let f = fixture_at(START, &[("EURUSD", rows)], |config| config.tick_interval_ms = 10);
    let tp = with_stops(market("EURUSD", Side::Buy, dec!(0.10)), None, Some(dec!(1.08650)));
    f.send(tp).await;
    let ticker = tokio::spawn(f.sim.run_ticker());
    f.advance_ms(1_000);
    let mut closed = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let saved = std::fs::read_to_string(f.sim.account_file()).unwrap();
        if saved.contains("[tp 1.08650]") {
            closed = true;
            break;
        }
    }
    assert!(closed, "the take profit was not saved by the ticker");
    drop(f.sim);
    tokio::time::timeout(std::time::Duration::from_secs(2), ticker).await.unwrap().unwrap();
}

#[tokio::test]
async fn status_reports_a_connected_simulation() {
    let f = fixture(&[("EURUSD", EURUSD_UP)]);
    let status = f.sim.status().await;
    assert_eq!((status.kind.as_str(), status.connected), ("simulated", true));
    assert!(status.detail.contains("EURUSD"), "{}", status.detail);
    let symbols = f.sim.symbols().await.unwrap();
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["EURUSD", "GBPUSD", "USDJPY", "XAUUSD"]);
    assert_eq!(symbols[0].spread, 10);
    let account = f.sim.account().await.unwrap();
    assert_eq!((account.currency.as_str(), account.mode), ("USD", AccountMode::Simulated));
}
