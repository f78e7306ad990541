//! What lands in the files: neutralized single-line cells, plain numbers, rotation, retention

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking, with its location"
)]
//! and the read API.

mod common;

use std::fs;

use audit_log::{
    AuditLogs, Cell, DealEntry, Number, OrderEntry, OrderPhase, OrderStatus, SecurityEvent,
    SecurityEventKind, newest_security_events, recorded_deal_tickets,
};
use common::{Fixture, read_lines, runtime};
use time::Duration;

fn deal(ticket: u64, profit: f64, comment: &str) -> DealEntry {
    DealEntry {
        ticket,
        order: ticket + 1000,
        position_id: ticket + 2000,
        symbol: "EURUSD".into(),
        deal_type: "sell".into(),
        entry: "out".into(),
        volume: Number::fixed(0.1, 2).unwrap(),
        price: Number::fixed(1.08345, 5).unwrap(),
        profit: Number::fixed(profit, 2).unwrap(),
        swap: Number::fixed(-0.35, 2).unwrap(),
        commission: Number::from(0_u64),
        deal_time: common::START,
        comment: comment.into(),
    }
}

#[test]
fn hostile_text_lands_as_one_neutralized_line_and_numbers_stay_plain() {
    let fixture = Fixture::new();
    let long = format!("\"quoted\",\r\n{}", "x".repeat(10_000));
    let hostile = ["=cmd|' /C calc'!A0", "+1", "@SUM(1)", "-2+3", "line\r\nbreak \"quote\"", &long];
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(async {
        for text in hostile {
            let mut order = OrderEntry::new(text, OrderPhase::Outcome, text);
            order.symbol = Some(text.into());
            order.status = Some(OrderStatus::Rejected);
            order.detail = text.into();
            logs.orders.append_durable(order).await.unwrap();
            let event =
                SecurityEvent::new(SecurityEventKind::Other(text.into())).key_id(text).detail(text);
            logs.security.append_durable(event).await.unwrap();
        }
        logs.deals.append_durable(deal(1, -12.5, "=HYPERLINK(\"x\")")).await.unwrap();
    });
    logs.close();

    for (file, rows) in [("orders.csv", 7), ("security.csv", 7), ("deals.csv", 2)] {
        let path = fixture.file(file);
        assert_eq!(read_lines(&path).len(), rows + 1, "{file}: one line per row");
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let width = reader.headers().unwrap().len();
        for record in reader.records() {
            let record = record.unwrap();
            assert_eq!(record.len(), width, "{file}");
            for cell in &record {
                assert!(cell.chars().count() <= 500, "{file}: cell of {} chars", cell.len());
                assert!(!cell.contains(['\r', '\n']), "{file}: {cell:?}");
                let formula = cell.starts_with(['=', '+', '@', '\t', '\r']);
                let negative_number = cell.starts_with('-') && Number::parse(cell).is_some();
                assert!(
                    !formula && (!cell.starts_with('-') || negative_number),
                    "{file}: {cell:?}"
                );
            }
        }
    }

    let orders = fs::read_to_string(fixture.file("orders.csv")).unwrap();
    assert!(orders.contains("'=cmd|' /C calc'!A0"), "{orders}");
    assert!(
        orders.contains(",'+1,") && orders.contains(",'@SUM(1),") && orders.contains(",'-2+3,")
    );
    let deals = read_lines(&fixture.file("deals.csv"));
    assert!(deals[2].contains(",-12.50,-0.35,0,"), "{}", deals[2]);
    assert!(deals[2].contains("'=HYPERLINK"), "{}", deals[2]);
    assert!(fixture.verify().is_ok());
}

#[test]
fn secrets_are_redacted_on_write() {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    let event = SecurityEvent::new(SecurityEventKind::AuthFailure)
        .detail("login password=hunter2 token=abcdef123456");
    runtime().block_on(logs.security.append_durable(event)).unwrap();
    logs.close();
    let text = fs::read_to_string(fixture.file("security.csv")).unwrap();
    assert!(!text.contains("hunter2") && !text.contains("abcdef123456"), "{text}");
}

#[test]
fn size_rotation_links_each_file_to_the_one_before() {
    let mut fixture = Fixture::new();
    fixture.config.max_file_bytes = 4096;
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(async {
        for i in 0..120 {
            let event = SecurityEvent::new(SecurityEventKind::AuthSuccess)
                .key_id(format!("k{i}"))
                .detail("a detail long enough to fill a few kilobytes over a hundred rows");
            logs.security.append_durable(event).await.unwrap();
        }
    });
    logs.close();

    let archives = audit_log::archive_dir(fixture.logs());
    for counter in 1..=3 {
        let name = format!("security-2026-12-03-{counter:03}.csv");
        let path = archives.join(&name);
        assert!(path.exists(), "{name}");
        assert!(fs::metadata(&path).unwrap().len() < 4096 + 512, "{name} rotated late");
        if counter > 1 {
            let previous = format!("security-2026-12-03-{:03}.csv", counter - 1);
            assert!(read_lines(&path)[1].contains(&format!("prev_file={previous}")));
        }
    }
    let report = fixture.verify();
    assert!(report.is_ok(), "{:?}", report.first_break());
    assert_eq!(report.sinks[0].rows, 120 + report.sinks[0].files as u64);
}

