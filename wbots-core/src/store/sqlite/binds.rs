//! Running the shared [`statements`](crate::store::sql::statements) on a rusqlite
//! connection, their values bound BY NAME.
//!
//! The statements are written with PostgreSQL's `$N`, which SQLite reads as named
//! parameters numbered by first appearance: `$3` used before `$1` (`UPDATE_CHANNEL`) would
//! be the first positional parameter. So every value here is bound to its name, never to a
//! position (rusqlite's named parameters: `&[("$1", &value)]`).

use std::sync::LazyLock;

use rusqlite::{Connection, Row, ToSql, named_params};

use super::db_err;
use crate::error::StoreError;
use crate::store::sql::binds::{ROWS, ROWS_PER_STATEMENT};
use crate::store::sql::ms;
use crate::store::sql::statements::{DELETE_LINK, INSERT_JOB, INSERT_LINK, LATEST_LINK, SET_LINK};
use crate::store::{Lease, Link, LinkKey, LinkWrite, NewJob};

/// Values by parameter name (`"$1"`).
pub(super) type Params<'a> = [(&'a str, &'a dyn ToSql)];

/// Runs a statement that returns no rows; how many rows it changed. Prepared once per
/// connection (`prepare_cached`).
pub(super) fn execute(
    conn: &Connection,
    sql: &str,
    params: &Params<'_>,
) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(db_err)?;
    let changed = statement.execute(params).map_err(db_err)?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Runs a statement and decodes every row it returns (`SELECT`, `… RETURNING`).
pub(super) fn query<T>(
    conn: &Connection,
    sql: &str,
    params: &Params<'_>,
    mut decode: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = statement.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Like [`query`] for a statement returning at most one row.
pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: &Params<'_>,
    decode: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    Ok(query(conn, sql, params, decode)?.into_iter().next())
}

/// Calls `run` with a link's key bound: `$1` kind, `$2` key.
pub(super) fn keyed<T>(key: &LinkKey, run: impl FnOnce(&Params<'_>) -> T) -> T {
    let (kind, key) = (key.kind().as_str(), key.as_str());
    run(named_params! {"$1": kind, "$2": key})
}

/// Runs one statement over a link: `$1` kind, `$2` key, `$3` value, `$4` scope.
fn link(conn: &Connection, sql: &str, link: &Link) -> Result<u64, StoreError> {
    let kind = link.key.kind().as_str();
    execute(
        conn,
        sql,
        named_params! {"$1": kind, "$2": link.key.as_str(), "$3": link.value, "$4": link.scope},
    )
}

/// Applies one link write.
fn link_write(conn: &Connection, write: &LinkWrite) -> Result<(), StoreError> {
    match write {
        LinkWrite::Insert(l) => link(conn, INSERT_LINK, l),
        LinkWrite::Set(l) => link(conn, SET_LINK, l),
        LinkWrite::Latest(l) => link(conn, LATEST_LINK, l),
        LinkWrite::Delete(k) => keyed(k, |p| execute(conn, DELETE_LINK, p)),
    }
    .map(drop)
}

/// `"$1"`, `"$2"`, … for the multi-row link statements.
static NAMES: LazyLock<Vec<String>> =
    LazyLock::new(|| (1..=4 * ROWS_PER_STATEMENT).map(|i| format!("${i}")).collect());

/// Applies `writes` in as few statements as their meaning allows, as the shared
/// `sql::binds::link_writes` does for PostgreSQL: when no key is written twice the writes
/// commute (each touches its own row), so all the inserts go in multi-row statements
/// (`sql::binds::ROWS`), then all the sets, then each delete and latest time; otherwise one
/// statement per write, in order.
pub(super) fn link_writes(conn: &Connection, writes: &[LinkWrite]) -> Result<(), StoreError> {
    let key_of = |w: &LinkWrite| match w {
        LinkWrite::Insert(l) | LinkWrite::Set(l) | LinkWrite::Latest(l) => l.key.clone(),
        LinkWrite::Delete(k) => k.clone(),
    };
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    if !writes.iter().all(|w| seen.insert(key_of(w))) {
        return writes.iter().try_for_each(|w| link_write(conn, w));
    }
    let (mut inserts, mut sets) = (Vec::new(), Vec::new());
    for w in writes {
        match w {
            LinkWrite::Insert(l) => inserts.push(l),
            LinkWrite::Set(l) => sets.push(l),
            LinkWrite::Delete(_) | LinkWrite::Latest(_) => link_write(conn, w)?,
        }
    }
    for (statements, links) in ROWS.iter().zip([inserts, sets]) {
        for chunk in links.chunks(ROWS_PER_STATEMENT) {
            let keys: Vec<(&str, &str)> =
                chunk.iter().map(|l| (l.key.kind().as_str(), l.key.as_str())).collect();
            let mut params: Vec<(&str, &dyn ToSql)> = Vec::with_capacity(4 * chunk.len());
            for (i, (l, (kind, key))) in chunk.iter().zip(&keys).enumerate() {
                let name = |n: usize| NAMES[4 * i + n].as_str();
                params.push((name(0), kind));
                params.push((name(1), key));
                params.push((name(2), &l.value));
                params.push((name(3), &l.scope));
            }
            execute(conn, &statements[chunk.len()], &params)?;
        }
    }
    Ok(())
}

/// Runs a lease-guarded update: `$1` job id, `$2` lease token, then `more` (`$3`…).
pub(super) fn leased(
    conn: &Connection,
    sql: &str,
    lease: &Lease,
    more: &Params<'_>,
) -> Result<u64, StoreError> {
    let mut params: Vec<(&str, &dyn ToSql)> = vec![("$1", &lease.job.0), ("$2", &lease.token)];
    params.extend_from_slice(more);
    execute(conn, sql, &params)
}

/// Inserts a job ([`INSERT_JOB`]'s eight values; `now` in ms): its new id, or `None` when
/// its idempotency key is known. A job without `not_before` is ready at once (the earliest
/// time).
pub(super) fn insert_job(
    conn: &Connection,
    job: &NewJob,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let not_before = job.not_before.map(ms).unwrap_or(i64::MIN);
    query_one(
        conn,
        INSERT_JOB,
        named_params! {
            "$1": job.idempotency_key, "$2": job.ordering_key, "$3": job.scope,
            "$4": job.priority, "$5": job.payload, "$6": now, "$7": not_before,
            "$8": job.lane.as_str(),
        },
        |row| row.get(0).map_err(db_err),
    )
}
