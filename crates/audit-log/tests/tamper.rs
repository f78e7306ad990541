//! Every kind of tampering is reported at the exact file and line where it happened.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking, with its location"
)]

mod common;

use std::fs;
use std::path::Path;

use audit_log::{
    AuditLogs, BreakKind, ErrorEntry, SecurityEvent, SecurityEventKind, VerifyOptions,
    verify_dir_with,
};
use common::{Fixture, read_lines, runtime, write_lines};
use time::Duration;

/// Five security events and five errors, written durably, writers closed. security.csv and
/// errors.csv then hold: line 1 header, line 2 link row (seq 1), lines 3..=7 rows (seq 2..=6).
fn fixture_with_rows() -> Fixture {
    let fixture = Fixture::new();
    let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
    runtime().block_on(async {
        for i in 0..5 {
            let event = SecurityEvent::new(SecurityEventKind::AuthFailure)
                .client_ip("127.0.0.1".parse().unwrap())
                .key_id(format!("key{i}"))
                .detail(format!("attempt {i}"));
            logs.security.append_durable(event).await.unwrap();
            let error = ErrorEntry {
                request_id: Some(format!("req-{i}")),
                status: Some(500),
                code: "INTERNAL".into(),
                message: format!("failure {i}"),
            };
            logs.errors.append_durable(error).await.unwrap();
        }
    });
    logs.close();
    fixture
}

fn assert_break(fixture: &Fixture, file: &Path, line: u64, kind: BreakKind) {
    let report = fixture.verify();
    let broken =
        report.first_break().unwrap_or_else(|| panic!("no break found, expected {kind:?}"));
    assert_eq!((broken.file.as_path(), broken.line, broken.kind), (file, line, kind), "{broken}");
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<String>)) {
    let mut lines = read_lines(path);
    change(&mut lines);
    write_lines(path, &lines);
}

#[test]
fn untouched_logs_verify() {
    let fixture = fixture_with_rows();
    let report = fixture.verify();
    assert!(report.is_ok(), "{:?}", report.first_break());
    let security = &report.sinks[0];
    assert_eq!((security.files, security.rows), (1, 6));
}

#[test]
fn edited_cell_is_reported_at_its_line() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| lines[3] = lines[3].replace("attempt 1", "attempt 9"));
    assert_break(&fixture, &path, 4, BreakKind::ChainMismatch);
}

#[test]
fn deleted_row_is_reported_where_the_gap_is() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| {
        lines.remove(3);
    });
    assert_break(&fixture, &path, 4, BreakKind::SequenceGap);
}

#[test]
fn duplicated_row_is_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| {
        let copy = lines[3].clone();
        lines.insert(4, copy);
    });
    assert_break(&fixture, &path, 5, BreakKind::SequenceBack);
}

#[test]
fn forged_row_with_the_right_sequence_is_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| {
        // A plausible row carrying seq 4, slipped in before the real seq 4 (line 5).
        let forged = lines[4].replace("attempt 2", "key_created by nobody");
        lines.insert(4, forged);
    });
    assert_break(&fixture, &path, 5, BreakKind::ChainMismatch);
}

#[test]
fn reordered_rows_are_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| lines.swap(4, 5));
    assert_break(&fixture, &path, 5, BreakKind::SequenceGap);
}

#[test]
fn row_spliced_from_another_file_is_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    // errors.csv has the same number of columns and the same sequence numbers.
    let foreign = read_lines(&fixture.file("errors.csv"))[3].clone();
    edit(&path, |lines| lines[3] = foreign);
    assert_break(&fixture, &path, 4, BreakKind::ChainMismatch);
}

#[test]
fn bad_header_is_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("errors.csv");
    edit(&path, |lines| lines[0] = lines[0].replace("message", "msg"));
    assert_break(&fixture, &path, 1, BreakKind::BadHeader);
}

#[test]
fn broken_row_shape_is_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| lines[5].push_str(",extra"));
    assert_break(&fixture, &path, 6, BreakKind::MalformedRow);
}

