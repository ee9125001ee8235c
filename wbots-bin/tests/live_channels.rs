//! Channels connected while `wbots serve` runs, through the real binary against the fakes:
//! `wbots channels add` (another process) and the running bridge serves the channel — a
//! customer's first message, sent the moment the command returns, reaches Chatwoot; the
//! business's own Chatwoot account (another installation, its own token and webhook)
//! receives it and its agent's reply reaches Meta with the Page's own token; the bridge's
//! account sees none of it. On PostgreSQL, a second replica picks the channel up by itself.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wbots_core::{KeyRing, Secret};
use wbots_fakes::chatwoot::FakeChatwoot;
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

mod support;
use support::{Killed, first_line_async, free_port, serve_command};

const SECRET: &str = "live-meta-app-secret-01";
const PAGE: &str = "104000000777";
const PAGE_TOKEN: &str = "EAAB-page-b-token-0123456789";
const CW_B_TOKEN: &str = "cw-business-b-token-0123456789";

/// A configuration with no `[[channels]]`: every channel comes from the store.
fn write_config(dir: &Path, name: &str, store: &str, port: u16, graph: &Url, cw: &Url) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
public_url = "http://127.0.0.1:{port}"
[store]
url = "{store}"
secret_key = "{key}"
channels_poll_millis = 200
[meta]
app_secret = "{SECRET}"
verify_token = "live-verify-token-01"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
[chatwoot]
url = "{cw}"
api_access_token = "cw-bridge-token"
account_id = 5
webhook_token = "bridge-path-token-0123456789"
"#,
            key = key().expose(),
        ),
    )
    .unwrap();
    path
}

type Url = url::Url;

/// One key for every process of a test (they share the store).
fn key() -> &'static Secret {
    static KEY: std::sync::OnceLock<Secret> = std::sync::OnceLock::new();
    KEY.get_or_init(KeyRing::generate_key)
}

