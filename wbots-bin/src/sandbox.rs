//! `wbots sandbox`: the whole bridge on the embedded default (SQLite in a temporary
//! directory) against simulated Meta and Chatwoot servers on loopback, walking a scripted
//! conversation through it and printing each hop with its latency. Needs no accounts.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wbots_core::Secret;
use wbots_core::store::{SqliteStore, Store};
use wbots_fakes::chatwoot::{FakeChatwoot, FakeMessage};
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

use crate::config::Config;

const PAGE: &str = "100200300400500";
const IG: &str = "17841400000000001";
const APP_SECRET: &str = "sandbox-app-secret";
const APP_ID: &str = "1517776481860111";
const CW_TOKEN: &str = "sandbox-chatwoot-token";
const PATH_TOKEN: &str = "sandbox-path-token";

struct Sandbox {
    bridge_url: String,
    graph: FakeGraph,
    chatwoot: FakeChatwoot,
    http: reqwest::Client,
    started: Instant,
}

impl Sandbox {
    async fn post_meta(&self, body: String) -> Result<(), String> {
        let response = self
            .http
            .post(format!("{}/webhooks/meta", self.bridge_url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign_body(&Secret::new(APP_SECRET), body.as_bytes()))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the bridge did not answer: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the bridge answered {}", response.status()))
        }
    }

