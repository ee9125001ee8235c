//! The throwaway PostgreSQL as a newcomer meets it: `cargo test` with nothing set starts a
//! server that takes connections and databases, and leaves nothing behind when the test binary
//! ends. The server's life is a process's life, so the check runs this test binary again as a
//! child (only the ignored `child_*` test) and looks at what the child left.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

const CHILD: &str = "WBOTS_TEST_SERVICES_CHILD";

#[test]
#[ignore = "run as a child process by the test below"]
fn child_starts_a_server_and_reports_it() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let Some(url) = wbots_test_services::postgres_url() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut admin =
            sqlx::PgConnection::connect(&url).await.expect("the server takes connections");
        sqlx::query("CREATE DATABASE wbots_child_check")
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let (data,): (String,) =
            sqlx::query_as("SHOW data_directory").fetch_one(&mut admin).await.unwrap();
        println!("URL={url}");
        println!("DATA={data}");
    });
}

#[test]
fn a_throwaway_server_serves_the_tests_and_is_gone_after_them() {
    if std::env::var_os("WBOTS_TEST_POSTGRES_URL").is_some_and(|u| !u.is_empty()) {
        // A named server is used as it is; nothing is started, so nothing to check here.
        return;
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_starts_a_server_and_reports_it", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .expect("the test binary runs again");
    assert!(child.status.success(), "the child test failed: {}", child.status);
    let mut url = None;
    let mut data = None;
    for line in child.stdout.lines().map_while(Result::ok) {
        if let Some(v) = line.strip_prefix("URL=") {
            url = Some(v.to_owned());
        }
        if let Some(v) = line.strip_prefix("DATA=") {
            data = Some(std::path::PathBuf::from(v));
        }
    }
    let (Some(url), Some(data)) = (url, data) else {
        // PostgreSQL is not installed (the child said "skipped"; under CI it would have failed).
        return;
    };
    let root = data.parent().expect("the data directory lives in the server's directory");
    assert!(root.starts_with(std::env::temp_dir()), "{} is not in the temp dir", root.display());
    let port: u16 = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the URL names a port");
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "loopback only: {url}");

    // The watchdog notices the child's exit within a second, then stops the server and
    // removes its directory; a generous bound keeps a loaded machine from failing this.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        let present = root.exists();
        if !listening && !present {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "60 s after the tests ended: server listening {listening}, directory present {present}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
