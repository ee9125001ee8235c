//! Binding the bridge's values to the [`statements`](super::statements), in their
//! parameter order, for either database.

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::store::{Lease, Link, LinkKey, LinkWrite, NewJob};

/// A query for database `DB`, its arguments not yet all bound.
pub(in crate::store) type Q<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// `$1` kind, `$2` key.
pub(in crate::store) fn key<'q, DB>(query: Q<'q, DB>, key: &'q LinkKey) -> Q<'q, DB>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
{
    query.bind(key.kind().as_str()).bind(key.as_str())
}

/// `$1` kind, `$2` key, `$3` value, `$4` scope.
pub(in crate::store) fn link<'q, DB>(query: Q<'q, DB>, link: &'q Link) -> Q<'q, DB>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    key(query, &link.key).bind(link.value.as_str()).bind(link.scope.as_deref())
}

/// The statement applying one link write, bound.
pub(in crate::store) fn link_write<'q, DB>(write: &'q LinkWrite) -> Q<'q, DB>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    use super::statements::{DELETE_LINK, INSERT_LINK, LATEST_LINK, SET_LINK};
    match write {
        LinkWrite::Insert(l) => link(sqlx::query(INSERT_LINK), l),
        LinkWrite::Set(l) => link(sqlx::query(SET_LINK), l),
        LinkWrite::Latest(l) => link(sqlx::query(LATEST_LINK), l),
        LinkWrite::Delete(k) => key(sqlx::query(DELETE_LINK), k),
    }
}

/// The most rows one coalesced link statement carries (4 parameters each: far below both
/// databases' parameter limits).
pub(in crate::store) const ROWS_PER_STATEMENT: usize = 32;

/// [`INSERT_LINK`](super::statements::INSERT_LINK) and
/// [`SET_LINK`](super::statements::SET_LINK) for 0..=[`ROWS_PER_STATEMENT`] rows each,
/// built once from the one-row statements so the two never drift apart. (The SQLite
/// store binds them itself, by name: `sqlite::binds`.)
pub(in crate::store) static ROWS: std::sync::LazyLock<[Vec<String>; 2]> =
    std::sync::LazyLock::new(|| {
        use super::statements::{INSERT_LINK, SET_LINK};
        [INSERT_LINK, SET_LINK]
            .map(|one| (0..=ROWS_PER_STATEMENT).map(|n| rows_statement(one, n)).collect::<Vec<_>>())
    });

/// `one` (a one-row `INSERT … VALUES ($1, $2, $3, $4) …`) with `n` rows of values.
fn rows_statement(one: &str, n: usize) -> String {
    const ROW: &str = "($1, $2, $3, $4)";
    let (head, tail) = one.split_once(ROW).unwrap_or((one, ""));
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let p = 4 * i;
            format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4)
        })
        .collect();
    format!("{head}{}{tail}", rows.join(", "))
}

/// The statements applying `writes`, bound, in as few statements as their meaning allows:
/// when no key is written twice the writes commute (each touches its own row), so all the
/// inserts go in multi-row statements, then all the sets, then each delete and latest
/// time; otherwise one
/// statement per write, in order. Fewer statements a completion is fewer round trips to the
/// database (on SQLite, to sqlx's connection thread), where a message's time goes.
pub(in crate::store) fn link_writes<'q, DB>(writes: &'q [LinkWrite]) -> Vec<Q<'q, DB>>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    let key_of = |w: &'q LinkWrite| match w {
        LinkWrite::Insert(l) | LinkWrite::Set(l) | LinkWrite::Latest(l) => &l.key,
        LinkWrite::Delete(k) => k,
    };
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    if !writes.iter().all(|w| seen.insert(key_of(w))) {
        return writes.iter().map(link_write).collect();
    }
    let (mut inserts, mut sets, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for w in writes {
        match w {
            LinkWrite::Insert(l) => inserts.push(l),
            LinkWrite::Set(l) => sets.push(l),
            // Rare (a delete), or at most one a channel and minute (a latest time): one
            // statement each.
            LinkWrite::Delete(_) | LinkWrite::Latest(_) => out.push(link_write(w)),
        }
    }
    for (statements, links) in ROWS.iter().zip([inserts, sets]) {
        for chunk in links.chunks(ROWS_PER_STATEMENT) {
            let sql: &'static str = statements[chunk.len()].as_str();
            out.push(chunk.iter().fold(sqlx::query(sql), |q, l| link(q, l)));
        }
    }
    out
}

/// `$1` job id, `$2` lease token: the guard of every lease-guarded update.
pub(in crate::store) fn lease<'q, DB>(query: Q<'q, DB>, lease: &'q Lease) -> Q<'q, DB>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
{
    query.bind(lease.job.0).bind(lease.token.as_str())
}

/// [`INSERT_JOB`](super::statements::INSERT_JOB)'s eight values; `now` in ms. A job
/// without `not_before` is ready at once (the earliest time).
pub(in crate::store) fn new_job<'q, DB>(job: &'q NewJob, now: i64) -> Q<'q, DB>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    i32: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(super::statements::INSERT_JOB)
        .bind(job.idempotency_key.as_str())
        .bind(job.ordering_key.as_str())
        .bind(job.scope.as_deref())
        .bind(job.priority)
        .bind(job.payload.as_str())
        .bind(now)
        .bind(job.not_before.map(super::ms).unwrap_or(i64::MIN))
        .bind(job.lane.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::statements::{INSERT_LINK, SET_LINK};

    #[test]
    fn a_statement_of_n_rows_numbers_its_parameters_in_order_and_keeps_the_conflict_clause() {
        assert_eq!(rows_statement(INSERT_LINK, 1), INSERT_LINK);
        let two = rows_statement(SET_LINK, 2);
        assert!(two.contains("VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)\n"), "{two}");
        assert!(two.ends_with("scope = excluded.scope"), "{two}");
    }
}
