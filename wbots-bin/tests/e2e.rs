//! End to end, through HTTP only: the real `wbots` binary against simulated Meta and
//! Chatwoot servers on loopback.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use wbots_core::Secret;
use wbots_fakes::chatwoot::{FakeChatwoot, FakeMessage};
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

mod support;
use support::{Killed, first_line_async, free_port, serve_command};

const PAGE: &str = "111222333";
const IG: &str = "178414000001";
const SECRET: &str = "e2e-app-secret-0123";
const PATH_TOKEN: &str = "e2e-path-token-0123";

/// A running `wbots serve`, killed on drop.
struct Wbots {
    _child: Killed,
    url: String,
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

struct World {
    graph: FakeGraph,
    chatwoot: FakeChatwoot,
    wbots: Wbots,
    http: reqwest::Client,
    messenger_inbox: u64,
}

async fn start() -> World {
    start_with("").await
}

/// Starts with extra `[chatwoot]` keys.
async fn start_with(chatwoot_extra: &str) -> World {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-e2e-token", 5).await.unwrap();
    chatwoot.set_webhook_secret(Some(Secret::new("cw-webhook-secret")));
    let messenger_inbox = chatwoot.add_api_inbox("Messenger", None);
    let instagram_inbox = chatwoot.add_api_inbox("Instagram", None);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    for inbox in [messenger_inbox, instagram_inbox] {
        chatwoot.set_webhook_url(inbox, &format!("{url}/webhooks/chatwoot"));
    }
    graph.echo_to(
        &format!("{url}/webhooks/meta"),
        Secret::new(SECRET),
        Some("4242".into()),
        "page",
    );
    graph.set_name("psid-ada", "Ada", "Lovelace");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wbots.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
metrics_on_listen = true
public_url = "{url}"
max_body_bytes = 65536
[store]
url = "sqlite://{db}"
[meta]
app_secret = "{SECRET}"
verify_token = "e2e-verify-token-01"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
app_id = "4242"
[chatwoot]
url = "{cw}"
api_access_token = "cw-e2e-token"
account_id = 5
webhook_secret = "cw-webhook-secret"
webhook_token = "{PATH_TOKEN}"
{chatwoot_extra}
# Token upkeep has its own tests (upkeep.rs); off here, so the queue holds only what these
# tests make.
[upkeep]
every_seconds = 0
[[channels]]
kind = "messenger"
id = "{PAGE}"
access_token = "page-token"
inbox_id = {messenger_inbox}
[[channels]]
kind = "instagram"
id = "{IG}"
access_token = "ig-token"
inbox_id = {instagram_inbox}
login = "instagram"
"#,
            db = dir.path().join("wbots.db").display(),
            graph = graph.url(),
            cw = chatwoot.url(),
        ),
    )
    .unwrap();
    let mut child = serve_command(&config).spawn().unwrap();
    let line = first_line_async(&mut child).await;
    let child = Killed(child);
    assert_eq!(line.trim(), format!("wbots listening on {url}"));
    World {
        graph,
        chatwoot,
        wbots: Wbots { _child: child, url, _dir: dir, config },
        http: reqwest::Client::new(),
        messenger_inbox,
    }
}

impl World {
    async fn meta(&self, body: &str, secret: Option<&str>) -> reqwest::StatusCode {
        let mut req = self
            .http
            .post(format!("{}/webhooks/meta", self.wbots.url))
            .header("content-type", "application/json");
        if let Some(s) = secret {
            req = req.header("x-hub-signature-256", sign_body(&Secret::new(s), body.as_bytes()));
        }
        req.body(body.to_owned()).send().await.unwrap().status()
    }

    async fn wait<T>(&self, what: &str, mut probe: impl FnMut(&Self) -> Option<T>) -> T {
        support::eventually(what, || probe(self)).await
    }

    fn by_source(&self, source: &str) -> Option<FakeMessage> {
        self.chatwoot.messages().into_iter().find(|m| m.source_id.as_deref() == Some(source))
    }

