//! Token upkeep and disconnection through the real binary, against FakeGraph and
//! FakeChatwoot: `wbots serve` refreshes a stored Instagram-Login token that nears its
//! expiry (the store then holds the new one), flags a Page whose token Meta revoked and
//! tells agents in the conversation; `wbots channels remove` unsubscribes the Page and may
//! delete its Chatwoot inbox.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use wbots_core::store::{ChannelStore, SealedChannels, SqliteStore};
use wbots_core::{ChannelAddress, ChannelKind, KeyRing, Secret};
use wbots_fakes::chatwoot::FakeChatwoot;
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

mod support;
use support::{Killed, first_line_async, free_port, serve_command, wbots};

const SECRET: &str = "upkeep-app-secret-0123";
const APP_ID: &str = "5151";
const PAGE: &str = "104000000777";
const PAGE_TOKEN: &str = "upkeep-page-token-0123";
const BYSTANDER: &str = "104000000999";
const BYSTANDER_TOKEN: &str = "upkeep-bystander-token-0123";
const IG: &str = "178414000777";
const IG_TOKEN: &str = "upkeep-ig-login-token-0123";

struct World {
    graph: FakeGraph,
    chatwoot: FakeChatwoot,
    dir: tempfile::TempDir,
    key: Secret,
    inbox: u64,
    bystander_inbox: u64,
    port: u16,
}

async fn world() -> World {
    let graph = FakeGraph::start().await.unwrap();
    graph.set_app(APP_ID, Secret::new(SECRET));
    graph.add_page(PAGE, PAGE_TOKEN, None);
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    graph.add_page(BYSTANDER, BYSTANDER_TOKEN, None);
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let bystander_inbox = chatwoot.add_api_inbox("Bystander", None);
    World {
        graph,
        chatwoot,
        dir: tempfile::tempdir().unwrap(),
        key: KeyRing::generate_key(),
        inbox,
        bystander_inbox,
        port: free_port(),
    }
}

/// The configuration: a short upkeep period, and one static channel (at least one is
/// needed): `PAGE` itself, or a bystander Page with an inbox of its own.
fn config(w: &World, static_page: bool) -> PathBuf {
    let path = w.dir.path().join("wbots.toml");
    let (id, token, inbox) = if static_page {
        (PAGE, PAGE_TOKEN, w.inbox)
    } else {
        (BYSTANDER, BYSTANDER_TOKEN, w.bystander_inbox)
    };
    let page = format!(
        "[[channels]]\nkind = \"messenger\"\nid = \"{id}\"\naccess_token = \"{token}\"\ninbox_id = {inbox}\n"
    );
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
[store]
url = "sqlite://{db}"
secret_key = "{key}"
[meta]
app_secret = "{SECRET}"
app_id = "{APP_ID}"
verify_token = "upkeep-verify-token"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
[chatwoot]
url = "{cw}"
api_access_token = "cw-token"
account_id = 9
webhook_token = "upkeep-path-token-0123"
[upkeep]
every_seconds = 1
refresh_days_left = 10
{page}"#,
            port = w.port,
            db = w.dir.path().join("wbots.db").display(),
            key = w.key.expose(),
            graph = w.graph.url(),
            cw = w.chatwoot.url(),
        ),
    )
    .unwrap();
    path
}

async fn serve(cfg: &Path) -> Killed {
    let mut child = serve_command(cfg).spawn().unwrap();
    let line = first_line_async(&mut child).await;
    assert!(line.starts_with("wbots listening on"), "{line}");
    Killed(child)
}

async fn sealed(w: &World) -> SealedChannels<Arc<dyn ChannelStore>> {
    let url = format!("sqlite://{}", w.dir.path().join("wbots.db").display());
    let store: Arc<dyn ChannelStore> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    SealedChannels::new(store, Arc::new(KeyRing::new([&w.key]).unwrap()))
}

