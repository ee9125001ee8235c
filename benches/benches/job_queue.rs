//! The durable queue's round trip as a webhook and a worker use it: enqueue (one
//! transaction per webhook), claim, complete — on SQLite (a file with the production
//! settings: WAL, `synchronous=FULL`) and on PostgreSQL when `WBOTS_BENCH_POSTGRES_URL` (or
//! `WBOTS_TEST_POSTGRES_URL`) names a server whose user may create databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use wbots_core::store::{NewJob, SqliteStore, Store};

fn jobs(counter: &AtomicU64, n: u64) -> Vec<NewJob> {
    (0..n)
        .map(|_| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            NewJob {
                idempotency_key: format!("meta:5550001:m_bench_{i}"),
                ordering_key: format!("meta:5550001:{}", 7_000_000_000u64 + i % 1000),
                scope: Some(format!("messenger:5550001/{}", 7_000_000_000u64 + i % 1000)),
                priority: 0,
                lane: wbots_core::store::Lane::Inbound,
                // About the size of one customer text message job.
                payload: format!(r#"{{"kind":"inbound","event":{{"text":"Hello, is my order on its way? #{i}"}},"pad":"{}"}}"#, "x".repeat(300)),
                not_before: None,
            }
        })
        .collect()
}

/// `batch` jobs enqueued in one call, then claimed and completed one by one.
async fn round_trip(store: &dyn Store, counter: &AtomicU64, batch: u64) {
    store.enqueue(&jobs(counter, batch)).await.expect("enqueue");
    let mut left = batch as usize;
    while left > 0 {
        let claimed =
            store.claim(chrono::Utc::now(), Duration::from_secs(30), left).await.expect("claim");
        assert!(!claimed.is_empty(), "enqueued jobs must be claimable");
        for job in &claimed {
            store.complete(&job.lease, &[]).await.expect("complete");
        }
        left -= claimed.len();
    }
}

fn bench_store(c: &mut Criterion, rt: &Runtime, name: &str, store: Arc<dyn Store>) {
    let counter = AtomicU64::new(0);
    let mut group = c.benchmark_group(format!("job_queue/{name}"));
    group.sample_size(30);
    for batch in [1u64, 50] {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(
            BenchmarkId::new("enqueue_claim_complete", batch),
            &batch,
            |b, &batch| b.to_async(rt).iter(|| round_trip(store.as_ref(), &counter, batch)),
        );
    }
    group.finish();
}

fn queue_benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite: Arc<dyn Store> = rt.block_on(async {
        let store = SqliteStore::connect(&url).await.expect("SQLite opens");
        store.migrate().await.expect("migrations");
        Arc::new(store)
    });
    bench_store(c, &rt, "sqlite", sqlite);

    let admin = std::env::var("WBOTS_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("WBOTS_TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    match admin {
        Some(admin) => {
            let postgres: Arc<dyn Store> = rt.block_on(async {
                Arc::new(
                    wbots_core::testkit::fresh_postgres(&admin).await.expect("PostgreSQL opens"),
                )
            });
            bench_store(c, &rt, "postgres", postgres);
        }
        None => eprintln!(
            "job_queue/postgres skipped: set WBOTS_BENCH_POSTGRES_URL (e.g. from .ci/postgres.sh)"
        ),
    }
}

criterion_group!(benches, queue_benches);
criterion_main!(benches);
