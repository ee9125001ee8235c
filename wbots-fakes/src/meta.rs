//! [`FakeGraph`]: a stateful stand-in for the Graph API on loopback —
//! Send API, Attachment Upload API, profiles, `/me`, `subscribed_apps` (subscribe, read,
//! unsubscribe), a connection's token endpoints (`debug_token`, Instagram Login's
//! `refresh_access_token`; rules in `lifecycle.rs`), the ID-matching edges `ids_for_pages` and
//! `ids_for_business` (`id_matching.rs`) and a CDN for media — and [`payload`] builders for the webhook bodies Meta sends. Used by the tests,
//! `wbots sandbox` and the load harness.
//!
//! It keeps Meta's documented rules (each cited where it is enforced, in `routes.rs`):
//! `appsecret_proof` when the app requires it, refused tokens, Pages and the Instagram
//! accounts linked to them (`/me`, subscription through the Page with Page fields only),
//! Instagram files by URL or `attachment_id` only, `metadata` echoed on Messenger only,
//! size limits per type, and business-use-case rate limits with `X-Business-Use-Case-Usage`.
//! Like Meta, it can echo every message it accepts back to the bridge's webhook (`is_echo`,
//! `app_id`, `metadata`), signed with the app secret.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;
use wbots_core::Secret;

mod id_matching;
mod lifecycle;
mod login;
pub mod payload;
mod routes;

pub use lifecycle::IG_TOKEN_SECONDS;

/// One request the fake accepted on `/{version}/{node}/messages`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    /// The node in the path (Page id, Instagram id or `me`).
    pub node: String,
    /// The bearer token used.
    pub token: String,
    /// `recipient.id`.
    pub recipient: String,
    /// `messaging_type`.
    pub messaging_type: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `message.text`.
    pub text: Option<String>,
    /// `message.attachment.type`.
    pub attachment_type: Option<String>,
    /// `message.attachment.payload.url`.
    pub attachment_url: Option<String>,
    /// `message.attachment.payload.attachment_id`.
    pub attachment_id: Option<String>,
    /// The uploaded `filedata`: (file name, content type, length).
    pub upload: Option<(String, String, usize)>,
    /// `message.metadata`.
    pub metadata: Option<String>,
    /// `reply_to.mid`.
    pub reply_to: Option<String>,
    /// `sender_action`.
    pub sender_action: Option<String>,
    /// `payload.reaction`.
    pub reaction: Option<String>,
    /// The `message_id` the fake answered with (none for sender actions).
    pub message_id: Option<String>,
    /// The `appsecret_proof` the call carried.
    pub appsecret_proof: Option<String>,
}

/// One file accepted by `POST /{page-id}/message_attachments`.
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    /// The Page it belongs to.
    pub page: String,
    /// `platform` (`instagram`, or `None` for Messenger).
    pub platform: Option<String>,
    /// `message.attachment.type`.
    pub attachment_type: String,
    /// The URL Meta fetched it from (`None` for a multipart `filedata` upload).
    pub url: Option<String>,
    /// Its length in bytes.
    pub len: usize,
    /// The `attachment_id` answered.
    pub attachment_id: String,
}

/// A Facebook Page the fake knows: its token and its linked Instagram account.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub token: String,
    pub name: String,
    pub instagram: Option<String>,
    /// The person's tasks on the Page (`/me/accounts`, §3.1/§3.4 of meta-login.md).
    pub tasks: Vec<String>,
}

/// An Instagram-Login token the fake issued: when, and until when it is valid.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IgToken {
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A queued failure: HTTP status, Graph error body, extra headers.
pub(crate) type Failure = (u16, Value, Vec<(String, String)>);

