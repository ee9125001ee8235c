//! People's rights over their data, end to end: the real `wbots` binary (`serve` and the
//! `privacy` commands) against the fakes of Meta and Chatwoot on loopback.

use std::path::PathBuf;

use serde_json::{Value, json};
use wbots_core::Secret;
use wbots_fakes::chatwoot::{FakeChatwoot, FakeMessage};
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

mod support;
use support::{Killed, first_line_async, free_port, serve_command, wbots};

const PAGE: &str = "111222333";
const SECRET: &str = "privacy-app-secret-0123";
const APP_ID: &str = "4242";
/// base64 of "0123456789abcdef0123456789abcdef" (32 bytes).
const STORE_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct World {
    graph: FakeGraph,
    chatwoot: FakeChatwoot,
    _child: Killed,
    url: String,
    dir: tempfile::TempDir,
    config: PathBuf,
    http: reqwest::Client,
}

async fn start() -> World {
    start_seeded(None).await
}

/// Puts someone whose last message is 40 days old in the store, as the engine records it
/// (contact and `last_inbound` links, ms since the epoch, in the person's scope).
async fn seed_old_person(db: &std::path::Path, user: &str) -> String {
    use wbots_core::store::{Link, LinkKey, LinkStore as _, SqliteStore, Store as _, user_scope};
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    store.migrate().await.unwrap();
    let page = wbots_core::ChannelAddress::new("messenger", PAGE);
    let scope = user_scope(&page, user);
    let long_ago = chrono::Utc::now() - chrono::Duration::days(40);
    for link in [
        Link::new(LinkKey::contact(&page, &user.into()), "999").scoped(&scope),
        Link::new(
            LinkKey::last_inbound(&page, &user.into()),
            long_ago.timestamp_millis().to_string(),
        )
        .scoped(&scope),
    ] {
        store.put_link(&link).await.unwrap();
    }
    store.close().await;
    scope
}

/// Starts `serve`, with an old person in its store first when `old_person` names one.
async fn start_seeded(old_person: Option<&str>) -> World {
    let graph = FakeGraph::start().await.unwrap();
    graph.set_app(APP_ID, Secret::new(SECRET));
    // The Page and its token, as Meta knows them: the token upkeep checks it at start.
    graph.add_page(PAGE, "page-token", None);
    let chatwoot = FakeChatwoot::start("cw-privacy-token", 5).await.unwrap();
    chatwoot.set_webhook_secret(Some(Secret::new("cw-webhook-secret")));
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    chatwoot.set_webhook_url(inbox, &format!("{url}/webhooks/chatwoot"));
    graph.echo_to(
        &format!("{url}/webhooks/meta"),
        Secret::new(SECRET),
        Some(APP_ID.into()),
        "page",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wbots.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
public_url = "{url}"
[store]
url = "sqlite://{db}"
secret_key = "{STORE_KEY}"
[meta]
app_secret = "{SECRET}"
verify_token = "privacy-verify-token"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
app_id = "{APP_ID}"
[chatwoot]
url = "{cw}"
api_access_token = "cw-privacy-token"
account_id = 5
webhook_secret = "cw-webhook-secret"
webhook_token = "privacy-path-token-0123"
delete_contacts_on_data_deletion = true
[privacy]
retention_days = 30
chatwoot_retention_days = 30
[[channels]]
kind = "messenger"
id = "{PAGE}"
access_token = "page-token"
inbox_id = {inbox}
"#,
            db = dir.path().join("wbots.db").display(),
            graph = graph.url(),
            cw = chatwoot.url(),
        ),
    )
    .unwrap();
    if let Some(user) = old_person {
        seed_old_person(&dir.path().join("wbots.db"), user).await;
    }
    let mut child = serve_command(&config).spawn().unwrap();
    let line = first_line_async(&mut child).await;
    let child = Killed(child);
    assert_eq!(line.trim(), format!("wbots listening on {url}"));
    World { graph, chatwoot, _child: child, url, dir, config, http: reqwest::Client::new() }
}

