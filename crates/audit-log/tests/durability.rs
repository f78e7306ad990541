//! Crash repair, concurrent writers, failing sinks and the queue's limits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking, with its location"
)]

mod common;

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use audit_log::{
    AuditConfig, AuditError, AuditLogs, AuditSink, ChainKey, Clock, HealthStatus, OrderEntry,
    OrderPhase, SecurityEvent, SecurityEventKind,
};
use common::{Fixture, START, read_lines, runtime};
use time::{Duration, OffsetDateTime};

fn intent(request: &str) -> OrderEntry {
    let mut entry = OrderEntry::new(request, OrderPhase::Intent, "place");
    entry.symbol = Some("EURUSD".into());
    entry
}

#[test]
fn torn_row_is_cut_on_open_and_the_chain_goes_on() {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(async {
        for i in 0..3 {
            logs.orders.append_durable(intent(&format!("req-{i}"))).await.unwrap();
        }
    });
    logs.close();
    drop(logs);

    // The writer died half-way through a row: no newline, too few fields.
    let path = fixture.file("orders.csv");
    let whole = read_lines(&path).len();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"2026-12-03T10:00:00.000000Z,5,req-torn,,int").unwrap();
    drop(file);

    let (logs, report) = AuditLogs::open(&fixture.config).unwrap();
    assert_eq!(report.repairs.len(), 1, "{report:?}");
    let repair = &report.repairs[0];
    assert_eq!((repair.file.as_path(), repair.line), (path.as_path(), whole as u64 + 1));
    assert_eq!(repair.reason, "no trailing newline");

    runtime().block_on(async {
        let receipt = logs.orders.append_durable(intent("req-after")).await.unwrap();
        assert_eq!(receipt.seq, 5, "the chain continues from the last whole row (seq 4)");
    });
    logs.close();

    let lines = read_lines(&path);
    assert!(!lines.iter().any(|l| l.contains("req-torn")), "torn row is gone");
    assert!(lines.last().unwrap().contains("req-after"));
    let errors = fs::read_to_string(fixture.file("errors.csv")).unwrap();
    assert!(errors.contains("LOG_REPAIRED"), "{errors}");
    let verified = fixture.verify();
    assert!(verified.is_ok(), "{:?}", verified.first_break());
}

#[test]
fn garbled_last_line_with_newline_is_cut() {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(logs.orders.append_durable(intent("req-0"))).unwrap();
    logs.close();
    drop(logs);

    let path = fixture.file("orders.csv");
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"\0\0\0,\0\n").unwrap();
    drop(file);

    let (logs, report) = AuditLogs::open(&fixture.config).unwrap();
    assert_eq!(report.repairs[0].reason, "wrong field count");
    logs.close();
    assert!(fixture.verify().is_ok());
}

#[test]
fn damage_before_the_last_line_is_not_guessed_at() {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(async {
        logs.orders.append_durable(intent("req-0")).await.unwrap();
        logs.orders.append_durable(intent("req-1")).await.unwrap();
    });
    logs.close();
    drop(logs);

    let path = fixture.file("orders.csv");
    let mut lines = read_lines(&path);
    // Two bad lines at the end: a crash tears at most one.
    lines[3] = "garbage".into();
    lines.push("more garbage".into());
    common::write_lines(&path, &lines);
    let err = AuditLogs::open(&fixture.config).unwrap_err();
    assert!(matches!(err, AuditError::DamagedFile { line: 4, .. }), "{err}");
}

