//! The CPU a local PostgreSQL server spends, so a run on PostgreSQL shows the whole cost of
//! a message: on one machine the server's work competes with the bridge's for the same
//! cores (measured: 0.9–1.1 CPU s per 1,000 messages, more than twice the bridge's own).
//!
//! The server's CPU is its postmaster's, plus that of the children it has reaped (`cutime`,
//! `cstime`: the sessions that ended), plus that of its live children (the sessions,
//! writers and autovacuum now running): a session that ends moves from the third sum to the
//! second, so the total only grows. Read from `/proc`, hence only for a server on this
//! machine; for any other, the harness shows no figure.

use std::path::Path;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::process::TICKS_PER_SECOND;

/// A local PostgreSQL server, by its postmaster's process id.
#[derive(Clone, Copy, Debug)]
pub struct ServerCpu {
    postmaster: u32,
}

impl ServerCpu {
    /// The server behind `url`, if it runs on this machine and its processes are readable.
    pub async fn of(url: &str) -> Option<Self> {
        let mut conn = PgConnection::connect(url).await.ok()?;
        let backend: i32 =
            sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await.ok()?;
        // This session's process: the postmaster is its parent.
        let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).ok()?;
        let postmaster = fields(&stat)?.get(1)?.parse().ok()?;
        let _ = conn.close().await;
        let server = Self { postmaster };
        server.used().is_ok().then_some(server)
    }

    /// CPU the server used since it started.
    pub fn used(&self) -> Result<Duration, String> {
        let own = std::fs::read_to_string(format!("/proc/{}/stat", self.postmaster))
            .map_err(|e| format!("the PostgreSQL server's process: {e}"))?;
        let own = fields(&own).ok_or("unreadable /proc stat")?;
        // utime, stime, cutime, cstime: the 12th to 15th fields after the name.
        let mut ticks: u64 = (11..15).filter_map(|i| own.get(i)?.parse::<u64>().ok()).sum();
        let entries = std::fs::read_dir("/proc").map_err(|e| e.to_string())?;
        for entry in entries.flatten() {
            let Some(stat) = read_child_stat(&entry.path(), self.postmaster) else { continue };
            ticks += (11..13).filter_map(|i| stat.get(i)?.parse::<u64>().ok()).sum::<u64>();
        }
        Ok(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND))
    }
}

/// The fields after the command name of a process whose parent is `parent`; `None` for any
/// other entry of `/proc` (or a process that ended meanwhile).
fn read_child_stat(dir: &Path, parent: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let fields = fields(&stat)?;
    (fields.get(1)?.parse::<u32>().ok()? == parent).then_some(fields)
}

/// The fields of a `/proc/<pid>/stat` text after the command name (which may hold spaces
/// and parentheses: it ends at the last `)`): state, ppid, …
fn fields(stat: &str) -> Option<Vec<String>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parent_and_times_after_a_name_with_spaces_and_parentheses() {
        let stat = "4321 (postgres: a (b)) S 77 4321 4321 0 -1 4194560 100 0 0 0 250 50 30 20 20";
        let f = fields(stat).unwrap();
        assert_eq!(f[1], "77");
        let ticks: u64 = (11..15).filter_map(|i| f.get(i)?.parse::<u64>().ok()).sum();
        assert_eq!(ticks, 350);
    }

    #[tokio::test]
    async fn the_local_test_server_has_spent_cpu_and_its_count_only_grows() {
        let Some(url) = wbots_test_services::postgres_url() else { return };
        let server = ServerCpu::of(&url).await.expect("the test server runs on this machine");
        let before = server.used().unwrap();
        // Some work in a session of its own, which then ends (its CPU moves to the
        // postmaster's reaped children).
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query("SELECT count(*) FROM generate_series(1, 2000000)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        // The session's process, once it ended, is counted again when the postmaster has
        // reaped it (a moment later; until then it is in neither sum).
        let mut after = server.used().unwrap();
        for _ in 0..100 {
            if after > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            after = server.used().unwrap();
        }
        assert!(after > before, "{before:?} → {after:?}");
    }
}