#[derive(Default)]
pub(crate) struct World {
    pub sent: Vec<SentMessage>,
    /// True while answers to sends are held back (`hold_send_answers`).
    pub hold_answers: tokio::sync::watch::Sender<bool>,
    /// Graph calls received, refused ones included.
    pub calls: u64,
    pub uploads: Vec<Upload>,
    pub next: u64,
    pub names: HashMap<String, (String, String)>,
    pub media: HashMap<String, (String, Vec<u8>)>,
    pub failures: Vec<Failure>,
    pub echo: Option<(String, Secret, Option<String>, String)>,
    pub base: String,
    /// The app secret `appsecret_proof` must be keyed with, when the app requires it.
    pub require_proof: Option<Secret>,
    pub revoked: HashSet<String>,
    pub pages: HashMap<String, Page>,
    pub instagram_users: HashSet<String>,
    /// Node → the fields its subscription holds.
    pub subscriptions: HashMap<String, Vec<String>>,
    /// `attachment_id` → (Page, platform).
    pub attachments: HashMap<String, (String, Option<String>)>,
    /// The app's id and secret: `debug_token`'s app token.
    pub app: Option<(String, Secret)>,
    /// Instagram-Login tokens issued, refreshed ones included.
    pub instagram_tokens: HashMap<String, IgToken>,
    /// Expiry dates of other tokens (`debug_token`), when they have one.
    pub expiries: HashMap<String, DateTime<Utc>>,
    /// Nodes unsubscribed, in order.
    pub unsubscribed: Vec<String>,
    /// Tokens refreshed, in order (the old ones).
    pub refreshed: Vec<String>,
    /// App-scoped id → (Page, page-scoped id) pairs Meta matches (`ids_for_pages`).
    pub page_ids: HashMap<String, Vec<(String, String)>>,
    /// App-scoped id → (app, the id that app knows the person by) (`ids_for_business`).
    pub business_ids: HashMap<String, Vec<(String, String)>>,
    /// Facebook Login and Instagram Login (`login.rs`).
    pub login: login::LoginWorld,
    /// Instagram account id → username.
    pub instagram_usernames: HashMap<String, String>,
}

impl World {
    /// The Page a token belongs to.
    pub(crate) fn page_of_token(&self, token: &str) -> Option<(String, Page)> {
        self.pages.iter().find(|(_, p)| p.token == token).map(|(id, p)| (id.clone(), p.clone()))
    }

    /// Whether `node` is an Instagram account linked to a Page.
    pub(crate) fn is_linked_instagram(&self, node: &str) -> bool {
        self.pages.values().any(|p| p.instagram.as_deref() == Some(node))
    }
}

/// The fake Graph API. Dropping it stops the server.
pub struct FakeGraph {
    url: Url,
    world: Arc<Mutex<World>>,
    _server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

pub(crate) fn lock(w: &Mutex<World>) -> MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) type Shared = Arc<Mutex<World>>;

