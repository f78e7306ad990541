//! Trading over real HTTP against the simulated terminal: the order life cycle, the risk
//! rules, idempotency, races, timeouts and the audit trail of every order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::fmt::Write;
use std::time::Duration;

use common::{Gateway, Launch, Reply, assert_envelope, call, eventually, get};
use reqwest::Method;
use serde_json::{Value, json};

async fn post(gateway: &Gateway, path: &str, body: Value) -> Reply {
    call(gateway, Method::POST, path, Some(&gateway.admin_key()), Some(body)).await
}

async fn post_with_key(gateway: &Gateway, api_key: &str, body: Value, key: &str) -> Reply {
    let response = common::client()
        .post(gateway.url("/api/orders"))
        .header("X-API-Key", api_key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    common::read_reply(response).await
}

async fn positions(gateway: &Gateway) -> Vec<Value> {
    let (status, _, body) = get(gateway, "/api/positions").await;
    assert_eq!(status, 200, "{body}");
    body["positions"].as_array().unwrap().clone()
}

fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

fn orders_csv(gateway: &Gateway) -> Vec<csv::StringRecord> {
    let path = gateway.dir.join("logs/orders.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader.records().map(Result::unwrap).collect()
}

fn security_csv(gateway: &Gateway) -> String {
    std::fs::read_to_string(gateway.dir.join("logs/security.csv")).unwrap_or_default()
}

/// Columns of orders.csv.
const PHASE: usize = 4;
const STATUS: usize = 17;
const RULE: usize = 14;
const CLIENT_ID: usize = 3;

fn trade_key(gateway: &Gateway) -> String {
    let (code, stdout, stderr) =
        gateway.command(&["keys", "create", "--name", "bot", "--scopes", "trade"]);
    assert_eq!(code, 0, "{stderr}");
    stdout.lines().last().unwrap().to_string()
}

#[tokio::test]
async fn an_order_is_placed_modified_partly_closed_and_closed() {
    let gateway = Gateway::start();

    let (status, _, placed) =
        post(&gateway, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.1 }))
            .await;
    assert_eq!(status, 201, "{placed}");
    for field in ["ticket", "retcode", "symbol", "type", "volume", "volume_requested", "price"] {
        assert!(!placed[field].is_null(), "{field} missing: {placed}");
    }
    assert_eq!(placed["retcode"], 10009);
    assert!((num(&placed["volume"]) - 0.1).abs() < 1e-12);
    let ticket = placed["ticket"].as_u64().unwrap();
    let open = positions(&gateway).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["ticket"].as_u64(), Some(ticket));

    // Stops on the right side, away from the price.
    let price = num(&placed["price"]);
    let sl = ((price - 0.0050) * 1e5).round() / 1e5;
    let tp = ((price + 0.0050) * 1e5).round() / 1e5;
    let path = format!("/api/positions/{ticket}");
    let key = gateway.admin_key();
    let (status, _, body) =
        call(&gateway, Method::PATCH, &path, Some(&key), Some(json!({ "sl": sl, "tp": tp }))).await;
    assert_eq!(status, 200, "{body}");
    let open = positions(&gateway).await;
    assert!((num(&open[0]["sl"]) - sl).abs() < 1e-9, "{open:?}");

    // A stop loss above a buy's price is refused with the numbers behind it.
    let (status, headers, body) =
        call(&gateway, Method::PATCH, &path, Some(&key), Some(json!({ "sl": price + 0.01 }))).await;
    assert_eq!(status, 400, "{body}");
    assert_envelope(&headers, &body, "INVALID_STOPS");
    assert!(!body["error"]["details"].is_null(), "{body}");

    // Part of it closed: 0.04 of 0.10 stays... 0.06 remains.
    let close = format!("/api/positions/{ticket}/close");
    let (status, _, body) = post(&gateway, &close, json!({ "volume": 0.04 })).await;
    assert_eq!(status, 200, "{body}");
    let open = positions(&gateway).await;
    assert!((num(&open[0]["volume"]) - 0.06).abs() < 1e-12, "{open:?}");

    // The rest closed, without a body.
    let response =
        common::client().post(gateway.url(&close)).header("X-API-Key", &key).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert!(positions(&gateway).await.is_empty());

    // Every step left an intent and an outcome.
    let rows = orders_csv(&gateway);
    let accepted = rows.iter().filter(|r| &r[PHASE] == "outcome" && &r[STATUS] == "accepted");
    assert_eq!(accepted.count(), 4, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| &r[PHASE] == "intent").count(), 4);

    // Each fill (the opening buy, the partial close, the final close) reaches deals.csv once.
    let fills = || {
        let path = gateway.dir.join("logs/deals.csv");
        let Ok(mut reader) = csv::Reader::from_path(path) else { return Vec::new() };
        reader
            .records()
            .map_while(Result::ok)
            .filter(|r| &r[5] == "EURUSD")
            .map(|r| (r[2].to_string(), r[7].to_string()))
            .collect::<Vec<_>>()
    };
    assert!(eventually(10, || async { fills().len() == 3 }).await, "{:?}", fills());
    let entries: Vec<String> = fills().into_iter().map(|(_, entry)| entry).collect();
    assert_eq!(entries, ["in", "out", "out"]);
}

