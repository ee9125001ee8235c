//! The SQL text both SQL stores run, written once.
//!
//! Every statement here is valid in SQLite and in PostgreSQL as it stands: parameters are
//! `$N` (PostgreSQL's form; SQLite reads `$N` as a named parameter, numbered by first
//! appearance, so the SQLite store binds each by its name), `ON CONFLICT … DO NOTHING / DO UPDATE` and `RETURNING` exist in both (SQLite
//! 3.35+), and both schemas name and type their columns alike (times in ms, `BIGINT` /
//! `INTEGER`). What cannot be shared stays in its store, each with the reason beside it:
//! the claim (`sqlite/mod.rs`: `INDEXED BY`, one writer; `postgres.rs`: `FOR UPDATE SKIP
//! LOCKED` between replicas), PostgreSQL's advisory lock on enqueue, and SQLite's emptying
//! of the write-ahead log after a deletion.

/// The columns [`super::rows::record`] reads, as a literal for `concat!`.
macro_rules! job_columns {
    () => {
        "id, state, idempotency_key, ordering_key, attempts, last_error, payload, created_at, not_before"
    };
}

/// The columns [`super::rows::claimed`] reads; every claim statement returns them.
macro_rules! claimed_columns {
    () => {
        "id, priority, lease_token, idempotency_key, ordering_key, scope, attempts, claims, payload, created_at"
    };
}
pub(in crate::store) use claimed_columns;

// --- the queue ---

/// `$1` idempotency key, `$2` ordering key, `$3` scope, `$4` priority, `$5` payload,
/// `$6` created at, `$7` not before, `$8` lane. Returns the new id, or no row for a known key.
pub(in crate::store) const INSERT_JOB: &str = "INSERT INTO jobs (idempotency_key, ordering_key, scope, priority, payload, created_at, not_before, lane)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";

/// `$1` idempotency key: the id of the job that holds it.
pub(in crate::store) const JOB_ID_BY_KEY: &str = "SELECT id FROM jobs WHERE idempotency_key = $1";

// Every lease-guarded update names the job (`$1`) and its lease token (`$2`) and changes
// nothing when the lease is no longer held (no row: `LeaseLost`). Under PostgreSQL's READ
// COMMITTED a concurrent claim's new token is re-checked after the row lock, so the guard
// holds between replicas too.

/// `$3` until (ms).
pub(in crate::store) const EXTEND_LEASE: &str =
    "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND state = 'running' AND lease_token = $2";

/// Marks a held job done; its payload may hold personal data, so it goes.
pub(in crate::store) const COMPLETE: &str =
    "UPDATE jobs SET state = 'done', payload = NULL, lease_token = NULL, lease_until = NULL
     WHERE id = $1 AND state = 'running' AND lease_token = $2";

/// `$3` error, `$4` not before (ms).
pub(in crate::store) const RETRY_LATER: &str =
    "UPDATE jobs SET state = 'queued', attempts = attempts + 1, last_error = $3, not_before = $4,
                     lease_token = NULL, lease_until = NULL
     WHERE id = $1 AND state = 'running' AND lease_token = $2";

/// [`RETRY_LATER`] without counting an attempt (`JobQueue::postpone`): `$3` note, `$4` not
/// before (ms).
pub(in crate::store) const POSTPONE: &str =
    "UPDATE jobs SET state = 'queued', last_error = $3, not_before = $4,
                     lease_token = NULL, lease_until = NULL
     WHERE id = $1 AND state = 'running' AND lease_token = $2";

/// `$3` reason.
pub(in crate::store) const WEDGE: &str =
    "UPDATE jobs SET state = 'dead', attempts = attempts + 1, last_error = $3,
                     lease_token = NULL, lease_until = NULL
     WHERE id = $1 AND state = 'running' AND lease_token = $2";

/// Every running job back to the queue, its token refused from now on.
pub(in crate::store) const RELEASE_ALL_LEASES: &str = "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_until = NULL WHERE state = 'running'";

