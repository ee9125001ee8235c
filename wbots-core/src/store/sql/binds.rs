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
    use super::statements::{DELETE_LINK, INSERT_LINK, SET_LINK};
    match write {
        LinkWrite::Insert(l) => link(sqlx::query(INSERT_LINK), l),
        LinkWrite::Set(l) => link(sqlx::query(SET_LINK), l),
        LinkWrite::Delete(k) => key(sqlx::query(DELETE_LINK), k),
    }
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
