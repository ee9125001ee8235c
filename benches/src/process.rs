//! A process under test (`wbots serve` or the relay): started, read from `/proc`, killed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 a second
/// for user space on every mainstream architecture.
pub(crate) const TICKS_PER_SECOND: f64 = 100.0;

/// A child process that printed the address it listens on.
#[derive(Debug)]
pub struct Target {
    child: Child,
    /// The base URL it printed (`http://127.0.0.1:PORT`).
    pub url: String,
}

impl Target {
    /// Starts `command`, which must print `<anything> http://ADDR` as its first stdout line
    /// once it listens (as `wbots serve` and the relay do).
    pub async fn start(mut command: Command) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| format!("{command:?} did not say where it listens: {line:?}"))?
            .to_owned();
        Ok(Self { child, url })
    }

    /// Its current usage.
    pub fn usage(&self) -> Result<Usage, String> {
        Usage::of(self.child.id())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Memory and CPU use of a process, from `/proc`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Resident set size now, bytes.
    pub rss: u64,
    /// Peak resident set size since the process started, bytes.
    pub peak_rss: u64,
    /// User + system CPU time since the process started.
    pub cpu: Duration,
}

impl Usage {
    /// Reads the usage of process `pid` (Linux only).
    pub fn of(pid: u32) -> Result<Self, String> {
        let dir = Path::new("/proc").join(pid.to_string());
        let status = std::fs::read_to_string(dir.join("status")).map_err(|e| e.to_string())?;
        let stat = std::fs::read_to_string(dir.join("stat")).map_err(|e| e.to_string())?;
        parse(&status, &stat)
    }
}

fn parse(status: &str, stat: &str) -> Result<Usage, String> {
    let kib = |key: &str| -> Result<u64, String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n * 1024)
            .ok_or_else(|| format!("no {key} in /proc status"))
    };
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed:
    // utime and stime are fields 14 and 15, i.e. the 12th and 13th after the name.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("unreadable /proc stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64, String> {
        fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| "unreadable /proc stat".into())
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Usage {
        rss: kib("VmRSS:")?,
        peak_rss: kib("VmHWM:")?,
        cpu: Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_peak_and_cpu_from_proc_texts() {
        let status = "Name:\twbots\nVmHWM:\t   52000 kB\nVmRSS:\t   40000 kB\n";
        let stat = "1234 (tokio runtime) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4";
        let u = parse(status, stat).unwrap();
        assert_eq!(u.rss, 40_000 * 1024);
        assert_eq!(u.peak_rss, 52_000 * 1024);
        assert_eq!(u.cpu, Duration::from_secs(3));
    }

    #[test]
    fn reads_this_process() {
        let u = Usage::of(std::process::id()).unwrap();
        assert!(u.rss > 0 && u.peak_rss >= u.rss);
    }
}
