//! The cost of an append: fire-and-forget, durable with one waiter at a time, and durable under
//! eight concurrent writers sharing each sync (group commit).

#![allow(clippy::panic, reason = "a bench that cannot set up has nothing to measure")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_log::{
    AuditConfig, AuditSink, ChainKey, OrderEntry, OrderPhase, SecurityEvent, SecurityEventKind,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const WRITERS: u64 = 8;

fn event() -> SecurityEvent {
    SecurityEvent::new(SecurityEventKind::AuthSuccess)
        .client_ip("127.0.0.1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()))
        .key_id("ab12cd34")
        .detail("GET /api/positions")
}

fn intent() -> OrderEntry {
    let mut order = OrderEntry::new("3f1c9a2e-request", OrderPhase::Intent, "place");
    order.symbol = Some("EURUSD".into());
    order.order_type = Some("buy".into());
    order
}

fn open<R: audit_log::Record>(dir: &tempfile::TempDir) -> AuditSink<R> {
    let mut config = AuditConfig::new(dir.path().join("logs"), dir.path().join("chain.key"));
    config.queue_capacity = 1 << 20;
    let key = Arc::new(ChainKey::generate().unwrap_or_else(|_| ChainKey::from_bytes([7; 32])));
    match AuditSink::<R>::open(&config, key, None) {
        Ok((sink, _)) => sink,
        Err(error) => panic!("cannot open the bench sink: {error}"),
    }
}

fn appends(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let security = open::<SecurityEvent>(&dir);
    group.bench_function("record (fire-and-forget, enqueue only)", |b| {
        b.iter(|| security.record(event()));
    });
    security.close();
    let dropped = security.health().dropped_rows;
    assert_eq!(dropped, 0, "the bench queue must not overflow");

    let orders = open::<OrderEntry>(&dir);
    group.bench_function("append_durable, one waiter at a time", |b| {
        b.iter(|| runtime.block_on(orders.append_durable(intent())));
    });

    group.bench_function("append_durable, 8 concurrent writers (per row)", |b| {
        b.iter_custom(|iters| {
            let per_writer = iters.div_ceil(WRITERS);
            let start = Instant::now();
            runtime.block_on(async {
                let tasks: Vec<_> = (0..WRITERS)
                    .map(|_| {
                        let orders = orders.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_writer {
                                let _ = orders.append_durable(intent()).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
            });
            start.elapsed().mul_f64(iters as f64 / (per_writer * WRITERS) as f64)
        });
    });
    orders.close();
    group.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
