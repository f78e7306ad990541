//! The read endpoints over real HTTP against the real binary and the simulated terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::{Gateway, assert_envelope, client, get};
use serde_json::Value;

fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

/// True when `price` has at most `digits` decimals (a quote the symbol can show).
fn fits_digits(price: f64, digits: i32) -> bool {
    let scaled = price * 10f64.powi(digits);
    (scaled - scaled.round()).abs() < 1e-6
}

#[tokio::test]
async fn every_read_endpoint_answers_with_terminal_data() {
    let gateway = Gateway::start();

    // Health: up, and the simulated terminal connected.
    let (status, headers, body) = get(&gateway, "/api/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["terminal"]["connected"], true, "{body}");
    assert!(headers.contains_key("x-request-id"));

    // Account: a fresh paper account of 10 000 USD at 1:100.
    let (status, _, account) = get(&gateway, "/api/account").await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["currency"], "USD");
    assert_eq!(account["leverage"], 100);
    assert_eq!(account["mode"], "simulated");
    let balance = num(&account["balance"]);
    assert!((balance - 10_000.0).abs() < 1e-9, "{account}");
    let equity = num(&account["equity"]);
    let profit = num(&account["profit"]);
    assert!((equity - (balance + profit)).abs() < 1e-9, "equity = balance + floating profit");
    assert!((num(&account["margin_free"]) - (equity - num(&account["margin"]))).abs() < 1e-9);

    // Symbols: the four the simulated terminal trades, with their digits.
    let (status, _, body) = get(&gateway, "/api/symbols").await;
    assert_eq!(status, 200);
    let mut names: Vec<(String, u64)> = body["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["digits"].as_u64().unwrap()))
        .collect();
    names.sort();
    let expected = [("EURUSD", 5), ("GBPUSD", 5), ("USDJPY", 3), ("XAUUSD", 2)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(n, d)| ((*n).into(), *d)).collect();
    assert_eq!(names, expected);

    // One symbol's specification.
    let (status, _, eurusd) = get(&gateway, "/api/symbols/EURUSD").await;
    assert_eq!(status, 200);
    assert!((num(&eurusd["contract_size"]) - 100_000.0).abs() < 1e-9);
    assert!((num(&eurusd["volume_min"]) - 0.01).abs() < 1e-12);
    assert!((num(&eurusd["volume_step"]) - 0.01).abs() < 1e-12);

    // Ticks: ask above bid, each within the symbol's digits.
    for (symbol, digits) in [("EURUSD", 5), ("USDJPY", 3), ("XAUUSD", 2)] {
        let (status, _, tick) = get(&gateway, &format!("/api/symbols/{symbol}/tick")).await;
        assert_eq!(status, 200, "{tick}");
        assert_eq!(tick["symbol"], symbol);
        let (bid, ask) = (num(&tick["bid"]), num(&tick["ask"]));
        assert!(ask > bid, "{tick}");
        assert!(fits_digits(bid, digits) && fits_digits(ask, digits), "{tick}");
    }

    // Bars: the number asked for, spaced by the timeframe, each a consistent OHLC.
    let (status, _, body) = get(&gateway, "/api/symbols/GBPUSD/bars?timeframe=M5&count=12").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timeframe"], "M5");
    let bars = body["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 12);
    let times: Vec<time::OffsetDateTime> = bars
        .iter()
        .map(|bar| {
            let text = bar["time"].as_str().unwrap();
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap()
        })
        .collect();
    for pair in times.windows(2) {
        assert_eq!((pair[1] - pair[0]).whole_seconds(), 300);
    }
    for bar in bars {
        let (open, high, low, close) =
            (num(&bar["open"]), num(&bar["high"]), num(&bar["low"]), num(&bar["close"]));
        assert!(high >= open.max(close) && low <= open.min(close), "{bar}");
    }

    // Positions and pending orders: a fresh account has none, and says so with lists.
    let (status, _, body) = get(&gateway, "/api/positions").await;
    assert_eq!(status, 200);
    assert_eq!(body["positions"], Value::Array(vec![]));
    let (status, _, body) = get(&gateway, "/api/orders").await;
    assert_eq!(status, 200);
    assert_eq!(body["orders"], Value::Array(vec![]));

    // History: the opening deposit is a balance deal.
    let (status, _, body) = get(&gateway, "/api/history/deals").await;
    assert_eq!(status, 200, "{body}");
    let deals = body["deals"].as_array().unwrap();
    assert!(deals.iter().any(|deal| deal["type"] == "balance"), "{body}");
    let (status, _, body) = get(&gateway, "/api/history/orders?symbol=EURUSD").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["orders"].is_array());
}

#[tokio::test]
async fn bad_input_gets_the_error_envelope() {
    let gateway = Gateway::start();
    let cases: &[(&str, u16, &str)] = &[
        ("/api/symbols/NOPE", 404, "SYMBOL_NOT_FOUND"),
        ("/api/symbols/EUR%24USD/tick", 400, "INVALID_SYMBOL"),
        ("/api/symbols/EURUSD/bars?timeframe=X1", 400, "VALIDATION_FAILED"),
        ("/api/symbols/EURUSD/bars?count=0", 400, "VALIDATION_FAILED"),
        ("/api/symbols/EURUSD/bars?count=abc", 400, "VALIDATION_FAILED"),
        ("/api/symbols/EURUSD/bars?cuont=5", 400, "VALIDATION_FAILED"),
        ("/api/history/deals?from=yesterday", 400, "VALIDATION_FAILED"),
        (
            "/api/history/deals?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "VALIDATION_FAILED",
        ),
        ("/api/nothing-here", 404, "NOT_FOUND"),
        ("/", 404, "NOT_FOUND"),
    ];
    for (path, status, code) in cases {
        let (got, headers, body) = get(&gateway, path).await;
        assert_eq!(got.as_u16(), *status, "{path}: {body}");
        assert_envelope(&headers, &body, code);
    }

    // The bad field is named in the details.
    let (_, _, body) = get(&gateway, "/api/symbols/EURUSD/bars?timeframe=X1").await;
    assert!(body["error"]["details"]["fields"]["timeframe"].is_string(), "{body}");

    // A method a route does not take is still an envelope, not actix's plain text.
    let response = client()
        .post(gateway.url("/api/account"))
        .header("X-API-Key", gateway.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_envelope(&headers, &body, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_the_security_headers() {
    let gateway = Gateway::start();
    let mut ids = Vec::new();
    for path in ["/api/health", "/api/account", "/api/symbols/NOPE", "/missing"] {
        let (_, headers, _) = get(&gateway, path).await;
        for header in [
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "referrer-policy",
            "cache-control",
        ] {
            assert!(headers.contains_key(header), "{path} lacks {header}");
        }
        assert_eq!(headers["cache-control"], "no-store");
        ids.push(headers["x-request-id"].to_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "request ids are unique");
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let mut gateway = Gateway::start();
    let (status, _, _) = get(&gateway, "/api/health").await;
    assert_eq!(status, 200);
    let exit = gateway.terminate();
    assert!(exit.success(), "exit status {exit:?}");
    // The operator log is written by a background thread and flushed at exit.
    assert!(gateway.stderr().contains("server stopped"), "{}", gateway.stderr());
}
