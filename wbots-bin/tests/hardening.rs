//! The public endpoints under attack (issue #14), through the real `wbots` binary: secrets
//! that are empty, short or all digits; made-up webhook names; slow and idle clients; a
//! shutdown held open; secrets in logs; `/metrics` on the public port.
//!
//! Timeouts here are configured short (1 s) so slow-client tests run fast; the assertions
//! only use generous upper bounds ("closed before 10 s"), never speed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wbots_core::Secret;

mod support;
use support::{Killed, first_line, free_port, listening_url, serve_command, terminate};

const APP_SECRET: &str = "hardening-app-secret-0001";
const VERIFY_TOKEN: &str = "hardening-verify-token-0002";
const CW_TOKEN: &str = "hardening-chatwoot-token-0003";
const WEBHOOK_SECRET: &str = "hardening-webhook-secret-0004";
const PATH_TOKEN: &str = "hardening-path-token-0005";
const PAGE_TOKEN: &str = "hardening-page-token-0006";
const METRICS_TOKEN: &str = "hardening-metrics-token-0007";

/// Every secret of [`config`]'s file.
const SECRETS: &[&str] =
    &[APP_SECRET, VERIFY_TOKEN, CW_TOKEN, WEBHOOK_SECRET, PATH_TOKEN, PAGE_TOKEN, METRICS_TOKEN];

/// A configuration with every secret set; `server` and `chatwoot` add keys to those sections.
fn config(server: &str, chatwoot: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://bridge.invalid"
{server}
[meta]
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
graph_url = "http://127.0.0.1:9"
instagram_graph_url = "http://127.0.0.1:9"
[chatwoot]
url = "http://127.0.0.1:9"
api_access_token = "{CW_TOKEN}"
account_id = 1
{chatwoot}
[[channels]]
kind = "messenger"
id = "111222333"
access_token = "{PAGE_TOKEN}"
inbox_id = 7
"#
    )
}

/// A running `wbots serve` (killed on drop) and everything it wrote to stderr.
struct Wbots {
    child: Killed,
    addr: String,
    stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// Runs `wbots serve` on `toml` with `env`; `Err` holds stderr when it exits before listening.
fn serve(toml: &str, env: &[(&str, &str)], log: &str) -> Result<Wbots, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wbots.toml");
    let db = dir.path().join("wbots.db");
    std::fs::write(
        &path,
        toml.replace("[meta]", &format!("[store]\nurl = \"sqlite://{}\"\n[meta]", db.display())),
    )
    .unwrap();
    let mut child = serve_command(&path)
        .envs(env.iter().copied())
        .env("RUST_LOG", log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().unwrap();
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let line = first_line(child.stdout.take().unwrap());
    match listening_url(&line).and_then(|url| url.strip_prefix("http://")) {
        Some(addr) => Ok(Wbots { child: Killed(child), addr: addr.to_owned(), stderr, _dir: dir }),
        None => {
            let status = child.wait().unwrap();
            assert!(!status.success(), "exited successfully without listening");
            // The reader thread drains the pipe once the process is gone.
            std::thread::sleep(Duration::from_millis(200));
            let err = stderr.lock().unwrap().clone();
            Err(err)
        }
    }
}

impl Wbots {
    fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.0.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }

    fn terminate(&self) {
        assert!(terminate(&self.child.0), "SIGTERM not sent");
    }

    /// Waits for the process to exit, at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// One HTTP/1.1 exchange on a new connection: the status code and the body.
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn get(addr: &str, path: &str, headers: &str) -> (u16, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{headers}\r\n"))
}

fn post(addr: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n{body}",
            body.len()
        ),
    )
}

/// A Chatwoot agent reply, signed with `secret` as Chatwoot does.
fn chatwoot_reply(addr: &str, secret: &str) -> u16 {
    let body = r#"{"event":"message_created","id":1,"content":"hi","message_type":"outgoing","private":false,"conversation":{"id":1},"inbox":{"id":7}}"#;
    let ts = chrono::Utc::now().timestamp();
    let sig = wbots_chatwoot::sign_webhook(&Secret::new(secret), ts, body.as_bytes());
    post(
        addr,
        "/webhooks/chatwoot",
        &format!("x-chatwoot-timestamp: {ts}\r\nx-chatwoot-signature: {sig}\r\n"),
        body,
    )
    .0
}

