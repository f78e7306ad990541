//! Each rule of the check, passing and refusing, with the numbers a refusal carries.

use mt5_bridge::types::{OrderType, Side, TradeMode};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use time::macros::datetime;

use super::*;
use crate::fixtures::{
    NOW, buy, config, eurusd, market, open, pending, position, snapshot, symbol,
};
use crate::{DayStatus, LossLimitHit, Market, Sessions, TradingCalendar, Volume, Window};

fn quiet_day() -> DayStatus {
    DayStatus {
        day: TradingCalendar::new(crate::Zone::utc(), crate::ClockTime::MIDNIGHT).day_of(NOW),
        realised: Decimal::ZERO,
        floating: Decimal::ZERO,
        pnl: Decimal::ZERO,
        opening_equity: dec!(10_000),
        limit: None,
        remaining: None,
        loss_limit_hit: None,
        newly_hit: false,
    }
}

/// Checks `order` against a snapshot on `market` with `positions`, in `state`.
fn run_with(
    order: &Order,
    snapshot: &Snapshot,
    config: &RiskConfig,
    state: TradingState,
    day: &DayStatus,
) -> Result<Approved, Denial> {
    let standing = Standing { state, day, in_flight: InFlight::default() };
    check(order, snapshot, &standing, config, NOW)
}

fn run(order: &Order, market: Market) -> Result<Approved, Denial> {
    let snapshot = snapshot(market, vec![], vec![]);
    run_with(order, &snapshot, &config(), TradingState::Active, &quiet_day())
}

fn with_stops(
    order_type: OrderType,
    price: Option<Decimal>,
    sl: Option<Decimal>,
    tp: Option<Decimal>,
) -> Order {
    let mut new = open("EURUSD", order_type, 0.1);
    new.price = price;
    new.sl = sl;
    new.tp = tp;
    Order::Open(new)
}

#[test]
fn a_plain_market_order_passes_with_its_rounded_volume() {
    let approved = run(&buy("EURUSD", 0.015), eurusd());
    assert_eq!(
        approved,
        Ok(Approved {
            symbol: "EURUSD".into(),
            volume: Some(dec!(0.01)),
            volume_requested: Some(dec!(0.015)),
            opens: true,
            notional: None,
        })
    );
}

#[test]
fn symbols_must_be_configured_enabled_and_tradable() {
    assert_eq!(
        run(&buy("AUDUSD", 0.1), market("AUDUSD", dec!(0.66), dec!(0.6601))),
        Err(Denial::SymbolDisabled { symbol: "AUDUSD".into(), by: DisabledBy::Config })
    );
    let mut info = symbol("EURUSD");
    info.trade_mode = TradeMode::CloseOnly;
    let tick = eurusd().tick().clone();
    let close_only = Market::new(info, tick).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run(&buy("EURUSD", 0.1), close_only),
        Err(Denial::SymbolDisabled { symbol: "EURUSD".into(), by: DisabledBy::Terminal })
    );
    assert_eq!(
        run(&buy("GBPUSD", 0.1), eurusd()),
        Err(Denial::InvalidSymbol { symbol: "GBPUSD".into(), market: "EURUSD".into() })
    );
}

