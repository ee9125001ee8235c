//! Fault tests: the real `wbots` binary, killed with SIGKILL mid-load, facing a Chatwoot
//! outage, Meta's redeliveries, Graph rate limits and refusals, and two replicas on one
//! PostgreSQL with one of them killed. Every test is bounded in time and prints its figures.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use wbots_chatwoot::fake::FakeChatwoot;
use wbots_core::Secret;
use wbots_meta::fake::{FakeGraph, payload};
use wbots_meta::sign_body;

const PAGE: &str = "5550001";

/// The fault tests load the machine on purpose; run one at a time so each one's time bounds
/// measure the bridge, not its neighbours.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const SECRET: &str = "fault-secret-0123456789";

/// A `wbots serve` that can be killed and restarted on the same port and store.
struct Process {
    config: std::path::PathBuf,
    child: Option<Child>,
    url: String,
}

impl Process {
    /// Starts on the port the config names (0: any); restarts reuse the port it got.
    async fn start(config: std::path::PathBuf) -> Self {
        let mut p = Self { config, child: None, url: String::new() };
        p.spawn().await;
        let port = p.url.rsplit(':').next().unwrap().to_owned();
        let text = std::fs::read_to_string(&p.config)
            .unwrap()
            .replace("127.0.0.1:0\"", &format!("127.0.0.1:{port}\""));
        std::fs::write(&p.config, text).unwrap();
        p
    }

    async fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wbots"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        self.url = line
            .trim()
            .strip_prefix("wbots listening on ")
            .unwrap_or_else(|| panic!("did not start: {line:?}"))
            .to_owned();
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush, leases left held.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_config(
    dir: &std::path::Path,
    name: &str,
    store: &str,
    graph: &str,
    chatwoot: &str,
    inbox: u64,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
metrics_listen = ""
public_url = "http://bridge.invalid"
[store]
url = "{store}"
[meta]
app_secret = "{SECRET}"
verify_token = "fault-verify-0123456789"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
app_id = "777"
[chatwoot]
url = "{chatwoot}"
api_access_token = "cw"
account_id = 1
webhook_token = "fault-path-token-0123"
[[channels]]
kind = "messenger"
id = "{PAGE}"
access_token = "page-token"
inbox_id = {inbox}
[engine]
workers = 32
lease_seconds = 3
retry_max_seconds = 2
max_attempts = 1000
"#
        ),
    )
    .unwrap();
    path
}

