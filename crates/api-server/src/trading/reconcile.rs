//! Finding out what became of an order whose outcome the gateway did not see.

use std::sync::Arc;
use std::time::Duration;

use audit_log::{AuditLogs, OrderEntry, OrderPhase, OrderStatus};
use mt5_bridge::types::HistoryQuery;
use risk::Reservation;
use time::OffsetDateTime;

use crate::app::AppState;

/// Looks for the order in the terminal's history and open orders by its client order id,
/// and writes what it finds as a `reconciled` row. The reservation, when the order still
/// holds one, is committed when the order turns out executed and released when it turns out
/// never to have happened. `since` is when the order was sent.
pub(super) fn spawn_reconciliation(
    state: &AppState,
    unknown: OrderEntry,
    client_id: String,
    reservation: Option<Reservation>,
    since: OffsetDateTime,
) {
    let terminal = Arc::clone(&state.terminal);
    let audit: Arc<AuditLogs> = Arc::clone(&state.audit);
    let call_timeout = state.call_timeout;
    let reconcile_for = state.trading.reconcile_for;
    actix_web::rt::spawn(async move {
        let deadline = tokio::time::Instant::now() + reconcile_for;
        let mut row = unknown;
        row.phase = OrderPhase::Outcome;
        row.status = Some(OrderStatus::Reconciled);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let found = find_by_client_id(&*terminal, &client_id, since, call_timeout).await;
            match found {
                Some(Found { ticket, state: found_state }) => {
                    if let Some(reservation) = reservation {
                        reservation.commit(ticket);
                    }
                    row.ticket = Some(ticket);
                    row.detail = format!("found in the terminal: {found_state}");
                    break;
                }
                None if tokio::time::Instant::now() >= deadline => {
                    if let Some(reservation) = reservation {
                        reservation.release();
                    }
                    "not found in the terminal's orders or history".clone_into(&mut row.detail);
                    break;
                }
                None => {}
            }
        }
        if let Err(err) = audit.orders.append_durable(row).await {
            tracing::error!(error = %err, client_id, "cannot record a reconciled outcome");
        } else {
            tracing::info!(client_id, "order outcome reconciled");
        }
    });
}

pub(super) struct Found {
    ticket: u64,
    state: String,
}

pub(super) async fn find_by_client_id(
    terminal: &dyn mt5_bridge::Terminal,
    client_id: &str,
    since: OffsetDateTime,
    call_timeout: Duration,
) -> Option<Found> {
    let matches = |comment: &str| comment.split(' ').next() == Some(client_id);
    let query = HistoryQuery {
        from: since - time::Duration::minutes(1),
        to: OffsetDateTime::now_utc() + time::Duration::minutes(1),
        symbol: None,
    };
    if let Ok(Ok(orders)) =
        tokio::time::timeout(call_timeout, terminal.history_orders(&query)).await
        && let Some(order) = orders.iter().find(|o| matches(&o.comment))
    {
        return Some(Found {
            ticket: order.ticket,
            state: format!("{:?}", order.state).to_lowercase(),
        });
    }
    if let Ok(Ok(orders)) = tokio::time::timeout(call_timeout, terminal.orders()).await
        && let Some(order) = orders.iter().find(|o| matches(&o.comment))
    {
        return Some(Found { ticket: order.ticket, state: "placed".to_owned() });
    }
    if let Ok(Ok(positions)) = tokio::time::timeout(call_timeout, terminal.positions()).await
        && let Some(position) = positions.iter().find(|p| matches(&p.comment))
    {
        return Some(Found { ticket: position.ticket, state: "open position".to_owned() });
    }
    None
}

/// Columns of `orders.csv` read back at start.
const TIMESTAMP: usize = 0;
const REQUEST_ID: usize = 2;
const CLIENT_ID: usize = 3;
const KEY_ID: usize = 5;
const ACTION: usize = 6;
const SYMBOL: usize = 7;
const ORDER_TYPE: usize = 8;
const STATUS: usize = 17;

/// Picks up, at start, every order whose last recorded outcome is `unknown` (the gateway
/// stopped before reconciling it) and reconciles it in the background, as a timeout does.
/// Returns how many it found.
pub fn resume_unreconciled(state: &AppState) -> usize {
    let path = state.audit.logs_dir().join("orders.csv");
    let mut reader = match csv::Reader::from_path(&path) {
        Ok(reader) => reader,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read orders.csv for unreconciled orders");
            return 0;
        }
    };

    // The last row of each client order id decides: an `unknown` followed by a
    // `reconciled` is settled.
    let mut last: std::collections::HashMap<String, csv::StringRecord> =
        std::collections::HashMap::new();
    for record in reader.records().map_while(Result::ok) {
        let Some(client_id) = record.get(CLIENT_ID).filter(|id| !id.is_empty()) else {
            continue;
        };
        last.insert(client_id.to_owned(), record);
    }

    let mut resumed = 0;
    for (client_id, record) in last {
        if record.get(STATUS) != Some("unknown") {
            continue;
        }
        let text = |column: usize| record.get(column).filter(|v| !v.is_empty()).map(str::to_owned);
        let since = record
            .get(TIMESTAMP)
            .and_then(audit_log::parse_timestamp)
            .unwrap_or_else(|| OffsetDateTime::now_utc() - time::Duration::days(1));
        let mut row = OrderEntry::new(
            text(REQUEST_ID).unwrap_or_default(),
            OrderPhase::Outcome,
            text(ACTION).unwrap_or_default(),
        );
        row.client_order_id = Some(client_id.clone());
        row.key_id = text(KEY_ID);
        row.symbol = text(SYMBOL);
        row.order_type = text(ORDER_TYPE);
        tracing::warn!(client_id, "an order's outcome was unknown at the last stop; reconciling");
        spawn_reconciliation(state, row, client_id, None, since - time::Duration::minutes(1));
        resumed += 1;
    }
    resumed
}
