//! The gateway's side of the audit logs: what it records, when, and the tasks that keep
//! `deals.csv` complete.
//!
//! Security events are fire-and-forget: they never make a read wait, and a failing sink shows
//! on stderr and in `/api/health`. Deals are written durably, once each, by ticket.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit_log::{AuditLogs, DealEntry, Number, SecurityEvent, SecurityEventKind};
use mt5_bridge::Terminal;
use mt5_bridge::types::{Deal, HistoryQuery};
use rust_decimal::Decimal;
use security_core::{KeyId, KeySummary};
use time::OffsetDateTime;

/// Records one security event without waiting for the disk.
pub fn security_event(
    audit: &AuditLogs,
    kind: SecurityEventKind,
    client: Option<IpAddr>,
    key_id: Option<KeyId>,
    detail: impl Into<String>,
) {
    let mut event = SecurityEvent::new(kind).detail(detail);
    if let Some(ip) = client {
        event = event.client_ip(ip);
    }
    if let Some(id) = key_id {
        event = event.key_id(id.as_str());
    }
    // A full queue is counted by the sink and shown in health; the request goes on.
    let _ = audit.security.record(event);
}

/// Security events for what changed in the keys file between two listings: the CLI writes
/// the file directly, and the server learns of it only on reload.
pub fn key_changes(audit: &AuditLogs, before: &[KeySummary], after: &[KeySummary]) {
    for key in after {
        let event = match before.iter().find(|old| old.id == key.id) {
            None => Some(SecurityEventKind::KeyCreated),
            Some(old) if old.revoked_at.is_none() && key.revoked_at.is_some() => {
                Some(SecurityEventKind::KeyRevoked)
            }
            Some(old) if old.rotated_at != key.rotated_at => Some(SecurityEventKind::KeyRotated),
            Some(_) => None,
        };
        if let Some(kind) = event {
            security_event(audit, kind, None, Some(key.id), "keys file changed outside the server");
        }
    }
}

/// How often the terminal's history is read for new fills.
const DEAL_POLL: Duration = Duration::from_secs(2);
/// Overlap between two reads of the history, so a deal stamped just before the previous read's
/// end is not missed; duplicates are dropped by ticket.
const DEAL_OVERLAP: time::Duration = time::Duration::minutes(5);

/// Writes every fill the terminal reports to `deals.csv`, once per ticket across restarts.
pub fn spawn_deal_recorder(audit: Arc<AuditLogs>, terminal: Arc<dyn Terminal>, logs_dir: &Path) {
    let recorded = match audit_log::recorded_deal_tickets(logs_dir) {
        Ok(tickets) => tickets,
        Err(err) => {
            tracing::error!(error = %err, "cannot read deals.csv; deals are not being recorded");
            return;
        }
    };
    actix_web::rt::spawn(async move {
        let mut recorded: HashSet<u64> = recorded;
        let mut from = OffsetDateTime::UNIX_EPOCH;
        let mut interval = actix_web::rt::time::interval(DEAL_POLL);
        loop {
            interval.tick().await;
            let to = OffsetDateTime::now_utc() + time::Duration::seconds(1);
            let query = HistoryQuery { from, to, symbol: None };
            let deals = match terminal.history_deals(&query).await {
                Ok(deals) => deals,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the terminal's deal history");
                    continue;
                }
            };
            let mut complete = true;
            let fresh: Vec<Deal> =
                deals.into_iter().filter(|deal| !recorded.contains(&deal.ticket)).collect();
            for deal in fresh {
                let ticket = deal.ticket;
                match audit.deals.append_durable(deal_entry(deal)).await {
                    Ok(_) => {
                        recorded.insert(ticket);
                    }
                    Err(err) => {
                        tracing::error!(error = %err, ticket, "cannot record a deal");
                        complete = false;
                        break;
                    }
                }
            }
            // Move the window only once everything in it is on disk.
            if complete {
                from = to - DEAL_OVERLAP;
            }
        }
    });
}

fn deal_entry(deal: Deal) -> DealEntry {
    DealEntry {
        ticket: deal.ticket,
        order: deal.order,
        position_id: deal.position_id,
        symbol: deal.symbol,
        deal_type: enum_name(&deal.deal_type),
        entry: enum_name(&deal.entry),
        volume: number(deal.volume),
        price: number(deal.price),
        profit: number(deal.profit),
        swap: number(deal.swap),
        commission: number(deal.commission),
        deal_time: deal.time,
        comment: deal.comment,
    }
}

/// A decimal as the plain number cell it is (a negative profit stays `-12.5`). A decimal
/// always prints as digits, a sign and a point, so the fallback to 0 is never taken.
#[must_use]
pub fn number(value: Decimal) -> Number {
    Number::parse(&value.normalize().to_string()).unwrap_or_else(|| Number::from(0u32))
}

/// The name serde gives a unit variant (`balance`, `in`).
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