/// `$1` id, `$2` ready at (ms).
pub(in crate::store) const REQUEUE: &str = "UPDATE jobs SET state = 'queued', attempts = 0, not_before = $2 WHERE id = $1 AND state = 'dead'";

/// `$1` id.
pub(in crate::store) const PURGE_DEAD_ONE: &str =
    "DELETE FROM jobs WHERE state = 'dead' AND id = $1";

pub(in crate::store) const PURGE_DEAD_ALL: &str = "DELETE FROM jobs WHERE state = 'dead'";

/// `$1` enqueued before (ms).
pub(in crate::store) const PRUNE_DONE: &str =
    "DELETE FROM jobs WHERE state = 'done' AND created_at < $1";

/// `$1` id.
pub(in crate::store) const JOB: &str =
    concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");

/// `$1` state, `$2` limit.
pub(in crate::store) const JOBS_IN_STATE: &str =
    concat!("SELECT ", job_columns!(), " FROM jobs WHERE state = $1 ORDER BY id LIMIT $2");

/// Rows of `state, n`.
pub(in crate::store) const STATS: &str = "SELECT state, count(*) AS n FROM jobs GROUP BY state";

// --- links: `$1` kind, `$2` key, then `$3` value and `$4` scope where written ---

/// `LinkWrite::Insert`: the existing value wins.
pub(in crate::store) const INSERT_LINK: &str =
    "INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kind, key) DO NOTHING";

/// `LinkWrite::Set`.
pub(in crate::store) const SET_LINK: &str =
    "INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, scope = excluded.scope";

/// `LinkWrite::Latest`: values are integers (times in ms); the larger one stays.
pub(in crate::store) const LATEST_LINK: &str =
    "INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, scope = excluded.scope
     WHERE CAST(links.value AS BIGINT) < CAST(excluded.value AS BIGINT)";

/// `put_link`: the no-op update makes `RETURNING` yield the stored row when the key exists —
/// the winner of a race, in one statement.
pub(in crate::store) const PUT_LINK: &str =
    "INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kind, key) DO UPDATE SET value = links.value
     RETURNING value";

pub(in crate::store) const GET_LINK: &str = "SELECT value FROM links WHERE kind = $1 AND key = $2";

pub(in crate::store) const DELETE_LINK: &str = "DELETE FROM links WHERE kind = $1 AND key = $2";

/// `$1` kind, `$2` prefix, `$3` the first key past the prefix ([`super::prefix_end`]),
/// `$4` limit. A plain key range: both stores compare keys byte by byte (SQLite's BINARY
/// collation, PostgreSQL's `COLLATE "C"` column), so the primary key bounds the scan on
/// both sides — no `LIKE` (case folding in SQLite, wildcards to escape, no index bound
/// from a parameter in a prepared PostgreSQL plan).
pub(in crate::store) const LINKS_IN_RANGE: &str = "SELECT key, value, scope FROM links
     WHERE kind = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4";

/// Like [`LINKS_IN_RANGE`] for a prefix no key can pass (empty, or all `U+10FFFF`): `$3`
/// is the limit.
pub(in crate::store) const LINKS_FROM: &str = "SELECT key, value, scope FROM links
     WHERE kind = $1 AND key >= $2 ORDER BY key LIMIT $3";

// --- spanning both ---

/// `$1` scope.
pub(in crate::store) const FORGET_LINKS: &str = "DELETE FROM links WHERE scope = $1";

/// `$1` scope: done jobs too, with their keys.
pub(in crate::store) const FORGET_JOBS: &str = "DELETE FROM jobs WHERE scope = $1";

/// The newest applied migration (sqlx's table is the same on both).
pub(in crate::store) const APPLIED_MIGRATION: &str =
    "SELECT max(version) FROM _sqlx_migrations WHERE success";