#[test]
fn daily_rotation_at_utc_midnight() {
    let fixture = Fixture::at(time::macros::datetime!(2026-12-03 23:59:59.5 UTC));
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    let rt = runtime();
    rt.block_on(logs.deals.append_durable(deal(1, 5.0, "before midnight"))).unwrap();
    fixture.clock.advance(Duration::seconds(1));
    rt.block_on(logs.deals.append_durable(deal(2, 5.0, "after midnight"))).unwrap();
    logs.close();

    let archived = read_lines(&fixture.archive("deals-2026-12-03-001.csv"));
    assert!(archived.last().unwrap().contains("before midnight"));
    let current = read_lines(&fixture.file("deals.csv"));
    assert!(current[1].starts_with("2026-12-04T00:00:00.500000Z,3,"), "{}", current[1]);
    assert!(current[1].contains("prev_file=deals-2026-12-03-001.csv prev_seq=2"));
    assert!(current[2].contains("after midnight"));
    assert!(fixture.verify().is_ok());
}

#[test]
fn retention_deletes_old_security_archives_only_and_records_it() {
    let fixture = Fixture::new();
    // Ten days of rows in every sink, one archive per day.
    for day in 0..10 {
        let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
        runtime().block_on(async {
            let event =
                SecurityEvent::new(SecurityEventKind::ServerStarted).detail(format!("day {day}"));
            logs.security.append_durable(event).await.unwrap();
            logs.orders
                .append_durable(OrderEntry::new(format!("r{day}"), OrderPhase::Intent, "place"))
                .await
                .unwrap();
        });
        logs.close();
        fixture.clock.advance(Duration::days(1));
    }

    // 95 days after the first: the first five security archives are past 90 days.
    fixture.clock.set(common::START + Duration::days(95));
    let (logs, report) = AuditLogs::open(&fixture.config).unwrap();
    logs.close();
    let mut deleted: Vec<String> = report
        .deleted
        .iter()
        .map(|d| d.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        (3..=7).map(|d| format!("security-2026-12-{d:02}-001.csv")).collect::<Vec<_>>()
    );
    assert!(fixture.archive("security-2026-12-08-001.csv").exists());
    assert!(fixture.archive("orders-2026-12-03-001.csv").exists(), "trading records are kept");

    let security = fs::read_to_string(fixture.file("security.csv")).unwrap();
    assert_eq!(security.matches("log_deleted").count(), 5, "{security}");
    let verified = fixture.verify();
    assert!(verified.is_ok(), "{:?}", verified.first_break());

    // Seven years on, the order archives go too, and what remains still verifies.
    fixture.clock.set(common::START + Duration::days(2555 + 10));
    let (logs, report) = AuditLogs::open(&fixture.config).unwrap();
    logs.close();
    assert!(report.deleted.iter().any(|d| d.sink == audit_log::Sink::Orders));
    assert!(!fixture.archive("orders-2026-12-03-001.csv").exists());
    let verified = fixture.verify();
    assert!(verified.is_ok(), "{:?}", verified.first_break());
}

#[test]
fn trade_retention_below_seven_years_is_refused() {
    let mut fixture = Fixture::new();
    fixture.config.trade_retention_days = 30;
    assert!(matches!(
        AuditLogs::open(&fixture.config),
        Err(audit_log::AuditError::RetentionTooShort { days: 30, .. })
    ));
}

#[test]
fn newest_security_events_and_recorded_deals_read_back() {
    let mut fixture = Fixture::new();
    fixture.config.max_file_bytes = 4096;
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(async {
        for i in 0..60 {
            let event = SecurityEvent::new(SecurityEventKind::AuthFailure)
                .client_ip("10.0.0.7".parse().unwrap())
                .detail(format!("attempt {i} with some padding to rotate the file by size"));
            logs.security.append_durable(event).await.unwrap();
        }
        for ticket in [11, 12, 13] {
            logs.deals.append_durable(deal(ticket, 1.0, "")).await.unwrap();
        }
    });
    logs.close();
    assert!(audit_log::archive_dir(fixture.logs()).join("security-2026-12-03-001.csv").exists());

    let events = newest_security_events(fixture.logs(), 50).unwrap();
    assert_eq!(events.len(), 50);
    assert_eq!(events[0].detail, "attempt 59 with some padding to rotate the file by size");
    assert_eq!(events[49].detail, "attempt 10 with some padding to rotate the file by size");
    assert!(events.windows(2).all(|w| w[0].seq > w[1].seq), "newest first, across files");
    assert_eq!(events[0].client_ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(events[0].event, "auth_failure");
    assert_eq!(newest_security_events(fixture.logs(), 1000).unwrap().len(), 60);

    let tickets = recorded_deal_tickets(fixture.logs()).unwrap();
    assert_eq!(tickets, [11, 12, 13].into_iter().collect());
}

#[test]
fn cells_render_by_kind() {
    assert_eq!(Cell::text("-5").render(), "'-5");
    assert_eq!(Cell::Number(Number::parse("-5").unwrap()).render(), "-5");
    assert_eq!(Cell::Empty.render(), "");
}
