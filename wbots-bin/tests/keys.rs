//! `wbots keygen`, `wbots rekey` and the start-up check of `store.secret_key`, through the
//! real binary against a SQLite store holding a connected channel.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use wbots_core::store::{SealedChannels, SqliteStore, Store};
use wbots_core::testkit::channel_store_suite::{channel, credentials};
use wbots_core::{KeyRing, Secret};

fn config(dir: &Path, keys: &[&Secret]) -> PathBuf {
    let path = dir.join("wbots.toml");
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.expose())).collect();
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
[store]
url = "sqlite://{db}"
secret_key = [{keys}]
[meta]
app_secret = "keys-test-app-secret-01"
verify_token = "keys-test-verify-token"
graph_url = "http://127.0.0.1:9/"
instagram_graph_url = "http://127.0.0.1:9/"
[chatwoot]
url = "http://127.0.0.1:9/"
api_access_token = "cw-token"
account_id = 9
webhook_token = "path-secret-0123456789"
[[channels]]
kind = "messenger"
id = "PAGE"
access_token = "page-token"
inbox_id = 1
"#,
            port = support::free_port(),
            db = dir.join("wbots.db").display(),
            keys = keys.join(", "),
        ),
    )
    .unwrap();
    path
}

fn wbots(args: &[&str], config: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wbots"));
    command.args(args);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

async fn store(dir: &Path) -> SqliteStore {
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("wbots.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn ring(keys: &[&Secret]) -> Arc<KeyRing> {
    Arc::new(KeyRing::new(keys.iter().copied()).unwrap())
}

#[test]
fn keygen_prints_a_fresh_key_without_a_configuration() {
    let (ok, first) = wbots(&["keygen"], Some(Path::new("/nonexistent/wbots.toml")));
    assert!(ok, "{first}");
    let key = first.trim();
    let bytes = base64::engine::general_purpose::STANDARD.decode(key).unwrap();
    assert_eq!(bytes.len(), 32);
    KeyRing::new([&Secret::new(key)]).unwrap();
    let (_, second) = wbots(&["keygen"], None);
    assert_ne!(second.trim(), key, "each key is fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_reseals_with_the_first_key_so_the_old_one_can_go() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (KeyRing::generate_key(), KeyRing::generate_key());
    let db = store(dir.path()).await;
    let ch = channel("messenger", "4242");
    SealedChannels::new(db.clone(), ring(&[&old])).add(&ch, &credentials("rekey")).await.unwrap();

    let (ok, out) = wbots(&["rekey"], Some(&config(dir.path(), &[&new, &old])));
    assert!(ok, "{out}");
    assert!(out.contains("resealed 1 channel credentials"), "{out}");
    for secret in [old.expose(), new.expose(), "meta-token", "cw-token"] {
        assert!(!out.contains(secret), "rekey printed a secret: {out}");
    }
    let opened = SealedChannels::new(db.clone(), ring(&[&new])).get(&ch.address).await.unwrap();
    assert_eq!(opened.map(|r| r.credentials), Some(credentials("rekey")));

    let (ok, out) = wbots(&["rekey"], Some(&config(dir.path(), &[])));
    assert!(!ok, "rekey without a key must fail: {out}");
    assert!(out.contains("store.secret_key is not set"), "{out}");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_with_stored_channels_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyRing::generate_key();
    let db = store(dir.path()).await;
    SealedChannels::new(db.clone(), ring(&[&key]))
        .add(&channel("instagram", "17841"), &credentials("serve"))
        .await
        .unwrap();
    db.close().await;

    let mut command = support::serve_command(&config(dir.path(), &[]));
    command.stderr(Stdio::piped());
    let mut child = support::Killed(command.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || support::first_line(stdout)).await.unwrap();
    assert_eq!(line, "", "serve must not listen");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!child.0.wait().unwrap().success());
    assert!(
        stderr.contains("holds 1 connected channel(s)")
            && stderr.contains("store.secret_key is not set"),
        "{stderr}"
    );
}
