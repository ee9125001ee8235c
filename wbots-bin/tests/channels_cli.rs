//! `wbots channels list | add | remove`, through the real binary against a SQLite store:
//! what an operator sees (never a token), what the store keeps (no token in clear), and the
//! refusals (a clash with `[[channels]]`, no `store.secret_key`).

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::Value;
use wbots_core::store::{
    ChannelStatus, ChannelStore, Credentials, JobQueue, Link, LinkKey, LinkKind, LinkPrefix,
    LinkStore, NewJob, SealedChannels, SqliteStore, Store, user_scope,
};
use wbots_core::{ChannelAddress, ChannelKind, KeyRing, PlatformUserId, Secret};

const META_TOKEN: &str = "EAAB-cli-meta-token-0123456789abcdef";
const CW_TOKEN: &str = "cw-cli-account-token-0123456789";
const STATIC_TOKEN: &str = "static-page-token-0123456789";

fn config(dir: &Path, key: Option<&Secret>) -> PathBuf {
    let path = dir.join("wbots.toml");
    let key = key.map(|k| format!("secret_key = \"{}\"", k.expose())).unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
[store]
url = "sqlite://{db}"
{key}
[meta]
app_secret = "cli-test-app-secret-01"
verify_token = "cli-test-verify-token"
graph_url = "http://127.0.0.1:9/"
instagram_graph_url = "http://127.0.0.1:9/"
[chatwoot]
url = "http://127.0.0.1:9/"
api_access_token = "cw-bridge-token"
account_id = 9
webhook_token = "path-secret-0123456789"
[[channels]]
kind = "messenger"
id = "STATICPAGE"
access_token = "{STATIC_TOKEN}"
inbox_id = 1
"#,
            port = support::free_port(),
            db = dir.join("wbots.db").display(),
        ),
    )
    .unwrap();
    path
}

/// Runs `wbots --config CONFIG args…` with `stdin`; (success, stdout, stderr).
fn wbots(config: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wbots"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_token(text: &str) {
    for token in [META_TOKEN, CW_TOKEN, STATIC_TOKEN, "cw-bridge-token"] {
        assert!(!text.contains(token), "a token was printed: {text}");
    }
}