#[test]
fn halted_and_reduce_only_refuse_openings_but_not_closes() {
    use TradingState::{Active, Halted, ReduceOnly};

    let snapshot = snapshot(
        eurusd(),
        vec![position(7, "EURUSD", Side::Buy, dec!(0.5))],
        vec![pending(8, "EURUSD", OrderType::BuyLimit, dec!(1.08))],
    );
    let day = quiet_day();
    let mut limited = quiet_day();
    limited.pnl = dec!(-120);
    limited.limit = Some(dec!(100));
    limited.loss_limit_hit = Some(LossLimitHit { pnl: dec!(-101), limit: dec!(100), at: NOW });

    let close = Order::Close { ticket: 7, volume: None };
    let partial = Order::Close { ticket: 7, volume: Volume::from_f64(0.2).ok() };
    let modify = Order::ModifyPosition { ticket: 7, sl: Some(dec!(1.08)), tp: None };
    let cancel = Order::CancelPending { ticket: 8 };
    let opening = buy("EURUSD", 0.1);
    let code = |order: &Order, state: TradingState, day: &DayStatus| {
        run_with(order, &snapshot, &config(), state, day).map(|a| a.volume).map_err(|d| d.code())
    };

    assert_eq!(code(&opening, Active, &day), Ok(Some(dec!(0.1))));
    assert_eq!(code(&opening, ReduceOnly, &day), Err("REDUCE_ONLY"));
    assert_eq!(code(&opening, Active, &limited), Err("DAILY_LOSS_LIMIT"));
    assert_eq!(code(&opening, Halted, &limited), Err("TRADING_HALTED"));
    for state in [ReduceOnly, Halted] {
        assert_eq!(code(&close, state, &limited), Ok(Some(dec!(0.5))));
        assert_eq!(code(&partial, state, &limited), Ok(Some(dec!(0.2))));
        assert_eq!(code(&cancel, state, &limited), Ok(None));
    }
    assert_eq!(code(&modify, ReduceOnly, &limited), Ok(None));
    assert_eq!(code(&modify, Halted, &day), Err("TRADING_HALTED"));

    assert_eq!(
        run_with(&opening, &snapshot, &config(), Active, &limited),
        Err(Denial::DailyLossLimit { pnl: dec!(-120), limit: dec!(100) })
    );
}

#[test]
fn outside_its_sessions_a_symbol_says_when_it_opens() {
    let mut config = config();
    let sessions = Sessions {
        timezone: crate::Zone::named("America/New_York").unwrap_or_default(),
        windows: vec![Window::parse("mon-fri 09:30-16:00").unwrap_or_else(|e| panic!("{e}"))],
    };
    if let Some(rules) = config.symbols.get_mut("EURUSD") {
        rules.sessions = Some(sessions);
    }
    // The same quote is reused an hour and a half later.
    config.max_quote_age_ms = 24 * 3_600_000;
    let snapshot = snapshot(eurusd(), vec![], vec![]);
    let standing =
        Standing { state: TradingState::Active, day: &quiet_day(), in_flight: InFlight::default() };
    // NOW is 08:00 in New York.
    assert_eq!(
        check(&buy("EURUSD", 0.1), &snapshot, &standing, &config, NOW),
        Err(Denial::OutsideSession {
            symbol: "EURUSD".into(),
            next_open: Some(datetime!(2024-06-05 13:30 UTC)),
        })
    );
    assert!(
        check(&buy("EURUSD", 0.1), &snapshot, &standing, &config, datetime!(2024-06-05 13:30 UTC))
            .is_ok()
    );
}

#[test]
fn a_stale_quote_refuses_openings() {
    let snapshot = snapshot(eurusd(), vec![position(7, "EURUSD", Side::Buy, dec!(0.5))], vec![]);
    let standing =
        Standing { state: TradingState::Active, day: &quiet_day(), in_flight: InFlight::default() };
    let later = NOW + time::Duration::milliseconds(10_001);
    assert_eq!(
        check(&buy("EURUSD", 0.1), &snapshot, &standing, &config(), later),
        Err(Denial::StaleQuote { symbol: "EURUSD".into(), age_ms: 10_001, max_age_ms: 10_000 })
    );
    let close = Order::Close { ticket: 7, volume: None };
    assert!(check(&close, &snapshot, &standing, &config(), later).is_ok());
    let on_time = NOW + time::Duration::milliseconds(10_000);
    assert!(check(&buy("EURUSD", 0.1), &snapshot, &standing, &config(), on_time).is_ok());
}