#[tokio::test]
async fn a_pending_order_is_placed_then_triggered_by_the_ticks() {
    let launch = Launch::new();
    // EURUSD replays 4 s at 1.10000 / 1.10010, then 4 s at 1.09800 / 1.09810, and loops.
    let ticks = launch.dir.join("ticks");
    std::fs::create_dir(&ticks).unwrap();
    let mut csv = String::from("time,bid,ask\n");
    for i in 0..80u64 {
        let (bid, ask) = if i < 40 { ("1.10000", "1.10010") } else { ("1.09800", "1.09810") };
        writeln!(csv, "{},{bid},{ask}", 1_700_000_000_000 + i * 100).unwrap();
    }
    std::fs::write(ticks.join("EURUSD.csv"), csv).unwrap();
    let gateway = launch
        .env("MT5GW__TERMINAL__SIM__REPLAY_DIR", "ticks")
        .env("MT5GW__TERMINAL__SIM__TICK_INTERVAL_MS", "100")
        .start();

    let high = eventually(20, || async {
        let (_, _, tick) = get(&gateway, "/api/symbols/EURUSD/tick").await;
        tick["bid"] == json!(1.1)
    })
    .await;
    assert!(high, "the replay never showed its first price");
    let (status, _, placed) = post(
        &gateway,
        "/api/orders",
        json!({ "symbol": "EURUSD", "type": "buy_limit", "volume": 0.1, "price": 1.099 }),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["retcode"], 10008);
    let (_, _, pending) = get(&gateway, "/api/orders").await;
    assert_eq!(pending["orders"].as_array().unwrap().len(), 1, "{pending}");

    let filled = eventually(20, || async { positions(&gateway).await.len() == 1 }).await;
    assert!(filled, "the buy limit never triggered");
    let open = positions(&gateway).await;
    assert!((num(&open[0]["price_open"]) - 1.0981).abs() < 1e-9, "{open:?}");
    let (_, _, pending) = get(&gateway, "/api/orders").await;
    assert!(pending["orders"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_pending_order_is_modified_and_cancelled() {
    let gateway = Gateway::start();
    let (_, _, tick) = get(&gateway, "/api/symbols/XAUUSD/tick").await;
    let ask = num(&tick["ask"]);
    let price = ((ask * 0.99) * 100.0).round() / 100.0;
    let (status, _, placed) = post(
        &gateway,
        "/api/orders",
        json!({ "symbol": "XAUUSD", "type": "buy_limit", "volume": 0.01, "price": price }),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let ticket = placed["ticket"].as_u64().unwrap();
    let path = format!("/api/orders/{ticket}");
    let key = gateway.admin_key();
    let lower = ((ask * 0.98) * 100.0).round() / 100.0;
    let (status, _, body) =
        call(&gateway, Method::PATCH, &path, Some(&key), Some(json!({ "price": lower }))).await;
    assert_eq!(status, 200, "{body}");
    let (_, _, pending) = get(&gateway, "/api/orders").await;
    assert!((num(&pending["orders"][0]["price_open"]) - lower).abs() < 1e-9, "{pending}");

    let (status, _, body) = call(&gateway, Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(status, 200, "{body}");
    let (_, _, pending) = get(&gateway, "/api/orders").await;
    assert!(pending["orders"].as_array().unwrap().is_empty());
    let (status, headers, body) = call(&gateway, Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(status, 404);
    assert_envelope(&headers, &body, "ORDER_NOT_FOUND");
}

#[tokio::test]
async fn a_tiny_loss_limit_reached_by_the_spread_allows_closes_only() {
    let gateway = Launch::new().env("MT5GW__RISK__DAILY_LOSS_LIMIT", "0.5").start();
    let order = json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.1 });
    let (status, _, placed) = post(&gateway, "/api/orders", order.clone()).await;
    assert_eq!(status, 201, "{placed}");

    // 0.1 lot bought at the ask is worth the bid: one spread, about 1 USD, below the limit.
    let (status, headers, body) = post(&gateway, "/api/orders", order).await;
    assert_eq!(status, 409, "{body}");
    assert_envelope(&headers, &body, "DAILY_LOSS_LIMIT");
    let details = &body["error"]["details"];
    assert!(num(&details["pnl"]) < -0.5 && (num(&details["limit"]) - 0.5).abs() < 1e-9, "{body}");

    let (_, _, risk) = get(&gateway, "/api/risk").await;
    assert_eq!(risk["state"], "reduce_only", "{risk}");

    let ticket = placed["ticket"].as_u64().unwrap();
    let (status, _, body) =
        post(&gateway, &format!("/api/positions/{ticket}/close"), json!({})).await;
    assert_eq!(status, 200, "a close must pass in reduce_only: {body}");

    let rows = orders_csv(&gateway);
    assert!(rows.iter().any(|r| &r[RULE] == "DAILY_LOSS_LIMIT" && &r[STATUS] == "refused"));
    // Security events are written without making the request wait: poll for the row.
    assert!(
        eventually(5, || async { security_csv(&gateway).contains("daily_loss_limit_hit") }).await
    );
}

#[tokio::test]
async fn halt_stops_trading_and_only_an_admin_resumes() {
    let gateway = Gateway::start();
    let trader = trade_key(&gateway);
    let order = json!({ "symbol": "GBPUSD", "type": "sell", "volume": 0.02 });
    let (status, _, _) = post(&gateway, "/api/orders", order.clone()).await;
    assert_eq!(status, 201);

    let (status, _, body) = eventually_key(&gateway, &trader, "/api/risk/halt", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "halted");
    let (status, headers, body) = post(&gateway, "/api/orders", order.clone()).await;
    assert_eq!(status, 409);
    assert_envelope(&headers, &body, "TRADING_HALTED");

    let (status, _, _) =
        call(&gateway, Method::POST, "/api/risk/resume", Some(&trader), None).await;
    assert_eq!(status, 403, "resume needs admin");
    let (status, _, body) = post(&gateway, "/api/risk/resume", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "active");
    let (status, _, _) = post(&gateway, "/api/orders", order).await;
    assert_eq!(status, 201);

    // The kill switch can also close everything.
    let (status, _, body) = post(&gateway, "/api/risk/halt", json!({ "close_all": true })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"].as_array().unwrap().len(), 2, "{body}");
    assert!(positions(&gateway).await.is_empty());

    let both = eventually(5, || async {
        let security = security_csv(&gateway);
        security.contains("trading_halted") && security.contains("trading_resumed")
    })
    .await;
    assert!(both, "{}", security_csv(&gateway));
}

/// POSTs with a key the server may not have loaded yet (it reloads every second).
async fn eventually_key(gateway: &Gateway, key: &str, path: &str, body: Value) -> Reply {
    for _ in 0..50 {
        let reply = call(gateway, Method::POST, path, Some(key), Some(body.clone())).await;
        if reply.0 != 401 {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("key never accepted");
}

#[tokio::test]
async fn a_symbol_outside_its_session_is_refused_with_the_next_opening() {
    let launch = Launch::new();
    // A window that opens two hours from now and lasts one hour.
    let now = time::OffsetDateTime::now_utc();
    let open = now + time::Duration::hours(2);
    let close = now + time::Duration::hours(3);
    let window = format!(
        "mon-sun {:02}:{:02}-{:02}:{:02}",
        open.hour(),
        open.minute(),
        close.hour(),
        close.minute()
    );
    let mut text = include_str!("../../../config/default.toml").to_string();
    write!(
        text,
        "\n[risk.symbols.XAUUSD.sessions]\ntimezone = \"UTC\"\nwindows = [\"{window}\"]\n"
    )
    .unwrap();
    std::fs::write(launch.dir.join("gateway.toml"), text).unwrap();
    let gateway = launch.arg("--config").arg("gateway.toml").arg("serve").start();

    let (status, headers, body) =
        post(&gateway, "/api/orders", json!({ "symbol": "XAUUSD", "type": "buy", "volume": 0.01 }))
            .await;
    assert_eq!(status, 409, "{body}");
    assert_envelope(&headers, &body, "OUTSIDE_SESSION");
    let next = body["error"]["details"]["next_open"].as_str().unwrap();
    let next =
        time::OffsetDateTime::parse(next, &time::format_description::well_known::Rfc3339).unwrap();
    assert!((next - open).whole_minutes().abs() <= 1, "next opening {next}, expected {open}");

    let (_, _, risk) = get(&gateway, "/api/risk").await;
    let gold = risk["symbols"].as_array().unwrap().iter().find(|s| s["symbol"] == "XAUUSD");
    assert_eq!(gold.unwrap()["session_open"], false, "{risk}");
}

#[tokio::test]
async fn idempotent_replays_conflicts_and_replays_after_a_restart() {
    let mut gateway = Gateway::start();
    let admin = gateway.admin_key();
    let order = json!({ "symbol": "USDJPY", "type": "buy", "volume": 0.05 });

    let (status, _, first) = post_with_key(&gateway, &admin, order.clone(), "order-1").await;
    assert_eq!(status, 201, "{first}");
    let (status, headers, again) = post_with_key(&gateway, &admin, order.clone(), "order-1").await;
    assert_eq!(status, 201);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again, first);
    assert_eq!(positions(&gateway).await.len(), 1, "a replay must not trade");

    let other = json!({ "symbol": "USDJPY", "type": "buy", "volume": 0.06 });
    let (status, headers, body) = post_with_key(&gateway, &admin, other, "order-1").await;
    assert_eq!(status, 409, "{body}");
    assert_envelope(&headers, &body, "IDEMPOTENCY_CONFLICT");

    let (status, _, body) = post_with_key(&gateway, &admin, order.clone(), "bad key!").await;
    assert_eq!(status, 400, "{body}");

    assert!(gateway.terminate().success());
    let second = Launch { dir: gateway.dir.clone(), temp: None, ..Launch::new() }.start();
    let (status, headers, after) = post_with_key(&second, &admin, order, "order-1").await;
    assert_eq!(status, 201);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(after, first);
    let (_, _, open) = call(&second, Method::GET, "/api/positions", Some(&admin), None).await;
    assert_eq!(open["positions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn fifty_simultaneous_orders_against_room_for_one_position() {
    let gateway = Launch::new().env("MT5GW__RISK__MAX_POSITIONS", "1").start();
    let key = gateway.admin_key();
    let client = common::client();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let request = client
            .post(gateway.url("/api/orders"))
            .header("X-API-Key", &key)
            .json(&json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.01 }));
        tasks.push(tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");
    assert_eq!(positions(&gateway).await.len(), 1);
}

#[tokio::test]
async fn price_and_notional_limits_refuse_an_order() {
    let gateway = Launch::new().env("MT5GW__RISK__MAX_NOTIONAL_PER_ORDER", "50000").start();
    let (_, _, tick) = get(&gateway, "/api/symbols/EURUSD/tick").await;
    let far = ((num(&tick["ask"]) * 0.9) * 1e5).round() / 1e5;
    let (status, headers, body) = post(
        &gateway,
        "/api/orders",
        json!({ "symbol": "EURUSD", "type": "buy_limit", "volume": 0.01, "price": far }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_envelope(&headers, &body, "INVALID_PRICE");

    let (status, headers, body) =
        post(&gateway, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 1.0 }))
            .await;
    assert_eq!(status, 409, "{body}");
    assert_envelope(&headers, &body, "MAX_NOTIONAL");
    assert!(num(&body["error"]["details"]["notional"]) > 50_000.0, "{body}");
    assert!(positions(&gateway).await.is_empty());
}

#[tokio::test]
async fn bad_order_bodies_are_refused_and_recorded() {
    let gateway = Gateway::start();
    let cases: &[(Value, u16, &str, &str)] = &[
        (
            json!({ "symbol": "EURUSD", "type": "buy", "volume": "lots" }),
            400,
            "VALIDATION_FAILED",
            "volume",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "buy", "volume": -1 }),
            400,
            "VALIDATION_FAILED",
            "volume",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "buy", "volume": 1e308 }),
            400,
            "VOLUME_TOO_LARGE",
            "volume",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "hold", "volume": 0.1 }),
            400,
            "VALIDATION_FAILED",
            "type",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.1, "leverage": 500 }),
            400,
            "VALIDATION_FAILED",
            "leverage",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.1, "price": 1.1 }),
            400,
            "VALIDATION_FAILED",
            "price",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "buy_limit", "volume": 0.1 }),
            400,
            "VALIDATION_FAILED",
            "price",
        ),
        (
            json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.001 }),
            400,
            "VOLUME_TOO_SMALL",
            "",
        ),
        (json!({ "symbol": "EURUSD", "type": "buy", "volume": 1000 }), 400, "VOLUME_TOO_LARGE", ""),
        (json!({ "symbol": "EURCHF", "type": "buy", "volume": 0.1 }), 404, "SYMBOL_NOT_FOUND", ""),
    ];
    for (body, status, code, field) in cases {
        let (got, headers, reply) = post(&gateway, "/api/orders", body.clone()).await;
        assert_eq!(got.as_u16(), *status, "{body}: {reply}");
        assert_envelope(&headers, &reply, code);
        if !field.is_empty() {
            assert!(
                reply["error"]["details"]["fields"][*field].is_string(),
                "{field} not named: {reply}"
            );
        }
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(!message.contains("f64") && !message.contains("serde"), "{message}");
    }

    // Not JSON at all.
    let response = common::client()
        .post(gateway.url("/api/orders"))
        .header("X-API-Key", gateway.admin_key())
        .header("Content-Type", "text/plain")
        .body("buy 1 EURUSD")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    // The volume rounds down to the step, and both volumes are reported.
    let (status, _, placed) = post(
        &gateway,
        "/api/orders",
        json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.015 }),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    assert!((num(&placed["volume"]) - 0.01).abs() < 1e-12, "{placed}");
    assert!((num(&placed["volume_requested"]) - 0.015).abs() < 1e-12, "{placed}");

    let refused = orders_csv(&gateway).iter().filter(|r| &r[STATUS] == "refused").count();
    assert!(refused >= cases.len() - 1, "every refusal is recorded ({refused})");
}