    /// Waits, bounded, until nothing is queued or running; on timeout the failure shows
    /// what `wbots jobs list` last said (which job stayed, and why).
    async fn settled(&self) {
        let start = Instant::now();
        loop {
            let list = self.jobs_list();
            if list.contains("queued 0  running 0") {
                return;
            }
            if start.elapsed() > Duration::from_secs(60) {
                use wbots_core::store::{JobQueue as _, JobState};
                let db = self.wbots._dir.path().join("wbots.db");
                let store =
                    wbots_core::store::SqliteStore::connect(&format!("sqlite://{}", db.display()))
                        .await
                        .unwrap();
                let mut stuck = Vec::new();
                for state in [JobState::Queued, JobState::Running] {
                    stuck.extend(store.jobs(state, 20).await.unwrap().into_iter().map(|j| {
                        format!(
                            "{} {} attempts {} not before {} last error {:?}",
                            j.state.as_str(),
                            j.idempotency_key,
                            j.attempts,
                            j.not_before,
                            j.last_error
                        )
                    }));
                }
                panic!("the queue never settled: {list}\n{}", stuck.join("\n"));
            }
            // Each look is another process opening the store beside the server: not too often.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn jobs_list(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_wbots"))
            .args(["jobs", "list", "--config"])
            .arg(&self.wbots.config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_agents_echoes_and_receipts_end_to_end() {
    let w = start().await;
    // Messenger: a text and an image from the same customer → one contact, one conversation.
    assert_eq!(
        w.meta(
            &payload::text("page", PAGE, "psid-ada", "m_1", "Where is my order?", now()),
            Some(SECRET)
        )
        .await,
        200
    );
    let photo = w.graph.host_media("receipt.png", "image/png", b"\x89PNG receipt".to_vec());
    assert_eq!(
        w.meta(
            &payload::attachment("page", PAGE, "psid-ada", "m_2", "image", photo.as_str(), now()),
            Some(SECRET)
        )
        .await,
        200
    );
    // Instagram: a customer writes and sends a photo.
    assert_eq!(
        w.meta(
            &payload::text(
                "instagram",
                IG,
                "igsid-grace",
                "ig_1",
                "Do you have these in 39?",
                now()
            ),
            Some(SECRET)
        )
        .await,
        200
    );
    assert_eq!(
        w.meta(
            &payload::attachment(
                "instagram",
                IG,
                "igsid-grace",
                "ig_2",
                "image",
                photo.as_str(),
                now()
            ),
            Some(SECRET)
        )
        .await,
        200
    );

    let m2 = w.wait("Ada's image", |w| w.by_source("m_2")).await;
    let ig2 = w.wait("Grace's image", |w| w.by_source("ig_2")).await;
    let m1 = w.by_source("m_1").unwrap();
    let ig1 = w.by_source("ig_1").unwrap();
    assert_eq!(
        (m1.message_type.as_str(), m1.content.as_deref()),
        ("incoming", Some("Where is my order?"))
    );
    assert_eq!(m1.conversation_id, m2.conversation_id, "one conversation per customer");
    assert_eq!(ig1.conversation_id, ig2.conversation_id);
    assert_ne!(m1.conversation_id, ig1.conversation_id);
    assert_eq!(m2.attachments[0].bytes, b"\x89PNG receipt");
    assert_eq!(m2.attachments[0].content_type, "image/png");
    let contacts = w.chatwoot.contacts();
    assert_eq!(contacts.len(), 2);
    assert!(contacts.iter().any(|c| c.name == "Ada Lovelace"));
    assert_eq!(w.chatwoot.conversations().len(), 2);

    // An agent replies: the Graph fake gets the right recipient and text.
    let (agent_msg, status) = w
        .chatwoot
        .agent_reply(m1.conversation_id, "It left the warehouse today.", Vec::new())
        .await;
    assert_eq!(status, Some(200));
    let sent = w
        .wait("the reply at Meta", |w| w.graph.sent().into_iter().find(|s| s.text.is_some()))
        .await;
    assert_eq!(
        (sent.recipient.as_str(), sent.text.as_deref(), sent.node.as_str()),
        ("psid-ada", Some("It left the warehouse today."), PAGE)
    );
    assert_eq!(sent.token, "page-token");

    // Its echo (sent by the Graph fake, as Meta does) is dropped; a reply from the Meta app
    // appears as outgoing.
    assert_eq!(
        w.meta(
            &payload::echo(
                "page",
                PAGE,
                "psid-ada",
                "m_app",
                Some("Sent from the Page inbox"),
                None,
                Some("999"),
                now()
            ),
            Some(SECRET)
        )
        .await,
        200
    );
    let from_app = w.wait("the app's reply", |w| w.by_source("m_app")).await;
    assert_eq!(from_app.message_type, "outgoing");
    let own_mid = sent.message_id.clone().unwrap();
    assert!(w.by_source(&own_mid).is_none(), "the echo of the bridge's own send is not posted");

    // A delivery receipt updates the agent message's status.
    assert_eq!(
        w.meta(&payload::delivery(PAGE, "psid-ada", &[&own_mid], now()), Some(SECRET)).await,
        200
    );
    w.wait("delivered", |w| w.chatwoot.message(agent_msg).filter(|m| m.status == "delivered"))
        .await;

    // Nothing was doubled, and the queue is settled.
    let sources: Vec<String> =
        w.chatwoot.messages().into_iter().filter_map(|m| m.source_id).collect();
    let mut unique = sources.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(sources.len(), unique.len(), "{sources:?}");
    assert_eq!(w.graph.sent().iter().filter(|s| s.text.is_some()).count(), 1);
    let _ = w.messenger_inbox;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_answer_and_stores_nothing() {
    let w = start().await;
    let body = payload::text("page", PAGE, "psid-x", "m_bad", "hello", now());
    assert_eq!(w.meta(&body, None).await, 401, "missing signature");
    assert_eq!(w.meta(&body, Some("not-the-secret")).await, 401, "wrong signature");
    let signed_then_changed = {
        let sig = sign_body(&Secret::new(SECRET), body.as_bytes());
        w.http
            .post(format!("{}/webhooks/meta", w.wbots.url))
            .header("x-hub-signature-256", sig)
            .body(body.replace("hello", "hellO"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(signed_then_changed, 401, "tampered body");
    assert_eq!(w.meta("{not json", Some(SECRET)).await, 400);
    assert_eq!(w.meta(r#"{"object":"page"}"#, Some(SECRET)).await, 400, "wrong shape");
    let huge = format!("{{\"object\":\"page\",\"entry\":[],\"pad\":\"{}\"}}", "x".repeat(70_000));
    assert_eq!(w.meta(&huge, Some(SECRET)).await, 413);
    // Valid but unknown, or for a Page nobody configured: 200 and skipped.
    assert_eq!(w.meta(r#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"a"},"recipient":{"id":"1"},"brand_new":{}}]}]}"#, Some(SECRET)).await, 200);
    assert_eq!(
        w.meta(&payload::text("page", "999999", "psid-x", "m_other", "hi", now()), Some(SECRET))
            .await,
        200
    );

    // The handshake.
    let hs = |q: &str| w.http.get(format!("{}/webhooks/meta?{q}", w.wbots.url)).send();
    let ok = hs("hub.mode=subscribe&hub.verify_token=e2e-verify-token-01&hub.challenge=8675309")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "8675309");
    assert_eq!(
        hs("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1").await.unwrap().status(),
        403
    );
    assert_eq!(
        hs("hub.mode=unsubscribe&hub.verify_token=e2e-verify-token-01&hub.challenge=1")
            .await
            .unwrap()
            .status(),
        403
    );

    // Chatwoot: unsigned, wrongly signed, wrong path token.
    let cw_body = json!({"event": "message_created", "id": 1, "message_type": "outgoing", "private": false, "conversation": {"id": 1}, "inbox": {"id": 1}}).to_string();
    let cw = |path: &str, headers: Vec<(&'static str, String)>| {
        let mut r = w.http.post(format!("{}{path}", w.wbots.url)).body(cw_body.clone());
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.send()
    };
    assert_eq!(cw("/webhooks/chatwoot", vec![]).await.unwrap().status(), 401);
    let ts = chrono::Utc::now().timestamp().to_string();
    assert_eq!(
        cw(
            "/webhooks/chatwoot",
            vec![
                ("x-chatwoot-timestamp", ts.clone()),
                ("x-chatwoot-signature", "sha256=00".into())
            ]
        )
        .await
        .unwrap()
        .status(),
        401
    );
    assert_eq!(cw("/webhooks/chatwoot/guessed-token", vec![]).await.unwrap().status(), 401);

    // The only job is the bridge's own sweep for undelivered agent messages, made at start.
    let jobs = w.jobs_list();
    let counts: Vec<u64> = jobs.split_whitespace().filter_map(|t| t.parse().ok()).take(4).collect();
    assert!(counts.len() == 4 && counts[..3].iter().sum::<u64>() <= 1 && counts[3] == 0, "{jobs}");
    assert!(w.chatwoot.messages().is_empty());
    // Refusals are counted.
    let metrics =
        w.http.get(format!("{}/metrics", w.wbots.url)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"wbots_webhooks_total{source="meta",outcome="unauthorized"} 3"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_deletion_request_removes_the_users_data_and_has_a_status_page() {
    use base64::Engine;
    use wbots_core::store::LinkStore as _;
    let w = start().await;
    assert_eq!(
        w.meta(
            &payload::text("page", PAGE, "user-to-forget", "m_f1", "please forget me", now()),
            Some(SECRET)
        )
        .await,
        200
    );
    let incoming = w.wait("the message", |w| w.by_source("m_f1")).await;
    // An agent answers (an outbound job, its parts and Meta's echo), and another customer
    // writes, whose data must stay.
    let (_, status) =
        w.chatwoot.agent_reply(incoming.conversation_id, "We will, goodbye.", Vec::new()).await;
    assert_eq!(status, Some(200));
    assert_eq!(
        w.meta(&payload::text("page", PAGE, "user-to-keep", "m_k1", "hello", now()), Some(SECRET))
            .await,
        200
    );
    w.wait("the reply at Meta", |w| w.graph.sent().into_iter().find(|s| s.text.is_some())).await;
    w.wait("the other customer", |w| w.by_source("m_k1")).await;
    w.settled().await;
    let db = w.wbots._dir.path().join("wbots.db");
    let found = |id: &str| support::sqlite_files_holding(&db, id);
    assert!(!found("user-to-forget").is_empty(), "the search finds the stored id");

    let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": 1_732_000_000, "user_id": "user-to-forget"});
    let signed = wbots_meta::signed_request::encode(&payload, &Secret::new(SECRET));
    let request_deletion = || {
        w.http
            .post(format!("{}/meta/data-deletion", w.wbots.url))
            .form(&[("signed_request", signed.as_str())])
            .send()
    };
    let resp = request_deletion().await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    // As soon as the request is answered, the id is in none of the store's files.
    assert_eq!(found("user-to-forget"), Vec::<String>::new(), "the id left no trace");
    assert!(!found("user-to-keep").is_empty(), "the other customer's data stays");
    let code = answer["confirmation_code"].as_str().unwrap().to_owned();
    let url = answer["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/meta/data-deletion/{code}", w.wbots.url));
    let status = w.http.get(&url).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let text = status.text().await.unwrap();
    assert!(text.contains("Status: completed"), "{text}");
    let removed: u64 =
        text.lines().find_map(|l| l.strip_prefix("Records removed: ")).unwrap().parse().unwrap();
    assert!(removed >= 4, "contact, conversation and message links: {text}");

    // Meta calling again with the same request gets the same code, and the status record
    // stays the first one, alone.
    let again: serde_json::Value = request_deletion().await.unwrap().json().await.unwrap();
    assert_eq!(again, answer);
    assert_eq!(w.http.get(&url).send().await.unwrap().text().await.unwrap(), text);
    let store = wbots_core::store::SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let records = store
        .links_with_prefix(
            &wbots_core::store::LinkPrefix::all(wbots_core::store::LinkKind::DataDeletion),
            10,
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "one status record: {records:?}");

    // A forged request is refused, an unknown code is 404.
    let forged = format!(
        "{}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("sig"),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let resp = w
        .http
        .post(format!("{}/meta/data-deletion", w.wbots.url))
        .form(&[("signed_request", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        w.http
            .get(format!("{}/meta/data-deletion/nope", w.wbots.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn an_invalid_configuration_exits_before_listening_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"nowhere\"\n[meta]\napp_secret = \"s\"\nverify_token = \"v\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wbots"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.listen"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "nothing listened");
}

#[cfg(feature = "sandbox")]
#[test]
fn the_sandbox_runs_to_completion() {
    let out = Command::new(env!("CARGO_BIN_EXE_wbots")).arg("sandbox").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for hop in [
        "Messenger → Chatwoot",
        "Instagram → Chatwoot",
        "Chatwoot → Messenger",
        "recognised and dropped",
        "Business Suite → Chatwoot",
        "marked delivered",
        "marked read",
        "every hop arrived exactly once",
    ] {
        assert!(stdout.contains(hop), "missing {hop:?}:\n{stdout}");
    }
}

/// Built with `--no-default-features`, the binary has no fakes in it and no sandbox command.
#[cfg(not(feature = "sandbox"))]
#[test]
fn without_the_sandbox_feature_there_is_no_sandbox_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_wbots")).arg("sandbox").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unrecognized subcommand 'sandbox'"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_configured_data_deletion_also_deletes_the_chatwoot_contact() {
    let w = start_with("delete_contacts_on_data_deletion = true").await;
    assert_eq!(
        w.meta(&payload::text("page", PAGE, "user-gone", "m_g1", "bye", now()), Some(SECRET)).await,
        200
    );
    w.wait("the message", |w| w.by_source("m_g1")).await;
    assert_eq!(w.chatwoot.contacts().len(), 1);
    let signed = wbots_meta::signed_request::encode(
        &json!({"algorithm": "HMAC-SHA256", "user_id": "user-gone"}),
        &Secret::new(SECRET),
    );
    let resp = w
        .http
        .post(format!("{}/meta/data-deletion", w.wbots.url))
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(w.chatwoot.contacts().is_empty(), "the contact is gone from Chatwoot");
    assert!(w.chatwoot.messages().is_empty(), "with its conversation");
    // Deauthorize: malformed and forged are refused, a real one is accepted.
    let malformed = w
        .http
        .post(format!("{}/meta/deauthorize", w.wbots.url))
        .form(&[("signed_request", "x.y")])
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let wrong_key = wbots_meta::signed_request::encode(
        &json!({"algorithm": "HMAC-SHA256", "profile_id": PAGE}),
        &Secret::new("not-ours"),
    );
    let forged = w
        .http
        .post(format!("{}/meta/deauthorize", w.wbots.url))
        .form(&[("signed_request", wrong_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let page_removed = wbots_meta::signed_request::encode(
        &json!({"algorithm": "HMAC-SHA256", "profile_id": PAGE}),
        &Secret::new(SECRET),
    );
    let ok = w
        .http
        .post(format!("{}/meta/deauthorize", w.wbots.url))
        .form(&[("signed_request", page_removed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// Issue #14: attachment URLs pointing into the bridge's own network, both ways. Neither is
/// fetched; the customer's message says why, and the agent's message is marked failed with
/// the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_urls_pointing_inside_are_fetched_neither_way() {
    use wbots_fakes::wiremock::{Route, status, text};
    use wiremock::MockServer;
    let w = start().await;
    let internal = MockServer::start().await;
    Route::any_path(&internal, "GET").answers(text(200, "INTERNAL SECRET")).await;
    let inside = format!("{}/admin/keys", internal.uri());

    // A customer's "image" on an internal service.
    let body = payload::attachment("page", PAGE, "psid-ada", "m_in", "image", &inside, now());
    assert_eq!(w.meta(&body, Some(SECRET)).await, 200);
    let posted = w.wait("the customer's message", |w| w.by_source("m_in")).await;
    assert!(posted.attachments.is_empty());
    assert_eq!(
        posted.content.as_deref(),
        Some(
            "[image could not be copied: not downloaded: 127.0.0.1 is not one of Meta's media hosts]"
        )
    );

    // A signed agent message whose file points inside: Chatwoot's real webhook for an
    // agent's file, captured, its data_url replaced, signed with the inbox's secret.
    let capture = MockServer::start().await;
    Route::any_path(&capture, "POST").answers(status(200)).await;
    w.chatwoot.set_webhook_url(w.messenger_inbox, &capture.uri());
    let file = ("keys.txt".to_owned(), "text/plain".to_owned(), b"harmless".to_vec());
    let (agent_msg, _) = w.chatwoot.agent_reply(posted.conversation_id, "", vec![file]).await;
    let mut hook: serde_json::Value = capture
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
        .find(|b| b["event"] == "message_created" && b["id"] == agent_msg)
        .unwrap();
    hook["attachments"][0]["data_url"] = json!(inside);
    let hook = hook.to_string();
    let ts = chrono::Utc::now().timestamp();
    let secret = Secret::new("cw-webhook-secret");
    let status = w
        .http
        .post(format!("{}/webhooks/chatwoot", w.wbots.url))
        .header("content-type", "application/json")
        .header("x-chatwoot-timestamp", ts.to_string())
        .header("x-chatwoot-signature", wbots_chatwoot::sign_webhook(&secret, ts, hook.as_bytes()))
        .header("x-chatwoot-delivery", "forged-1")
        .body(hook)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let failed = w
        .wait("the agent's message failed", |w| {
            w.chatwoot.message(agent_msg).filter(|m| m.status == "failed")
        })
        .await;
    assert_eq!(
        failed.external_error.as_deref(),
        Some(
            "not downloaded: 127.0.0.1 is not the Chatwoot server (chatwoot.url, chatwoot.frontend_url)"
        )
    );
    assert!(internal.received_requests().await.unwrap().is_empty());
    assert!(w.graph.sent().iter().all(|s| s.upload.is_none() && s.attachment_url.is_none()));
}
