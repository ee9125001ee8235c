//! A headless Chromium for the connect page's browser tests: Debian's `chromium` driven
//! through `chromedriver` (package `chromium-driver`), started on a free loopback port.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::need::unavailable;
use crate::programs::find;

/// How long chromedriver may take to accept connections after it starts.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A running chromedriver (killed on drop) and the Chromium it drives.
#[derive(Debug)]
pub struct Chromedriver {
    child: Child,
    /// chromedriver's WebDriver URL (`http://127.0.0.1:port`).
    pub url: String,
    /// The Chromium binary to name in the session's capabilities.
    pub chromium: PathBuf,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HOW: &str = "Install them with `apt-get install chromium chromium-driver` (.ci/run does).";

/// Starts chromedriver, or `None` (the test is skipped with one line) when `chromedriver`
/// or `chromium` is not installed. Under CI a missing browser fails the test instead.
pub fn chromedriver() -> Option<Chromedriver> {
    let Some(driver) = find("chromedriver", &[PathBuf::from("/usr/lib/chromium")]) else {
        unavailable("a headless Chromium", "chromedriver is not installed", HOW);
        return None;
    };
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| find(name, &[PathBuf::from("/usr/lib/chromium")]));
    let Some(chromium) = chromium else {
        unavailable("a headless Chromium", "chromium is not installed", HOW);
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            unavailable("a headless Chromium", &format!("chromedriver did not start: {e}"), HOW);
            return None;
        }
    };
    let driver = Chromedriver { child, url: format!("http://127.0.0.1:{port}"), chromium };
    // Waiting for a started process to listen (not a timing assertion).
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > READY_WITHIN {
            unavailable("a headless Chromium", "chromedriver did not listen", HOW);
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}
