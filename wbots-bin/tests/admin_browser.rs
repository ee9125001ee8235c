//! The connect page in a real browser: headless Chromium (through chromedriver) drives the
//! real `wbots serve` with `[admin]` on, against the FakeGraph and the FakeChatwoot. A
//! business signs in, connects a Page with its Instagram account through Facebook Login
//! and an Instagram account through Instagram Login, sees them listed, a customer's
//! message arrives in Chatwoot through the Page at once, reconnects and disconnects. Each page is saved as a
//! screenshot (`target/tmp/screenshots/`; into `docs/screenshots/`, which the README shows,
//! with `WBOTS_UPDATE_SCREENSHOTS=1`). Skipped with one line when Chromium is not installed; CI installs it and fails
//! without it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use wbots_core::{KeyRing, Secret};
use wbots_fakes::chatwoot::{FakeChatwoot, FakeUser};
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

mod support;
use support::{Killed, first_line_async, free_port, serve_command};

const ACCOUNT: u64 = 5;
const TOKEN: &str = "jane-personal-token-0123";
const PERSON: &str = "10158000000000042";

struct Bridge {
    _child: Killed,
    url: String,
    dir: tempfile::TempDir,
}

async fn start_bridge(graph: &FakeGraph, chatwoot: &FakeChatwoot) -> Bridge {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wbots.toml");
    let graph_url = graph.url().as_str().trim_end_matches('/').to_owned();
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
metrics_on_listen = true
public_url = "{url}"
[store]
url = "sqlite://{db}"
secret_key = "{key}"
[meta]
app_secret = "browser-app-secret"
instagram_app_secret = "browser-ig-secret"
verify_token = "browser-verify-token"
graph_url = "{graph_url}"
instagram_graph_url = "{graph_url}"
app_id = "4242"
[chatwoot]
url = "{chatwoot}"
api_access_token = "bridge-chatwoot-token"
account_id = {ACCOUNT}
webhook_token = "browser-path-token-0123"
[[channels]]
kind = "messenger"
id = "900"
access_token = "static-page-token"
inbox_id = 1
[admin]
enabled = true
privacy_policy_url = "https://operator.example/privacy"
instagram_app_id = "5678"
facebook_dialog_url = "{graph_url}"
instagram_authorize_url = "{graph_url}"
instagram_api_url = "{graph_url}"
"#,
            db = dir.path().join("wbots.db").display(),
            key = KeyRing::generate_key().expose(),
            chatwoot = chatwoot.url().as_str().trim_end_matches('/'),
        ),
    )
    .unwrap();
    let mut child = serve_command(&config).spawn().unwrap();
    let line = first_line_async(&mut child).await;
    assert!(line.contains("listening"), "wbots did not start: {line:?}");
    Bridge { _child: Killed(child), url, dir }
}