#[test]
fn volumes_are_narrowed_by_configuration() {
    let mut config = config();
    if let Some(rules) = config.symbols.get_mut("EURUSD") {
        rules.volume_min = Some(dec!(0.1));
        rules.volume_max = Some(dec!(5));
        rules.volume_step = Some(dec!(0.1));
    }
    let snapshot = snapshot(eurusd(), vec![], vec![]);
    let run = |volume: f64| {
        run_with(&buy("EURUSD", volume), &snapshot, &config, TradingState::Active, &quiet_day())
    };
    assert_eq!(run(0.19).map(|a| a.volume), Ok(Some(dec!(0.1))));
    assert_eq!(
        run(0.09),
        Err(Denial::VolumeTooSmall {
            symbol: "EURUSD".into(),
            requested: dec!(0.09),
            rounded: dec!(0),
            min: dec!(0.1),
            step: dec!(0.1),
        })
    );
    assert_eq!(
        run(5.15),
        Err(Denial::VolumeTooLarge {
            symbol: "EURUSD".into(),
            requested: dec!(5.15),
            rounded: dec!(5.1),
            max: dec!(5),
            step: dec!(0.1),
        })
    );
}

#[test]
fn stops_on_the_wrong_side_or_too_close_are_refused() {
    use OrderType::{Buy, BuyLimit, Sell, SellStop};
    use StopKind::{Sl, Tp};

    // Bid 1.08500, ask 1.08510; stops level 10 points = 0.00010.
    let stops = |order_type, price, sl, tp| {
        run(&with_stops(order_type, price, sl, tp), eurusd()).map(|_| ())
    };
    let invalid = |stop, side, level, reference| {
        Err(Denial::InvalidStops { stop, side, level, reference, min_distance: dec!(0.00010) })
    };

    // A buy closes at the bid: SL below it, TP above it.
    assert_eq!(stops(Buy, None, Some(dec!(1.08)), Some(dec!(1.09))), Ok(()));
    assert_eq!(
        stops(Buy, None, Some(dec!(1.09)), None),
        invalid(Sl, Side::Buy, dec!(1.09), dec!(1.08500))
    );
    assert_eq!(
        stops(Buy, None, None, Some(dec!(1.08))),
        invalid(Tp, Side::Buy, dec!(1.08), dec!(1.08500))
    );
    assert_eq!(
        stops(Buy, None, Some(dec!(1.08495)), None),
        invalid(Sl, Side::Buy, dec!(1.08495), dec!(1.08500))
    );
    assert_eq!(stops(Buy, None, Some(dec!(1.08490)), Some(dec!(1.08510))), Ok(()));
    // A sell closes at the ask: SL above it, TP below it.
    assert_eq!(stops(Sell, None, Some(dec!(1.09)), Some(dec!(1.08))), Ok(()));
    assert_eq!(
        stops(Sell, None, Some(dec!(1.08)), None),
        invalid(Sl, Side::Sell, dec!(1.08), dec!(1.08510))
    );
    assert_eq!(
        stops(Sell, None, None, Some(dec!(1.0852))),
        invalid(Tp, Side::Sell, dec!(1.0852), dec!(1.08510))
    );
    // Zero means none, as in MT5; a negative level is nonsense.
    assert_eq!(stops(Buy, None, Some(dec!(0)), Some(dec!(0))), Ok(()));
    assert_eq!(
        stops(Sell, None, None, Some(dec!(-1))),
        invalid(Tp, Side::Sell, dec!(-1), dec!(1.08510))
    );
    // A pending order's stops are measured from its own price.
    assert_eq!(stops(BuyLimit, Some(dec!(1.08)), Some(dec!(1.079)), Some(dec!(1.0805))), Ok(()));
    assert_eq!(
        stops(BuyLimit, Some(dec!(1.08)), Some(dec!(1.0801)), None),
        invalid(Sl, Side::Buy, dec!(1.0801), dec!(1.08))
    );
    assert_eq!(
        stops(SellStop, Some(dec!(1.08)), None, Some(dec!(1.081))),
        invalid(Tp, Side::Sell, dec!(1.081), dec!(1.08))
    );

    let message =
        run(&with_stops(Buy, None, Some(dec!(1.09)), None), eurusd()).map_err(|d| d.to_string());
    assert_eq!(
        message,
        Err("sl 1.09 must be below the price 1.08500 by at least 0.00010".to_owned())
    );
}

