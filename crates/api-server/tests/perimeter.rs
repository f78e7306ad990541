//! The perimeter over real HTTP against the real binary, and over a raw TCP socket where an
//! HTTP client would hide the behaviour: rate limits, Host and Origin allow-lists, security
//! headers, body and time limits, TLS, the public-bind refusal, metrics and the API description.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use common::{Gateway, Launch, assert_envelope, call, client, eventually, read_reply, run_command};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The headers SPEC §6 puts on every response.
fn assert_security_headers(headers: &HeaderMap, what: &str) {
    let expected = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in expected {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: header {name}"
        );
    }
    assert!(headers.contains_key("x-request-id"), "{what}: x-request-id");
}

fn create_key(gateway: &Gateway, name: &str, scopes: &str) -> String {
    let (code, stdout, stderr) =
        gateway.command(&["keys", "create", "--name", name, "--scopes", scopes]);
    assert_eq!(code, 0, "{stderr}");
    stdout.lines().last().unwrap().to_string()
}

fn security_rows(gateway: &Gateway, event: &str) -> usize {
    let text = std::fs::read_to_string(gateway.dir.join("logs/security.csv")).unwrap_or_default();
    text.lines().filter(|line| line.contains(&format!(",{event},"))).count()
}

fn port(gateway: &Gateway) -> u16 {
    gateway.base_url.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_eleventh_admin_call_in_a_minute_is_refused_while_another_key_is_served() {
    // No trading route exists on this branch yet; the admin class has the same 10/min limit
    // and the same code path (one limiter per class, keyed by the verified key id).
    let gateway = Launch::new()
        .env("MT5GW__RATE_LIMITS__ADMIN__PER_MINUTE", "10")
        .env("MT5GW__RATE_LIMITS__ADMIN__BURST", "10")
        .start();
    let first = gateway.admin_key();
    let second = create_key(&gateway, "second-admin", "read,trade,admin");
    let loaded = eventually(10, || async {
        call(&gateway, Method::GET, "/api/account", Some(&second), None).await.0 == 200
    })
    .await;
    assert!(loaded, "second key never loaded");

    for n in 1..=10 {
        let (status, headers, body) =
            call(&gateway, Method::GET, "/api/keys", Some(&first), None).await;
        assert_eq!(status, 200, "call {n}: {body}");
        assert_eq!(headers["x-ratelimit-limit"], "10");
        assert_eq!(headers["x-ratelimit-remaining"].to_str().unwrap(), (10 - n).to_string());
        assert!(!headers.contains_key("x-ratelimit-whitelisted"));
    }
    let (status, headers, body) =
        call(&gateway, Method::GET, "/api/keys", Some(&first), None).await;
    assert_eq!(status, 429, "{body}");
    assert_envelope(&headers, &body, "RATE_LIMITED");
    assert_security_headers(&headers, "429");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");

    // Another key has its own budget; reads of the same key have theirs.
    let (status, _, body) = call(&gateway, Method::GET, "/api/keys", Some(&second), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call(&gateway, Method::GET, "/api/account", Some(&first), None).await;
    assert_eq!(status, 200);

    // Repeated refusals leave one row in security.csv per client and minute.
    for _ in 0..5 {
        call(&gateway, Method::GET, "/api/keys", Some(&first), None).await;
    }
    assert!(eventually(5, || async { security_rows(&gateway, "rate_limited") == 1 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(security_rows(&gateway, "rate_limited"), 1);
}

#[tokio::test]
async fn the_eleventh_trading_call_in_a_minute_is_refused_while_another_key_is_served() {
    let gateway = Launch::new()
        .env("MT5GW__RATE_LIMITS__TRADING__PER_MINUTE", "10")
        .env("MT5GW__RATE_LIMITS__TRADING__BURST", "10")
        .start();
    let first = gateway.admin_key();
    let second = create_key(&gateway, "second-trader", "read,trade");
    let loaded = eventually(10, || async {
        call(&gateway, Method::GET, "/api/account", Some(&second), None).await.0 == 200
    })
    .await;
    assert!(loaded, "second key never loaded");

    // An empty body fails validation after the limiter has counted the call.
    let empty = Some(serde_json::json!({}));
    for n in 1..=10 {
        let (status, _, body) =
            call(&gateway, Method::POST, "/api/orders", Some(&first), empty.clone()).await;
        assert_eq!(status, 400, "call {n}: {body}");
    }
    let (status, headers, body) =
        call(&gateway, Method::POST, "/api/orders", Some(&first), empty.clone()).await;
    assert_eq!(status, 429, "{body}");
    assert_envelope(&headers, &body, "RATE_LIMITED");
    assert!(headers.contains_key("retry-after"));

    let (status, _, body) = call(&gateway, Method::POST, "/api/orders", Some(&second), empty).await;
    assert_eq!(status, 400, "another key keeps its own budget: {body}");
    let (status, _, _) = call(&gateway, Method::GET, "/api/positions", Some(&first), None).await;
    assert_eq!(status, 200, "reads have their own budget");
}

#[tokio::test]
async fn forwarding_headers_and_other_loopback_addresses_do_not_reset_the_limit() {
    let gateway = Launch::new()
        .env("MT5GW__RATE_LIMITS__READ__PER_MINUTE", "5")
        .env("MT5GW__RATE_LIMITS__READ__BURST", "5")
        .start();
    for n in 1..=5 {
        let (status, _, body) = call(&gateway, Method::GET, "/api/health", None, None).await;
        assert_eq!(status, 200, "call {n}: {body}");
    }
    let disguises: [(&str, &str); 7] = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("x-forwarded-for", "203.0.113.8, 198.51.100.1"),
        ("X-FORWARDED-FOR", "10.0.0.1"),
        ("X-Real-IP", "203.0.113.9"),
        ("x-real-ip", "198.51.100.2"),
        ("Forwarded", "for=203.0.113.10"),
        ("FORWARDED", "for=\"[2001:db8::1]\";proto=https"),
    ];
    for (name, value) in disguises {
        let response =
            client().get(gateway.url("/api/health")).header(name, value).send().await.unwrap();
        let (status, headers, body) = read_reply(response).await;
        assert_eq!(status, 429, "{name}: {value} reset the limit: {body}");
        assert_envelope(&headers, &body, "RATE_LIMITED");
    }
    for last in 2..6u8 {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        let elsewhere = reqwest::Client::builder().local_address(source).build().unwrap();
        let response = elsewhere.get(gateway.url("/api/health")).send().await.unwrap();
        assert_eq!(response.status(), 429, "from {source}");
    }
}

#[tokio::test]
async fn the_host_header_is_judged_raw_and_refusals_do_not_feed_the_lockout() {
    let gateway = Launch::new().env("MT5GW__AUTH__LOCKOUT__MAX_FAILURES", "3").start();
    let port = port(&gateway);
    let host = |value: String, extra: Option<(&'static str, &'static str)>| {
        let url = gateway.url("/api/health");
        async move {
            let mut request = client().get(url).header("Host", value);
            if let Some((name, value)) = extra {
                request = request.header(name, value);
            }
            read_reply(request.send().await.unwrap()).await
        }
    };

    for allowed in
        [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("LocalHost:{port}")]
    {
        assert_eq!(host(allowed.clone(), None).await.0, 200, "{allowed}");
    }
    // Judged by Host alone: X-Forwarded-Host and Forwarded never count.
    let (status, _, body) =
        host(format!("localhost:{port}"), Some(("X-Forwarded-Host", "evil.example"))).await;
    assert_eq!(status, 200, "{body}");
    for (value, extra) in [
        (format!("evil.example:{port}"), None),
        ("evil.example".to_string(), None),
        (format!("evil.example:{port}"), Some(("X-Forwarded-Host", "localhost"))),
        (format!("evil.example:{port}"), Some(("Forwarded", "host=localhost"))),
        // The right name on another port is another service's name.
        ("localhost".to_string(), None),
        ("localhost:1".to_string(), None),
    ] {
        let (status, headers, body) = host(value.clone(), extra).await;
        assert_eq!(status, 403, "{value} {extra:?}: {body}");
        assert_envelope(&headers, &body, "HOST_NOT_ALLOWED");
        assert_security_headers(&headers, "403");
    }

    // Refused before authentication: bad keys behind a foreign Host never ban the client.
    for _ in 0..6 {
        let response = client()
            .get(gateway.url("/api/account"))
            .header("Host", "evil.example")
            .header("X-API-Key", "mt5gw_aaaaaaaa_notakeyatall")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    let (status, _, body) =
        call(&gateway, Method::GET, "/api/account", Some("mt5gw_aaaaaaaa_notakeyatall"), None)
            .await;
    assert_eq!(status, 401, "host refusals counted toward the lockout: {body}");

    assert!(eventually(5, || async { security_rows(&gateway, "host_rejected") == 1 }).await);
}

#[tokio::test]
async fn only_the_listed_origin_gets_through_preflight_and_state_changes() {
    let gateway = Launch::new().env("MT5GW__SERVER__CORS_ORIGINS", "http://good.example").start();
    let admin = gateway.admin_key();
    let preflight = |origin: &'static str| {
        client()
            .request(Method::OPTIONS, gateway.url("/api/keys"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-api-key, content-type")
            .send()
    };

    let refused = preflight("http://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    let (_, headers, body) = read_reply(refused).await;
    assert_envelope(&headers, &body, "ORIGIN_NOT_ALLOWED");

    let allowed = preflight("http://good.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://good.example");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_string();
    assert!(methods.contains("POST") && methods.contains("PATCH"), "{methods}");

    let post = |origin: &'static str| {
        client()
            .post(gateway.url("/api/keys"))
            .header("Origin", origin)
            .header("X-API-Key", &admin)
            .json(&json!({ "name": "from-a-page", "scopes": "read" }))
            .send()
    };
    let (status, headers, body) = read_reply(post("http://evil.example").await.unwrap()).await;
    assert_eq!(status, 403, "{body}");
    assert_envelope(&headers, &body, "ORIGIN_NOT_ALLOWED");
    assert!(!headers.contains_key("access-control-allow-origin"));
    let (_, _, listing) = call(&gateway, Method::GET, "/api/keys", Some(&admin), None).await;
    assert!(!listing.to_string().contains("from-a-page"), "the refused POST made a key");

    let (status, headers, body) = read_reply(post("http://good.example").await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "http://good.example");
    assert!(eventually(5, || async { security_rows(&gateway, "origin_rejected") == 1 }).await);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_no_hsts_without_tls() {
    let gateway = Gateway::start();
    let cases =
        [("/api/health", None, 200), ("/api/account", None, 401), ("/no/such/route", None, 404)];
    for (path, key, expected) in cases {
        let (status, headers, _) = call(&gateway, Method::GET, path, key, None).await;
        assert_eq!(status, expected, "{path}");
        assert_security_headers(&headers, path);
        assert!(!headers.contains_key("strict-transport-security"), "{path}: HSTS over HTTP");
    }
    // (The 429 is checked in the rate-limit test above.)
}

#[tokio::test]
async fn oversized_unsupported_and_malformed_bodies_are_refused_in_the_envelope() {
    let gateway = Gateway::start();
    let admin = gateway.admin_key();
    let big = json!({ "name": "x".repeat(70 * 1024), "scopes": "read" });

    let (status, headers, body) =
        call(&gateway, Method::POST, "/api/keys", Some(&admin), Some(big.clone())).await;
    assert_eq!(status, 413, "{body}");
    assert_envelope(&headers, &body, "PAYLOAD_TOO_LARGE");

    // The same body without a length (chunked) is cut at 64 KiB as well.
    let bytes = serde_json::to_vec(&big).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(4096).map(|chunk| Ok(chunk.to_vec())).collect();
    let response = client()
        .post(gateway.url("/api/keys"))
        .header("X-API-Key", &admin)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = read_reply(response).await;
    assert_eq!(status, 413, "{body}");
    assert_envelope(&headers, &body, "PAYLOAD_TOO_LARGE");

    for (content_type, text, expected, code) in [
        ("text/plain", "{\"name\":\"a\",\"scopes\":\"read\"}", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("application/json", "{\"name\": ", 400, "VALIDATION_FAILED"),
    ] {
        let response = client()
            .post(gateway.url("/api/keys"))
            .header("X-API-Key", &admin)
            .header("Content-Type", content_type)
            .body(text)
            .send()
            .await
            .unwrap();
        let (status, headers, body) = read_reply(response).await;
        assert_eq!(status, expected, "{content_type}: {body}");
        assert_envelope(&headers, &body, code);
    }
    // A route whose body is optional refuses a wrong type too, rather than ignoring the body.
    let response = client()
        .post(gateway.url("/api/keys/abcdefgh/rotate"))
        .header("X-API-Key", &admin)
        .header("Content-Type", "text/plain")
        .body("grace_hours=0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

/// Reads until the server closes the connection or `limit` passes; returns what came, how
/// long it took and whether the server closed the connection.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration, bool) {
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut closed = false;
    while started.elapsed() < limit {
        match stream.read(&mut buffer) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed(), closed)
}

/// Writes `chunk` every half second from another thread until the connection breaks.
fn dribble(stream: &TcpStream, chunk: &'static [u8]) -> std::thread::JoinHandle<()> {
    let mut stream = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(500));
            if stream.write_all(chunk).is_err() {
                break;
            }
        }
    })
}

#[test]
fn slow_clients_are_cut_off_and_connections_carry_one_request() {
    let gateway = Launch::new().env("MT5GW__SERVER__REQUEST_TIMEOUT_SECS", "2").start();
    let admin = gateway.admin_key();
    let addr = gateway.base_url.trim_start_matches("http://").to_string();
    let host = format!("Host: {addr}\r\n");

    // 1. Headers dribbled one line every half second: closed at the 2 s deadline.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET /api/health HTTP/1.1\r\n").unwrap();
    stream.write_all(host.as_bytes()).unwrap();
    let writer = dribble(&stream, b"X-Slow: 1\r\n");
    let (reply, elapsed, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
    assert!(closed, "header dribble not cut off: {reply}");
    assert!(elapsed < Duration::from_secs(5), "cut off after {elapsed:?}");
    assert!(!reply.contains("200 OK"), "{reply}");
    writer.join().unwrap();

    // 2. A body dribbled ten bytes at a time: 408 in the envelope, then the connection closes.
    let mut stream = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /api/keys HTTP/1.1\r\n{host}X-API-Key: {admin}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let writer = dribble(&stream, b"          ");
    let (reply, elapsed, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
    assert!(closed, "body dribble not cut off: {reply}");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("REQUEST_TIMEOUT"), "{reply}");
    assert!(elapsed < Duration::from_secs(5), "cut off after {elapsed:?}");
    writer.join().unwrap();

    // 3. Keep-alive asked for, not granted: the server closes after one answer, so a second
    //    request's headers can never be dribbled outside the header deadline.
    let mut stream = TcpStream::connect(&addr).unwrap();
    let request = format!("GET /api/health HTTP/1.1\r\n{host}Connection: keep-alive\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let (reply, _, closed) = read_until_closed(&mut stream, Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("connection: close"), "{reply}");
    assert!(closed, "connection left open");
}

#[tokio::test]
async fn tls_serves_with_a_self_signed_certificate() {
    let launch = Launch::new();
    let (code, stdout, stderr) =
        run_command(&launch.dir, &["tls", "self-signed", "--out", "tls"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let key_path = launch.dir.join("tls/key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key mode {mode:o}");
    }
    let cert = std::fs::read(launch.dir.join("tls/cert.pem")).unwrap();
    let gateway = launch
        .env("MT5GW__SERVER__TLS__CERT", "tls/cert.pem")
        .env("MT5GW__SERVER__TLS__KEY", "tls/key.pem")
        .start();
    assert!(gateway.base_url.starts_with("https://"), "{}", gateway.base_url);

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/health", port(&gateway));
    let response = trusting.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));

    // A client that does not trust it refuses to talk; plain HTTP gets no answer.
    assert!(client().get(&url).send().await.is_err());
    let plain = gateway.base_url.replace("https://", "http://");
    assert!(client().get(format!("{plain}/api/health")).send().await.is_err());
}

#[test]
fn a_public_bind_without_tls_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_command(
        dir.path(),
        &["serve"],
        &[("MT5GW__SERVER__BIND", "0.0.0.0"), ("MT5GW__SERVER__PORT", "0")],
    );
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains("without TLS"), "{stderr}");
    assert!(stderr.contains("allow_insecure_remote"), "{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
}

#[test]
fn config_check_and_loading_refuse_unsafe_perimeter_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run_command(dir.path(), &["config", "check"], &[("MT5GW__SERVER__CORS_ORIGINS", "*")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("server.cors_origins"), "{stderr}");

    for (key, value, rule) in [
        ("MT5GW__RATE_LIMITS__ENABLED", "false", "rate-limits"),
        ("MT5GW__AUTH__REQUIRE_KEY_FOR_READS", "false", "keys-for-reads"),
        ("MT5GW__AUTH__LOCKOUT__MAX_FAILURES", "1000", "lockout"),
    ] {
        let (code, stdout, _) = run_command(dir.path(), &["config", "check"], &[(key, value)]);
        assert_eq!(code, 1, "{key}: {stdout}");
        let line = stdout.lines().find(|line| line.contains(rule)).unwrap_or_default();
        assert!(line.starts_with("FAIL"), "{key}: {stdout}");
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
}

#[tokio::test]
async fn metrics_count_a_rejected_key_and_name_no_key_or_address() {
    let gateway = Gateway::start();
    let scrape = || async {
        let response = client().get(gateway.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        response.text().await.unwrap()
    };
    let before = metric(&scrape().await, "mt5gw_auth_failures_total");
    let bad = "mt5gw_aaaaaaaa_notakeyatall";
    let (status, _, _) = call(&gateway, Method::GET, "/api/account", Some(bad), None).await;
    assert_eq!(status, 401);
    let (status, _, _) =
        call(&gateway, Method::GET, "/api/account", Some(&gateway.admin_key()), None).await;
    assert_eq!(status, 200);

    let text = scrape().await;
    assert_eq!(metric(&text, "mt5gw_auth_failures_total"), before + 1, "{text}");
    assert_eq!(metric(&text, "mt5gw_terminal_up"), 1);
    assert!(text.contains("mt5gw_requests_total{class=\"read\",status=\"401\"} 1"), "{text}");
    assert!(text.contains("mt5gw_request_duration_seconds_bucket{class=\"read\",le=\"+Inf\"}"));
    assert!(text.contains("mt5gw_audit_queue_depth{sink=\"security\"}"), "{text}");
    assert!(text.contains("mt5gw_terminal_call_duration_seconds_count"), "{text}");
    let admin = gateway.admin_key();
    for secret in ["aaaaaaaa", &admin[6..14], "127.0.0.1", "EURUSD"] {
        assert!(!text.contains(secret), "metrics name {secret}");
    }
}

#[tokio::test]
async fn the_api_description_is_openapi_3_and_names_every_route() {
    let gateway = Gateway::start();
    let (status, _, document) = call(&gateway, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{}", document["openapi"]);
    assert!(document["info"]["title"].is_string());
    for spec in api_server::routes::ROUTES {
        let method = spec.method.as_str().to_ascii_lowercase();
        let operation = &document["paths"][spec.path][&method];
        assert!(operation.is_object(), "{} {} undocumented", spec.method, spec.path);
        assert!(operation["responses"]["429"].is_object(), "{} {}: no 429", spec.method, spec.path);
        if let api_server::routes::Access::Scope(_) = spec.access {
            assert!(operation["security"].is_array(), "{} {}: no security", spec.method, spec.path);
        }
    }
    let codes: Vec<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    for code in ["RATE_LIMITED", "HOST_NOT_ALLOWED", "ORIGIN_NOT_ALLOWED", "PAYLOAD_TOO_LARGE"] {
        assert!(codes.contains(&code), "{code} missing: {codes:?}");
    }
    let _: &Value = &document["components"]["securitySchemes"]["api_key"];
}
