//! The process harness the binary's tests share: a free port, the `wbots serve` command,
//! the line it prints once listening, a one-shot command's outcome, SIGTERM, and a guard
//! that kills the process on drop.
//!
//! Each test binary uses the part it needs (hence `dead_code` allowed here).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A loopback port free at the time of the call.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `wbots serve --config {config}`, logging at `warn` to the test's stderr, its stdout piped
/// (the listening line is read from it). Callers add environment or capture stderr.
pub(crate) fn serve_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wbots"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// The first line the process printed (`wbots listening on http://…` once it listens;
/// empty when it exited before).
pub(crate) fn first_line(stdout: ChildStdout) -> String {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    line
}

/// The URL in the listening line (`http://127.0.0.1:port`), `None` when `line` is not it.
pub(crate) fn listening_url(line: &str) -> Option<&str> {
    line.trim().strip_prefix("wbots listening on ")
}

/// [`first_line`] off the async runtime's threads.
pub(crate) async fn first_line_async(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || first_line(stdout)).await.unwrap()
}

/// `wbots {args} --config {config}` run to its end: whether it succeeded, and its stdout
/// then stderr.
pub(crate) fn wbots(args: &[&str], config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wbots"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Sends SIGTERM, as a deploy or an init system stops the process; whether it was sent.
pub(crate) fn terminate(child: &Child) -> bool {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|status| status.success())
}

/// A running process, killed (and reaped) on drop.
pub(crate) struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The files of the SQLite store `db` (the database, its WAL and shared memory) whose bytes
/// contain `needle`: where an id the bridge should have forgotten is still written. A
/// journal file SQLite has not created holds nothing; any other read failure would hide
/// the id, so it fails the test.
pub(crate) fn sqlite_files_holding(db: &Path, needle: &str) -> Vec<String> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let file = format!("{}{suffix}", db.display());
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
                Err(e) => panic!("cannot read {file}: {e}"),
            };
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes()).then_some(file)
        })
        .collect()
}

/// Waits for `probe` to find something (a background job's effect, a process's output),
/// failing the test with `what` after 30 s — generous for a loaded 2-core machine. A wait
/// for an outcome, not a timing assertion: tests print how long things took.
pub(crate) async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "never happened: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
