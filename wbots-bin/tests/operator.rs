//! `wbots setup`, `wbots check` and `wbots jobs` against the simulated Chatwoot and Graph API.

use wbots_fakes::chatwoot::FakeChatwoot;
use wbots_fakes::meta::FakeGraph;

mod support;
use support::wbots;

fn config(
    dir: &std::path::Path,
    graph: &str,
    chatwoot: &str,
    token: &str,
    inbox: u64,
) -> std::path::PathBuf {
    let path = dir.join("wbots.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
public_url = "https://bridge.example.com"
[store]
url = "sqlite://{db}"
[meta]
app_secret = "operator-app-secret-01"
verify_token = "operator-verify-token"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
app_id = "1517776481860111"
[chatwoot]
url = "{chatwoot}"
api_access_token = "{token}"
account_id = 9
webhook_token = "path-secret-0123456789"
[[channels]]
kind = "messenger"
id = "PAGE"
access_token = "page-token"
inbox_id = {inbox}
"#,
            db = dir.join("wbots.db").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_points_the_inbox_and_check_then_passes() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", Some("https://old.example/hook"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "cw-token", inbox);

    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok, "the inbox still posts elsewhere:\n{out}");
    assert!(out.contains(&format!("FAIL channels[0].inbox_id: inbox {inbox} posts to https://old.example/hook, not to this bridge; run `wbots setup`")), "{out}");

    let (ok, out) = wbots(&["setup"], &cfg);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("done inbox {inbox}: webhook URL set")), "{out}");
    assert!(out.contains("done messenger:PAGE subscribed to the app's webhooks"), "{out}");
    assert_eq!(
        chatwoot.webhook_url(inbox).as_deref(),
        Some("https://bridge.example.com/webhooks/chatwoot/path-secret-0123456789")
    );

    let (ok, out) = wbots(&["check"], &cfg);
    assert!(ok, "{out}");
    assert!(out.contains("all checks passed"), "{out}");
    assert!(!out.contains("path-secret-0123456789"), "check never prints the path token:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_refused_token_and_a_missing_inbox() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "wrong-token", 4242);
    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok);
    assert!(
        out.contains("FAIL chatwoot.api_access_token: Chatwoot refused the api_access_token"),
        "{out}"
    );

    let cfg = config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "cw-token", 4242);
    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok);
    assert!(
        out.contains(
            "FAIL channels[0].inbox_id: Chatwoot has no inbox 4242; run `wbots setup` to create it"
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_a_missing_inbox() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "cw-token", 4242);
    let (ok, out) = wbots(&["setup"], &cfg);
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("done created API inbox"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with("in the configuration") && line.contains("set channels[0].inbox_id = "),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_recognises_an_agent_bot_token() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    chatwoot.add_bot_token("bot-token");
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "bot-token", inbox);
    let (ok, out) = wbots(&["check"], &cfg);
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL chatwoot.api_access_token: this is an agent bot's token"), "{out}");
    assert!(!out.contains("bot-token"), "never printed:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_about_old_versions_and_a_private_public_url() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "cw-token", inbox);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("https://bridge.example.com", "http://10.1.2.3:8080")
        .replace(
            "webhook_token = \"path-secret-0123456789\"",
            "webhook_secret = \"signing-secret-0123456789\"",
        );
    std::fs::write(&cfg, text).unwrap();
    chatwoot.set_version("4.1.3");
    let (_, out) = wbots(&["check"], &cfg);
    assert!(out.contains("ok   chatwoot: version 4.1.3"), "{out}");
    assert!(out.contains("warn chatwoot 4.1.3: below v4.2"), "{out}");
    assert!(out.contains("warn chatwoot 4.1.3: below v4.13 API-inbox webhooks are not signed; set chatwoot.webhook_token"), "{out}");
    assert!(out.contains("warn server.public_url: 10.1.2.3 resolves to the private address 10.1.2.3; Chatwoot v4.14+ refuses"), "{out}");
    chatwoot.set_version("4.15.1");
    let (_, out) = wbots(&["check"], &cfg);
    assert!(!out.contains("below v4."), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_sets_the_reply_window_and_hands_over_the_signing_secret() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("cw-token", 9).await.unwrap();
    chatwoot.set_webhook_secret(Some(wbots_core::Secret::new("inbox-signing-secret")));
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), graph.url().as_str(), chatwoot.url().as_str(), "cw-token", inbox);
    let (ok, out) = wbots(&["setup"], &cfg);
    assert!(ok, "{out}");
    assert_eq!(
        chatwoot.inbox(inbox).unwrap().additional_attributes["agent_reply_time_window"],
        serde_json::json!(24)
    );
    assert!(
        out.contains(&format!(
            "todo inbox {inbox}: set chatwoot.webhook_secret = \"inbox-signing-secret\""
        )),
        "{out}"
    );
    // With the human-agent tag, agents may reply for a week.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("inbox_id = {inbox}"),
        &format!("inbox_id = {inbox}\nhuman_agent_tag = true"),
    );
    std::fs::write(&cfg, text).unwrap();
    let (ok, out) = wbots(&["setup"], &cfg);
    assert!(ok, "{out}");
    assert_eq!(
        chatwoot.inbox(inbox).unwrap().additional_attributes["agent_reply_time_window"],
        serde_json::json!(168)
    );
}

#[test]
fn jobs_on_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9", "t", 1);
    let (ok, out) = wbots(&["jobs", "list"], &cfg);
    assert!(ok, "{out}");
    assert!(
        out.contains("queued 0  running 0  done 0  dead 0") && out.contains("no dead letters"),
        "{out}"
    );
    let (ok, out) = wbots(&["jobs", "retry"], &cfg);
    assert!(!ok && out.contains("name the job ids, or pass --all"), "{out}");
    let (ok, out) = wbots(&["jobs", "purge", "--all"], &cfg);
    assert!(ok && out.contains("0 dead letters deleted"), "{out}");
}