#[test]
fn prices_far_from_the_quote_or_on_the_wrong_side_are_refused() {
    use OrderType::{Buy, BuyLimit, BuyStop, SellLimit, SellStop};
    let price =
        |order_type, price| run(&with_stops(order_type, price, None, None), eurusd()).map(|_| ());
    // Mid 1.08505; 500 bps away is about 0.054.
    assert_eq!(price(BuyLimit, Some(dec!(1.05))), Ok(()));
    assert_eq!(
        price(BuyLimit, Some(dec!(1.0))),
        Err(Denial::InvalidPrice {
            symbol: "EURUSD".into(),
            price: dec!(1.0),
            reference: dec!(1.08505),
            deviation_bps: dec!(783.83),
            max_bps: 500,
        })
    );
    assert_eq!(price(Buy, Some(dec!(1.2))).map_err(|d| d.code()), Err("INVALID_PRICE"));
    assert_eq!(price(Buy, Some(dec!(1.0852))), Ok(()));
    assert_eq!(
        price(BuyLimit, Some(dec!(1.0851))),
        Err(Denial::PendingPriceWrongSide {
            order_type: BuyLimit,
            price: dec!(1.0851),
            reference: dec!(1.08510),
            min_distance: dec!(0.00010),
        })
    );
    assert_eq!(price(SellLimit, Some(dec!(1.0849))).map_err(|d| d.code()), Err("INVALID_PRICE"));
    assert_eq!(price(SellLimit, Some(dec!(1.0860))), Ok(()));
    assert_eq!(price(BuyStop, Some(dec!(1.0852))), Ok(()));
    assert_eq!(price(BuyStop, Some(dec!(1.0851))).map_err(|d| d.code()), Err("INVALID_PRICE"));
    assert_eq!(price(SellStop, Some(dec!(1.0840))), Ok(()));
    assert_eq!(price(SellStop, None), Err(Denial::PriceRequired { order_type: SellStop }));
}

#[test]
fn the_notional_is_valued_in_the_account_currency() {
    let mut config = config();
    config.max_notional_per_order = Some(dec!(250_000));
    let run = |order: &Order, market: Market| {
        run_with(
            order,
            &snapshot(market, vec![], vec![]),
            &config,
            TradingState::Active,
            &quiet_day(),
        )
    };
    // EURUSD: 2 lots × 100 000 × 1.0851 = 217 020 USD.
    assert_eq!(run(&buy("EURUSD", 2.0), eurusd()).map(|a| a.notional), Ok(Some(dec!(217020.00))));
    assert_eq!(
        run(&buy("EURUSD", 2.5), eurusd()),
        Err(Denial::MaxNotional {
            symbol: "EURUSD".into(),
            notional: dec!(271275.00),
            limit: dec!(250_000),
            currency: "USD".into(),
        })
    );
    // USDJPY: the base currency is the account's, so 2 lots are 200 000 USD at any price.
    let usdjpy = market("USDJPY", dec!(157.100), dec!(157.110));
    assert_eq!(
        run(&buy("USDJPY", 2.0), usdjpy.clone()).map(|a| a.notional),
        Ok(Some(dec!(200000)))
    );
    assert_eq!(run(&buy("USDJPY", 2.6), usdjpy).map_err(|d| d.code()), Err("MAX_NOTIONAL"));
    // XAUUSD: 1 lot of 100 oz at 2 350.50 is 235 050 USD.
    let gold = market("XAUUSD", dec!(2350.20), dec!(2350.50));
    assert_eq!(
        run(&buy("XAUUSD", 1.0), gold.clone()).map(|a| a.notional),
        Ok(Some(dec!(235050.00)))
    );
    assert_eq!(run(&buy("XAUUSD", 1.1), gold).map_err(|d| d.code()), Err("MAX_NOTIONAL"));
    // EURGBP needs GBPUSD's rate; without it the order cannot be valued and is refused.
    let eurgbp = market("EURGBP", dec!(0.85000), dec!(0.85010));
    assert_eq!(
        run(&buy("EURGBP", 1.0), eurgbp.clone()),
        Err(Denial::NotionalUnknown {
            symbol: "EURGBP".into(),
            profit_currency: "GBP".into(),
            account_currency: "USD".into(),
        })
    );
    let eurgbp = eurgbp.with_conversion_rate(dec!(1.27)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run(&buy("EURGBP", 1.0), eurgbp).map(|a| a.notional), Ok(Some(dec!(107962.70))));
}