    async fn wait<T>(
        &self,
        what: &str,
        mut probe: impl FnMut(&Self) -> Option<T>,
    ) -> Result<(T, Duration), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Some(v) = probe(self) {
                return Ok((v, start.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(format!("timed out waiting for {what}"))
    }

    fn message_with_source(&self, source: &str) -> Option<FakeMessage> {
        self.chatwoot.messages().into_iter().find(|m| m.source_id.as_deref() == Some(source))
    }
}

fn hop(n: usize, route: &str, what: &str, latency: Duration) {
    println!("{n}. {route:<26} {what}  ({} ms)", latency.as_millis());
}

/// Runs the scripted conversation; exit 0 when every hop happened as expected.
pub(crate) async fn run() -> Result<ExitCode, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let graph = FakeGraph::start().await.map_err(|e| e.to_string())?;
    let chatwoot = FakeChatwoot::start(CW_TOKEN, 1).await.map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let bridge_url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let hook = format!("{bridge_url}/webhooks/chatwoot/{PATH_TOKEN}");
    let messenger_inbox = chatwoot.add_api_inbox("Messenger", Some(&hook));
    let instagram_inbox = chatwoot.add_api_inbox("Instagram", Some(&hook));
    graph.set_name("ada-psid", "Ada", "Lovelace");
    graph.set_name("grace-igsid", "Grace", "Hopper");
    graph.echo_to(
        &format!("{bridge_url}/webhooks/meta"),
        Secret::new(APP_SECRET),
        Some(APP_ID.into()),
        "page",
    );

    let db = dir.path().join("wbots.db");
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "{bridge_url}"
[store]
url = "sqlite://{db}"
[meta]
app_secret = "{APP_SECRET}"
verify_token = "sandbox-verify-token"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
app_id = "{APP_ID}"
[chatwoot]
url = "{chatwoot}"
api_access_token = "{CW_TOKEN}"
account_id = 1
webhook_token = "{PATH_TOKEN}"
[[channels]]
kind = "messenger"
id = "{PAGE}"
access_token = "sandbox-page-token"
inbox_id = {messenger_inbox}
[[channels]]
kind = "instagram"
id = "{IG}"
access_token = "sandbox-ig-token"
inbox_id = {instagram_inbox}
login = "instagram"
"#,
        db = db.display(),
        graph = graph.url(),
        chatwoot = chatwoot.url(),
    );
    let config = Config::from_toml(&toml).map_err(|e| e.to_string())?;
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::connect(config.store.url.expose()).await.map_err(|e| e.to_string())?);
    store.migrate().await.map_err(|e| e.to_string())?;
    let bridge = crate::app::bridge(&config, store.clone(), &[], None, None)?;
    let app = crate::app::router(&config, bridge.clone(), None);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn({
        let stop = shutdown.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        }
    });
    let workers = tokio::spawn({
        let stop = shutdown.clone();
        let bridge = bridge.clone();
        async move { bridge.run(stop).await }
    });

    println!("wbots sandbox: the bridge on {bridge_url} (SQLite at {}),", db.display());
    println!("simulated Meta Graph API on {} and Chatwoot on {}.\n", graph.url(), chatwoot.url());
    let sb = Sandbox {
        bridge_url,
        graph,
        chatwoot,
        http: reqwest::Client::new(),
        started: Instant::now(),
    };
    let outcome = script(&sb).await;

    shutdown.cancel();
    let _ = workers.await;
    let _ = server.await;
    match outcome {
        Ok(()) => {
            println!(
                "\nevery hop arrived exactly once, in {} ms. Next: README.md, \"Production quickstart\".",
                sb.started.elapsed().as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("\nFAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn script(sb: &Sandbox) -> Result<(), String> {
    let now = || chrono::Utc::now().timestamp_millis();

    // 1. A Messenger customer writes.
    sb.post_meta(payload::text(
        "page",
        PAGE,
        "ada-psid",
        "m_ada_1",
        "Hi! Is my order #1042 on its way?",
        now(),
    ))
    .await?;
    let (m, t) = sb.wait("Ada's message in Chatwoot", |s| s.message_with_source("m_ada_1")).await?;
    let contact = sb
        .chatwoot
        .contacts()
        .into_iter()
        .find(|c| c.identifier.as_deref() == Some(&format!("messenger:{PAGE}:ada-psid")));
    let name = contact.map(|c| c.name).unwrap_or_default();
    hop(
        1,
        "Messenger → Chatwoot",
        &format!(
            "{name}: {:?} in conversation {}",
            m.content.unwrap_or_default(),
            m.conversation_id
        ),
        t,
    );
    let ada_conversation = m.conversation_id;

    // 2. An Instagram customer sends a photo.
    let photo =
        sb.graph.host_media("sneakers.jpg", "image/jpeg", vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4]);
    sb.post_meta(payload::attachment(
        "instagram",
        IG,
        "grace-igsid",
        "m_grace_1",
        "image",
        photo.as_str(),
        now(),
    ))
    .await?;
    let (m, t) =
        sb.wait("Grace's photo in Chatwoot", |s| s.message_with_source("m_grace_1")).await?;
    let file = m
        .attachments
        .first()
        .map(|a| format!("{} ({} bytes, {})", a.file_name, a.bytes.len(), a.content_type))
        .unwrap_or_else(|| "no file".into());
    hop(2, "Instagram → Chatwoot", &format!("photo re-uploaded as {file}"), t);

    // 3. An agent answers Ada in Chatwoot.
    let start = Instant::now();
    let (agent_message, status) = sb
        .chatwoot
        .agent_reply(ada_conversation, "Yes! It ships today, tracking follows.", Vec::new())
        .await;
    if status != Some(200) {
        return Err(format!("the bridge answered Chatwoot's webhook with {status:?}"));
    }
    let (sent, _) = sb
        .wait("the reply at the Graph API", |s| {
            s.graph
                .sent()
                .into_iter()
                .find(|m| m.text.as_deref() == Some("Yes! It ships today, tracking follows."))
        })
        .await?;
    hop(
        3,
        "Chatwoot → Messenger",
        &format!(
            "agent reply sent to {} as {}",
            sent.recipient,
            sent.message_id.clone().unwrap_or_default()
        ),
        start.elapsed(),
    );

    // 4. Meta echoes that send back: the bridge recognises it.
    let mid = sent.message_id.unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(300)).await;
    if sb.message_with_source(&mid).is_some() {
        return Err("the echo of the bridge's own send was posted to Chatwoot".into());
    }
    hop(
        4,
        "Messenger echo",
        &format!(
            "echo of {mid} (metadata {}) recognised and dropped",
            sent.metadata.unwrap_or_default()
        ),
        Duration::ZERO,
    );

    // 5. Someone answers from the Meta Business Suite: Chatwoot shows it.
    sb.post_meta(payload::echo(
        "page",
        PAGE,
        "ada-psid",
        "m_suite_1",
        Some("We added a free gift too."),
        None,
        Some("263902037430900"),
        now(),
    ))
    .await?;
    let (m, t) = sb
        .wait("the Business Suite reply in Chatwoot", |s| s.message_with_source("m_suite_1"))
        .await?;
    hop(
        5,
        "Business Suite → Chatwoot",
        &format!("shown as {} {:?}", m.message_type, m.content.unwrap_or_default()),
        t,
    );

    // 6. Ada's phone confirms delivery, then she reads it.
    sb.post_meta(payload::delivery(PAGE, "ada-psid", &[&mid], now())).await?;
    let (_, t) = sb
        .wait("the delivered status", |s| {
            s.chatwoot.message(agent_message).filter(|m| m.status == "delivered")
        })
        .await?;
    hop(6, "delivery receipt", &format!("Chatwoot message {agent_message} marked delivered"), t);
    sb.post_meta(payload::read(PAGE, "ada-psid", now() + 1000)).await?;
    let (_, t) = sb
        .wait("the read status", |s| {
            s.chatwoot.message(agent_message).filter(|m| m.status == "read")
        })
        .await?;
    hop(7, "read receipt", &format!("Chatwoot message {agent_message} marked read"), t);

    // Nothing doubled.
    let mut sources: Vec<String> =
        sb.chatwoot.messages().into_iter().filter_map(|m| m.source_id).collect();
    let total = sources.len();
    sources.sort();
    sources.dedup();
    if sources.len() != total {
        return Err("a message reached Chatwoot twice".into());
    }
    Ok(())
}
