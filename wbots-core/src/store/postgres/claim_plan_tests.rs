//! The claim reads about `limit` rows however long the backlog, whatever the planner's
//! statistics say. Checked on the plan PostgreSQL actually runs (`EXPLAIN ANALYZE`), by
//! counting the rows its nodes read — never by timing — in the two cases where the
//! statistics lie: a backlog queued after the last ANALYZE (an outage; the table analyzed
//! while every job was done) and a plan prepared on an empty table before autovacuum's first
//! ANALYZE. Either made each claim read every active job before (see `CLAIM`). And two
//! cases the load harness found: the index entries left by every job run since the last
//! vacuum (read by the look for expired leases, so most claims do not look: `takeover.rs`),
//! and a plan kept from when the table held a few rows (so claims are planned afresh).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{CLAIM, CLAIM_LANE, CLAIM_LANE_HEADS, PostgresStore};
use crate::store::{JobQueue, Lane, Store};
use crate::testkit::fresh_postgres_database;
use crate::testkit::store_suite::job;

/// Queued jobs in the backlog: large enough that reading them all shows.
const BACKLOG: i64 = 20_000;
/// Jobs a claim asks for.
const LIMIT: i64 = 4;
/// Rows a claim of `LIMIT` heads may read: the heads, a probe each, the rows it locks and
/// updates, and some slack for the expired-lease branch. Reading the backlog once is 20,000.
const READ_AT_MOST: u64 = 200;

/// A fresh, migrated database and a connection to it; `None` without a PostgreSQL server.
async fn database() -> Option<PgConnection> {
    Some(database_and_store().await?.0)
}

/// [`database`], and the store on it.
async fn database_and_store() -> Option<(PgConnection, PostgresStore)> {
    let admin = wbots_test_services::postgres_url()?;
    let url = fresh_postgres_database(&admin).await.expect("a fresh database");
    let store = PostgresStore::connect(&url).await.expect("the store connects");
    store.migrate().await.expect("migrations apply");
    let mut conn = PgConnection::connect(&url).await.expect("a connection to the fresh database");
    // Statistics only when this test takes them, dead row versions kept until it ends.
    sqlx::raw_sql("ALTER TABLE jobs SET (autovacuum_enabled = false)")
        .execute(&mut conn)
        .await
        .expect("autovacuum off for jobs");
    Some((conn, store))
}

/// Adds `n` jobs in `state`, spread over 1,000 conversations, all ready at time 0.
async fn add_jobs(conn: &mut PgConnection, prefix: &str, state: &str, n: i64) {
    sqlx::query(
        "INSERT INTO jobs (idempotency_key, ordering_key, scope, payload, created_at, not_before, lane, state)
         SELECT $1 || g, 'conversation-' || (g % 1000), 'scope-' || (g % 1000), '{}', 0, 0, 'inbound', $2
         FROM generate_series(1, $3::bigint) AS g",
    )
    .bind(prefix)
    .bind(state)
    .bind(n)
    .execute(conn)
    .await
    .expect("jobs inserted");
}

/// What one claim under `EXPLAIN (ANALYZE)` did (it runs for real; rolled back).
struct Run {
    /// Rows its plan's nodes read: rows × loops, plus the rows they filtered out.
    read: u64,
    /// Jobs it claimed (the rows of its top node, the update).
    claimed: u64,
    /// The plan, for a failure's message.
    plan: String,
}

/// Runs `explain` and reads its plan's text.
/// `params`: how many of the claim's parameters to bind (`$1` now, `$2` limit, `$3` lease
/// until, `$4` lane); none for an `EXECUTE` that names its own.
async fn run(conn: &mut PgConnection, explain: &str, params: usize) -> Run {
    let mut tx = conn.begin().await.expect("a transaction");
    let mut query = sqlx::query_scalar::<_, String>(explain);
    if params >= 3 {
        query = query.bind(1_i64).bind(LIMIT).bind(60_000_i64);
    }
    if params >= 4 {
        query = query.bind("inbound");
    }
    let lines = query.fetch_all(&mut *tx).await.expect("EXPLAIN ANALYZE runs the claim");
    tx.rollback().await.expect("rolled back");
    let (mut read, mut claimed) = (0, None);
    for line in &lines {
        if let Some(actual) = line.split("(actual ").nth(1) {
            let number = |key: &str| -> u64 {
                actual
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .and_then(|v| v.trim_end_matches(')').parse().ok())
                    .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            };
            read += number("rows=") * number("loops=");
            claimed = claimed.or(Some(number("rows=")));
        }
        if let Some((_, removed)) = line.split_once("Rows Removed by") {
            let n = removed.rsplit(' ').next().and_then(|v| v.trim().parse::<u64>().ok());
            read += n.unwrap_or_else(|| panic!("no count in {line:?}"));
        }
    }
    let plan = lines.join("\n");
    let claimed = claimed.unwrap_or_else(|| panic!("no actual rows in the plan:\n{plan}"));
    Run { read, claimed, plan }
}

/// The claim took `claimed` jobs and read at most [`READ_AT_MOST`] rows doing so.
fn assert_cheap(case: &str, run: Run, claimed: u64) {
    let Run { read, plan, .. } = &run;
    assert_eq!(run.claimed, claimed, "{case}: jobs claimed; the plan:\n{plan}");
    assert!(
        *read <= READ_AT_MOST,
        "{case}: a claim of {LIMIT} read {read} rows with {BACKLOG} jobs queued (at most \
         {READ_AT_MOST}); its plan:\n{plan}"
    );
}