#[test]
fn positions_and_pending_orders_count_against_the_limits() {
    let mut config = config();
    config.max_positions = Some(3);
    if let Some(rules) = config.symbols.get_mut("EURUSD") {
        rules.max_positions = Some(2);
    }
    let positions = vec![
        position(1, "EURUSD", Side::Buy, dec!(0.1)),
        position(2, "GBPUSD", Side::Sell, dec!(0.1)),
    ];
    let snapshot =
        snapshot(eurusd(), positions, vec![pending(3, "EURUSD", OrderType::BuyLimit, dec!(1.08))]);
    let day = quiet_day();
    let standing = |total, on_symbol| Standing {
        state: TradingState::Active,
        day: &day,
        in_flight: InFlight { total, on_symbol },
    };

    let mut roomy = config.clone();
    roomy.max_positions = Some(10);
    assert_eq!(
        check(&buy("EURUSD", 0.1), &snapshot, &standing(0, 0), &roomy, NOW),
        Err(Denial::MaxPositions { symbol: Some("EURUSD".into()), open: 2, limit: 2 })
    );
    assert_eq!(
        check(&buy("EURUSD", 0.1), &snapshot, &standing(0, 0), &config, NOW),
        Err(Denial::MaxPositions { symbol: None, open: 3, limit: 3 })
    );

    // Orders on their way count too.
    config.max_positions = Some(4);
    let usdjpy =
        crate::fixtures::snapshot(market("USDJPY", dec!(157.1), dec!(157.11)), vec![], vec![]);
    assert!(check(&buy("USDJPY", 0.1), &usdjpy, &standing(3, 0), &config, NOW).is_ok());
    assert_eq!(
        check(&buy("USDJPY", 0.1), &usdjpy, &standing(4, 0), &config, NOW),
        Err(Denial::MaxPositions { symbol: None, open: 4, limit: 4 })
    );
}

#[test]
fn modifications_and_partial_closes_pass_the_same_rules() {
    let positions = vec![
        position(7, "EURUSD", Side::Buy, dec!(0.5)),
        position(9, "EURUSD", Side::Sell, dec!(0.5)),
    ];
    let orders = vec![pending(8, "EURUSD", OrderType::SellLimit, dec!(1.09))];
    let snapshot = snapshot(eurusd(), positions, orders);
    let run =
        |order: &Order| run_with(order, &snapshot, &config(), TradingState::Active, &quiet_day());
    let volume = |lots: f64| Volume::from_f64(lots).ok();

    // Partial closes: rounded onto the step, at least the minimum, at most the position.
    assert_eq!(
        run(&Order::Close { ticket: 7, volume: volume(0.255) }).map(|a| a.volume),
        Ok(Some(dec!(0.25)))
    );
    assert_eq!(
        run(&Order::Close { ticket: 7, volume: volume(0.6) }),
        Err(Denial::VolumeTooLarge {
            symbol: "EURUSD".into(),
            requested: dec!(0.6),
            rounded: dec!(0.6),
            max: dec!(0.5),
            step: dec!(0.01),
        })
    );
    assert_eq!(
        run(&Order::Close { ticket: 7, volume: volume(0.005) }).map_err(|d| d.code()),
        Err("VOLUME_TOO_SMALL")
    );
    assert_eq!(
        run(&Order::Close { ticket: 70, volume: None }),
        Err(Denial::PositionNotFound { ticket: 70 })
    );

    // Position stops, measured from the price each side closes at.
    let modify =
        |ticket, sl, tp| run(&Order::ModifyPosition { ticket, sl, tp }).map_err(|d| d.code());
    assert!(modify(7, Some(dec!(1.08)), Some(dec!(1.09))).is_ok());
    assert_eq!(modify(7, Some(dec!(1.0855)), None), Err("INVALID_STOPS"));
    assert!(modify(9, Some(dec!(1.09)), Some(dec!(1.08))).is_ok());
    assert_eq!(modify(9, None, Some(dec!(1.0851))), Err("INVALID_STOPS"));

    // A pending order's new price and stops.
    let move_pending = |price, sl, tp| {
        run(&Order::ModifyPending { ticket: 8, price, sl, tp }).map_err(|d| d.code())
    };
    assert!(move_pending(dec!(1.0870), Some(dec!(1.0890)), Some(dec!(1.0850))).is_ok());
    assert_eq!(move_pending(dec!(1.0840), None, None), Err("INVALID_PRICE"));
    assert_eq!(move_pending(dec!(1.20), None, None), Err("INVALID_PRICE"));
    assert_eq!(move_pending(dec!(1.0870), Some(dec!(1.0860)), None), Err("INVALID_STOPS"));
    assert_eq!(
        run(&Order::CancelPending { ticket: 80 }).map_err(|d| d.code()),
        Err("ORDER_NOT_FOUND")
    );
}

