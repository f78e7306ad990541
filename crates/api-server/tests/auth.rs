//! Authentication over real HTTP: scopes, every kind of refused key, lockout, key management
//! from the CLI and the API, and no secret left behind in any file or log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{Gateway, Launch, Reply, assert_envelope, call, client, eventually, read_reply};
use reqwest::Method;
use serde_json::{Value, json};

async fn get_as(gateway: &Gateway, path: &str, key: Option<&str>) -> Reply {
    call(gateway, Method::GET, path, key, None).await
}

/// Creates a key with the CLI and returns it (the last line of stdout).
fn create_key(gateway: &Gateway, name: &str, scopes: &str) -> String {
    let (code, stdout, stderr) =
        gateway.command(&["keys", "create", "--name", name, "--scopes", scopes]);
    assert_eq!(code, 0, "{stderr}");
    let key = stdout.lines().last().unwrap().to_string();
    assert!(key.starts_with("mt5gw_"), "{stdout}");
    key
}

fn key_id(key: &str) -> &str {
    &key[6..14]
}

/// Waits until `key` gets `status` on `path` (CLI changes reach the server on its reload).
async fn until_status(gateway: &Gateway, path: &str, key: &str, status: u16) {
    let reached =
        eventually(10, || async { get_as(gateway, path, Some(key)).await.0.as_u16() == status })
            .await;
    assert!(reached, "{path} never answered {status}");
}

