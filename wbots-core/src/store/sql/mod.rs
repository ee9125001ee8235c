//! What the SQL stores (SQLite, PostgreSQL) share: the statements themselves
//! ([`statements`]), binding values and decoding rows through sqlx ([`binds`], [`rows`];
//! the SQLite store has its own on rusqlite), and here time and limit encoding, error
//! classification, and the answers to a guarded update.
//!
//! Each store keeps only what its dialect or its engine needs differently, commented where
//! it is: how it runs a write (SQLite: group commit on one writer thread; PostgreSQL: group
//! commit on two writer connections per process), its claim statement, and the integer width of a column (`I` in [`rows`]: `i64` in
//! SQLite, whose integers are all 8 bytes; `i32` for PostgreSQL's `INTEGER`, which sqlx
//! decodes strictly by type).

// Without PostgreSQL, the sqlx binding and decoding here go unused: the SQLite store binds
// and decodes through rusqlite (`sqlite::binds`, `sqlite::rows`) and shares the statements.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

pub(super) mod binds;
pub(super) mod channels;
pub(super) mod privacy;
pub(super) mod rows;
pub(super) mod statements;

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Lease;
use crate::error::StoreError;
use crate::ids::JobId;

/// A time as stored: ms since the epoch.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time; out of range reads as the earliest time (ready at once).
pub(super) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A lease length in ms, saturating (a `Duration::MAX` lease must not overflow).
pub(super) fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A row limit as bound.
pub(super) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Sorts a database failure into "may work later" or "the data is wrong", keeping it as
/// the source.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::corrupt(e.to_string()).caused_by(e),
        _ => StoreError::unavailable(e.to_string()).caused_by(e),
    }
}

/// A lease-guarded update changed `rows`: none means the lease is no longer held.
pub(super) fn lease_held(rows: u64, lease: &Lease) -> Result<(), StoreError> {
    if rows == 0 { Err(StoreError::LeaseLost(lease.job)) } else { Ok(()) }
}

/// `requeue` changed `rows`: none means there is no dead job with that id.
pub(super) fn dead_job_found(rows: u64, job: JobId) -> Result<(), StoreError> {
    if rows == 0 { Err(StoreError::NoSuchJob(job)) } else { Ok(()) }
}

/// Runs the store's migrations, the error kept as the source.
pub(super) async fn migrate<'a, A>(
    migrator: &sqlx::migrate::Migrator,
    on: A,
) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator.run(on).await.map_err(|e| StoreError::migration(e.to_string()).caused_by(e))
}

/// `ping`'s verdict from [`statements::APPLIED_MIGRATION`]'s answer: ready only when
/// every migration this build knows is applied.
/// Shared by both stores (the SQLite store reads it through rusqlite, hence any error).
pub(super) fn migrated<E>(
    migrator: &sqlx::migrate::Migrator,
    applied: Result<Option<i64>, E>,
) -> Result<(), StoreError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = applied
        .map_err(|e| StoreError::migration(format!("migrations not applied: {e}")).caused_by(e))?
        .unwrap_or(0);
    if applied < latest {
        return Err(StoreError::migration(format!(
            "migrations pending: at {applied}, need {latest}; run `wbots migrate`"
        )));
    }
    Ok(())
}

/// The smallest string above every string starting with `prefix`, in byte order (which is
/// code point order in UTF-8): the prefix with its last character incremented, dropping
/// trailing `U+10FFFF`s that cannot be. `None` when no string is above them all (an empty
/// prefix, or only `U+10FFFF`s): then the range has no end.
pub(super) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value: surrogates are not characters, so U+D7FF is followed by
        // U+E000.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_range_ends_at_the_first_key_past_it() {
        assert_eq!(prefix_end("p/").as_deref(), Some("p0"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        // Every key with the prefix sorts below the end, and the end itself does not match.
        for prefix in ["p/", "a\u{10FFFF}", "é", "x\u{FFFF}"] {
            let Some(end) = prefix_end(prefix) else { panic!("{prefix:?} has an end") };
            for rest in ["", "\u{0}", "z", "\u{10FFFF}\u{10FFFF}"] {
                let key = format!("{prefix}{rest}");
                assert!(key.as_bytes() < end.as_bytes(), "{key:?} < {end:?}");
            }
            assert!(!end.starts_with(prefix));
        }
    }
}
