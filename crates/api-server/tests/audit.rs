//! The audit logs as the running gateway writes them: security events, deals once each, the
//! events endpoint, and `mt5-gateway audit verify` on the result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::{Gateway, Launch, call, eventually, get};
use reqwest::Method;
use serde_json::json;

fn rows(gateway: &Gateway, file: &str) -> Vec<csv::StringRecord> {
    let path = gateway.dir.join("logs").join(file);
    let mut reader = csv::Reader::from_path(&path).unwrap();
    reader.records().map(Result::unwrap).collect()
}

fn events(gateway: &Gateway) -> Vec<String> {
    rows(gateway, "security.csv").iter().map(|row| row[2].to_string()).collect()
}

#[tokio::test]
async fn security_events_are_recorded_served_and_verifiable() {
    let mut gateway = Gateway::start();
    let admin = gateway.admin_key();

    // A refused key, a forbidden call, a key made through the API and one through the CLI.
    call(&gateway, Method::GET, "/api/account", Some("mt5gw_zzzzzzzz_bad"), None).await;
    let (_, _, created) = call(
        &gateway,
        Method::POST,
        "/api/keys",
        Some(&admin),
        Some(json!({ "name": "reader", "scopes": "read" })),
    )
    .await;
    let reader = created["key"].as_str().unwrap().to_string();
    let (status, _, _) = call(&gateway, Method::GET, "/api/keys", Some(&reader), None).await;
    assert_eq!(status, 403);
    let (code, _, _) = gateway.command(&["keys", "create", "--name", "cli", "--scopes", "read"]);
    assert_eq!(code, 0);

    // The events endpoint serves them, newest first, to an admin.
    let wanted = ["server_started", "auth_failure", "key_created", "forbidden", "auth_success"];
    let served = eventually(10, || async {
        let (_, _, body) = get(&gateway, "/api/security/events?limit=100").await;
        let names: Vec<String> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["event"].as_str().unwrap().to_string())
            .collect();
        let cli_seen = body["events"].as_array().unwrap().iter().any(|event| {
            event["detail"].as_str().unwrap_or_default().contains("outside the server")
        });
        cli_seen && wanted.iter().all(|name| names.iter().any(|n| n == name))
    })
    .await;
    assert!(served, "events missing: {:?}", events(&gateway));
    let (_, _, body) = get(&gateway, "/api/security/events?limit=2").await;
    let listed = body["events"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0]["seq"].as_u64() > listed[1]["seq"].as_u64(), "newest first");
    let (status, _, _) =
        call(&gateway, Method::GET, "/api/security/events", Some(&reader), None).await;
    assert_eq!(status, 403, "events are for admins");

    // Health, with a key, reports the audit sinks.
    let (_, _, health) = get(&gateway, "/api/health").await;
    assert_eq!(health["audit"]["status"], "ok", "{health}");

    assert!(gateway.terminate().success());
    assert_eq!(events(&gateway).last().map(String::as_str), Some("server_stopped"));

    // The chain verifies; one edited cell breaks it at that line.
    let (code, stdout, stderr) = gateway.command(&["audit", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let path = gateway.dir.join("logs/security.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("auth_failure", "auth_success", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let line = text.lines().position(|l| l.contains("auth_failure")).unwrap() + 1;
    let (code, stdout, _) = gateway.command(&["audit", "verify"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("security.csv") && stdout.contains(&format!("line {line}")),
        "{stdout}"
    );
}

#[tokio::test]
async fn each_fill_lands_in_deals_csv_once_across_restarts() {
    let mut first = Gateway::start();
    // The paper account's opening deposit is the first deal the terminal reports.
    let recorded = eventually(10, || async {
        first.dir.join("logs/deals.csv").exists()
            && rows(&first, "deals.csv").iter().any(|row| &row[6] == "balance")
    })
    .await;
    assert!(recorded, "the deposit never reached deals.csv");
    assert!(first.terminate().success());

    let second = Launch { dir: first.dir.clone(), temp: None, ..Launch::new() }.start();
    // Give the recorder a few rounds to (wrongly) write the deal again.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let deposit_rows = rows(&second, "deals.csv").iter().filter(|row| &row[6] == "balance").count();
    assert_eq!(deposit_rows, 1);
}