/// Whether the server closes `stream` (EOF or reset) before `limit`, while `drip` runs
/// between reads (it may write).
fn closed_within(
    stream: &mut TcpStream,
    limit: Duration,
    mut drip: impl FnMut(&mut TcpStream),
) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
        drip(stream);
    }
    false
}

// ---- 1. Secrets ---------------------------------------------------------------------------

#[test]
fn unusable_secrets_stop_the_bridge_before_it_listens_naming_the_key() {
    type Env = Vec<(&'static str, &'static str)>;
    let cases: Vec<(String, Env, &str)> = vec![
        // No Chatwoot authentication at all, or only empty values.
        (config("", ""), vec![], "chatwoot.webhook_secret"),
        (
            config("", "webhook_secret = \"\"\nwebhook_token = \"\""),
            vec![],
            "chatwoot.webhook_secret",
        ),
        (
            config("", ""),
            vec![("WBOTS_CHATWOOT__WEBHOOK_SECRET", ""), ("WBOTS_CHATWOOT__WEBHOOK_TOKEN", "")],
            "chatwoot.webhook_secret",
        ),
        // Short secrets.
        (config("", "webhook_secret = \"short-secret\""), vec![], "chatwoot.webhook_secret"),
        (
            config("", &format!("webhook_secret = \"{WEBHOOK_SECRET}\""))
                .replace(APP_SECRET, "0123456789"),
            vec![],
            "meta.app_secret",
        ),
        (
            config("", &format!("webhook_token = \"{PATH_TOKEN}\"")),
            vec![("WBOTS_META__VERIFY_TOKEN", "1234")],
            "meta.verify_token",
        ),
    ];
    for (toml, env, key) in cases {
        let err = serve(&toml, &env, "info").err().unwrap_or_else(|| panic!("{key}: it started"));
        assert!(err.contains(key), "{key}: {err}");
        for secret in SECRETS {
            assert!(!err.contains(secret), "{secret} printed: {err}");
        }
    }
}

#[test]
fn a_toml_mistake_on_a_secrets_line_does_not_print_the_secret() {
    let toml = config("", &format!("webhook_token = \"{PATH_TOKEN}\""))
        .replace(&format!("\"{CW_TOKEN}\""), &format!("\"{CW_TOKEN}"));
    let err = serve(&toml, &[], "info").err().expect("it started");
    assert!(err.contains("TOML parse error"), "{err}");
    assert!(!err.contains(CW_TOKEN), "{err}");
}

#[test]
fn a_reply_signed_with_the_empty_key_is_refused() {
    let w = serve(
        &config(
            "metrics_listen = \"\"",
            &format!("webhook_secret = \"\"\nwebhook_token = \"{PATH_TOKEN}\""),
        ),
        &[("WBOTS_CHATWOOT__WEBHOOK_SECRET", "")],
        "warn",
    )
    .unwrap();
    assert_eq!(chatwoot_reply(&w.addr, ""), 401);
}

#[test]
fn an_all_digit_secret_from_the_environment_signs_as_written() {
    let digits = "0012345678901234567890";
    let w = serve(
        &config("metrics_listen = \"\"", ""),
        &[("WBOTS_CHATWOOT__WEBHOOK_SECRET", digits)],
        "warn",
    )
    .unwrap();
    assert_eq!(chatwoot_reply(&w.addr, "12345678901234567890"), 401, "the leading zeros count");
    assert_eq!(chatwoot_reply(&w.addr, digits), 200);
}

// ---- 2. Unknown webhook names --------------------------------------------------------------