impl World {
    /// A customer writes to the Page; returns once the message is in Chatwoot.
    async fn customer_writes(&self, user: &str, mid: &str, text: &str) -> FakeMessage {
        let body = payload::text("page", PAGE, user, mid, text, now());
        let status = self
            .http
            .post(format!("{}/webhooks/meta", self.url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign_body(&Secret::new(SECRET), body.as_bytes()))
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        self.wait(&format!("message {mid}"), |w| {
            w.chatwoot.messages().into_iter().find(|m| m.source_id.as_deref() == Some(mid))
        })
        .await
    }

    async fn wait<T>(&self, what: &str, mut probe: impl FnMut(&Self) -> Option<T>) -> T {
        support::eventually(what, || probe(self)).await
    }

    /// The store's files that contain `id`.
    fn files_holding(&self, id: &str) -> Vec<String> {
        support::sqlite_files_holding(&self.dir.path().join("wbots.db"), id)
    }

    fn run(&self, args: &[&str]) -> String {
        let (ok, out) = wbots(args, &self.config);
        assert!(ok, "wbots {args:?} failed:\n{out}");
        out
    }

    async fn settled(&self) {
        self.wait("a settled queue", |w| {
            let (_, out) = wbots(&["jobs", "list"], &w.config);
            out.contains("queued 0  running 0").then_some(())
        })
        .await;
    }

    /// Meta's data-deletion request for `app_scoped_id`, issued at `issued_at` (another
    /// time, another request).
    async fn request_deletion(&self, app_scoped_id: &str, issued_at: i64) -> Value {
        let signed = wbots_meta::signed_request::encode(
            &json!({"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": app_scoped_id}),
            &Secret::new(SECRET),
        );
        let resp = self
            .http
            .post(format!("{}/meta/data-deletion", self.url))
            .form(&[("signed_request", signed.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    async fn page(&self, url: &str) -> String {
        let resp = self.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_finds_a_messenger_customer_through_meta_id_matching() {
    let w = start().await;
    // Ada wrote to the Page: the bridge knows her page-scoped id only. Meta's request names
    // her app-scoped id, which Meta matches to that page-scoped id.
    w.graph.match_page_id("asid-ada-01", PAGE, "psid-ada-77");
    w.customer_writes("psid-ada-77", "m_ada", "hello from Ada").await;
    w.customer_writes("psid-kept-88", "m_kept", "hello from someone else").await;
    w.settled().await;
    assert!(!w.files_holding("psid-ada-77").is_empty(), "the search finds the stored id");
    assert_eq!(w.chatwoot.contacts().len(), 2);

    let answer = w.request_deletion("asid-ada-01", 1_732_000_000).await;
    assert_eq!(w.files_holding("psid-ada-77"), Vec::<String>::new(), "no trace of her id");
    assert!(!w.files_holding("psid-kept-88").is_empty(), "the other customer stays");
    let contacts = w.chatwoot.contacts();
    assert_eq!(contacts.len(), 1, "her Chatwoot contact is deleted: {contacts:?}");
    assert!(contacts[0].identifier.as_deref().is_some_and(|i| i.contains("psid-kept-88")));
    let status = w.page(answer["url"].as_str().unwrap()).await;
    assert!(status.contains("Status: completed"), "{status}");
    assert!(status.contains("Meta matched this person to 1 id(s)"), "{status}");
    let removed: u64 =
        status.lines().find_map(|l| l.strip_prefix("Records removed: ")).unwrap().parse().unwrap();
    assert!(removed >= 3, "links and the contact: {status}");

    // Someone Meta cannot match: the status page says so plainly.
    let unmatched = w.request_deletion("asid-nobody-02", 1_732_000_000).await;
    let status = w.page(unmatched["url"].as_str().unwrap()).await;
    assert!(status.contains("Meta could not match this person"), "{status}");
    assert!(status.contains("Records removed: 0"), "{status}");

    // Meta refusing the matching (here: the app token is not the app's any more) is said
    // too, without Meta's words on the public page.
    w.graph.set_app("another-app", Secret::new("another-secret-0123"));
    let refused = w.request_deletion("asid-ada-01", 1_732_000_100).await;
    let status = w.page(refused["url"].as_str().unwrap()).await;
    assert!(status.contains("Meta refused to match this person"), "{status}");
    assert!(!status.contains("OAuth"), "{status}");

    // All three are in the audit trail, the person as a keyed hash only.
    let log = w.run(&["privacy", "log", "--json"]);
    let entries: Value = serde_json::from_str(&log).unwrap();
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{log}");
    assert!(entries.iter().all(|e| e["action"] == "data_deletion"), "{log}");
    assert_eq!(entries[2]["outcome"], "completed");
    assert_eq!(entries[1]["outcome"], "nothing found");
    assert_eq!(entries[1]["subject"].as_str().map(str::len), Some(64), "{log}");
    assert_eq!(entries[0]["subject"], entries[2]["subject"], "one person, one hash: {log}");
    assert!(!log.contains("asid-ada-01") && !log.contains("psid-ada-77"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_shows_the_conversation_and_forget_removes_the_person_everywhere() {
    let w = start().await;
    let incoming = w.customer_writes("psid-bob-55", "m_bob1", "Where is my <order>?").await;
    let (_, status) =
        w.chatwoot.agent_reply(incoming.conversation_id, "It ships today, Bob.", Vec::new()).await;
    assert_eq!(status, Some(200));
    w.wait("the reply at Meta", |w| w.graph.sent().into_iter().find(|s| s.text.is_some())).await;
    w.customer_writes("psid-carol-66", "m_carol", "hi").await;
    w.settled().await;

    // The export holds what he wrote and what he was answered, from Chatwoot, and the
    // bridge's own records, each saying where it came from.
    let out = w.run(&["privacy", "export", "--channel", PAGE, "--user", "psid-bob-55"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let conversations = doc["chatwoot"]["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1, "{out}");
    let messages = conversations[0]["messages"].as_array().unwrap();
    let said = |text: &str, direction: &str| {
        messages.iter().any(|m| {
            m["content"].as_str().is_some_and(|c| c.contains(text))
                && m["direction"].as_str().is_some_and(|d| d.contains(direction))
        })
    };
    assert!(said("Where is my <order>?", "incoming"), "{out}");
    assert!(said("It ships today", "outgoing"), "{out}");
    assert!(conversations[0]["messages_source"].as_str().unwrap().contains("/messages"));
    assert!(doc["chatwoot"]["contact"]["source"].as_str().unwrap().contains("/contacts/"));
    let links = doc["bridge"]["links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["kind"] == "contact"), "{out}");
    assert!(links.iter().all(|l| l["source"].as_str().unwrap().contains("store")));
    assert!(!out.contains("psid-carol-66"), "nobody else's data: {out}");
    // The same person by Chatwoot contact id, as a page: escaped.
    let contact = doc["person"]["chatwoot_contact_id"].as_str().unwrap().to_owned();
    let html = w.run(&["privacy", "export", "--channel", PAGE, "--contact", &contact, "--html"]);
    assert!(html.contains("Where is my &lt;order&gt;?"), "{html}");
    assert!(!html.contains("<order>"), "{html}");

    // Forgotten, with the Chatwoot side.
    let out =
        w.run(&["privacy", "forget", "--channel", PAGE, "--user", "psid-bob-55", "--chatwoot"]);
    assert!(out.contains("forgot the person"), "{out}");
    assert!(out.contains("Chatwoot contact deleted with 1 conversation(s)"), "{out}");
    assert_eq!(w.files_holding("psid-bob-55"), Vec::<String>::new(), "no trace in the store");
    assert!(!w.files_holding("psid-carol-66").is_empty(), "the other customer stays");
    let contacts = w.chatwoot.contacts();
    assert!(
        contacts.iter().all(|c| !c.identifier.as_deref().unwrap_or("").contains("psid-bob-55")),
        "no contact of his in the bridge's inbox: {contacts:?}"
    );
    assert_eq!(contacts.len(), 1);
    // The status page shows it, as for Meta's requests.
    let url = out.lines().find_map(|l| l.strip_prefix("status: ")).unwrap().to_owned();
    let status = w.page(&url).await;
    assert!(status.contains("Status: completed"), "{status}");

    // Again: nothing left, and it says so; the status record stays the first one.
    let again =
        w.run(&["privacy", "forget", "--channel", PAGE, "--user", "psid-bob-55", "--chatwoot"]);
    assert!(again.contains("nothing left to forget"), "{again}");
    assert_eq!(w.page(&url).await, status);

    let log = w.run(&["privacy", "log"]);
    assert_eq!(log.lines().filter(|l| l.contains(" export ")).count(), 2, "{log}");
    assert_eq!(log.lines().filter(|l| l.contains(" forget ")).count(), 2, "{log}");
    assert!(log.contains("nothing found"), "{log}");
    assert!(!log.contains("psid-bob-55"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_forgets_what_is_past_its_time_and_a_dry_run_deletes_nothing() {
    let w = start().await;
    w.customer_writes("psid-dan-44", "m_dan", "hello").await;
    w.settled().await;
    // Someone whose last message is 40 days old (after `serve`'s pruning at start).
    let scope = seed_old_person(&w.dir.path().join("wbots.db"), "psid-old-33").await;

    let dry = w.run(&["privacy", "retention", "--dry-run"]);
    assert!(dry.contains("dry run, nothing deleted"), "{dry}");
    assert!(dry.contains(&format!("would forget {scope}")), "{dry}");
    assert!(dry.contains("1 person(s) past 30 day(s) listed"), "{dry}");
    assert!(!w.files_holding("psid-old-33").is_empty(), "the dry run deleted nothing");
    let run = w.run(&["privacy", "retention", "--requested-by", "nightly timer"]);
    assert!(run.contains("1 person(s) past 30 day(s): 2 link(s)"), "{run}");
    assert_eq!(w.files_holding("psid-old-33"), Vec::<String>::new());
    assert!(!w.files_holding("psid-dan-44").is_empty(), "a recent person is kept");

    // Chatwoot's side: Eve's conversation has been idle for 40 days, Dan's is new.
    let eve = w.customer_writes("psid-eve-22", "m_eve", "hello from Eve").await;
    w.settled().await;
    w.chatwoot.backdate_conversation(eve.conversation_id, 40 * 86_400);
    let dry = w.run(&["privacy", "retention", "--dry-run", "--chatwoot"]);
    assert!(dry.contains("0 person(s) past 30 day(s) listed"), "{dry}");
    assert!(
        dry.contains(&format!("conversation(s) {} (idle over 30 day(s))", eve.conversation_id)),
        "{dry}"
    );
    assert!(dry.contains("Chatwoot: 1 contact(s) idle over 30 day(s) listed, 1 kept"), "{dry}");
    assert_eq!(w.chatwoot.contacts().len(), 2, "the dry run deleted nothing");
    let run = w.run(&["privacy", "retention", "--chatwoot", "--requested-by", "nightly timer"]);
    assert!(run.contains("1 contact(s) idle over 30 day(s) deleted"), "{run}");
    let contacts = w.chatwoot.contacts();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert!(contacts[0].identifier.as_deref().is_some_and(|i| i.contains("psid-dan-44")));
    assert_eq!(w.files_holding("psid-eve-22"), Vec::<String>::new(), "forgotten by the bridge");
    assert!(!w.files_holding("psid-dan-44").is_empty(), "Dan is kept");
    assert_eq!(w.chatwoot.contacts().len(), 1);
    let log = w.run(&["privacy", "log"]);
    assert!(log.contains("retention by \"nightly timer\""), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_forgets_people_past_the_retention_with_its_pruning() {
    let w = start_seeded(Some("psid-stale-11")).await;
    w.wait("the pruning at start", |w| w.files_holding("psid-stale-11").is_empty().then_some(()))
        .await;
    let log = w.run(&["privacy", "log"]);
    assert!(log.contains("retention by \"serve (person retention)\""), "{log}");
    assert!(log.contains("1 person(s)"), "{log}");
}

/// Meta's deauthorize and data-deletion callbacks name the person who connected channels
/// through Meta's login (their app-scoped id, recorded with each channel by the connect
/// page): the access their grant gave is deleted, each channel they connected is stored as
/// needing a reconnect with a plain reason, and the request is in the audit trail; an
/// Instagram-Login account named by its own id is withdrawn the same way. Channels others
/// granted are untouched, and a repeated request changes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callbacks_withdraw_the_grants_of_the_person_who_connected_channels() {
    use std::sync::Arc;
    use wbots_core::store::{
        ChannelStore, Link, LinkKey, LinkStore as _, SealedChannels, SqliteStore,
    };
    let w = start().await;
    w.graph.add_page("555", "page-token-555", None);
    w.graph.add_page("556", "page-token-556", None);
    for (kind, id, token, login) in [
        ("messenger", "555", "page-token-555", "facebook"),
        ("messenger", "556", "page-token-556", "facebook"),
        ("instagram", "17841400000000777", "ig-login-token-777", "instagram"),
    ] {
        let mut args = vec!["channels", "add", "--kind", kind, "--id", id];
        args.extend(["--access-token", token, "--inbox-id", "1"]);
        if kind == "instagram" {
            args.extend(["--login", login, "--token-expires-at", "2099-01-01T00:00:00Z"]);
        }
        w.run(&args);
    }
    // As the connect page records them: Owen granted 555, someone else 556.
    let db = w.dir.path().join("wbots.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    for (page, person) in [("555", "asid-owen-9"), ("556", "asid-other-8")] {
        let address = wbots_core::ChannelAddress::new("messenger", page);
        store.set_link(&Link::new(LinkKey::channel_grant(&address), person)).await.unwrap();
    }
    let status_of = |id: &str| {
        let list: Value = serde_json::from_str(&w.run(&["channels", "list", "--json"])).unwrap();
        let c = list["channels"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned();
        c.map(|c| (c["status"].as_str().unwrap().to_owned(), c["reason"].clone()))
    };
    assert_eq!(status_of("555").unwrap().0, "active");

    // Owen removes the app: Meta's deauthorize callback names him.
    let deauthorize = |user: &str| {
        let signed = wbots_meta::signed_request::encode(
            &json!({"algorithm": "HMAC-SHA256", "issued_at": 1_764_000_000, "user_id": user}),
            &Secret::new(SECRET),
        );
        let http = w.http.clone();
        let url = format!("{}/meta/deauthorize", w.url);
        async move { http.post(url).form(&[("signed_request", signed)]).send().await.unwrap() }
    };
    assert_eq!(deauthorize("asid-owen-9").await.status(), 200);
    let (status, reason) = status_of("555").unwrap();
    assert_eq!(status, "flagged");
    assert!(reason.as_str().unwrap().contains("removed the app"), "{reason}");
    assert_eq!(status_of("556").unwrap().0, "active", "another person's grant stays");
    let owen = wbots_core::ChannelAddress::new("messenger", "555");
    assert_eq!(store.get_link(&LinkKey::channel_grant(&owen)).await.unwrap(), None, "his id");
    // The token his login gave is deleted; the other one is kept.
    let keys = Arc::new(wbots_core::KeyRing::new([&Secret::new(STORE_KEY)]).unwrap());
    let sealed = SealedChannels::new(Arc::new(store.clone()) as Arc<dyn ChannelStore>, keys);
    let token = |page: &str| {
        let sealed = sealed.clone();
        let address = wbots_core::ChannelAddress::new("messenger", page);
        async move {
            let record = sealed.get(&address).await.unwrap().unwrap();
            record.credentials.access_token.expose().to_owned()
        }
    };
    assert_eq!(token("555").await, "", "his grant's token");
    assert_eq!(token("556").await, "page-token-556");
    let list = w.run(&["channels", "list"]);
    let line = list.lines().find(|l| l.starts_with("messenger:555 ")).unwrap();
    assert!(line.contains("credentials no Meta token: the grant was withdrawn"), "{line}");

    // Meta calling again changes nothing more.
    assert_eq!(deauthorize("asid-owen-9").await.status(), 200);
    let log: Value = serde_json::from_str(&w.run(&["privacy", "log", "--json"])).unwrap();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert!(entries[1]["removed"].as_str().unwrap().contains("1 connected channel(s)"), "{log}");
    assert!(!entries[0]["removed"].as_str().unwrap().contains("connected channel"), "{log}");
    assert!(!log.to_string().contains("asid-owen-9"), "{log}");

    // An Instagram-Login account named by its own id (Meta does not say which id its
    // Instagram callbacks carry): withdrawn too, by the data-deletion callback.
    let answer = w.request_deletion("17841400000000777", 1_764_000_001).await;
    let status = w.page(answer["url"].as_str().unwrap()).await;
    assert!(status.contains("granted to 1 connected channel(s) was deleted"), "{status}");
    assert_eq!(status_of("17841400000000777").unwrap().0, "flagged");

    // Meta calling late (a request it retries after a refusal) for a person who has since
    // connected a channel again: the new grant, made after the request, is kept.
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let page = wbots_core::ChannelAddress::new("messenger", "556");
    let value = format!("asid-late-7 {now_ms}");
    store.set_link(&Link::new(LinkKey::channel_grant(&page), value)).await.unwrap();
    let an_hour_ago = (now_ms / 1000) as i64 - 3600;
    let signed = wbots_meta::signed_request::encode(
        &json!({"algorithm": "HMAC-SHA256", "issued_at": an_hour_ago, "user_id": "asid-late-7"}),
        &Secret::new(SECRET),
    );
    let url = format!("{}/meta/deauthorize", w.url);
    let late = w.http.post(url).form(&[("signed_request", signed)]).send().await.unwrap();
    assert_eq!(late.status(), 200);
    assert_eq!(status_of("556").unwrap().0, "active", "a grant newer than the request stays");
    assert_eq!(token("556").await, "page-token-556");
    store.close().await;
}