async fn open_store(dir: &Path) -> SqliteStore {
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("wbots.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn instagram(id: &str) -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("instagram"), id)
}

#[test]
fn add_list_and_remove_a_channel_without_printing_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let config = config(dir.path(), Some(&key));
    let (ok, out, err) = wbots(
        &config,
        &[
            "channels",
            "add",
            "--kind",
            "messenger",
            "--id",
            "111222",
            "--access-token",
            META_TOKEN,
            "--inbox-id",
            "42",
            "--chatwoot-account",
            "5",
            "--connected-by",
            "ops@example.com",
        ],
        "",
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("connected messenger:111222 into inbox 42"), "{out}");
    assert_no_token(&format!("{out}{err}"));

    let (ok, text, err) = wbots(&config, &["channels", "list"], "");
    assert!(ok, "{text}{err}");
    assert_no_token(&format!("{text}{err}"));
    let line = text.lines().find(|l| l.starts_with("messenger:111222")).unwrap_or_else(|| {
        panic!("the stored channel is listed: {text}");
    });
    for part in [
        "[stored] active",
        "inbox 42 account 5",
        "token expires never",
        "ops@example.com",
        "credentials ok",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
    assert!(text.contains("messenger:STATICPAGE [config]"), "static channels are listed: {text}");

    let (ok, json, err) = wbots(&config, &["channels", "list", "--json"], "");
    assert!(ok, "{json}{err}");
    assert_no_token(&json);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let stored: Vec<&Value> =
        doc["channels"].as_array().unwrap().iter().filter(|c| c["source"] == "stored").collect();
    assert_eq!(stored.len(), 1, "{json}");
    let c = stored[0];
    assert_eq!(
        (&c["kind"], &c["id"], &c["status"], &c["inbox_id"], &c["chatwoot_account"]),
        (
            &Value::from("messenger"),
            &Value::from("111222"),
            &Value::from("active"),
            &Value::from(42),
            &Value::from(5)
        ),
    );
    assert_eq!(c["connected_by"], "ops@example.com");
    assert!(c["connected_at"].as_str().is_some_and(|t| t.starts_with("20")), "{c}");

    // Meta is unreachable here: the Page cannot be unsubscribed, so nothing is removed
    // unless the operator says to go on without it.
    let (ok, out, err) = wbots(&config, &["channels", "remove", "111222"], "");
    assert!(!ok, "{out}");
    assert!(err.contains("could not unsubscribe 111222 from the app's webhooks"), "{err}");
    assert!(err.contains("nothing was changed") && err.contains("--no-unsubscribe"), "{err}");
    let (_, text, _) = wbots(&config, &["channels", "list", "--json"], "");
    assert!(text.contains("\"111222\""), "still connected: {text}");
    let (ok, out, err) = wbots(&config, &["channels", "remove", "111222", "--no-unsubscribe"], "");
    assert!(ok, "{out}{err}");
    assert!(out.contains("not unsubscribed from Meta (--no-unsubscribe)"), "{out}");
    assert!(out.contains("disconnected messenger:111222"), "{out}");
    let (_, text, _) = wbots(&config, &["channels", "list", "--json"], "");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["channels"].as_array().unwrap().iter().all(|c| c["source"] != "stored"), "{text}");

    let (ok, _, err) = wbots(&config, &["channels", "remove", "111222"], "");
    assert!(!ok && err.contains("no connected channel 111222"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_stdin_are_sealed_and_not_in_the_store_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let config = config(dir.path(), Some(&key));
    let (ok, out, err) = wbots(
        &config,
        &[
            "channels",
            "add",
            "--kind",
            "instagram",
            "--id",
            "17841400000000001",
            "--access-token-stdin",
            "--login",
            "instagram",
            "--inbox-id",
            "7",
            "--chatwoot-url",
            "https://other-chat.example.com/",
            "--chatwoot-token-stdin",
            "--token-expires-at",
            "2027-01-29T00:00:00Z",
        ],
        &format!("{META_TOKEN}\n{CW_TOKEN}\n"),
    );
    assert!(ok, "{out}{err}");
    assert_no_token(&format!("{out}{err}"));
    // Its own account, its own webhook: without server.public_url the bridge cannot point
    // the inbox at it, so it tells the operator the path to set (with its fresh token).
    let hook = out
        .split("<server.public_url>/webhooks/a9.i7.other-chat.example.com/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the webhook path is printed: {out}"))
        .to_owned();
    assert!(hook.len() >= 32 && hook.bytes().all(|b| b.is_ascii_hexdigit()), "{hook}");
    let (ok, text, _) = wbots(&config, &["channels", "list"], "");
    assert!(ok);
    assert!(!text.contains(&hook), "list never prints a token: {text}");
    assert!(text.contains("token expires 2027-01-29T00:00:00+00:00"), "{text}");
    assert!(text.contains("at https://other-chat.example.com/"), "{text}");

    // `--access-token -` is the same as `--access-token-stdin`.
    let (ok, out, err) = wbots(
        &config,
        &[
            "channels",
            "add",
            "--kind",
            "messenger",
            "--id",
            "999",
            "--access-token",
            "-",
            "--inbox-id",
            "8",
        ],
        "page-token-from-stdin-0123\n",
    );
    assert!(ok, "{out}{err}");
    // No line on stdin: a clear refusal, nothing stored.
    let (ok, _, err) = wbots(
        &config,
        &[
            "channels",
            "add",
            "--kind",
            "messenger",
            "--id",
            "998",
            "--access-token-stdin",
            "--inbox-id",
            "8",
        ],
        "",
    );
    assert!(!ok && err.contains("expected on standard input"), "{err}");

    let store = open_store(dir.path()).await;
    let ring = Arc::new(KeyRing::new([&key]).unwrap());
    let sealed = SealedChannels::new(store.clone(), ring);
    let record = sealed.get(&instagram("17841400000000001")).await.unwrap().unwrap();
    assert_eq!(
        record.credentials,
        Credentials {
            access_token: Secret::new(META_TOKEN),
            chatwoot_token: Some(Secret::new(CW_TOKEN)),
            chatwoot_webhook_token: Some(Secret::new(hook.clone())),
        }
    );
    let messenger = ChannelAddress::new(ChannelKind::new("messenger"), "999");
    let page = sealed.get(&messenger).await.unwrap().unwrap();
    assert_eq!(page.credentials.access_token, Secret::new("page-token-from-stdin-0123"));
    assert!(
        store
            .channel(&ChannelAddress::new(ChannelKind::new("messenger"), "998"))
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;

    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("wbots.db") {
            // SQLite removes its -wal and -shm files as the last connection closes, which
            // may finish just after `close` returns: a file gone holds no token.
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("reading {}: {e}", path.display()),
            };
            files += 1;
            for token in [META_TOKEN, CW_TOKEN, "page-token-from-stdin-0123", hook.as_str()] {
                let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
                assert!(!found, "{token} is in clear in {}", path.display());
            }
        }
    }
    assert!(files >= 1, "the store's files were searched");
}