/// Waits (bounded, `support::eventually`) until `probe` holds.
async fn until(what: &str, mut probe: impl FnMut() -> bool) {
    support::eventually(what, || probe().then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refreshes_a_stored_instagram_login_token_before_it_expires() {
    let w = world().await;
    // Issued 55 days ago: five days left of its 60.
    let issued = Utc::now() - chrono::Duration::days(55);
    w.graph.add_instagram_login_token(IG_TOKEN, issued);
    let expires = issued + chrono::Duration::seconds(wbots_fakes::meta::IG_TOKEN_SECONDS);
    let cfg = config(&w, false);
    let (ok, out) = wbots(
        &[
            "channels",
            "add",
            "--kind",
            "instagram",
            "--login",
            "instagram",
            "--id",
            IG,
            "--access-token",
            IG_TOKEN,
            "--inbox-id",
            &w.inbox.to_string(),
            "--token-expires-at",
            &expires.to_rfc3339(),
        ],
        &cfg,
    );
    assert!(ok, "{out}");
    let (_, out) = wbots(&["check"], &cfg);
    assert!(out.contains(&format!("warn stored instagram:{IG}: active, token expires")), "{out}");
    assert!(out.contains("(4 days left): due for a refresh"), "{out}");

    let process = serve(&cfg).await;
    until("the refresh", || w.graph.refreshed_tokens() == [IG_TOKEN]).await;
    let address = ChannelAddress::new(ChannelKind::new("instagram"), IG);
    let channels = sealed(&w).await;
    let start = Instant::now();
    let record = loop {
        let record = channels.get(&address).await.unwrap().unwrap();
        if record.credentials.access_token.expose() != IG_TOKEN {
            break record;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the new token was never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(process);
    let fresh = record.credentials.access_token.expose().to_owned();
    assert!(w.graph.instagram_token_valid(&fresh), "the stored token is the one Meta issued");
    let left = record.channel.token_expires_at.unwrap() - Utc::now();
    assert!(left > chrono::Duration::days(59), "a new 60-day expiry: {left}");
    assert_eq!(w.graph.refreshed_tokens(), [IG_TOKEN], "refreshed once, not every period");

    let (_, out) = wbots(&["check"], &cfg);
    assert!(out.contains(&format!("ok   stored instagram:{IG}: active, token expires")), "{out}");
    assert!(out.contains("(59 days left)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_page_token_flags_the_channel_and_tells_agents() {
    let w = world().await;
    let cfg = config(&w, true);
    let _process = serve(&cfg).await;
    // A customer writes: the conversation agents work in.
    let conversation = customer_writes(&w, "m_upkeep_1").await;

    // The Page owner changed their password: Meta invalidates the token.
    w.graph.revoke_token(PAGE_TOKEN);
    until("a note to agents", || {
        w.chatwoot.messages().iter().any(|m| m.private && m.conversation_id == conversation)
    })
    .await;
    let notes: Vec<String> = w
        .chatwoot
        .messages()
        .into_iter()
        .filter(|m| m.private && m.conversation_id == conversation)
        .filter_map(|m| m.content)
        .collect();
    assert!(
        notes[0].contains(&format!(
            "messenger:{PAGE} must be reconnected: Meta no longer accepts the Page token"
        )),
        "{notes:?}"
    );
    // Later periods find the same: no second note.
    let checks = w.graph.calls();
    until("two more periods", || w.graph.calls() >= checks + 2).await;
    let again = w
        .chatwoot
        .messages()
        .iter()
        .filter(|m| m.private && m.conversation_id == conversation)
        .count();
    assert_eq!(again, 1, "one note per verdict");
    drop(_process);

    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("FAIL channels[0]: messenger:{PAGE}: reconnect required: Meta no longer accepts the Page token")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_remove_unsubscribes_the_page_and_deletes_the_inbox_when_asked() {
    let w = world().await;
    let cfg = config(&w, false);
    let add = |id: &str, token: &str, inbox: u64| {
        let (ok, out) = wbots(
            &[
                "channels",
                "add",
                "--kind",
                "messenger",
                "--id",
                id,
                "--access-token",
                token,
                "--inbox-id",
                &inbox.to_string(),
            ],
            &cfg,
        );
        assert!(ok, "{out}");
    };
    add(PAGE, PAGE_TOKEN, w.inbox);
    let (ok, out) = wbots(&["channels", "remove", PAGE, "--delete-inbox"], &cfg);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("unsubscribed {PAGE} from the app's webhooks")), "{out}");
    assert!(out.contains(&format!("deleted Chatwoot inbox {}", w.inbox)), "{out}");
    assert!(out.contains(&format!("disconnected messenger:{PAGE}")), "{out}");
    assert_eq!(w.graph.unsubscribed(), [PAGE], "Meta saw the DELETE");
    assert!(w.chatwoot.inbox(w.inbox).is_none(), "the inbox is gone");

    // A Page whose token Meta invalidated already: said, and disconnected all the same.
    let other_inbox = w.chatwoot.add_api_inbox("Other", None);
    w.graph.add_page("104000000888", "dead-page-token", None);
    w.graph.revoke_token("dead-page-token");
    add("104000000888", "dead-page-token", other_inbox);
    let (ok, out) = wbots(&["channels", "remove", "104000000888"], &cfg);
    assert!(ok, "{out}");
    assert!(out.contains("Meta refused the token of messenger:104000000888"), "{out}");
    assert!(out.contains("disconnected messenger:104000000888"), "{out}");
    assert_eq!(w.graph.unsubscribed(), [PAGE], "nothing unsubscribed with a dead token");
    assert!(w.chatwoot.inbox(other_inbox).is_some(), "kept without --delete-inbox");

    // An Instagram-Login account is unsubscribed itself, with its own token.
    w.graph.add_instagram_login_token(IG_TOKEN, Utc::now());
    let (ok, out) = wbots(
        &[
            "channels",
            "add",
            "--kind",
            "instagram",
            "--login",
            "instagram",
            "--id",
            IG,
            "--access-token",
            IG_TOKEN,
            "--inbox-id",
            &other_inbox.to_string(),
        ],
        &cfg,
    );
    assert!(ok, "{out}");
    let (ok, out) = wbots(&["channels", "remove", IG], &cfg);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("unsubscribed {IG} from the app's webhooks")), "{out}");
    assert_eq!(w.graph.unsubscribed(), [PAGE, IG]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_page_whose_token_meta_revoked_is_stored_flagged_and_agents_told() {
    let w = world().await;
    let cfg = config(&w, false);
    let (ok, out) = wbots(
        &[
            "channels",
            "add",
            "--kind",
            "messenger",
            "--id",
            PAGE,
            "--access-token",
            PAGE_TOKEN,
            "--inbox-id",
            &w.inbox.to_string(),
        ],
        &cfg,
    );
    assert!(ok, "{out}");
    let process = serve(&cfg).await;
    let conversation = customer_writes(&w, "m_upkeep_stored").await;
    w.graph.revoke_token(PAGE_TOKEN);
    let address = ChannelAddress::new(ChannelKind::new("messenger"), PAGE);
    let channels = sealed(&w).await;
    let start = Instant::now();
    let reason = loop {
        let record = channels.get(&address).await.unwrap().unwrap();
        if let Some(reason) = record.channel.status.reason() {
            break reason.to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never flagged in the store");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reason.starts_with("Meta no longer accepts the Page token"), "{reason}");
    until("a note to agents", || {
        w.chatwoot.messages().iter().any(|m| m.private && m.conversation_id == conversation)
    })
    .await;
    drop(process);
    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("FAIL stored messenger:{PAGE}: reconnect required: {reason}")),
        "{out}"
    );
}

/// A customer of `PAGE` writes (message id `mid`); the Chatwoot conversation it lands in.
async fn customer_writes(w: &World, mid: &str) -> u64 {
    let body = payload::text(
        "page",
        PAGE,
        "psid-grace",
        mid,
        "Is my order on its way?",
        Utc::now().timestamp_millis(),
    );
    let status = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/webhooks/meta", w.port))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign_body(&Secret::new(SECRET), body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    until("the message in Chatwoot", || {
        w.chatwoot.messages().iter().any(|m| m.source_id.as_deref() == Some(mid))
    })
    .await;
    w.chatwoot
        .messages()
        .into_iter()
        .find(|m| m.source_id.as_deref() == Some(mid))
        .unwrap()
        .conversation_id
}