/// Where the screenshots go: the build's scratch directory, so a test run leaves the
/// checkout as it was; the README's copies in `docs/screenshots/` with
/// `WBOTS_UPDATE_SCREENSHOTS=1` (the pages show times, so every run's images differ).
fn screenshots() -> PathBuf {
    if std::env::var_os("WBOTS_UPDATE_SCREENSHOTS").is_some_and(|v| !v.is_empty()) {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

async fn shoot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::create_dir_all(screenshots()).unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(browser: &Client) -> String {
    browser.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits for the page at a path ending with `suffix` (with its query when `suffix` has
/// one): a navigation after a click.
async fn arrive(browser: &Client, suffix: &str) {
    let started = Instant::now();
    loop {
        let url = browser.current_url().await.unwrap();
        let here = match (suffix.contains('?'), url.query()) {
            (true, Some(q)) => format!("{}?{q}", url.path()),
            _ => url.path().to_owned(),
        };
        if here.ends_with(suffix) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never reached {suffix}; at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_business_connects_lists_reconnects_and_disconnects_in_a_real_browser() {
    let Some(driver) = wbots_test_services::chromedriver() else { return };
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("bridge-chatwoot-token", ACCOUNT).await.unwrap();
    chatwoot.add_api_inbox("Static Messenger", None);
    chatwoot.add_user(FakeUser {
        email: "jane@acme.example".into(),
        password: "S3cret!pass".into(),
        access_token: TOKEN.into(),
        name: "Jane Doe".into(),
        otp_code: None,
        accounts: vec![(ACCOUNT, "Acme Support".into(), "administrator".into())],
    });
    let bridge = start_bridge(&graph, &chatwoot).await;
    graph.set_login_app(
        "4242",
        "browser-app-secret",
        &[&format!("{}/admin/meta/callback", bridge.url)],
    );
    graph.set_instagram_login_app(
        "5678",
        "browser-ig-secret",
        &[&format!("{}/admin/instagram/callback", bridge.url)],
    );
    graph.add_page("111", "page-token-111", Some("17841400000000111"));
    graph.set_page_name("111", "Acme Shop");
    graph.set_instagram_username("17841400000000111", "acme.shop");
    graph.add_page("222", "page-token-222", None);
    graph.set_page_name("222", "Acme Outlet");
    graph.set_person_pages(Some(&["111", "222"]));
    // The app-scoped id of the person who logs in with Facebook: Meta's data-deletion
    // callback names her by it.
    graph.set_person_id(PERSON);
    graph.set_instagram_login_account("17841400000000999", "acme.direct");

    let caps = json!({"goog:chromeOptions": {
        "binary": driver.chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=430,1000"],
    }});
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&driver.url)
        .await
        .unwrap();

    // Sign in with the personal access token.
    browser.goto(&format!("{}/admin", bridge.url)).await.unwrap();
    arrive(&browser, "/admin/sign-in").await;
    shoot(&browser, "1-sign-in").await;
    browser.find(Locator::Css("#token")).await.unwrap().send_keys(TOKEN).await.unwrap();
    click(&browser, "#sign-in-token").await;
    arrive(&browser, "/admin").await;
    assert!(text(&browser).await.contains("No channel connected into this account yet."));

    // Facebook Login: Meta's consent page, then the pick page.
    click(&browser, "#connect-facebook").await;
    arrive(&browser, "/dialog/oauth").await;
    shoot(&browser, "2-facebook-consent").await;
    click(&browser, "#continue").await;
    arrive(&browser, "/admin/connect").await;
    let pick = text(&browser).await;
    assert!(
        pick.contains("Messenger: Acme Shop")
            && pick.contains("Instagram @acme.shop (through Acme Shop)"),
        "{pick}"
    );
    assert!(pick.contains("Messenger: Acme Outlet"), "{pick}");
    // Only the Shop and its Instagram account; the Outlet stays out.
    click(&browser, "input[value='page:222']").await;
    shoot(&browser, "3-choose-pages").await;
    click(&browser, "#connect").await;
    arrive(&browser, "/admin?done=connected").await;
    let list = text(&browser).await;
    assert!(
        list.contains("Messenger · 111")
            && list.contains("Instagram through Facebook · 17841400000000111"),
        "{list}"
    );
    assert!(!list.contains("· 222"), "{list}");
    assert!(graph.subscribed_fields("111").contains(&"messages".to_owned()));

    // Instagram Login.
    click(&browser, "#connect-instagram").await;
    arrive(&browser, "/oauth/authorize").await;
    shoot(&browser, "4-instagram-consent").await;
    click(&browser, "#allow").await;
    arrive(&browser, "/admin/connect").await;
    click(&browser, "#connect").await;
    arrive(&browser, "/admin?done=connected").await;
    let list = text(&browser).await;
    assert!(list.contains("Instagram · 17841400000000999"), "{list}");
    assert_eq!(list.matches("active").count(), 3, "{list}");
    // One new API inbox per channel, pointed at the bridge's Chatwoot webhook.
    let hooks: Vec<_> = chatwoot.inboxes().into_iter().filter_map(|(_, i)| i.webhook_url).collect();
    assert_eq!(hooks.len(), 3, "{hooks:?}");
    assert!(
        hooks
            .iter()
            .all(|h| h == &format!("{}/webhooks/chatwoot/browser-path-token-0123", bridge.url))
    );

    // Messages flow at once: a customer writes to the Page just connected, and the message
    // arrives in Chatwoot, in the Page's new inbox (the store is watched: no restart).
    let inbox =
        chatwoot.inboxes().into_iter().find(|(_, i)| i.name == "Messenger: Acme Shop").unwrap().0;
    let body = payload::text(
        "page",
        "111",
        "psid-ada",
        "m_browser_1",
        "Is my order on its way?",
        chrono::Utc::now().timestamp_millis(),
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/webhooks/meta", bridge.url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            sign_body(&Secret::new("browser-app-secret"), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let started = Instant::now();
    let conversation = loop {
        let arrived = chatwoot
            .messages()
            .into_iter()
            .find(|m| m.content.as_deref() == Some("Is my order on its way?"));
        if let Some(m) = arrived {
            break m.conversation_id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the customer's message never reached Chatwoot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let conversations = chatwoot.conversations();
    assert_eq!(conversations.iter().find(|c| c.id == conversation).unwrap().inbox_id, inbox);

    // An agent answers in the inbox the page created: Chatwoot's webhook (to the URL the
    // page set, with its token) reaches the bridge, and the answer reaches Meta with the
    // Page's token from the login.
    let (_, hook) = chatwoot.agent_reply(conversation, "Yes, it left today.", vec![]).await;
    assert_eq!(hook, Some(200), "the inbox's webhook reached the bridge");
    let started = Instant::now();
    let sent = loop {
        let sent = graph.sent();
        if let Some(m) = sent.iter().find(|m| m.text.as_deref() == Some("Yes, it left today.")) {
            break m.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the answer never reached Meta");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((sent.recipient.as_str(), sent.token.as_str()), ("psid-ada", "page-token-111"));

    // The list shows the Page's last message in and out (once the answer's job has
    // committed: the page is read again until it does).
    let started = Instant::now();
    let block = loop {
        browser.goto(&format!("{}/admin", bridge.url)).await.unwrap();
        let block = browser
            .find(Locator::Css("div[data-address='messenger:111'] .activity"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !block.contains("none yet") {
            break block;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no activity shown: {block}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        block.starts_with("Last message in: 20") && block.contains("last message out: 20"),
        "{block}"
    );
    let other = browser
        .find(Locator::Css("div[data-address='instagram:17841400000000999'] .activity"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(other, "Last message in: none yet · last message out: none yet");
    // The screenshot shows the Page's line with its times.
    browser
        .execute(
            "document.querySelector(\"div[data-address='messenger:111']\").scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    shoot(&browser, "5-channels").await;

    // The person who connected the Page asks Meta to delete her data: the callback names
    // her app-scoped id. The access her login granted (the Page and its Instagram account)
    // is deleted, both channels need reconnecting, and the agents are told.
    // Issued now: a request withdraws only grants made before it.
    let issued_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signed = wbots_meta::signed_request::encode(
        &json!({"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": PERSON}),
        &Secret::new("browser-app-secret"),
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/meta/data-deletion", bridge.url))
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.unwrap();
    let status = reqwest::get(answer["url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    assert!(
        status.contains("The access this person had granted to 2 connected channel(s) was deleted"),
        "{status}"
    );
    let note = support::eventually("the agents' note", || {
        chatwoot.messages().into_iter().find(|m| m.private && m.conversation_id == conversation)
    })
    .await;
    assert!(
        note.content.as_deref().unwrap_or_default().contains("must be reconnected"),
        "{note:?}"
    );
    browser.goto(&format!("{}/admin", bridge.url)).await.unwrap();
    for address in ["messenger:111", "instagram:17841400000000111"] {
        let block = browser
            .find(Locator::Css(&format!("div[data-address='{address}']")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            block.contains("needs reconnect") && block.contains("asked Meta to delete their data"),
            "{block}"
        );
    }
    let other = text(&browser).await;
    assert!(other.contains("Instagram · 17841400000000999"), "{other}");
    assert_eq!(other.matches("needs reconnect").count(), 2, "Instagram Login was another grant");
    // Its sends stop with the reason, before any call to Meta.
    let (failed, _) = chatwoot.agent_reply(conversation, "Are you still there?", vec![]).await;
    let failed = support::eventually("the failed send", || {
        chatwoot.message(failed).filter(|m| m.status == "failed")
    })
    .await;
    assert!(
        failed.external_error.as_deref().unwrap_or_default().contains("reconnect required"),
        "{failed:?}"
    );
    assert!(!graph.sent().iter().any(|m| m.text.as_deref() == Some("Are you still there?")));
    // The audit trail has it, without her id.
    let (ok, log) =
        support::wbots(&["privacy", "log", "--json"], &bridge.dir.path().join("wbots.toml"));
    assert!(ok, "{log}");
    assert!(log.contains("connected channel(s) was deleted") && !log.contains(PERSON), "{log}");
    shoot(&browser, "5b-needs-reconnect").await;
    let metrics = format!("{}/metrics", bridge.url);
    let flagged = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert!(flagged.contains("wbots_channel_flagged{channel=\"messenger:111\"} 1"), "{flagged}");

    // Reconnect the Page: the same dialog, then back to the list; the flag is lifted
    // once the bridge serves the new token, and answers go out again.
    click(&browser, "div[data-address='messenger:111'] form[action$='reconnect'] button").await;
    arrive(&browser, "/dialog/oauth").await;
    click(&browser, "#continue").await;
    arrive(&browser, "/admin?done=reconnected").await;
    assert!(text(&browser).await.contains("Reconnected"));
    let started = Instant::now();
    loop {
        let page = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        if page.contains("wbots_channel_flagged{channel=\"messenger:111\"} 0") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the flag stays: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, hook) = chatwoot.agent_reply(conversation, "Back with you now.", vec![]).await;
    assert_eq!(hook, Some(200));
    support::eventually("the answer after the reconnect", || {
        graph.sent().into_iter().find(|m| m.text.as_deref() == Some("Back with you now."))
    })
    .await;

    // Disconnect it.
    click(&browser, "div[data-address='messenger:111'] form[action$='disconnect'] button").await;
    arrive(&browser, "/admin?done=disconnected").await;
    let list = text(&browser).await;
    assert!(list.contains("disconnected"), "{list}");
    // The Page stays subscribed: its Instagram account is still served through it.
    assert!(graph.unsubscribed().is_empty());
    assert!(!graph.subscribed_fields("111").is_empty());
    shoot(&browser, "6-disconnected").await;

    // The public data-deletion page, linked from every page.
    click(&browser, "footer a[href='/data-deletion']").await;
    arrive(&browser, "/data-deletion").await;
    assert!(text(&browser).await.contains("How to ask for deletion"));
    shoot(&browser, "7-data-deletion").await;

    browser.close().await.unwrap();
}
