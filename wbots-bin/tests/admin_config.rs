//! `[admin]` in the real binary: the connect page is refused at start without what it
//! needs (naming the key), and `server.admin_listen` serves it on its own listener only.

use std::process::Stdio;

use wbots_core::KeyRing;
use wbots_fakes::chatwoot::FakeChatwoot;

mod support;
use support::{Killed, first_line_async, free_port, serve_command};

fn config(
    dir: &std::path::Path,
    port: u16,
    server_extra: &str,
    chatwoot: &str,
) -> std::path::PathBuf {
    let path = dir.join("wbots.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
metrics_listen = ""
{server_extra}
[store]
url = "sqlite://{db}"
secret_key = "{key}"
[meta]
app_secret = "admin-config-app-secret"
verify_token = "admin-config-verify"
app_id = "4242"
[chatwoot]
url = "{chatwoot}"
api_access_token = "bridge-token"
account_id = 1
webhook_token = "admin-config-path-token"
[[channels]]
kind = "messenger"
id = "900"
access_token = "static-page-token"
inbox_id = 1
[admin]
enabled = true
"#,
            db = dir.join("wbots.db").display(),
            key = KeyRing::generate_key().expose(),
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn the_connect_page_without_a_public_url_stops_the_start_naming_the_key() {
    let chatwoot = FakeChatwoot::start("bridge-token", 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), free_port(), "", chatwoot.url().as_str());
    let out = serve_command(&path).stderr(Stdio::piped()).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admin.enabled: server.public_url is needed"), "{stderr}");
}

#[tokio::test]
async fn admin_listen_serves_the_connect_page_on_its_own_listener_only() {
    let chatwoot = FakeChatwoot::start("bridge-token", 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let extra = format!(
        "public_url = \"http://127.0.0.1:{admin_port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\""
    );
    let path = config(dir.path(), port, &extra, chatwoot.url().as_str());
    let mut child = serve_command(&path).spawn().unwrap();
    let line = first_line_async(&mut child).await;
    let _child = Killed(child);
    assert!(line.contains("listening"), "{line}");
    let http = reqwest::Client::new();
    let page =
        http.get(format!("http://127.0.0.1:{admin_port}/admin/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign in with Chatwoot"));
    let webhook_port =
        http.get(format!("http://127.0.0.1:{port}/admin/sign-in")).send().await.unwrap();
    assert_eq!(webhook_port.status(), 404, "not on the webhook listener");
    // The public data-deletion page stays on the webhook listener, where Meta's settings point.
    let deletion = http.get(format!("http://127.0.0.1:{port}/data-deletion")).send().await.unwrap();
    assert_eq!(deletion.status(), 200);
}
