//! A connect page served on loopback against the FakeGraph and the FakeChatwoot, a
//! memory channel store, and a minimal browser over HTTP (cookies kept, redirects shown).

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use wbots_admin::{AdminConfig, AdminServices, WebhookUrls};
use wbots_chatwoot::people::People;
use wbots_core::store::{ChannelRecord, ChannelStore, MemoryStore, SealedChannels};
use wbots_core::{KeyRing, Secret};
use wbots_fakes::chatwoot::{FakeChatwoot, FakeUser};
use wbots_fakes::meta::FakeGraph;
use wbots_meta::{LoginUrls, MetaConfig, MetaConnections, MetaLogin};

pub const ADMIN_TOKEN: &str = "jane-token";
pub const AGENT_TOKEN: &str = "agent-token";

pub struct Hooks(pub String);

impl WebhookUrls for Hooks {
    fn for_inbox(&self, account: u64, inbox: u64, token: Option<&Secret>) -> String {
        match token {
            Some(t) => format!("{}/webhooks/a{account}.i{inbox}/{}", self.0, t.expose()),
            None => format!("{}/webhooks/chatwoot/bridge-path-token", self.0),
        }
    }
}

/// Channels "configured" outside the store: `(node, login, address)`.
pub struct Configured(pub Vec<(String, wbots_meta::Login, String)>);

impl wbots_admin::OtherChannels for Configured {
    fn reached_through(&self, node: &str, login: wbots_meta::Login) -> Option<String> {
        self.0.iter().find(|(n, l, _)| n == node && *l == login).map(|(_, _, a)| a.clone())
    }
}

pub struct World {
    pub graph: FakeGraph,
    pub chatwoot: FakeChatwoot,
    pub channels: SealedChannels<Arc<dyn ChannelStore>>,
    /// The links the engine would write (each channel's last message in and out).
    pub links: Arc<MemoryStore>,
    pub base: String,
    _server: tokio::task::JoinHandle<()>,
}

pub fn user(email: &str, token: &str, accounts: &[(u64, &str)]) -> FakeUser {
    FakeUser {
        email: email.into(),
        password: "S3cret!pass".into(),
        access_token: token.into(),
        name: email.into(),
        otp_code: None,
        accounts: accounts
            .iter()
            .map(|(id, role)| (*id, format!("Account {id}"), (*role).to_owned()))
            .collect(),
    }
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut AdminConfig)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let graph = FakeGraph::start().await.unwrap();
        graph.set_login_app("1234", "app-secret", &[&format!("{base}/admin/meta/callback")]);
        graph.set_instagram_login_app(
            "5678",
            "ig-secret",
            &[&format!("{base}/admin/instagram/callback")],
        );
        graph.add_page("111", "page-token-111", Some("17841400000000111"));
        graph.set_page_name("111", "Acme Shop");
        graph.set_instagram_username("17841400000000111", "acme.shop");
        graph.set_instagram_login_account("17841400000000999", "acme.direct");
        let chatwoot = FakeChatwoot::start("service-token", 1).await.unwrap();
        chatwoot.add_user(user(
            "jane@example.com",
            ADMIN_TOKEN,
            &[(1, "administrator"), (2, "agent")],
        ));
        chatwoot.add_user(user("agent@example.com", AGENT_TOKEN, &[(1, "agent")]));

        let mut meta = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"))
            .with_graph_urls(graph.url().clone());
        meta.app_id = Some("1234".into());
        meta.instagram_app_secret = Some(Secret::new("ig-secret"));
        let urls = LoginUrls {
            facebook_dialog: graph.url().clone(),
            instagram_authorize: graph.url().clone(),
            instagram_api: graph.url().clone(),
        };
        let ring = Arc::new(KeyRing::new([&KeyRing::generate_key()]).unwrap());
        let memory = Arc::new(MemoryStore::new());
        let store: Arc<dyn ChannelStore> = memory.clone();
        let channels = SealedChannels::new(store, ring);
        let services = AdminServices {
            meta: MetaLogin::new(meta.clone(), urls, Some("5678".into())).unwrap(),
            connections: MetaConnections::new(meta).unwrap(),
            people: People::new(chatwoot.url().clone()).unwrap(),
            channels: channels.clone(),
            links: memory.clone(),
        };
        let mut config = AdminConfig {
            public_url: Url::parse(&base).unwrap(),
            mount: "/admin".into(),
            privacy_policy_url: Some(Url::parse("https://operator.example/privacy").unwrap()),
            allowed_accounts: vec![],
            allowed_emails: vec![],
            bridge_account: 1,
            session_ttl: Duration::from_secs(3600),
            webhook_urls: Arc::new(Hooks(base.clone())),
            other_channels: Arc::new(Configured(Vec::new())),
            configured: vec![wbots_core::ChannelAddress::new("messenger", "900")],
            reply_window_hours: Some(24),
        };
        tune(&mut config);
        let app = axum::Router::new().nest("/admin", wbots_admin::router(config, services)).merge(
            wbots_admin::public_router(Some(
                Url::parse("https://operator.example/privacy").unwrap(),
            )),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { graph, chatwoot, channels, links: memory, base, _server: server }
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    pub async fn stored(&self) -> Vec<ChannelRecord> {
        self.channels.list().await.unwrap()
    }
}

/// What a page answered.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> String {
        self.headers.get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
    }

    /// The value of the first hidden `name` field.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let rest = self
            .body
            .split(&marker)
            .nth(1)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body));
        rest.split('"').next().unwrap().to_owned()
    }

    /// The `value` of every option of the first select whose name starts with `name`.
    pub fn options(&self, name: &str) -> Vec<String> {
        let marker = format!("name=\"{name}");
        let select = self.body.split(&marker).nth(1).unwrap_or_default();
        let select = select.split("</select>").next().unwrap_or_default();
        select
            .split("<option value=\"")
            .skip(1)
            .map(|o| o.split('"').next().unwrap().to_owned())
            .collect()
    }
}

/// A browser without JavaScript: keeps cookies, follows nothing by itself.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: base.to_owned(), http, cookies: HashMap::new() }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Page {
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Page { status, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.answer(r).await
    }

    /// Signs in with a personal access token; the channel list's page.
    pub async fn sign_in_with_token(&mut self, token: &str) -> Page {
        let form = self.get("/admin/sign-in").await;
        let csrf = form.field("csrf");
        let done = self.post("/admin/sign-in", &[("csrf", &csrf), ("token", token)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let list = self.get("/admin").await;
        assert_eq!(list.status, 200, "{list:?}");
        list
    }
}