#[tokio::test]
async fn a_terminal_that_stalls_gives_504_and_the_order_is_reconciled() {
    let gateway = Launch::new()
        .env("MT5GW__TERMINAL__CALL_TIMEOUT_SECS", "1")
        .env("MT5GW__TERMINAL__SIM__STALL_TRADES_MS", "2500")
        .start();
    let (status, headers, body) =
        post(&gateway, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.01 }))
            .await;
    assert_eq!(status, 504, "{body}");
    assert_envelope(&headers, &body, "TERMINAL_TIMEOUT");
    let client_id = body["error"]["details"]["client_order_id"].as_str().unwrap().to_string();

    let rows = orders_csv(&gateway);
    assert!(rows.iter().any(|r| r[CLIENT_ID] == *client_id && &r[STATUS] == "unknown"), "{rows:?}");
    // The stalled order executes after all; reconciliation finds it by its client id.
    let reconciled = eventually(20, || async {
        orders_csv(&gateway)
            .iter()
            .any(|r| r[CLIENT_ID] == *client_id && &r[STATUS] == "reconciled" && !r[16].is_empty())
    })
    .await;
    assert!(reconciled, "{:?}", orders_csv(&gateway));
    assert_eq!(positions(&gateway).await.len(), 1, "sent once, never retried");

    // The terminal failure is in errors.csv, under the request's id.
    let request_id = headers["x-request-id"].to_str().unwrap();
    let errors_csv =
        || std::fs::read_to_string(gateway.dir.join("logs/errors.csv")).unwrap_or_default();
    let recorded = eventually(5, || async {
        errors_csv()
            .lines()
            .any(|line| line.contains(request_id) && line.contains("TERMINAL_TIMEOUT"))
    })
    .await;
    assert!(recorded, "{}", errors_csv());
}

