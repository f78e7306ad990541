//! Finding out what became of an order whose outcome the gateway did not see.

use std::sync::Arc;
use std::time::Duration;

use audit_log::{AuditLogs, OrderEntry, OrderStatus};
use mt5_bridge::types::HistoryQuery;
use risk::Reservation;
use time::OffsetDateTime;

use crate::app::AppState;

use super::RECONCILE_FOR;

/// Looks for the order in the terminal's history and open orders by its client order id,
/// and writes what it finds as a `reconciled` row. The reservation is committed when the
/// order turns out executed, released when it turns out never to have happened.
pub(super) fn spawn_reconciliation(
    state: &AppState,
    unknown: OrderEntry,
    client_id: String,
    reservation: Reservation,
) {
    let terminal = Arc::clone(&state.terminal);
    let audit: Arc<AuditLogs> = Arc::clone(&state.audit);
    let call_timeout = state.call_timeout;
    actix_web::rt::spawn(async move {
        let started = OffsetDateTime::now_utc();
        let deadline = tokio::time::Instant::now() + RECONCILE_FOR;
        let mut row = unknown;
        row.status = Some(OrderStatus::Reconciled);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let found = find_by_client_id(&*terminal, &client_id, started, call_timeout).await;
            match found {
                Some(Found { ticket, state: found_state }) => {
                    reservation.commit(ticket);
                    row.ticket = Some(ticket);
                    row.detail = format!("found in the terminal: {found_state}");
                    break;
                }
                None if tokio::time::Instant::now() >= deadline => {
                    reservation.release();
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