#[tokio::test]
async fn a_claim_reads_its_heads_not_a_backlog_queued_after_the_last_analyze() {
    let Some(mut conn) = database().await else { return };
    // Every job done when the statistics were taken, then an outage's backlog.
    add_jobs(&mut conn, "done-", "done", BACKLOG).await;
    sqlx::raw_sql("ANALYZE jobs").execute(&mut conn).await.expect("analyzed");
    add_jobs(&mut conn, "queued-", "queued", BACKLOG).await;
    for mode in ["auto", "force_generic_plan"] {
        sqlx::raw_sql(&format!("SET plan_cache_mode = {mode}"))
            .execute(&mut conn)
            .await
            .expect("plan mode set");
        // Each claim is rolled back, so each finds the same four heads ready.
        let lane = run(&mut conn, &format!("EXPLAIN (ANALYZE) {CLAIM_LANE}"), 4).await;
        assert_cheap(&format!("lane claim, plan_cache_mode {mode}"), lane, 4);
        let all = run(&mut conn, &format!("EXPLAIN (ANALYZE) {CLAIM}"), 3).await;
        assert_cheap(&format!("claim, plan_cache_mode {mode}"), all, 4);
    }
}

#[tokio::test]
async fn a_claim_planned_on_an_empty_table_reads_its_heads_once_the_backlog_comes() {
    let Some(mut conn) = database().await else { return };
    // The plan is made once, on the empty table, and kept (as a pooled connection keeps its
    // prepared statements); then the backlog arrives before any ANALYZE.
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .await
        .expect("plan mode set");
    let prepare = format!("PREPARE claim_lane (bigint, bigint, bigint, text) AS {CLAIM_LANE}");
    sqlx::raw_sql(&prepare).execute(&mut conn).await.expect("prepared");
    let execute = "EXPLAIN (ANALYZE) EXECUTE claim_lane (1, 4, 60000, 'inbound')";
    assert_cheap("empty table", run(&mut conn, execute, 0).await, 0);
    add_jobs(&mut conn, "done-", "done", 1_000).await;
    add_jobs(&mut conn, "queued-", "queued", BACKLOG).await;
    assert_cheap("planned on an empty table", run(&mut conn, execute, 0).await, 4);
}

#[tokio::test]
async fn a_claim_reads_its_heads_not_the_jobs_run_since_the_last_vacuum() {
    let Some(mut conn) = database().await else { return };
    // Jobs run and finished since the last vacuum: each left the index entries of its
    // running row version behind.
    add_jobs(&mut conn, "finished-", "queued", BACKLOG).await;
    for step in [
        "UPDATE jobs SET state = 'running', lease_until = 2 WHERE state = 'queued'",
        "UPDATE jobs SET state = 'done', lease_until = NULL WHERE state = 'running'",
    ] {
        sqlx::raw_sql(step).execute(&mut conn).await.expect("jobs run");
    }
    add_jobs(&mut conn, "queued-", "queued", 4).await;
    // What most of the workers' claims run: the heads only.
    let lane = run(&mut conn, &format!("EXPLAIN (ANALYZE) {CLAIM_LANE_HEADS}"), 4).await;
    assert_cheap("lane claim without takeover", lane, 4);
    // The case is real: the look for expired leases reads the finished jobs' entries
    // (which is why a process looks once a period, not at every claim).
    let looking = run(&mut conn, &format!("EXPLAIN (ANALYZE) {CLAIM_LANE}"), 4).await;
    assert_eq!(looking.claimed, 4, "{}", looking.plan);
    assert!(
        looking.read >= BACKLOG as u64 / 2,
        "the look for expired leases read {} rows; this test no longer shows the cost it \
         guards against:\n{}",
        looking.read,
        looking.plan
    );
}

#[tokio::test]
async fn a_claim_made_on_a_small_table_does_not_keep_its_plan_once_the_backlog_comes() {
    let Some((mut conn, store)) = database_and_store().await else { return };
    // The store's claims while the table holds a few rows: enough for PostgreSQL to settle
    // on a plan for the table as it is (a prepared statement would keep it: after five
    // executions, on each writer connection).
    let few: Vec<_> = (0..20).map(|i| job(&format!("few-{i}"), &format!("c-{i}"))).collect();
    store.enqueue(&few).await.expect("enqueued");
    let now = chrono::Utc::now();
    let lease = std::time::Duration::from_secs(60);
    for _ in 0..20 {
        store.claim_lane(now, lease, 16, Lane::Inbound).await.expect("claimed");
    }
    add_jobs(&mut conn, "queued-", "queued", BACKLOG).await;
    for _ in 0..5 {
        let claimed = store.claim_lane(now, lease, 16, Lane::Inbound).await.expect("claimed");
        assert_eq!(claimed.len(), 16);
    }
    // The rows read by sequential scans of `jobs`, once the store's sessions ended (a
    // session reports its counts when it ends).
    let pool = store.pool().clone();
    drop(store);
    pool.close().await;
    let mut waited = 0;
    loop {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut conn)
        .await
        .expect("sessions counted");
        if others == 0 {
            break;
        }
        waited += 1;
        assert!(waited < 500, "the store's {others} sessions did not end");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let read: i64 =
        sqlx::query_scalar("SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'jobs'")
            .fetch_one(&mut conn)
            .await
            .expect("statistics read");
    assert!(
        read < BACKLOG,
        "the store's claims read {read} rows of jobs sequentially: a plan made for the small \
         table was kept for the grown one"
    );
}