#[test]
fn edited_link_row_is_reported() {
    let fixture = fixture_with_rows();
    let path = fixture.file("security.csv");
    edit(&path, |lines| lines[1] = lines[1].replace("prev_seq=0", "prev_seq=7"));
    let report = fixture.verify();
    let broken = report.first_break().unwrap();
    assert_eq!((broken.file.as_path(), broken.line), (path.as_path(), 2), "{broken}");
}

/// Three daily files: security-2026-12-03-001.csv, security-2026-12-04-001.csv and the
/// current security.csv of 2026-12-05.
fn fixture_with_archives() -> Fixture {
    let fixture = Fixture::new();
    for day in 0..3 {
        let (logs, _) = AuditLogs::open(&fixture.config).unwrap();
        runtime().block_on(async {
            for i in 0..3 {
                let event = SecurityEvent::new(SecurityEventKind::KeyCreated)
                    .detail(format!("day {day} #{i}"));
                logs.security.append_durable(event).await.unwrap();
            }
        });
        logs.close();
        fixture.clock.advance(Duration::days(1));
    }
    fixture.clock.advance(Duration::days(-1));
    fixture
}

#[test]
fn archives_link_and_verify() {
    let fixture = fixture_with_archives();
    assert!(fixture.archive("security-2026-12-03-001.csv").exists());
    assert!(fixture.archive("security-2026-12-04-001.csv").exists());
    let report = fixture.verify();
    assert!(report.is_ok(), "{:?}", report.first_break());
    assert_eq!(report.sinks[0].files, 3);
    let link = &read_lines(&fixture.file("security.csv"))[1];
    assert!(link.contains("prev_file=security-2026-12-04-001.csv"), "{link}");
}

#[test]
fn file_removed_from_the_middle_is_reported() {
    let fixture = fixture_with_archives();
    fs::remove_file(fixture.archive("security-2026-12-04-001.csv")).unwrap();
    assert_break(&fixture, &fixture.file("security.csv"), 2, BreakKind::BadLink);
}

#[test]
fn oldest_archive_removed_inside_retention_is_reported() {
    let fixture = fixture_with_archives();
    fs::remove_file(fixture.archive("security-2026-12-03-001.csv")).unwrap();
    let path = fixture.archive("security-2026-12-04-001.csv");
    assert_break(&fixture, &path, 2, BreakKind::MissingPredecessor);
}

#[test]
fn oldest_archive_removed_past_retention_is_accepted() {
    let fixture = fixture_with_archives();
    fs::remove_file(fixture.archive("security-2026-12-03-001.csv")).unwrap();
    let options = VerifyOptions {
        retention_days: 1,
        today: fixture.clock_now().date(),
        ..VerifyOptions::new()
    };
    let report = verify_dir_with(fixture.logs(), &fixture.key(), &options).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_break());
}

#[test]
fn archives_swapped_by_renaming_are_reported() {
    let fixture = fixture_with_archives();
    let first = fixture.archive("security-2026-12-03-001.csv");
    let second = fixture.archive("security-2026-12-04-001.csv");
    let parked = fixture.archive("parked");
    fs::rename(&first, &parked).unwrap();
    fs::rename(&second, &first).unwrap();
    fs::rename(&parked, &second).unwrap();
    let report = fixture.verify();
    let broken = report.first_break().unwrap();
    assert_eq!(broken.file, first, "{broken}");
    assert_eq!(broken.line, 2, "{broken}");
}

#[test]
fn wrong_key_fails_verification() {
    let fixture = fixture_with_rows();
    let other = audit_log::ChainKey::from_bytes([1; 32]);
    let options = VerifyOptions { today: fixture.clock_now().date(), ..VerifyOptions::new() };
    let report = verify_dir_with(fixture.logs(), &other, &options).unwrap();
    let broken = report.first_break().unwrap();
    assert_eq!((broken.line, broken.kind), (2, BreakKind::ChainMismatch));
}