/// The series of a Prometheus text page, without their values.
fn series(page: &str) -> Vec<String> {
    let mut out: Vec<String> = page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_made_up_webhook_names_change_neither_metrics_nor_memory() {
    let w = serve(
        &config(
            "metrics_listen = \"\"\nmetrics_on_listen = true",
            &format!("webhook_token = \"{PATH_TOKEN}\""),
        ),
        &[],
        "debug",
    )
    .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", w.addr);
    let flood = |from: usize, to: usize| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let tasks: Vec<_> = (0..16)
                .map(|lane| {
                    let http = http.clone();
                    let base = base.clone();
                    tokio::spawn(async move {
                        for i in (from + lane..to).step_by(16) {
                            let name = format!("made-up-{i:06}-{}", "n".repeat(300));
                            let resp = http
                                .post(format!("{base}/webhooks/{name}"))
                                .body("{}")
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(resp.status(), 404);
                            let body = resp.text().await.unwrap();
                            assert!(!body.contains("made-up"), "{body}");
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    // Warm up (allocator, connection pool, the `unknown` series), then measure.
    flood(0, 1_000).await;
    let metrics = || async {
        http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
    };
    let before = metrics().await;
    let rss_before = w.rss_kib();
    flood(1_000, 11_000).await;
    let after = metrics().await;
    let rss_after = w.rss_kib();

    assert_eq!(series(&before), series(&after), "no new series");
    assert!(
        after.contains(r#"wbots_webhooks_total{source="unknown",outcome="not_found"} 11000"#),
        "{after}"
    );
    assert!(
        after.len() < before.len() + 100,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
    // Before the fix, 5,600 such requests took the process to 239 MB.
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let logs = w.logs();
    assert!(
        logs.contains("made-up-0"),
        "the names are logged at debug, truncated: {}",
        &logs[..logs.len().min(2000)]
    );
    assert!(!logs.contains(&"n".repeat(40)), "a name was logged beyond 32 characters");
}

// ---- 3. Connections ------------------------------------------------------------------------

const SHORT_TIMEOUTS: &str =
    "metrics_listen = \"\"\nheader_read_timeout_seconds = 1\nshutdown_grace_seconds = 1";

#[test]
fn silent_dripping_and_idle_keep_alive_clients_are_disconnected() {
    let w =
        serve(&config(SHORT_TIMEOUTS, &format!("webhook_token = \"{PATH_TOKEN}\"")), &[], "warn")
            .unwrap();
    let limit = Duration::from_secs(10);

    let mut silent = TcpStream::connect(&w.addr).unwrap();
    assert!(closed_within(&mut silent, limit, |_| {}), "a client that sends nothing");

    let mut dripping = TcpStream::connect(&w.addr).unwrap();
    dripping.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    assert!(
        closed_within(&mut dripping, limit, |s| {
            let _ = s.write_all(b"x");
        }),
        "a client sending its headers a byte at a time"
    );

    let mut idle = TcpStream::connect(&w.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut answered = false;
    assert!(
        closed_within(&mut idle, limit, |_| answered = true),
        "an idle keep-alive connection after its response"
    );
    assert!(answered);
    assert_eq!(get(&w.addr, "/healthz", "").0, 200, "and the bridge still answers");
}

#[test]
fn open_connections_are_capped_and_health_checks_still_get_through() {
    let w = serve(
        &config(
            &format!("{SHORT_TIMEOUTS}\nmax_connections = 8"),
            &format!("webhook_token = \"{PATH_TOKEN}\""),
        ),
        &[],
        "warn",
    )
    .unwrap();
    let baseline = w.sockets();
    let idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(&w.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = w.sockets();
    assert!(held <= baseline + 8, "{held} sockets open, {baseline} before: more than the cap of 8");
    // The idle ones time out and free their slots: a health check gets through.
    assert_eq!(get(&w.addr, "/healthz", "").0, 200);
    drop(idle);
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_drops_connections_and_exits() {
    let mut w = serve(
        &config(
            "metrics_listen = \"\"\nshutdown_grace_seconds = 2",
            &format!("webhook_token = \"{PATH_TOKEN}\""),
        ),
        &[],
        "warn",
    )
    .unwrap();
    let head = |len: usize| {
        format!(
            "POST /webhooks/meta HTTP/1.1\r\nhost: x\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
        )
    };
    // In flight: the head and part of the body are in, the rest comes after SIGTERM.
    let mut finishing = TcpStream::connect(&w.addr).unwrap();
    finishing.write_all(format!("{}{{\"obj", head(12)).as_bytes()).unwrap();
    // A client that never finishes its body.
    let mut stalled = TcpStream::connect(&w.addr).unwrap();
    stalled.write_all(format!("{}{{", head(100_000)).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    w.terminate();
    std::thread::sleep(Duration::from_millis(300));
    finishing.write_all(b"ect\":1}").unwrap();
    finishing.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut response = String::new();
    let _ = finishing.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the request in flight was answered: {response:?}"
    );

    let status = w.exit_within(Duration::from_secs(20)).expect("still running 20 s after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(
        closed_within(&mut stalled, Duration::from_secs(1), |_| {}),
        "the stalled client was dropped"
    );
    assert!(w.logs().contains("dropping their connections"), "{}", w.logs());
}

// ---- 5. Logs -------------------------------------------------------------------------------

#[test]
fn no_secret_reaches_the_log_at_any_level() {
    let w = serve(
        &config(
            &format!("metrics_listen = \"\"\nmetrics_on_listen = true\nmetrics_token = \"{METRICS_TOKEN}\""),
            &format!("webhook_secret = \"{WEBHOOK_SECRET}\"\nwebhook_token = \"{PATH_TOKEN}\""),
        ),
        &[],
        "trace",
    )
    .unwrap();
    let a = &w.addr;
    // The handshake carries the verify token in its query; right and wrong.
    let query = format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42");
    assert_eq!(get(a, &format!("/webhooks/meta?{query}"), ""), (200, "42".to_owned()));
    assert_eq!(
        get(a, "/webhooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", "").0,
        403
    );
    // The Chatwoot path token, right and wrong; a signed reply; a signed Meta delivery.
    let body = r#"{"event":"conversation_typing_on","conversation":{"id":1},"inbox":{"id":7}}"#;
    assert_ne!(post(a, &format!("/webhooks/chatwoot/{PATH_TOKEN}"), "", body).0, 401);
    assert_eq!(post(a, "/webhooks/chatwoot/guessed-path-token", "", body).0, 401);
    assert_eq!(chatwoot_reply(a, WEBHOOK_SECRET), 200);
    let meta = r#"{"object":"page","entry":[]}"#;
    let sig = wbots_meta::sign_body(&Secret::new(APP_SECRET), meta.as_bytes());
    assert_eq!(post(a, "/webhooks/meta", &format!("x-hub-signature-256: {sig}\r\n"), meta).0, 200);
    // /metrics with its token.
    assert_eq!(get(a, "/metrics", &format!("authorization: Bearer {METRICS_TOKEN}\r\n")).0, 200);
    std::thread::sleep(Duration::from_millis(500));

    let logs = w.logs();
    assert!(logs.contains("/webhooks/chatwoot/<redacted>"), "requests are logged, redacted");
    for secret in SECRETS {
        assert!(!logs.contains(secret), "{secret} in the log");
    }
}

// ---- 8. /metrics ---------------------------------------------------------------------------

#[test]
fn metrics_are_off_the_public_port_unless_asked_and_then_need_the_token() {
    let port = free_port();
    let w = serve(
        &config(
            &format!("metrics_listen = \"127.0.0.1:{port}\""),
            &format!("webhook_token = \"{PATH_TOKEN}\""),
        ),
        &[],
        "warn",
    )
    .unwrap();
    assert_eq!(get(&w.addr, "/metrics", "").0, 404, "not on the webhook listener by default");
    let (status, page) = get(&format!("127.0.0.1:{port}"), "/metrics", "");
    assert_eq!(status, 200);
    assert!(page.contains("wbots_jobs"), "{page}");
    drop(w);

    let w = serve(
        &config(
            &format!("metrics_listen = \"\"\nmetrics_on_listen = true\nmetrics_token = \"{METRICS_TOKEN}\""),
            &format!("webhook_token = \"{PATH_TOKEN}\""),
        ),
        &[],
        "warn",
    )
    .unwrap();
    assert_eq!(get(&w.addr, "/metrics", "").0, 401);
    assert_eq!(
        get(&w.addr, "/metrics", "authorization: Bearer wrong-token-wrong-token\r\n").0,
        401
    );
    let (status, page) =
        get(&w.addr, "/metrics", &format!("authorization: Bearer {METRICS_TOKEN}\r\n"));
    assert_eq!(status, 200);
    assert!(page.contains("wbots_jobs"), "{page}");
}