/// `wbots channels add …` with the tokens on standard input; its output.
fn add(config: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wbots"))
        .args(["--config"])
        .arg(config)
        .args(["channels", "add"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "channels add failed: {text}");
    text
}

async fn customer_writes(bridge: &str, mid: &str, text: &str) -> reqwest::StatusCode {
    let now = chrono::Utc::now().timestamp_millis();
    let body = payload::text("page", PAGE, "psid-carol", mid, text, now);
    reqwest::Client::new()
        .post(format!("{bridge}/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign_body(&Secret::new(SECRET), body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_connected_while_serving_is_served_in_its_own_account() {
    let graph = FakeGraph::start().await.unwrap();
    graph.add_page(PAGE, PAGE_TOKEN, None);
    // The bridge's own Chatwoot, and the business's: another installation and account.
    let bridge_cw = FakeChatwoot::start("cw-bridge-token", 5).await.unwrap();
    let business_cw = FakeChatwoot::start(CW_B_TOKEN, 77).await.unwrap();
    let inbox = business_cw.add_api_inbox("Messenger B", None);

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bridge = format!("http://127.0.0.1:{port}");
    let store = format!("sqlite://{}", dir.path().join("wbots.db").display());
    let config = write_config(dir.path(), "wbots", &store, port, graph.url(), bridge_cw.url());
    let mut child = serve_command(&config).spawn().unwrap();
    let line = first_line_async(&mut child).await;
    let _serve = Killed(child);
    assert!(line.contains("wbots listening on"), "{line}");

    let out = add(
        &config,
        &[
            "--kind",
            "messenger",
            "--id",
            PAGE,
            "--access-token-stdin",
            "--inbox-id",
            &inbox.to_string(),
            "--chatwoot-url",
            business_cw.url().as_str(),
            "--chatwoot-account",
            "77",
            "--chatwoot-token-stdin",
        ],
        &format!("{PAGE_TOKEN}\n{CW_B_TOKEN}\n"),
    );
    let added = Instant::now();
    assert!(out.contains(&format!("pointed the webhook of Chatwoot inbox {inbox}")), "{out}");
    // The inbox now calls the bridge at the business's own adapter, with its own token.
    let hook = business_cw.inbox(inbox).and_then(|i| i.webhook_url).unwrap_or_default();
    assert!(hook.starts_with(&format!("{bridge}/webhooks/a77.i{inbox}.127.0.0.1-")), "{hook}");
    assert!(!hook.contains("bridge-path-token"), "the bridge's own token opens its own only");

    // The customer's first message, the moment the command returned: not skipped.
    assert_eq!(customer_writes(&bridge, "m_first", "hello B").await, reqwest::StatusCode::OK);
    let arrived = support::eventually("the first message in the business's Chatwoot", || {
        business_cw.messages().into_iter().find(|m| m.source_id.as_deref() == Some("m_first"))
    })
    .await;
    println!(
        "first message in the business's Chatwoot {} ms after `channels add` returned",
        added.elapsed().as_millis()
    );
    assert_eq!(arrived.content.as_deref(), Some("hello B"));

    // Its agent answers; the reply reaches the customer with the Page's own token.
    let (_, status) = business_cw.agent_reply(arrived.conversation_id, "hi from B", vec![]).await;
    assert_eq!(status, Some(200), "the business's webhook reached the bridge");
    let sent = support::eventually("the agent's reply at Meta", || {
        graph.sent().into_iter().find(|s| s.text.as_deref() == Some("hi from B"))
    })
    .await;
    assert_eq!((sent.recipient.as_str(), sent.token.as_str()), ("psid-carol", PAGE_TOKEN));

    // The bridge's own account was never involved.
    assert!(bridge_cw.messages().is_empty() && bridge_cw.contacts().is_empty());
}

/// A replica's log lines, read as they come (from its stderr, at `info`).
fn log_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_replica_serves_what_was_connected_through_another() {
    let Some(admin) = wbots_test_services::postgres_url() else {
        return;
    };
    let db_url = {
        let store = wbots_core::testkit::fresh_postgres(&admin).await.unwrap();
        let name = store.pool().connect_options().get_database().map(str::to_owned).unwrap();
        let (server, _) = admin.rsplit_once('/').unwrap();
        format!("{server}/{name}")
    };
    let graph = FakeGraph::start().await.unwrap();
    graph.add_page(PAGE, PAGE_TOKEN, None);
    let cw = FakeChatwoot::start("cw-bridge-token", 5).await.unwrap();
    let inbox = cw.add_api_inbox("Messenger", None);
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = write_config(dir.path(), "a", &db_url, port_a, graph.url(), cw.url());
    let config_b = write_config(dir.path(), "b", &db_url, port_b, graph.url(), cw.url());
    let mut a = serve_command(&config_a).spawn().unwrap();
    first_line_async(&mut a).await;
    let _a = Killed(a);
    let mut b = serve_command(&config_b)
        .env("RUST_LOG", "wbots=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = log_lines(&mut b);
    first_line_async(&mut b).await;
    let _b = Killed(b);

    // Connected through replica A's configuration, into the bridge's own account.
    add(
        &config_a,
        &[
            "--kind",
            "messenger",
            "--id",
            PAGE,
            "--access-token-stdin",
            "--inbox-id",
            &inbox.to_string(),
        ],
        &format!("{PAGE_TOKEN}\n"),
    );
    let added = Instant::now();
    // Replica B finds it by its own poll, with no delivery asking it to look.
    let deadline = added + Duration::from_secs(30);
    loop {
        let line = logs.recv_timeout(Duration::from_millis(100)).unwrap_or_default();
        if line.contains("now serving them") {
            break;
        }
        assert!(Instant::now() < deadline, "replica B never picked the channel up");
    }
    println!(
        "replica B serves the channel {} ms after `channels add` returned (poll every 200 ms)",
        added.elapsed().as_millis()
    );
    let bridge_b = format!("http://127.0.0.1:{port_b}");
    assert_eq!(customer_writes(&bridge_b, "m_pg", "hello over B").await, reqwest::StatusCode::OK);
    let arrived = support::eventually("the message through replica B", || {
        cw.messages().into_iter().find(|m| m.source_id.as_deref() == Some("m_pg"))
    })
    .await;
    assert_eq!(arrived.content.as_deref(), Some("hello over B"));
}