#[test]
fn every_denial_has_a_code_and_a_message_with_its_numbers() {
    let cases: Vec<(Denial, &str, &str)> = vec![
        (
            Denial::DailyLossLimit { pnl: dec!(-512.30), limit: dec!(500) },
            "DAILY_LOSS_LIMIT",
            "daily p&l -512.30 has reached the loss limit of 500",
        ),
        (
            Denial::OutsideSession {
                symbol: "EURUSD".into(),
                next_open: Some(datetime!(2024-06-09 21:00 UTC)),
            },
            "OUTSIDE_SESSION",
            "EURUSD is outside its trading sessions; next opening 2024-06-09T21:00:00Z",
        ),
        (
            Denial::MaxPositions { symbol: Some("EURUSD".into()), open: 2, limit: 2 },
            "MAX_POSITIONS",
            "2 positions in EURUSD open or on their way, at the limit of 2",
        ),
        (
            Denial::VolumeTooSmall {
                symbol: "EURUSD".into(),
                requested: dec!(0.004),
                rounded: dec!(0),
                min: dec!(0.01),
                step: dec!(0.01),
            },
            "VOLUME_TOO_SMALL",
            "volume 0.004 rounds to 0 with the step 0.01, below the minimum 0.01 for EURUSD",
        ),
        (
            Denial::StaleQuote { symbol: "EURUSD".into(), age_ms: 12_000, max_age_ms: 10_000 },
            "STALE_QUOTE",
            "the quote for EURUSD is 12000 ms old, older than the limit of 10000 ms",
        ),
        (
            Denial::TradingHalted,
            "TRADING_HALTED",
            "trading is halted; only closing positions is accepted",
        ),
        (
            Denial::SymbolDisabled { symbol: "XAUUSD".into(), by: DisabledBy::Config },
            "SYMBOL_DISABLED",
            "symbol XAUUSD is not enabled for trading in the risk configuration",
        ),
    ];
    for (denial, code, message) in cases {
        assert_eq!(denial.code(), code);
        assert!(denial.to_string().starts_with(message), "{denial}");
    }
}

#[test]
fn denials_serialize_as_details_tagged_by_rule() {
    let denial = Denial::VolumeTooLarge {
        symbol: "EURUSD".into(),
        requested: dec!(150),
        rounded: dec!(150),
        max: dec!(100),
        step: dec!(0.01),
    };
    let details = serde_json::to_value(&denial).unwrap_or_default();
    assert_eq!(
        details,
        serde_json::json!({
            "rule": "volume_too_large", "symbol": "EURUSD",
            "requested": 150.0, "rounded": 150.0, "max": 100.0, "step": 0.01
        })
    );
}
