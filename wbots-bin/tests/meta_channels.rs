//! The `wbots` binary with an Instagram account reached through its Facebook Page, against
//! a FakeGraph that requires `appsecret_proof`: `setup` and `check` subscribe and inspect the
//! Page; a Page's deauthorize callback flags the Instagram channel, which `check` and
//! `/metrics` show until a new token is configured.

use std::time::{Duration, Instant};

use serde_json::json;
use wbots_core::Secret;
use wbots_fakes::chatwoot::FakeChatwoot;
use wbots_fakes::meta::FakeGraph;

mod support;
use support::{Killed, first_line_async, free_port, serve_command, wbots};

const SECRET: &str = "meta-app-secret-0123";
const METRICS_TOKEN: &str = "metrics-token-0123456";
const PAGE: &str = "104000000001";
const IG: &str = "178414000002";

fn config(
    dir: &std::path::Path,
    graph: &FakeGraph,
    chatwoot: &FakeChatwoot,
    port: u16,
    ig_token: &str,
    inbox: u64,
) -> std::path::PathBuf {
    let path = dir.join("wbots.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
metrics_on_listen = true
metrics_token = "{METRICS_TOKEN}"
public_url = "https://bridge.example.com"
[store]
url = "sqlite://{db}"
[meta]
app_secret = "{SECRET}"
verify_token = "meta-verify-token-0123"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
app_id = "1517776481860111"
[chatwoot]
url = "{cw}"
api_access_token = "cw-token"
account_id = 9
webhook_token = "chatwoot-path-secret-0123"
[[channels]]
kind = "instagram"
login = "facebook"
id = "{IG}"
access_token = "{ig_token}"
inbox_id = {inbox}
"#,
            db = dir.join("wbots.db").display(),
            graph = graph.url(),
            cw = chatwoot.url(),
        ),
    )
    .unwrap();
    path
}

async fn fakes() -> (FakeGraph, FakeChatwoot, u64) {
    let graph = FakeGraph::start().await.unwrap();
    // "Require App Secret" on: every Graph call must carry appsecret_proof.
    graph.require_appsecret_proof(Secret::new(SECRET));
    graph.add_page(PAGE, "page-token", Some(IG));
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Instagram", None);
    (graph, chatwoot, inbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_check_subscribe_instagram_through_its_page() {
    let (graph, chatwoot, inbox) = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &graph, &chatwoot, 0, "page-token", inbox);

    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("FAIL channels[0]: instagram:{IG} is not subscribed to the app's webhooks (through Page {PAGE}); run `wbots setup`")), "{out}");

    let (ok, out) = wbots(&["setup"], &cfg);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "done instagram:{IG} subscribed to the app's webhooks through Page {PAGE}"
        )),
        "{out}"
    );
    assert!(graph.subscribed_fields(PAGE).iter().any(|f| f == "messages"));

    let (ok, out) = wbots(&["check"], &cfg);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "ok   meta: instagram:{IG} token works and it is subscribed (through Page {PAGE})"
        )),
        "{out}"
    );
}

/// A running `wbots serve`, killed on drop.
async fn serve(cfg: &std::path::Path) -> Killed {
    let mut child = serve_command(cfg).spawn().unwrap();
    first_line_async(&mut child).await;
    Killed(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_removing_the_app_flags_its_instagram_channel_until_a_new_token() {
    let (graph, chatwoot, inbox) = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), &graph, &chatwoot, port, "page-token", inbox);
    let process = serve(&cfg).await;
    let url = format!("http://127.0.0.1:{port}");
    // At start the bridge learns the Page behind the Instagram account (GET /me) — by the
    // time a deauthorize comes, that token is dead. Meta calls again until answered, and
    // the callback is idempotent, so the test calls until the learning is done.
    let removed = wbots_meta::signed_request::encode(
        &json!({"algorithm": "HMAC-SHA256", "profile_id": PAGE}),
        &Secret::new(SECRET),
    );
    let http = reqwest::Client::new();
    let gauge = format!(r#"wbots_channel_flagged{{channel="instagram:{IG}"}} 1"#);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = http
            .post(format!("{url}/meta/deauthorize"))
            .form(&[("signed_request", removed.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let metrics = http
            .get(format!("{url}/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(&gauge) {
            break;
        }
        assert!(Instant::now() < deadline, "never flagged:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(process);

    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("FAIL channels[0]: instagram:{IG}: reconnect required: the Page removed the app (deauthorize callback); put a new token in channels[0].access_token, then `wbots jobs retry --all` resends what failed")),
        "{out}"
    );

    // The Page reconnected the app: a new Page token in the configuration clears the flag.
    graph.add_page(PAGE, "new-page-token", Some(IG));
    let cfg = config(dir.path(), &graph, &chatwoot, port, "new-page-token", inbox);
    let (_, out) = wbots(&["check"], &cfg);
    assert!(!out.contains("reconnect required"), "{out}");
    let _process = serve(&cfg).await;
    let metrics = http
        .get(format!("{url}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(&gauge), "{metrics}");
}