#[tokio::test]
async fn an_unknown_outcome_left_by_a_crash_is_reconciled_after_the_restart() {
    let mut first = Launch::new()
        .env("MT5GW__TERMINAL__CALL_TIMEOUT_SECS", "1")
        .env("MT5GW__TERMINAL__SIM__STALL_TRADES_MS", "3000")
        .start();
    let admin = first.admin_key();
    let (status, _, body) =
        post(&first, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.01 }))
            .await;
    assert_eq!(status, 504, "{body}");
    let client_id = body["error"]["details"]["client_order_id"].as_str().unwrap().to_string();

    // The process dies before the stalled order executes and before it is reconciled.
    first.kill();
    let unknown = |gateway: &Gateway| {
        let rows = orders_csv(gateway);
        rows.iter().rev().find(|r| r[CLIENT_ID] == *client_id).map(|r| r[STATUS].to_string())
    };
    assert_eq!(unknown(&first).as_deref(), Some("unknown"));

    let second = Launch { dir: first.dir.clone(), temp: None, ..Launch::new() }
        .env("MT5GW__TRADING__RECONCILE_SECS", "2")
        .start();
    let reconciled =
        eventually(20, || async { unknown(&second).as_deref() == Some("reconciled") }).await;
    assert!(reconciled, "{:?}", orders_csv(&second));
    let rows = orders_csv(&second);
    let last = rows.iter().rev().find(|r| r[CLIENT_ID] == *client_id).unwrap();
    assert!(last[18].contains("not found"), "{last:?}");
    let (_, _, open) = call(&second, Method::GET, "/api/positions", Some(&admin), None).await;
    assert!(open["positions"].as_array().unwrap().is_empty(), "the order never executed");
}