#[tokio::test]
async fn each_scope_reaches_its_route_classes_only() {
    let gateway = Gateway::start();
    let read = create_key(&gateway, "reader", "read");
    let trade = create_key(&gateway, "bot", "read,trade");
    let admin = gateway.admin_key();
    until_status(&gateway, "/api/account", &trade, 200).await;

    // Read class.
    for key in [&read, &trade, &admin] {
        let (status, _, body) = get_as(&gateway, "/api/positions", Some(key)).await;
        assert_eq!(status, 200, "{body}");
    }
    // Admin class: read and trade keys are forbidden, with 403 rather than 401.
    for key in [&read, &trade] {
        let (status, headers, body) = get_as(&gateway, "/api/keys", Some(key)).await;
        assert_eq!(status, 403, "{body}");
        assert_envelope(&headers, &body, "FORBIDDEN");
    }
    let (status, _, body) = get_as(&gateway, "/api/keys", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");

    // Trading class: a read key is forbidden; trade and admin keys pass the gate (an empty
    // order body then fails validation, which proves the request got past it).
    let order = json!({});
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/orders", Some(&read), Some(order.clone())).await;
    assert_eq!(status, 403, "{body}");
    for key in [&trade, &admin] {
        let (status, _, body) =
            call(&gateway, Method::POST, "/api/orders", Some(key), Some(order.clone())).await;
        assert_eq!(status, 400, "{body}");
    }
    // Resuming trading is an admin call.
    let (status, _, _) = call(&gateway, Method::POST, "/api/risk/resume", Some(&trade), None).await;
    assert_eq!(status, 403);

    // `Authorization: Bearer` works like `X-API-Key`.
    let response = client()
        .get(gateway.url("/api/account"))
        .header("Authorization", format!("Bearer {read}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn every_refused_key_gets_the_same_401() {
    let gateway = Gateway::start();
    let admin = gateway.admin_key();

    let revoked = create_key(&gateway, "revoked", "read");
    let rotated_hard = create_key(&gateway, "rotated-no-grace", "read");
    let rotated_soft = create_key(&gateway, "rotated-grace", "read");
    let (code, _, stderr) = gateway.command(&["keys", "revoke", key_id(&revoked)]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) =
        gateway.command(&["keys", "rotate", key_id(&rotated_hard), "--grace-hours", "0"]);
    assert_eq!(code, 0, "{stderr}");
    let rotated_hard_new = stdout.lines().last().unwrap().to_string();
    let (code, stdout, _) =
        gateway.command(&["keys", "rotate", key_id(&rotated_soft), "--grace-hours", "1"]);
    assert_eq!(code, 0);
    let rotated_soft_new = stdout.lines().last().unwrap().to_string();

    // An expired key: written through the library with a creation time in the past.
    let store = security_core::KeyStore::open(gateway.dir.join("data/keys.json")).unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    let expired = store
        .create("expired", security_core::Scope::Read, Some(past + time::Duration::days(1)), past)
        .unwrap();
    let expired = secrecy::ExposeSecret::expose_secret(expired.key()).to_string();

    let mut wrong_checksum = admin.clone();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(if last == 'A' { 'B' } else { 'A' });
    let unknown =
        secrecy::ExposeSecret::expose_secret(security_core::ApiKey::generate().unwrap().key())
            .to_string();

    until_status(&gateway, "/api/account", &rotated_hard_new, 200).await;
    until_status(&gateway, "/api/account", &expired, 401).await;

    // Within its grace the old secret still works, beside the new one.
    assert_eq!(get_as(&gateway, "/api/account", Some(&rotated_soft)).await.0, 200);
    assert_eq!(get_as(&gateway, "/api/account", Some(&rotated_soft_new)).await.0, 200);

    let refused: [(&str, Option<&str>); 7] = [
        ("missing", None),
        ("malformed", Some("hunter2")),
        ("wrong checksum", Some(&wrong_checksum)),
        ("unknown", Some(&unknown)),
        ("expired", Some(&expired)),
        ("revoked", Some(&revoked)),
        ("rotated after grace", Some(&rotated_hard)),
    ];
    let mut bodies = Vec::new();
    for (case, key) in refused {
        let (status, headers, mut body) = get_as(&gateway, "/api/account", key).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_envelope(&headers, &body, "UNAUTHORIZED");
        body["error"]["request_id"] = Value::Null;
        bodies.push((case, body));
    }
    for (case, body) in &bodies {
        assert_eq!(body, &bodies[0].1, "{case} is told apart from the others");
    }
}

#[tokio::test]
async fn keys_in_the_url_or_a_cookie_are_not_accepted() {
    let gateway = Gateway::start();
    let admin = gateway.admin_key();
    for path in [
        format!("/api/account?api_key={admin}"),
        format!("/api/account?key={admin}"),
        format!("/api/account?x={admin}"),
    ] {
        let (status, _, body) = get_as(&gateway, &path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        // Even with a valid header, a key in the URL is refused: it is already exposed.
        let (status, _, _) = get_as(&gateway, &path, Some(&admin)).await;
        assert_eq!(status, 401, "{path}");
    }
    let response = client()
        .get(gateway.url("/api/account"))
        .header("Cookie", format!("X-API-Key={admin}; api_key={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn lockout_bans_a_guessing_client_but_never_a_valid_key() {
    let gateway = Launch::new()
        .env("MT5GW__AUTH__LOCKOUT__MAX_FAILURES", "5")
        .env("MT5GW__AUTH__LOCKOUT__BAN_SECS", "2")
        .start();
    let admin = gateway.admin_key();
    let bad = "mt5gw_aaaaaaaa_notakeyatall";

    // Requests without a key do not count toward the lockout.
    for _ in 0..10 {
        assert_eq!(get_as(&gateway, "/api/account", None).await.0, 401);
    }
    for attempt in 1..=4 {
        let (status, _, body) = get_as(&gateway, "/api/account", Some(bad)).await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    // The fifth refusal within the window bans the client.
    let (status, headers, body) = get_as(&gateway, "/api/account", Some(bad)).await;
    assert_eq!(status, 429, "{body}");
    assert_envelope(&headers, &body, "LOCKED_OUT");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");

    // A valid key is still served during the ban.
    assert_eq!(get_as(&gateway, "/api/account", Some(&admin)).await.0, 200);

    // Another loopback source address is the same client.
    for last in 2..5u8 {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        let from_elsewhere = reqwest::Client::builder().local_address(source).build().unwrap();
        let response = from_elsewhere
            .get(gateway.url("/api/account"))
            .header("X-API-Key", bad)
            .send()
            .await
            .unwrap();
        let (status, _, body) = read_reply(response).await;
        assert_eq!(status, 429, "from {source}: {body}");
    }

    // The ban lifts after Retry-After.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, _, body) = get_as(&gateway, "/api/account", Some(bad)).await;
    assert_eq!(status, 401, "ban did not lift: {body}");
}

#[tokio::test]
async fn every_route_of_the_table_is_behind_its_declared_access() {
    let gateway = Gateway::start();
    for spec in api_server::routes::ROUTES {
        let path = spec
            .path
            .replace("{symbol}", "EURUSD")
            .replace("{id}", "abcdefgh")
            .replace("{ticket}", "1");
        let method = Method::from_bytes(spec.method.as_str().as_bytes()).unwrap();
        let (status, _, body) = call(&gateway, method, &path, None, Some(json!({}))).await;
        match spec.access {
            api_server::routes::Access::Public => {
                assert_ne!(status, 401, "{} {path} is public: {body}", spec.method);
            }
            api_server::routes::Access::Scope(_) => {
                assert_eq!(status, 401, "{} {path} needs a key: {body}", spec.method);
            }
        }
    }
}

#[tokio::test]
async fn keys_from_the_api_and_the_cli_take_effect_without_a_restart() {
    let gateway = Gateway::start();
    let admin = gateway.admin_key();

    // Create through the API: the secret comes back once, listings mask it.
    let (status, _, created) = call(
        &gateway,
        Method::POST,
        "/api/keys",
        Some(&admin),
        Some(json!({ "name": "ui", "scopes": "read" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let ui_key = created["key"].as_str().unwrap().to_string();
    assert_eq!(get_as(&gateway, "/api/account", Some(&ui_key)).await.0, 200);

    let (_, _, listing) = get_as(&gateway, "/api/keys", Some(&admin)).await;
    let text = listing.to_string();
    assert!(!text.contains(&ui_key) && !text.contains(&admin), "a listing leaks a secret");
    assert!(text.contains(&format!("mt5gw_{}_", key_id(&ui_key))), "{text}");

    // Unknown fields and bad scopes are refused with the field named.
    let (status, _, body) = call(
        &gateway,
        Method::POST,
        "/api/keys",
        Some(&admin),
        Some(json!({ "name": "x", "scopes": "root" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["details"]["fields"]["scopes"].is_string(), "{body}");

    // Rotate through the API: the new secret works.
    let path = format!("/api/keys/{}/rotate", key_id(&ui_key));
    let (status, _, rotated) =
        call(&gateway, Method::POST, &path, Some(&admin), Some(json!({ "grace_hours": 0 }))).await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(get_as(&gateway, "/api/account", Some(&new_key)).await.0, 200);
    assert_eq!(get_as(&gateway, "/api/account", Some(&ui_key)).await.0, 401);

    // Revoke through the API: refused at once.
    let path = format!("/api/keys/{}", key_id(&ui_key));
    let (status, _, _) = call(&gateway, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(get_as(&gateway, "/api/account", Some(&new_key)).await.0, 401);

    // The CLI changes the keys file; the running server follows within seconds.
    let cli_key = create_key(&gateway, "script", "read");
    until_status(&gateway, "/api/account", &cli_key, 200).await;
    let (code, stdout, _) = gateway.command(&["keys", "revoke", key_id(&cli_key)]);
    assert_eq!(code, 0, "{stdout}");
    until_status(&gateway, "/api/account", &cli_key, 401).await;

    let (code, stdout, _) = gateway.command(&["keys", "list"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("revoked") && stdout.contains("script"), "{stdout}");
    assert!(!stdout.contains(&cli_key) && !stdout.contains(&admin), "{stdout}");
}

#[tokio::test]
async fn the_first_admin_key_is_shown_once_and_no_secret_is_left_behind() {
    let mut gateway = Gateway::start();
    let admin = gateway.admin_key();
    assert!(gateway.startup_output.iter().any(|line| line.contains("will not be shown again")));
    let reader = create_key(&gateway, "reader", "read");
    until_status(&gateway, "/api/account", &reader, 200).await;
    // Use the keys in every way a log could catch them: headers, bad keys, URLs.
    get_as(&gateway, &format!("/api/account?api_key={reader}"), None).await;
    get_as(&gateway, &format!("/api/symbols/{admin}"), Some(&admin)).await;
    get_as(&gateway, "/api/account", Some(&format!("{reader}x"))).await;
    let status = gateway.terminate();
    assert!(status.success());

    // A second start on the same folder finds the keys and prints none.
    let second = Launch { dir: gateway.dir.clone(), temp: None, ..Launch::new() }.start();
    assert!(second.startup_output.iter().all(|line| !line.starts_with("mt5gw_")));
    drop(second);

    // No file under the folder (the keys file holds hashes) and no stderr holds a secret.
    let secrets: Vec<&str> = [&admin, &reader].iter().map(|key| &key[15..58]).collect();
    let mut stack = vec![gateway.dir.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let content = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            for secret in &secrets {
                assert!(!content.contains(secret), "{} holds a key's secret", path.display());
            }
        }
    }
    assert!(files >= 3, "expected the keys file, the account and stderr");
}