#[test]
fn a_clash_with_a_static_channel_and_a_missing_key_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let with_key = config(dir.path(), Some(&key));
    let add = [
        "channels",
        "add",
        "--kind",
        "messenger",
        "--id",
        "STATICPAGE",
        "--access-token",
        META_TOKEN,
        "--inbox-id",
        "3",
    ];
    let (ok, out, err) = wbots(&with_key, &add, "");
    assert!(!ok, "{out}");
    assert!(err.contains("messenger:STATICPAGE is configured statically in [[channels]]"), "{err}");
    assert_no_token(&err);

    let bad_id = [
        "channels",
        "add",
        "--kind",
        "messenger",
        "--id",
        "12/34",
        "--access-token",
        META_TOKEN,
        "--inbox-id",
        "3",
    ];
    let (ok, _, err) = wbots(&with_key, &bad_id, "");
    assert!(!ok && err.contains("--id must be a Page or Instagram account id"), "{err}");

    let without_key = config(dir.path(), None);
    for args in [&add[..], &["channels", "list"], &["channels", "remove", "1"]] {
        let (ok, out, err) = wbots(&without_key, args, "");
        assert!(!ok, "{args:?}: {out}");
        assert!(err.contains("store.secret_key is not set"), "{args:?}: {err}");
        assert_no_token(&err);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_forget_forgets_that_accounts_customers_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let config = config(dir.path(), Some(&key));
    for id in ["A1", "B2"] {
        let (ok, out, err) = wbots(
            &config,
            &[
                "channels",
                "add",
                "--kind",
                "messenger",
                "--id",
                id,
                "--access-token",
                META_TOKEN,
                "--inbox-id",
                "4",
            ],
            "",
        );
        assert!(ok, "{out}{err}");
    }
    let store = open_store(dir.path()).await;
    let (a, b) = (
        ChannelAddress::new(ChannelKind::new("messenger"), "A1"),
        ChannelAddress::new(ChannelKind::new("messenger"), "B2"),
    );
    for (address, user) in [(&a, "u1"), (&a, "u2"), (&b, "u1")] {
        let scope = user_scope(address, user);
        let link = Link::new(LinkKey::contact(address, &PlatformUserId::new(user)), "c")
            .scoped(scope.clone());
        store.set_link(&link).await.unwrap();
        store
            .enqueue(&[NewJob {
                idempotency_key: format!("job/{scope}"),
                ordering_key: scope.clone(),
                scope: Some(scope),
                priority: 0,
                lane: wbots_core::store::Lane::Inbound,
                payload: "{}".into(),
                not_before: None,
            }])
            .await
            .unwrap();
    }
    store.close().await;

    let (ok, out, err) =
        wbots(&config, &["channels", "remove", "A1", "--forget", "--no-unsubscribe"], "");
    assert!(ok, "{out}{err}");
    assert!(out.contains("forgot 2 customer(s) of messenger:A1: 2 link(s), 2 job(s)"), "{out}");

    let store = open_store(dir.path()).await;
    let contacts = store.links_with_prefix(&LinkPrefix::all(LinkKind::Contact), 10).await.unwrap();
    let left: Vec<&str> = contacts.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(left, ["messenger:B2/u1"], "only the other account's customer is kept");
    assert_eq!(store.stats().await.unwrap().queued, 1, "only the other account's job is kept");
    let b_channel = store.channel(&b).await.unwrap().unwrap();
    assert_eq!(b_channel.channel.status, ChannelStatus::Active);
    store.close().await;
}