#[test]
fn concurrent_writers_each_row_once_in_sequence() {
    const TASKS: usize = 16;
    const ROWS: usize = 40;
    const THREADS: usize = 4;
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    let logs = Arc::new(logs);

    // Fire-and-forget rows from plain threads while async tasks append durably.
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for i in 0..ROWS {
                    assert!(logs.orders.record(intent(&format!("thread-{t}-{i}"))));
                }
            })
        })
        .collect();
    runtime().block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let orders = logs.orders.clone();
                tokio::spawn(async move {
                    for i in 0..ROWS {
                        orders.append_durable(intent(&format!("task-{t}-{i}"))).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    for thread in threads {
        thread.join().unwrap();
    }
    logs.close();
    assert_eq!(logs.health().orders.dropped_rows, 0);

    let mut reader = csv::Reader::from_path(fixture.file("orders.csv")).unwrap();
    let mut seen = HashSet::new();
    for (expected_seq, record) in (1_u64..).zip(reader.records()) {
        let record = record.unwrap();
        assert_eq!(record[1].parse::<u64>().unwrap(), expected_seq);
        if &record[4] != "log_link" {
            assert!(seen.insert(record[2].to_owned()), "{} twice", &record[2]);
        }
    }
    assert_eq!(seen.len(), (TASKS + THREADS) * ROWS);
    let report = fixture.verify();
    assert!(report.is_ok(), "{:?}", report.first_break());
}

#[test]
fn failing_sink_refuses_durable_appends_and_recovers() {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    let rt = runtime();
    rt.block_on(logs.orders.append_durable(intent("before"))).unwrap();

    // The archive folder becomes unusable (a file where the folder was: even root cannot
    // rename into it), then midnight passes, so the next row needs a rotation that fails.
    let archive = fixture.logs().join("archive");
    fs::remove_dir_all(&archive).unwrap();
    fs::write(&archive, b"in the way").unwrap();
    fixture.clock.advance(Duration::days(1));

    let err = rt.block_on(logs.orders.append_durable(intent("during"))).unwrap_err();
    assert!(matches!(err, AuditError::WriteFailed { .. }), "{err}");
    let health = logs.health().orders;
    assert!(
        matches!(&health.status, HealthStatus::Failing { last_error } if last_error.contains("archive")),
        "{health:?}"
    );
    assert!(health.write_failures >= 1);
    assert!(!logs.health().is_ok());

    // The operator fixes the folder; the next row goes through and health turns ok again.
    fs::remove_file(&archive).unwrap();
    fs::create_dir(&archive).unwrap();
    rt.block_on(logs.orders.append_durable(intent("after"))).unwrap();
    assert!(logs.health().orders.is_ok());
    logs.close();
    let report = fixture.verify();
    assert!(report.is_ok(), "{:?}", report.first_break());
}

#[test]
fn unusable_logs_folder_fails_to_open() {
    let fixture = Fixture::new();
    fs::write(fixture.dir.path().join("not-a-folder"), b"").unwrap();
    let mut config = fixture.config.clone();
    config.logs_dir = fixture.dir.path().join("not-a-folder/logs");
    assert!(matches!(AuditLogs::open(&config), Err(AuditError::Io { .. })));
}

#[test]
fn key_inside_logs_folder_is_refused() {
    let fixture = Fixture::new();
    let mut config = fixture.config.clone();
    config.key_file = config.logs_dir.join("chain.key");
    assert!(matches!(AuditLogs::open(&config), Err(AuditError::KeyInsideLogs { .. })));
}

#[test]
fn closed_sink_refuses_durable_and_counts_dropped_rows() {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    logs.close();
    let event = SecurityEvent::new(SecurityEventKind::AuthFailure);
    assert!(!logs.security.record(event.clone()));
    assert_eq!(logs.health().security.dropped_rows, 1);
    let err = runtime().block_on(logs.security.append_durable(event)).unwrap_err();
    assert!(matches!(err, AuditError::Closed { .. }), "{err}");
}

/// A clock that holds the writer still until the test lets it go, so the queue can be filled
/// deterministically.
#[derive(Debug, Default)]
struct GateClock {
    open: Mutex<bool>,
    changed: Condvar,
    entered: AtomicBool,
}

impl GateClock {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

impl Clock for GateClock {
    fn now(&self) -> OffsetDateTime {
        self.entered.store(true, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
        START
    }
}

#[test]
fn full_queue_drops_records_and_times_out_durable_appends() {
    let fixture = Fixture::new();
    let gate = Arc::new(GateClock::default());
    let mut config: AuditConfig = fixture.config.clone();
    config.queue_capacity = 2;
    config.queue_deadline = std::time::Duration::from_millis(100);
    // Opening stamps the link row, so it needs the time: open first, then close the gate.
    *gate.open.lock().unwrap() = true;
    config.clock = gate.clone();
    let key = Arc::new(ChainKey::load_or_create(&config.key_file).unwrap());
    let (sink, _) = AuditSink::<SecurityEvent>::open(&config, key, None).unwrap();
    *gate.open.lock().unwrap() = false;
    gate.entered.store(false, Ordering::SeqCst);

    let event = || SecurityEvent::new(SecurityEventKind::RateLimited);
    let rt = runtime();
    let first = rt.spawn(sink.append_durable(event()));
    while !gate.entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // The writer holds the first row and waits on the clock; two rows fill the queue.
    assert!(sink.record(event()));
    assert!(sink.record(event()));
    assert!(!sink.record(event()), "a full queue drops instead of blocking");
    assert_eq!(sink.health().dropped_rows, 1);
    assert_eq!(sink.health().queue_depth, 2);
    let err = rt.block_on(sink.append_durable(event())).unwrap_err();
    assert!(matches!(err, AuditError::QueueFull { .. }), "{err}");

    gate.release();
    assert_eq!(rt.block_on(first).unwrap().unwrap().seq, 2);
    sink.close();
    assert_eq!(sink.health().rows_written, 3);
}