impl FakeGraph {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let world: Shared = Arc::new(Mutex::new(World { base: base.clone(), ..World::default() }));
        let app = Router::new()
            .route("/{version}/{node}/messages", post(routes::messages))
            .route("/{version}/{node}/message_attachments", post(routes::message_attachments))
            .route(
                "/{version}/{node}/subscribed_apps",
                get(routes::subscribed_apps).post(routes::subscribe).delete(lifecycle::unsubscribe),
            )
            .route("/{version}/{node}/ids_for_pages", get(id_matching::ids_for_pages))
            .route("/{version}/{node}/ids_for_business", get(id_matching::ids_for_business))
            .route("/{version}/debug_token", get(lifecycle::debug_token))
            .route("/{version}/dialog/oauth", get(login::facebook_dialog))
            .route("/{version}/dialog/oauth/confirm", post(login::facebook_confirm))
            .route("/{version}/oauth/access_token", get(login::facebook_token))
            .route("/{version}/{node}/accounts", get(login::accounts))
            .route("/oauth/authorize", get(login::instagram_authorize))
            .route("/oauth/authorize/confirm", post(login::instagram_confirm))
            .route("/oauth/access_token", post(login::instagram_token))
            .route("/access_token", get(login::instagram_exchange))
            .route("/refresh_access_token", get(lifecycle::refresh_access_token))
            .route("/{version}/{node}", get(routes::node))
            .route("/media/{name}", get(routes::media))
            .with_state(world.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url: Url::parse(&base).map_err(std::io::Error::other)?, world, _server: server })
    }

    /// The base URL (`meta.graph_url` and `meta.instagram_graph_url`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Every accepted send, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.world).sent.clone()
    }

    /// How many Graph calls reached the fake, refused ones included.
    pub fn calls(&self) -> u64 {
        lock(&self.world).calls
    }

    /// Every accepted attachment upload, in order.
    pub fn uploads(&self) -> Vec<Upload> {
        lock(&self.world).uploads.clone()
    }

    /// The fields `node`'s webhook subscription holds (empty when not subscribed).
    pub fn subscribed_fields(&self, node: &str) -> Vec<String> {
        lock(&self.world).subscriptions.get(node).cloned().unwrap_or_default()
    }

    /// Names a customer: profiles answer with it.
    pub fn set_name(&self, user: &str, first: &str, last: &str) {
        lock(&self.world).names.insert(user.to_owned(), (first.to_owned(), last.to_owned()));
    }

    /// Serves `bytes` at a URL on the fake, as Meta's CDN serves attachments.
    pub fn host_media(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> Url {
        let mut w = lock(&self.world);
        w.media.insert(name.to_owned(), (content_type.to_owned(), bytes));
        let base = w.base.clone();
        Url::parse(&format!("{base}/media/{name}")).unwrap_or_else(|_| self.url.clone())
    }

    /// While `hold` is true, each send is accepted (recorded, and echoed as usual) but its
    /// answer is held back until `hold` turns false: the moment a bridge is killed after Meta
    /// accepted a send and before it heard so. A test device, not a behaviour of Meta's.
    pub fn hold_send_answers(&self, hold: bool) {
        lock(&self.world).hold_answers.send_replace(hold);
    }

    /// Answers the next `n` sends with HTTP `status`, `Retry-After: 1` and this Graph error
    /// body, e.g.
    /// `json!({"error": {"code": 613, "message": "Calls to this API have exceeded the rate limit"}})`.
    pub fn fail_next(&self, n: usize, status: u16, body: Value) {
        let headers = vec![("retry-after".to_owned(), "1".to_owned())];
        lock(&self.world).failures.extend(std::iter::repeat_n((status, body, headers), n));
    }

    /// Answers the next `n` sends with a business-use-case rate limit as Meta does: HTTP 400,
    /// Graph `code` (80000–80014; 80006 is Messenger, 80002 Instagram), no `is_transient`,
    /// no `Retry-After`, and `X-Business-Use-Case-Usage` announcing
    /// `estimated_time_to_regain_access` in minutes for `business_id` (meta-platform.md §9;
    /// Meta "Rate limits", S37). `minutes: None` leaves the header out.
    pub fn rate_limit_next(&self, n: usize, code: i64, business_id: &str, minutes: Option<u64>) {
        let body = json!({"error": {
            "message": format!("(#{code}) There have been too many calls from this business. Wait a bit and try again."),
            "type": "OAuthException", "code": code, "fbtrace_id": "AbucFake"}});
        let headers = minutes
            .map(|m| {
                let usage = json!({ business_id: [{ "type": "messenger", "call_count": 100, "total_cputime": 25, "total_time": 25, "estimated_time_to_regain_access": m }] });
                vec![("x-business-use-case-usage".to_owned(), usage.to_string())]
            })
            .unwrap_or_default();
        lock(&self.world).failures.extend(std::iter::repeat_n((400, body, headers), n));
    }

    /// Requires `appsecret_proof` keyed with `app_secret` on every Graph call, as an app
    /// with "Require App Secret" on does (S34).
    pub fn require_appsecret_proof(&self, app_secret: Secret) {
        lock(&self.world).require_proof = Some(app_secret);
    }

    /// Refuses `token` from now on, as Meta does once a token is invalidated (190 / 460).
    pub fn revoke_token(&self, token: &str) {
        lock(&self.world).revoked.insert(token.to_owned());
    }

    /// A Page with its Page token, optionally linked to an Instagram professional account.
    pub fn add_page(&self, page_id: &str, token: &str, instagram: Option<&str>) {
        lock(&self.world).pages.insert(
            page_id.to_owned(),
            Page {
                token: token.to_owned(),
                name: format!("Page {page_id}"),
                instagram: instagram.map(str::to_owned),
                tasks: [
                    "ANALYZE",
                    "ADVERTISE",
                    "MESSAGING",
                    "MODERATE",
                    "CREATE_CONTENT",
                    "MANAGE",
                ]
                .map(str::to_owned)
                .to_vec(),
            },
        );
    }

    /// Names a Page (what `/me/accounts` and the consent page show).
    pub fn set_page_name(&self, page_id: &str, name: &str) {
        if let Some(p) = lock(&self.world).pages.get_mut(page_id) {
            p.name = name.to_owned();
        }
    }

    /// The person's tasks on a Page (default: all, `MESSAGING` and `MODERATE` included);
    /// meta-login.md §3.4: without them a Page cannot be subscribed or messaged.
    pub fn set_page_tasks(&self, page_id: &str, tasks: &[&str]) {
        if let Some(p) = lock(&self.world).pages.get_mut(page_id) {
            p.tasks = tasks.iter().map(|t| (*t).to_owned()).collect();
        }
    }

    /// Names an Instagram account (`username`).
    pub fn set_instagram_username(&self, instagram_id: &str, username: &str) {
        lock(&self.world).instagram_usernames.insert(instagram_id.to_owned(), username.to_owned());
    }

    /// The Meta app Facebook Login serves: its id, secret and Valid OAuth Redirect URIs
    /// (meta-login.md §7.1; the dialog refuses any other URI, §7.2).
    pub fn set_login_app(&self, app_id: &str, app_secret: &str, redirect_uris: &[&str]) {
        let mut w = lock(&self.world);
        w.login.app = Some((app_id.to_owned(), app_secret.to_owned()));
        w.login.redirect_uris = redirect_uris.iter().map(|u| (*u).to_owned()).collect();
    }

    /// The Instagram app Instagram Login serves (its own id and secret, §5) and its
    /// business-login redirect URIs.
    pub fn set_instagram_login_app(&self, app_id: &str, app_secret: &str, redirect_uris: &[&str]) {
        let mut w = lock(&self.world);
        w.login.instagram_app = Some((app_id.to_owned(), app_secret.to_owned()));
        w.login.instagram_redirect_uris = redirect_uris.iter().map(|u| (*u).to_owned()).collect();
    }

    /// A test device: the Pages the person who logs in with Facebook administers (the
    /// consent page lists these, ticked); `None` (the default): every Page the fake knows.
    pub fn set_person_pages(&self, pages: Option<&[&str]>) {
        lock(&self.world).login.person_pages =
            pages.map(|p| p.iter().map(|id| (*id).to_owned()).collect());
    }

    /// The Instagram professional account that logs in with Instagram Login.
    pub fn set_instagram_login_account(&self, user_id: &str, username: &str) {
        let mut w = lock(&self.world);
        w.login.instagram_account = Some((user_id.to_owned(), username.to_owned()));
        w.instagram_usernames.insert(user_id.to_owned(), username.to_owned());
    }

    /// Answers a login dialog as the person would, over HTTP: opens `dialog` (a Facebook
    /// Login dialog or an Instagram Login authorize URL on this fake), then submits its
    /// consent form — approving with `pages` ticked (`None`: as shown, every listed Page)
    /// or cancelling. Returns where the dialog redirects the browser, or the page it showed
    /// instead (an error page, "URL Blocked") as `Err`.
    pub async fn consent(
        &self,
        dialog: &Url,
        pages: Option<&[&str]>,
        approve: bool,
    ) -> Result<Url, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let shown = http.get(dialog.clone()).send().await.map_err(|e| e.to_string())?;
        let html = shown.text().await.map_err(|e| e.to_string())?;
        if !html.contains("<form") {
            return Err(html);
        }
        let query: HashMap<String, String> = dialog.query_pairs().into_owned().collect();
        let instagram = dialog.path().ends_with("/oauth/authorize");
        let mut form: Vec<(String, String)> = ["redirect_uri", "state"]
            .iter()
            .map(|k| ((*k).to_owned(), query.get(*k).cloned().unwrap_or_default()))
            .collect();
        let decision = match (approve, instagram) {
            (false, _) => "cancel",
            (true, true) => "allow",
            (true, false) => "continue",
        };
        form.push(("decision".into(), decision.into()));
        let listed: Vec<String> = html
            .split("name=page value=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next().map(str::to_owned))
            .collect();
        let ticked: Vec<String> = match pages {
            Some(p) => p.iter().map(|id| (*id).to_owned()).collect(),
            None => listed,
        };
        form.extend(ticked.into_iter().map(|id| ("page".to_owned(), id)));
        let confirm = dialog
            .join(if instagram { "authorize/confirm" } else { "oauth/confirm" })
            .map_err(|e| e.to_string())?;
        let answer = http.post(confirm).form(&form).send().await.map_err(|e| e.to_string())?;
        let location =
            answer.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        match location {
            Some(l) => Url::parse(&l).map_err(|e| e.to_string()),
            None => Err(answer.text().await.unwrap_or_default()),
        }
    }

    /// Authorization codes exchanged for tokens so far (each only once).
    pub fn codes_exchanged(&self) -> usize {
        lock(&self.world).login.exchanged.len()
    }

    /// The app's id and secret, whose app token (`{app-id}|{app-secret}`) `debug_token`
    /// takes (meta-login.md §1.5, S2).
    pub fn set_app(&self, app_id: &str, app_secret: Secret) {
        lock(&self.world).app = Some((app_id.to_owned(), app_secret));
    }

    /// Meta knows the person of app-scoped id `asid` as `psid` on `page` (`ids_for_pages`;
    /// the app and the Page in one business).
    pub fn match_page_id(&self, asid: &str, page: &str, psid: &str) {
        lock(&self.world)
            .page_ids
            .entry(asid.to_owned())
            .or_default()
            .push((page.to_owned(), psid.to_owned()));
    }

    /// Another app of the business knows the person of `asid` as `id` (`ids_for_business`).
    pub fn match_business_id(&self, asid: &str, app: &str, id: &str) {
        lock(&self.world)
            .business_ids
            .entry(asid.to_owned())
            .or_default()
            .push((app.to_owned(), id.to_owned()));
    }

    /// An Instagram-Login long-lived token issued at `issued_at`, valid for about 60 days
    /// from then ([`IG_TOKEN_SECONDS`]; meta-login.md §5.4).
    pub fn add_instagram_login_token(&self, token: &str, issued_at: DateTime<Utc>) {
        let expires_at = issued_at + chrono::Duration::seconds(IG_TOKEN_SECONDS);
        lock(&self.world)
            .instagram_tokens
            .insert(token.to_owned(), IgToken { issued_at, expires_at });
    }

    /// Whether `token` is an Instagram-Login token the fake issued that has not expired nor
    /// been revoked.
    pub fn instagram_token_valid(&self, token: &str) -> bool {
        let w = lock(&self.world);
        !w.revoked.contains(token)
            && w.instagram_tokens.get(token).is_some_and(|t| t.expires_at > Utc::now())
    }

    /// Gives `token` an expiry date (`debug_token` reports it; past it, the token reads
    /// expired).
    pub fn set_token_expiry(&self, token: &str, at: DateTime<Utc>) {
        lock(&self.world).expiries.insert(token.to_owned(), at);
    }

    /// The nodes unsubscribed with `DELETE /{node}/subscribed_apps`, in order.
    pub fn unsubscribed(&self) -> Vec<String> {
        lock(&self.world).unsubscribed.clone()
    }

    /// The Instagram-Login tokens refreshed, in order (the tokens given, not the new ones).
    pub fn refreshed_tokens(&self) -> Vec<String> {
        lock(&self.world).refreshed.clone()
    }

    /// An Instagram customer (IGSID): sends to them follow Instagram's rules.
    pub fn add_instagram_user(&self, igsid: &str) {
        lock(&self.world).instagram_users.insert(igsid.to_owned());
    }

    /// Echoes every accepted message to `webhook_url`, signed with `app_secret`, as Meta
    /// does; `object` is `page` or `instagram`.
    pub fn echo_to(
        &self,
        webhook_url: &str,
        app_secret: Secret,
        app_id: Option<String>,
        object: &str,
    ) {
        lock(&self.world).echo =
            Some((webhook_url.to_owned(), app_secret, app_id, object.to_owned()));
    }
}