/// `channels list` shows when each channel's last customer message came in and its last
/// agent message went out (the links the engine writes with each message), or that it has
/// had none yet; static `[[channels]]` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_each_channels_last_message_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let config = config(dir.path(), Some(&key));
    let add = ["channels", "add", "--kind", "messenger", "--id", "555", "--access-token", "-"];
    let (ok, out, err) = wbots(&config, &[&add[..], &["--inbox-id", "3"]].concat(), "tok-0123\n");
    assert!(ok, "{out}{err}");

    let (ok, text, err) = wbots(&config, &["channels", "list"], "");
    assert!(ok, "{text}{err}");
    for id in ["messenger:555 ", "messenger:STATICPAGE "] {
        let line = text.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{text}"));
        assert!(line.ends_with("last message in none yet, last message out none yet"), "{line}");
    }

    let store = open_store(dir.path()).await;
    let page = ChannelAddress::new(ChannelKind::new("messenger"), "555");
    let in_ms = chrono::DateTime::parse_from_rfc3339("2026-03-01T09:30:00Z").unwrap();
    let out_ms = chrono::DateTime::parse_from_rfc3339("2026-03-01T09:41:00Z").unwrap();
    for link in [
        Link::new(LinkKey::channel_last_in(&page), in_ms.timestamp_millis().to_string()),
        Link::new(LinkKey::channel_last_out(&page), out_ms.timestamp_millis().to_string()),
        Link::new(
            LinkKey::channel_last_in(&ChannelAddress::new(
                ChannelKind::new("messenger"),
                "STATICPAGE",
            )),
            in_ms.timestamp_millis().to_string(),
        ),
    ] {
        store.put_link(&link).await.unwrap();
    }
    store.close().await;

    let (ok, text, _) = wbots(&config, &["channels", "list"], "");
    assert!(ok);
    let line = text.lines().find(|l| l.starts_with("messenger:555 ")).unwrap();
    assert!(
        line.ends_with(
            "last message in 2026-03-01T09:30:00+00:00, last message out 2026-03-01T09:41:00+00:00"
        ),
        "{line}"
    );
    let line = text.lines().find(|l| l.starts_with("messenger:STATICPAGE ")).unwrap();
    assert!(
        line.ends_with("last message in 2026-03-01T09:30:00+00:00, last message out none yet"),
        "{line}"
    );

    let (ok, json, _) = wbots(&config, &["channels", "list", "--json"], "");
    assert!(ok);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let stored = doc["channels"].as_array().unwrap().iter().find(|c| c["id"] == "555").unwrap();
    assert_eq!(stored["last_message_in"], "2026-03-01T09:30:00+00:00", "{stored}");
    assert_eq!(stored["last_message_out"], "2026-03-01T09:41:00+00:00", "{stored}");
    let fixed =
        doc["channels"].as_array().unwrap().iter().find(|c| c["id"] == "STATICPAGE").unwrap();
    assert_eq!(fixed["last_message_out"], Value::Null, "{fixed}");
}

/// `channels remove` keeps a Page subscribed while another served channel may be reached
/// through it: here a `[[channels]]` Instagram account configured without its `page_id`,
/// which may be behind any Page. (Meta is unreachable in this test: an unsubscribe would
/// fail the command.)
#[test]
fn remove_keeps_a_page_subscribed_for_a_configured_channel_that_may_be_behind_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let config = config(dir.path(), Some(&key));
    let add = |id: &str| {
        let args = ["channels", "add", "--kind", "messenger", "--id", id, "--access-token", "-"];
        let (ok, out, err) =
            wbots(&config, &[&args[..], &["--inbox-id", "3"]].concat(), "t-01234\n");
        assert!(ok, "{out}{err}");
    };
    add("444");
    // Without a configured channel behind it, the removal must reach Meta (unreachable).
    let (ok, _, err) = wbots(&config, &["channels", "remove", "444"], "");
    assert!(!ok && err.contains("could not unsubscribe 444"), "{err}");

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "[[channels]]\nkind = \"instagram\"\nid = \"17841400000000555\"\naccess_token = \"ig-static-token-0123\"\ninbox_id = 2\n",
    );
    std::fs::write(&config, text).unwrap();
    let (ok, out, err) = wbots(&config, &["channels", "remove", "444"], "");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(
            "kept 444 subscribed to the app's webhooks: instagram:17841400000000555 is, or may be, reached through it too"
        ),
        "{out}"
    );
    assert!(out.contains("disconnected messenger:444"), "{out}");
}
