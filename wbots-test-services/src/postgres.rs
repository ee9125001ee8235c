//! A PostgreSQL server for tests: the one the environment names, or a throwaway one.
//!
//! The throwaway server is started once per test binary (the first test that asks starts it;
//! the others wait and share it — each test makes its own database on it), runs from a
//! temporary directory on a free loopback port with `fsync` off (the tests kill the bridge,
//! never the database, so its own durability is not under test), and is stopped and removed
//! by a small watchdog process when the test binary exits. PostgreSQL refuses to run as
//! root, so as root it runs as the `postgres` user that Debian's packages create, as
//! `.ci/postgres.sh` does.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::{need, programs};

const HOW: &str = "Install PostgreSQL (Debian: `apt-get install postgresql`) and the tests start \
                   a throwaway server themselves, or point WBOTS_TEST_POSTGRES_URL at a server \
                   whose user may CREATE DATABASE";

/// The URL of a PostgreSQL server whose user may `CREATE DATABASE`, for a test to make its own
/// database on: `WBOTS_TEST_POSTGRES_URL` when set, else a throwaway server started for this
/// test binary. `None` when PostgreSQL is not installed (the test should return: it is
/// skipped, and one line says so); under CI that case fails the test instead.
///
/// # Panics
/// When PostgreSQL is installed but the server cannot be started (the message carries the
/// server's own words), and under CI when it is not installed.
pub fn postgres_url() -> Option<String> {
    if let Some(url) = std::env::var("WBOTS_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
        return Some(url);
    }
    static SERVER: OnceLock<Result<String, Unavailable>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(url) => Some(url.clone()),
        Err(Unavailable::NotInstalled(why)) => {
            need::unavailable("PostgreSQL", why, HOW);
            None
        }
        Err(Unavailable::Failed(why)) => panic!("could not start a throwaway PostgreSQL: {why}"),
    }
}

#[derive(Debug)]
enum Unavailable {
    /// Nothing to start it from: the tests are skipped (or fail under CI).
    NotInstalled(String),
    /// Installed but broken: always a failure, with the reason.
    Failed(String),
}

/// Who the server runs as: this process's user, or (as root) the `postgres` user.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn start() -> Result<String, Unavailable> {
    let debian = programs::debian_postgres_dirs();
    let initdb = programs::find("initdb", &debian).ok_or_else(|| {
        Unavailable::NotInstalled("no `initdb` on PATH or under /usr/lib/postgresql".into())
    })?;
    // pg_ctl from the same installation as initdb, so both are the same major version.
    let pg_ctl = initdb
        .parent()
        .map(|dir| dir.join("pg_ctl"))
        .filter(|p| p.is_file())
        .or_else(|| programs::find("pg_ctl", &debian))
        .ok_or_else(|| Unavailable::NotInstalled("`initdb` found but no `pg_ctl`".into()))?;
    let run_as = run_as()?;

    let dir = tempfile::Builder::new()
        .prefix("wbots-test-pg-")
        .tempdir()
        .map_err(|e| Unavailable::Failed(format!("cannot make a temporary directory: {e}")))?
        .keep();
    // From here on the watchdog owns the directory: it removes it when this process exits,
    // whether the server started or not.
    spawn_watchdog(&dir)?;
    if let Some(user) = run_as {
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).map_err(|e| {
            Unavailable::Failed(format!("cannot hand {} to the postgres user: {e}", dir.display()))
        })?;
    }
    let data = dir.join("data");
    let init = command(&initdb, &dir, run_as)
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        .output();
    check("initdb", init)?;

    // A free port can be taken by someone else before the server binds it: try a few.
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let options = format!(
            "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            dir.display()
        );
        let started = command(&pg_ctl, &dir, run_as)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output();
        match check("pg_ctl start", started) {
            Ok(()) => return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres")),
            Err(Unavailable::Failed(why)) => {
                last = format!("{why}; server log: {}", log_tail(&dir.join("log")));
            }
            Err(other) => return Err(other),
        }
    }
    Err(Unavailable::Failed(last))
}

/// As root, the server must run as another user: Debian's packages create `postgres`.
fn run_as() -> Result<Option<RunAs>, Unavailable> {
    // The owner of /proc/self is this process's effective user (no libc call needed).
    let euid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => {
                    Some(RunAs { uid: uid.parse().ok()?, gid: gid.parse().ok()? })
                }
                _ => None,
            }
        })
        .map(Some)
        .ok_or_else(|| {
            Unavailable::NotInstalled(
                "running as root, and there is no `postgres` user to run the server as".into(),
            )
        })
}

fn command(program: &Path, dir: &Path, run_as: Option<RunAs>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir).env("LC_ALL", "C").stdin(Stdio::null());
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
    }
    command
}

fn check(what: &str, output: std::io::Result<Output>) -> Result<(), Unavailable> {
    let output = output.map_err(|e| Unavailable::Failed(format!("cannot run {what}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(Unavailable::Failed(format!("{what} failed ({}): {}", output.status, said.trim())))
}

fn free_port() -> Result<u16, Unavailable> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Unavailable::Failed(format!("no free loopback port: {e}")))
}

fn log_tail(log: &PathBuf) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Waits for this process to exit, then stops the server (immediate shutdown: its data is
/// thrown away anyway) and removes the directory. Its own process group keeps a Ctrl-C in
/// the terminal from killing the watchdog before it has cleaned up; its standard streams
/// are closed so nothing waits on it.
fn spawn_watchdog(dir: &Path) -> Result<(), Unavailable> {
    const SCRIPT: &str = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        pid=$(head -n 1 "$2/data/postmaster.pid" 2>/dev/null)
        if [ -n "$pid" ]; then
            kill -QUIT "$pid" 2>/dev/null
            i=0
            while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        fi
        rm -rf "$2"
    "#;
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("wbots-test-pg-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| Unavailable::Failed(format!("cannot start the clean-up watchdog: {e}")))
}