/// Clears the immutable flag again even when the test fails, so the folder can be removed.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: std::path::PathBuf) -> Immutable {
        let status = std::process::Command::new("chattr").arg("+i").arg(&path).status().unwrap();
        assert!(status.success(), "chattr +i failed on {}", path.display());
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[tokio::test]
async fn an_order_that_cannot_be_recorded_is_not_sent() {
    let gateway = Gateway::start();
    let (status, _, _) =
        post(&gateway, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.01 }))
            .await;
    assert_eq!(status, 201);
    assert_eq!(positions(&gateway).await.len(), 1);

    // orders.csv can no longer be written (as root, only the immutable flag stops a write).
    let guard = Immutable::set(gateway.dir.join("logs/orders.csv"));
    let (status, headers, body) =
        post(&gateway, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.01 }))
            .await;
    assert_eq!(status, 503, "{body}");
    assert_envelope(&headers, &body, "AUDIT_UNAVAILABLE");
    assert_eq!(positions(&gateway).await.len(), 1, "the terminal must not see the order");
    let (_, _, health) = get(&gateway, "/api/health").await;
    assert_eq!(health["audit"]["status"], "failing", "{health}");

    // Once the file is writable again, orders go through and health recovers.
    drop(guard);
    let (status, _, body) =
        post(&gateway, "/api/orders", json!({ "symbol": "EURUSD", "type": "buy", "volume": 0.01 }))
            .await;
    assert_eq!(status, 201, "{body}");
    let (_, _, health) = get(&gateway, "/api/health").await;
    assert_eq!(health["audit"]["status"], "ok", "{health}");
}

#[tokio::test]
async fn a_formula_in_the_symbol_lands_neutralized_in_orders_csv() {
    let gateway = Gateway::start();
    let (status, _, body) = post(
        &gateway,
        "/api/orders",
        json!({ "symbol": "=cmd|' /C calc'!A0", "type": "buy", "volume": 0.01 }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // A refusal's row is written without making the request wait: poll for it.
    let written =
        eventually(5, || async { orders_csv(&gateway).iter().any(|r| &r[STATUS] == "refused") })
            .await;
    assert!(written, "no refused row in orders.csv");
    let rows = orders_csv(&gateway);
    let refused = rows.iter().find(|r| &r[STATUS] == "refused").unwrap();
    for cell in refused {
        assert!(!cell.starts_with(['=', '+', '-', '@']), "{refused:?}");
    }
}