/// Offers `per_conversation` messages on each of `conversations` threads, each thread in
/// order (the next only once the previous was acknowledged, as Meta does per thread),
/// threads in parallel; retries a delivery until it is acknowledged, as Meta does; sends
/// each acknowledged delivery `copies` times in all. Returns how many were acknowledged.
async fn offer(
    urls: Vec<String>,
    conversations: usize,
    per_conversation: usize,
    copies: usize,
) -> u64 {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(48));
    let mut tasks = Vec::new();
    for c in 0..conversations {
        let (http, acked, gate, urls) = (http.clone(), acked.clone(), gate.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            for s in 0..per_conversation {
                let body = payload::text(
                    "page",
                    PAGE,
                    &format!("user-{c}"),
                    &format!("m-{c}-{s}"),
                    &format!("user-{c} #{s}"),
                    1_764_000_000_000 + s as i64,
                );
                let sig = sign_body(&Secret::new(SECRET), body.as_bytes());
                let mut delivered = 0;
                let mut attempt = 0usize;
                while delivered < copies {
                    let _permit = gate.acquire().await.unwrap();
                    let url = &urls[(c + attempt) % urls.len()];
                    attempt += 1;
                    let ok = http
                        .post(format!("{url}/webhooks/meta"))
                        .header("x-hub-signature-256", &sig)
                        .body(body.clone())
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        delivered += 1;
                    } else {
                        drop(_permit);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    acked.load(Ordering::Relaxed)
}

/// Figures: (delivered, duplicates, max reorder). Asserts every message arrived exactly once,
/// in order within its conversation.
async fn settle_and_check(
    chatwoot: &FakeChatwoot,
    expected: usize,
    limit: Duration,
    label: &str,
    sent: u64,
) {
    let start = Instant::now();
    loop {
        let n = chatwoot.messages().iter().filter(|m| m.message_type == "incoming").count();
        if n >= expected {
            break;
        }
        assert!(start.elapsed() < limit, "{label}: only {n} of {expected} reached Chatwoot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let stragglers (a duplicate would come late) arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = chatwoot.messages();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last: HashMap<u64, i64> = HashMap::new();
    let mut max_reorder = 0i64;
    for m in messages.iter().filter(|m| m.message_type == "incoming") {
        *seen.entry(m.source_id.clone().unwrap_or_default()).or_default() += 1;
        let text = m.content.clone().unwrap_or_default();
        let seq: i64 = text.rsplit('#').next().and_then(|s| s.parse().ok()).unwrap_or(-1);
        let prev = last.entry(m.conversation_id).or_insert(-1);
        if seq < *prev {
            max_reorder = max_reorder.max(*prev - seq);
        }
        *prev = (*prev).max(seq);
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "{label}: sent {sent}, delivered {}, duplicates {duplicates}, max reorder {max_reorder}",
        seen.len()
    );
    assert_eq!(seen.len(), expected, "{label}: every acknowledged message arrives");
    assert_eq!(duplicates, 0, "{label}: none doubled");
    assert_eq!(max_reorder, 0, "{label}: order kept per conversation");
}

struct Fixture {
    graph: FakeGraph,
    chatwoot: FakeChatwoot,
    inbox: u64,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw", 1).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    Fixture { graph, chatwoot, inbox, dir: tempfile::tempdir().unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sigkills_during_20000_messages_lose_and_double_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let f = fixture().await;
    let db = format!("sqlite://{}", f.dir.path().join("wbots.db").display());
    let config = write_config(
        f.dir.path(),
        "a",
        &db,
        f.graph.url().as_str(),
        f.chatwoot.url().as_str(),
        f.inbox,
    );
    let mut process = Process::start(config).await;
    let load = tokio::spawn(offer(vec![process.url.clone()], 500, 40, 1));
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        process.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        process.spawn().await;
    }
    let sent = load.await.unwrap();
    assert_eq!(sent, 20_000);
    settle_and_check(
        &f.chatwoot,
        20_000,
        Duration::from_secs(240),
        "5 × SIGKILL, 20,000 messages / 500 conversations",
        sent,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_second_chatwoot_outage_and_triple_redelivery() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let f = fixture().await;
    let db = format!("sqlite://{}", f.dir.path().join("wbots.db").display());
    let config = write_config(
        f.dir.path(),
        "a",
        &db,
        f.graph.url().as_str(),
        f.chatwoot.url().as_str(),
        f.inbox,
    );
    let process = Process::start(config).await;
    let load = tokio::spawn(offer(vec![process.url.clone()], 100, 20, 3));
    tokio::time::sleep(Duration::from_millis(500)).await;
    f.chatwoot.set_down(true);
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let during = f.chatwoot.messages().len();
    f.chatwoot.set_down(false);
    let sent = load.await.unwrap();
    println!(
        "Chatwoot down for {} s; {during} messages had arrived before it went down",
        down_at.elapsed().as_secs()
    );
    settle_and_check(
        &f.chatwoot,
        2_000,
        Duration::from_secs(120),
        "60 s Chatwoot outage, every webhook delivered 3 times",
        sent,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_rate_limits_a_refused_token_and_a_closed_window() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let f = fixture().await;
    let db = format!("sqlite://{}", f.dir.path().join("wbots.db").display());
    let config = write_config(
        f.dir.path(),
        "a",
        &db,
        f.graph.url().as_str(),
        f.chatwoot.url().as_str(),
        f.inbox,
    );
    let process = Process::start(config).await;
    let url = process.url.clone();
    f.chatwoot.set_webhook_url(f.inbox, &format!("{url}/webhooks/chatwoot/fault-path-token-0123"));
    let http = reqwest::Client::new();
    let post = |body: String| {
        let sig = sign_body(&Secret::new(SECRET), body.as_bytes());
        http.post(format!("{url}/webhooks/meta"))
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()
    };
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        post(payload::text("page", PAGE, "fresh", "m-fresh", "hello", now))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let two_days_ago = now - 48 * 3600 * 1000;
    assert!(
        post(payload::text("page", PAGE, "stale", "m-stale", "old question", two_days_ago))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let wait = |what: &'static str, probe: Box<dyn Fn() -> bool + Send>| async move {
        let start = Instant::now();
        while !probe() {
            assert!(start.elapsed() < Duration::from_secs(30), "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let cw = &f.chatwoot;
    let conv = |source: &str| {
        cw.messages()
            .into_iter()
            .find(|m| m.source_id.as_deref() == Some(source))
            .map(|m| m.conversation_id)
    };
    let start = Instant::now();
    while conv("m-fresh").is_none() || conv("m-stale").is_none() {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (fresh, stale) = (conv("m-fresh").unwrap(), conv("m-stale").unwrap());

    // A burst of 429 and 613: the bridge backs off and still delivers, once.
    f.graph.fail_next(
        2,
        429,
        json!({"error": {"code": 4, "message": "(#4) Application request limit reached"}}),
    );
    f.graph.fail_next(2, 400, json!({"error": {"code": 613, "message": "Calls to this API have exceeded the rate limit."}}));
    let started = Instant::now();
    let (_, status) = f.chatwoot.agent_reply(fresh, "after the rate limit", Vec::new()).await;
    assert_eq!(status, Some(200));
    let graph = &f.graph;
    let sent_once = || {
        graph.sent().iter().filter(|s| s.text.as_deref() == Some("after the rate limit")).count()
            == 1
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sent_once() {
        assert!(Instant::now() < deadline, "never delivered after the rate limit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waited = started.elapsed();
    println!(
        "429 ×2 + 613 ×2: delivered once after {} ms (Retry-After 1 s honoured)",
        waited.as_millis()
    );
    assert!(waited >= Duration::from_secs(3), "each of the 4 refusals asked for 1 s: {waited:?}");

    // A refused token: the message is marked failed with the reason, the agents get a note.
    f.graph.fail_next(1, 400, json!({"error": {"code": 190, "error_subcode": 463, "message": "Error validating access token: Session has expired"}}));
    let (token_msg, _) = f.chatwoot.agent_reply(fresh, "token will fail", Vec::new()).await;
    wait(
        "failed status",
        Box::new({
            let cw = f.chatwoot.message(token_msg);
            move || cw.is_some()
        }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = f.chatwoot.message(token_msg).unwrap();
        let note = f.chatwoot.messages().into_iter().any(|m| {
            m.private
                && m.conversation_id == fresh
                && m.content.as_deref().is_some_and(|c| c.contains("refused the access token"))
        });
        if m.status == "failed" && note {
            assert!(m.external_error.as_deref().unwrap().contains("access token"), "{m:?}");
            break;
        }
        assert!(Instant::now() < deadline, "190 not surfaced: {m:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Outside the window: failed with the reason, Meta never called.
    let before = f.graph.sent().len();
    let (late_msg, _) = f.chatwoot.agent_reply(stale, "sorry for the delay", Vec::new()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = f.chatwoot.message(late_msg).unwrap();
        if m.status == "failed" {
            assert!(m.external_error.as_deref().unwrap().contains("24 hours"), "{m:?}");
            break;
        }
        assert!(Instant::now() < deadline, "outside-window not surfaced: {m:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.graph.sent().len(), before);
    println!(
        "190: message failed + private note; outside window: failed with the reason, no call to Meta"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_one_killed_mid_load() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(admin) = wbots_test_services::postgres_url() else {
        return;
    };
    // A fresh database for the two replicas.
    let db_url = {
        let store = wbots_core::testkit::fresh_postgres(&admin).await.unwrap();
        let url = store.pool().connect_options().get_database().map(str::to_owned).unwrap();
        let (server, _) = admin.rsplit_once('/').unwrap();
        format!("{server}/{url}")
    };
    let f = fixture().await;
    let ca = write_config(
        f.dir.path(),
        "a",
        &db_url,
        f.graph.url().as_str(),
        f.chatwoot.url().as_str(),
        f.inbox,
    );
    let cb = write_config(
        f.dir.path(),
        "b",
        &db_url,
        f.graph.url().as_str(),
        f.chatwoot.url().as_str(),
        f.inbox,
    );
    let mut a = Process::start(ca).await;
    let b = Process::start(cb).await;
    let load = tokio::spawn(offer(vec![a.url.clone(), b.url.clone()], 200, 25, 1));
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.kill();
    let sent = load.await.unwrap();
    settle_and_check(
        &f.chatwoot,
        5_000,
        Duration::from_secs(120),
        "2 replicas on PostgreSQL, one killed",
        sent,
    )
    .await;
}
