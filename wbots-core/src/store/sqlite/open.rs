//! Where a store URL points, and opening a connection there with the store's settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::db_err;
use crate::error::StoreError;

/// What a URL names.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// `sqlite::memory:`: a database that lives in its one connection.
    Memory,
    /// A database file.
    File(PathBuf),
}

/// Reads `sqlite://wbots.db` (relative to the working directory),
/// `sqlite:///var/lib/wbots/wbots.db`, `sqlite:wbots.db` or `sqlite::memory:`, as sqlx's
/// SQLite driver did: the path percent-decoded (a `?` or `#` in a file name), `mode=rwc`,
/// `rw` or `memory` accepted. Any other parameter is refused rather than ignored.
pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
    let invalid = |why: &str| StoreError::unavailable(format!("invalid SQLite URL {url:?}: {why}"));
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    let mut memory = database == ":memory:";
    for (key, value) in url::form_urlencoded::parse(params.as_bytes()) {
        match (&*key, &*value) {
            // The store creates a missing database whatever the mode says.
            ("mode", "rwc" | "rw") => {}
            ("mode", "memory") => memory = true,
            _ => return Err(invalid(&format!("unsupported parameter {key}={value}"))),
        }
    }
    if memory {
        return Ok(Target::Memory);
    }
    if database.is_empty() {
        return Err(invalid("no file named"));
    }
    let path = percent_decode(database).ok_or_else(|| invalid("bad percent-encoding"))?;
    Ok(Target::File(PathBuf::from(path)))
}

/// `%XX` sequences as the bytes they stand for; `None` when they do not make UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Which connection of the store is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The one connection that writes (and, in memory, reads too).
    Writer,
    /// A connection that only reads.
    Reader,
}

/// How long a connection waits for a lock another process holds before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Statements kept prepared per connection: every statement of the store, and the
/// multi-row link statements of every size (`binds::link_writes`).
const STATEMENT_CACHE: usize = 128;

/// Opens a connection to `target` with the store's pragmas: WAL (a file; `MEMORY` in
/// memory), `synchronous = FULL`, `secure_delete`, `foreign_keys`, temporary data in
/// memory, a busy timeout. A reader is `query_only`: it can never write behind the
/// writer's back.
pub(super) fn connect(target: &Target, role: Role) -> Result<Connection, StoreError> {
    let conn = match target {
        Target::Memory => Connection::open_in_memory().map_err(db_err)?,
        Target::File(path) => open_file(path, role)?,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let journal = match (target, role) {
        (Target::Memory, _) => "PRAGMA journal_mode = MEMORY;",
        // The mode is the file's: the writer sets it before any reader opens.
        (Target::File(_), Role::Writer) => "PRAGMA journal_mode = WAL;",
        (Target::File(_), Role::Reader) => "",
    };
    let query_only = if role == Role::Reader { "PRAGMA query_only = ON;" } else { "" };
    // `temp_store = MEMORY`: statement journals (a multi-row write inside the batch's
    // transaction keeps one, to undo just that statement) and temporary sort trees stay in
    // memory instead of spilling to unlinked files in the temporary directory. Those cost a
    // system call and a disk write per page (a tenth of the page writes in the load
    // harness's runs), and hold copies of rows — people's data among them — that
    // `secure_delete` never zeroes.
    conn.execute_batch(&format!(
        "{journal} PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY; {query_only}"
    ))
    .map_err(db_err)?;
    Ok(conn)
}

fn open_file(path: &Path, role: Role) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if role == Role::Writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    Connection::open_with_flags(path, flags).map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::{Target, parse};

    #[test]
    fn urls_name_a_file_or_memory_as_sqlx_read_them() {
        let file = |url: &str| match parse(url) {
            Ok(Target::File(p)) => p.display().to_string(),
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(file("sqlite://wbots.db"), "wbots.db");
        assert_eq!(file("sqlite:///var/lib/wbots/wbots.db"), "/var/lib/wbots/wbots.db");
        assert_eq!(file("sqlite:wbots.db?mode=rwc"), "wbots.db");
        assert_eq!(file("sqlite://a%3Fb.db"), "a?b.db");
        assert!(matches!(parse("sqlite::memory:"), Ok(Target::Memory)));
        assert!(parse("sqlite://x.db?mode=ro").is_err());
        assert!(parse("sqlite://").is_err());
    }
}
