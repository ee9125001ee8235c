//! The configuration file (`wbots.toml`) and its `WBOTS_*` environment overrides.
//!
//! Layers, later wins: built-in defaults → the TOML file → environment variables
//! `WBOTS_<SECTION>__<KEY>` (e.g. `WBOTS_CHATWOOT__API_ACCESS_TOKEN`). Every error names the
//! key it is about, so `wbots` exits before listening with a message an operator can act on.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use figment::Figment;
use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use serde::{Deserialize, Serialize};
use url::Url;
use wbots_chatwoot::ChatwootConfig;
use wbots_core::{ReopenPolicy, Secret};
use wbots_meta::MetaConfig;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// `[server]`
    #[serde(default)]
    pub server: ServerConfig,
    /// `[store]`
    #[serde(default)]
    pub store: StoreConfig,
    /// `[meta]`: the Meta app (the adapter's own configuration).
    pub meta: MetaConfig,
    /// `[chatwoot]` (the adapter's own configuration).
    pub chatwoot: ChatwootConfig,
    /// `[[channels]]`
    #[serde(default)]
    pub channels: Vec<ChannelSection>,
    /// `[engine]`: tuning most installations never touch.
    #[serde(default)]
    pub engine: EngineSection,
    /// `[log]`
    #[serde(default)]
    pub log: LogSection,
    /// `[upkeep]`: keeping Meta tokens alive.
    #[serde(default)]
    pub upkeep: UpkeepSection,
    /// Not configuration: the store's request budgets, set by `serve` once its store is
    /// open, so every Chatwoot adapter built from this configuration (the bridge's own and
    /// each connected channel's) draws on the installation's `chatwoot.max_requests_per_minute`.
    #[serde(skip)]
    pub rate_budgets: Option<Arc<dyn wbots_core::store::RateBudgets>>,
    /// `[privacy]`: retention and the audit trail's key (`privacy_config.rs`).
    #[serde(default)]
    pub privacy: crate::privacy_config::PrivacySection,
    /// `[admin]`: the connect page (`admin.rs`).
    #[serde(default)]
    pub admin: crate::admin::AdminSection,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerConfig {
    /// Where the webhooks are served.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The public base URL Meta and Chatwoot reach the bridge at (for `setup` and the
    /// data-deletion status URL).
    #[serde(default)]
    pub public_url: Option<Url>,
    /// The largest accepted request body; larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Where `/metrics` is served on its own (loopback by default, off the public webhook
    /// port); `""` turns that listener off.
    #[serde(default = "default_metrics_listen", deserialize_with = "optional_address")]
    pub metrics_listen: Option<SocketAddr>,
    /// Also serve `/metrics` on `listen` (the public port). Off unless asked.
    #[serde(default)]
    pub metrics_on_listen: bool,
    /// When set, `/metrics` (wherever served) needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub metrics_token: Option<Secret>,
    /// Seconds a connection may take to send a complete request head, counted from its
    /// opening or from the previous response (so also the idle keep-alive timeout).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_seconds: u64,
    /// Connections served at once (lowered to half the open-files limit if above it).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds requests in flight get after SIGTERM before their connections are dropped.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_seconds: u64,
    /// Where the connect page (`[admin]`) is served on its own; absent: under `/admin` on
    /// `listen`.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
}

fn default_metrics_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 8081)))
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_max_connections() -> usize {
    512
}

fn default_shutdown_grace() -> u64 {
    30
}

/// An address, or `""` / `"off"` for none (an empty environment variable is "not set", so
/// `WBOTS_SERVER__METRICS_LISTEN=off` is how the environment turns the listener off).
fn optional_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() || text.trim() == "off" {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(serde::de::Error::custom)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    1024 * 1024
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body(),
            metrics_listen: default_metrics_listen(),
            metrics_on_listen: false,
            metrics_token: None,
            header_read_timeout_seconds: default_header_read_timeout(),
            max_connections: default_max_connections(),
            shutdown_grace_seconds: default_shutdown_grace(),
            admin_listen: None,
        }
    }
}

/// `[store]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    /// `sqlite://wbots.db` (relative to the working directory) or `postgres://…`.
    #[serde(default = "default_store_url")]
    pub url: Secret,
    /// The keys sealing connected channels' credentials (`store_keys.rs`).
    #[serde(default, deserialize_with = "crate::store_keys::deserialize")]
    pub secret_key: Vec<Secret>,
    /// How often `serve` looks for channels connected, changed or removed in the store,
    /// in milliseconds (each replica on its own; one cheap query when nothing changed).
    #[serde(default = "default_channels_poll_millis")]
    pub channels_poll_millis: u64,
}

fn default_store_url() -> Secret {
    Secret::new("sqlite://wbots.db")
}

fn default_channels_poll_millis() -> u64 {
    1000
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: default_store_url(),
            secret_key: Vec::new(),
            channels_poll_millis: default_channels_poll_millis(),
        }
    }
}

/// The platform of a `[[channels]]` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChannelKindConfig {
    /// A Facebook Page.
    Messenger,
    /// An Instagram professional account.
    Instagram,
}

/// How an Instagram account is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LoginConfig {
    /// Through its Facebook Page (`graph_url`).
    #[default]
    Facebook,
    /// Instagram Login (`instagram_graph_url`).
    Instagram,
}

/// One `[[channels]]` entry: a Page or Instagram account bridged into an inbox.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelSection {
    /// `messenger` or `instagram`.
    pub kind: ChannelKindConfig,
    /// The Page id or Instagram account id (Meta's `entry.id` / `recipient.id`).
    pub id: String,
    /// The Page (or Instagram) access token.
    pub access_token: Secret,
    /// The Chatwoot API-channel inbox.
    pub inbox_id: u64,
    /// Allow replies 24 h–7 d after the customer's last message with the `HUMAN_AGENT` tag.
    #[serde(default)]
    pub human_agent_tag: bool,
    /// Instagram only: `facebook` or `instagram`.
    #[serde(default)]
    pub login: Option<LoginConfig>,
    /// Instagram through Facebook Login only: the Page it is linked to (learned from the
    /// Page token when absent).
    #[serde(default)]
    pub page_id: Option<String>,
    /// When a customer writes into a resolved conversation: `reopen` (default) or `new`.
    #[serde(default)]
    pub reopen: ReopenPolicy,
}

/// `[engine]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineSection {
    /// Inbound jobs (toward Chatwoot) processed at once.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Outbound jobs (agent replies, typing, upkeep: toward Meta) processed at once, by
    /// workers of their own so neither direction waits behind the other's backlog.
    #[serde(default = "default_outbound_workers")]
    pub outbound_workers: usize,
    /// Attempts before the dead letter.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// How long a job stays with its worker without a heartbeat (a running job extends it
    /// every third of this) before another process may take it over: a crashed replica's
    /// jobs resume after this on PostgreSQL; a SQLite bridge takes them over at start.
    #[serde(default = "default_lease")]
    pub lease_seconds: u64,
    /// The longest wait between retries of one job.
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: u64,
    /// How often Chatwoot is searched for agent messages its webhook could not deliver
    /// (also once at start); 0 turns the sweep off.
    #[serde(default = "default_sweep_every")]
    pub sweep_every_seconds: u64,
    /// How far back the sweep looks, in hours (at most 168: a week of finished jobs is kept).
    #[serde(default = "default_sweep_lookback")]
    pub sweep_lookback_hours: u64,
    /// How long a send taken over after a crash waits for Meta's echoes to record what the
    /// crashed process had already sent, before resending the rest; 0 resends at once.
    #[serde(default = "default_echo_grace")]
    pub echo_grace_seconds: u64,
}

fn default_echo_grace() -> u64 {
    10
}

fn default_sweep_every() -> u64 {
    300
}

fn default_sweep_lookback() -> u64 {
    24
}

fn default_lease() -> u64 {
    20
}

fn default_retry_max() -> u64 {
    600
}

fn default_workers() -> usize {
    16
}

fn default_outbound_workers() -> usize {
    4
}

fn default_attempts() -> u32 {
    12
}

impl Default for EngineSection {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            outbound_workers: default_outbound_workers(),
            max_attempts: default_attempts(),
            lease_seconds: default_lease(),
            retry_max_seconds: default_retry_max(),
            sweep_every_seconds: default_sweep_every(),
            sweep_lookback_hours: default_sweep_lookback(),
            echo_grace_seconds: default_echo_grace(),
        }
    }
}

/// `[upkeep]`: how `serve` keeps the channels' Meta tokens alive (`upkeep.rs`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpkeepSection {
    /// How often each channel's token is looked after (Instagram-Login tokens refreshed
    /// when due, Page tokens checked), also once at start; 0 turns the upkeep off.
    #[serde(default = "default_upkeep_every")]
    pub every_seconds: u64,
    /// Refresh an Instagram-Login token once fewer than this many days are left of its
    /// 60 (Meta refreshes only tokens at least a day old).
    #[serde(default = "default_refresh_days_left")]
    pub refresh_days_left: u64,
}

fn default_upkeep_every() -> u64 {
    6 * 3600
}

fn default_refresh_days_left() -> u64 {
    10
}

impl Default for UpkeepSection {
    fn default() -> Self {
        Self {
            every_seconds: default_upkeep_every(),
            refresh_days_left: default_refresh_days_left(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogSection {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `wbots_core=debug,info` (`RUST_LOG` wins).
    #[serde(default = "default_level")]
    pub level: String,
}

fn default_level() -> String {
    "info".to_owned()
}

impl Default for LogSection {
    fn default() -> Self {
        Self { format: LogFormat::default(), level: default_level() }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file or an override could not be read or has the wrong type.
    #[error("{0}")]
    Load(String),
    /// A value is present but unusable.
    #[error("{key}: {why}")]
    Invalid {
        /// The key, as written in the file (`channels[0].id`).
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

fn invalid(key: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), why: why.into() }
}

/// The shortest accepted secret among those that authenticate inbound requests.
pub(crate) const MIN_SECRET_BYTES: usize = 16;

/// Whether the key (`chatwoot.webhook_secret`, `channels.0.access_token`) holds a secret:
/// such values are read verbatim from the environment and never appear in an error.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let leaf = key.rsplit('.').next().unwrap_or_default();
    key == "store.url"
        || leaf.ends_with("secret")
        || leaf.ends_with("token")
        || leaf.contains("secret_key")
        || leaf.contains("password")
}

/// One line per figment error, naming the key, never showing a secret's value.
fn load_error(errors: figment::Error) -> ConfigError {
    let mut lines = Vec::new();
    for err in errors {
        let key = err.path.join(".");
        lines.push(if key.is_empty() {
            // A syntax error: the TOML parser quotes the offending line, which may hold a
            // secret. Keep its position and reason, drop the quoted source.
            without_quoted_source(&err.to_string())
        } else if is_secret_key(&key) {
            format!("{key}: {}", secret_error(&err.kind))
        } else {
            format!("{key}: {}", err.kind)
        });
    }
    ConfigError::Load(lines.join("; "))
}

/// Drops the `3 | app_secret = "…` lines (and their `|` gutters) of a TOML parse error.
fn without_quoted_source(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| {
            let gutter = line.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
            !line.is_empty() && !gutter.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What is wrong with a secret's value, without the value.
fn secret_error(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) => {
            let found = match actual {
                Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => {
                    "a number (write it in quotes)"
                }
                Actual::Bool(_) => "a boolean (write it in quotes)",
                Actual::Seq => "a list",
                Actual::Map => "a table",
                _ => "another type",
            };
            format!("expected {expected}, found {found}")
        }
        Kind::MissingField(_) | Kind::UnknownField(..) | Kind::DuplicateField(_) => {
            kind.to_string()
        }
        _ => "invalid value (not shown: it is a secret)".to_owned(),
    }
}

impl Config {
    /// Loads `path` (which may be missing when everything comes from the environment) with
    /// the environment overrides of `env`, then validates.
    pub(crate) fn load(path: &Path, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::new()
            .merge(Serialized::defaults(serde_json::json!({})))
            .merge(Toml::file(path));
        for (key, value) in env.iter() {
            // An empty variable is not set: `WBOTS_CHATWOOT__WEBHOOK_SECRET=` must not become
            // an empty signing key that anyone can sign with.
            if value.is_empty() {
                continue;
            }
            // Secrets are taken verbatim: figment would read `0123…` as the number 123…
            // (losing the zero), `true` as a boolean and `[…]` as a list.
            let value = if is_secret_key(key.as_str()) {
                Value::from(value)
            } else {
                value.parse::<Value>().unwrap_or_else(|never| match never {})
            };
            figment = figment.merge(Serialized::default(key.as_str(), value));
        }
        let mut config: Config = figment.extract().map_err(load_error)?;
        config.normalize();
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates a configuration from TOML text (no environment overrides): the
    /// sandbox's.
    #[cfg(feature = "sandbox")]
    pub(crate) fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Config = Figment::from(Toml::string(text)).extract().map_err(load_error)?;
        config.normalize();
        config.validate()?;
        Ok(config)
    }

    /// Empty optional secrets mean "not set".
    fn normalize(&mut self) {
        for secret in [
            &mut self.chatwoot.webhook_secret,
            &mut self.chatwoot.webhook_token,
            &mut self.meta.instagram_app_secret,
            &mut self.server.metrics_token,
        ] {
            if secret.as_ref().is_some_and(Secret::is_empty) {
                *secret = None;
            }
        }
    }

    /// The environment provider wbots reads: `WBOTS_<SECTION>__<KEY>` only. Other `WBOTS_*`
    /// variables (`WBOTS_CONFIG`, which names the file, or a deployment's own) are not keys.
    pub(crate) fn env() -> Env {
        Env::prefixed("WBOTS_").filter(|key| key.as_str().contains("__")).split("__")
    }

    /// Checks what types alone cannot.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.privacy.validate().map_err(ConfigError::Load)?;
        // The secrets that authenticate requests from the internet: a short one can be guessed.
        let guarding = [
            ("meta.app_secret", Some(&self.meta.app_secret)),
            ("meta.instagram_app_secret", self.meta.instagram_app_secret.as_ref()),
            ("meta.verify_token", Some(&self.meta.verify_token)),
            ("chatwoot.webhook_secret", self.chatwoot.webhook_secret.as_ref()),
            ("chatwoot.webhook_token", self.chatwoot.webhook_token.as_ref()),
            ("server.metrics_token", self.server.metrics_token.as_ref()),
        ];
        for (key, secret) in guarding.into_iter().filter_map(|(k, s)| Some((k, s?))) {
            if secret.is_empty() {
                return Err(invalid(key, "must be set (it is empty)"));
            }
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(invalid(
                    key,
                    format!(
                        "is shorter than {MIN_SECRET_BYTES} bytes; it authenticates requests from the internet, so use a long random value"
                    ),
                ));
            }
        }
        if self.chatwoot.webhook_secret.is_none() && self.chatwoot.webhook_token.is_none() {
            return Err(invalid(
                "chatwoot.webhook_secret",
                "neither it nor chatwoot.webhook_token is set, so no Chatwoot webhook could be authenticated and agent replies would never reach customers; set webhook_secret (the API inbox's secret, Chatwoot v4.13+) or webhook_token",
            ));
        }
        if !self.meta.graph_version.starts_with('v') {
            return Err(invalid(
                "meta.graph_version",
                format!("expected a version like \"v23.0\", got {:?}", self.meta.graph_version),
            ));
        }
        if self.chatwoot.api_access_token.is_empty() {
            return Err(invalid("chatwoot.api_access_token", "must not be empty"));
        }
        if self.chatwoot.account_id == 0 {
            return Err(invalid(
                "chatwoot.account_id",
                "must be a Chatwoot account id (1 or more)",
            ));
        }
        let url = self.store.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "store.url",
                "expected sqlite://FILE or postgres://USER:PASSWORD@HOST/DB",
            ));
        }
        crate::store_keys::key_ring(&self.store.secret_key)
            .map_err(|e| invalid("store.secret_key", e.to_string()))?;
        if !(50..=3_600_000).contains(&self.store.channels_poll_millis) {
            return Err(invalid(
                "store.channels_poll_millis",
                "must be between 50 (a busy store) and 3600000 (an hour)",
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if self.server.header_read_timeout_seconds == 0 {
            return Err(invalid("server.header_read_timeout_seconds", "must be at least 1"));
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if self.server.metrics_listen.is_some_and(|m| m == self.server.listen) {
            return Err(invalid(
                "server.metrics_listen",
                "is the same address as server.listen; to serve /metrics there, set metrics_listen = \"\" and metrics_on_listen = true",
            ));
        }
        // Channels come from [[channels]], or from the store (sealed with store.secret_key).
        if self.channels.is_empty() && self.store.secret_key.is_empty() {
            return Err(invalid(
                "channels",
                "at least one [[channels]] entry is needed, or store.secret_key to connect channels with `wbots channels add`",
            ));
        }
        let mut seen = HashSet::new();
        for (i, ch) in self.channels.iter().enumerate() {
            let key = |k: &str| format!("channels[{i}].{k}");
            if ch.id.trim().is_empty()
                || !ch.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    key("id"),
                    format!("expected the Page or Instagram account id, got {:?}", ch.id),
                ));
            }
            if !seen.insert((ch.kind, ch.id.clone())) {
                return Err(invalid(key("id"), format!("{} is configured twice", ch.id)));
            }
            if ch.access_token.is_empty() {
                return Err(invalid(key("access_token"), "must not be empty"));
            }
            if ch.inbox_id == 0 {
                return Err(invalid(key("inbox_id"), "must be a Chatwoot inbox id (1 or more)"));
            }
            if ch.kind == ChannelKindConfig::Messenger && ch.login.is_some() {
                return Err(invalid(key("login"), "only applies to instagram channels"));
            }
            if let Some(page) = &ch.page_id {
                if ch.kind != ChannelKindConfig::Instagram
                    || ch.login == Some(LoginConfig::Instagram)
                {
                    return Err(invalid(
                        key("page_id"),
                        "only applies to instagram channels with login = \"facebook\"",
                    ));
                }
                if page.is_empty() || !page.chars().all(|c| c.is_ascii_digit()) {
                    return Err(invalid(
                        key("page_id"),
                        format!("expected a Page id, got {page:?}"),
                    ));
                }
            }
        }
        if self.engine.workers == 0 {
            return Err(invalid("engine.workers", "must be at least 1"));
        }
        if self.engine.outbound_workers == 0 {
            return Err(invalid("engine.outbound_workers", "must be at least 1"));
        }
        if self.engine.lease_seconds < 2 {
            return Err(invalid("engine.lease_seconds", "must be at least 2"));
        }
        if self.engine.retry_max_seconds == 0 {
            return Err(invalid("engine.retry_max_seconds", "must be at least 1"));
        }
        if !(1..=168).contains(&self.engine.sweep_lookback_hours) {
            return Err(invalid("engine.sweep_lookback_hours", "must be between 1 and 168"));
        }
        if !(1..=58).contains(&self.upkeep.refresh_days_left) {
            return Err(invalid(
                "upkeep.refresh_days_left",
                "must be between 1 and 58 (a token must be a day old to be refreshed)",
            ));
        }
        if self.engine.max_attempts == 0 {
            return Err(invalid("engine.max_attempts", "must be at least 1"));
        }
        Ok(())
    }

    /// Problems that do not stop the bridge but that an operator should fix (`check`).
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.server.metrics_on_listen && self.server.metrics_token.is_none() {
            out.push("server.metrics_on_listen: /metrics is public on the webhook port; set server.metrics_token or keep the proxy from routing /metrics".to_owned());
        }
        if self.server.public_url.is_none() {
            out.push("server.public_url: not set; `setup` cannot register webhook URLs and data-deletion status URLs cannot be built".to_owned());
        }
        let mut inboxes: Vec<u64> = self.channels.iter().map(|c| c.inbox_id).collect();
        inboxes.sort_unstable();
        inboxes.dedup();
        if self.chatwoot.webhook_token.is_none() && inboxes.len() > 1 {
            // Chatwoot (v4.13+) gives every API inbox a signing secret of its own: one
            // `webhook_secret` verifies one inbox's webhooks, the others' are refused and
            // their agents' messages arrive only with the sweep, late.
            out.push(format!(
                "chatwoot.webhook_token: not set, and chatwoot.webhook_secret is one inbox's signing secret while the channels use {} inboxes; set webhook_token (each inbox's webhook at {{public_url}}/webhooks/chatwoot/{{webhook_token}}) or agent replies from the other inboxes are refused",
                inboxes.len()
            ));
        }
        if self.chatwoot.url.scheme() == "http"
            && self.chatwoot.url.host_str().is_some_and(|h| h != "localhost" && h != "127.0.0.1")
        {
            out.push(
                "chatwoot.url: plain http to a remote host sends the access token unencrypted"
                    .to_owned(),
            );
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MINIMAL: &str = r#"
[meta]
app_secret = "s3cr3t-0123456789"
verify_token = "verify-0123456789"

[chatwoot]
url = "https://chat.example.com"
api_access_token = "cw-token"
account_id = 1
webhook_token = "path-token-0123456789"

[[channels]]
kind = "messenger"
id = "1234567890"
access_token = "EAAB"
inbox_id = 7
"#;

    #[allow(clippy::result_large_err)] // figment's Jail dictates the closure's error type
    pub(crate) fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            jail.create_file("wbots.toml", toml)?;
            for (k, v) in env {
                jail.set_env(k, v);
            }
            result = Some(Config::load(Path::new("wbots.toml"), Config::env()));
            Ok(())
        });
        result.unwrap_or_else(|| Err(ConfigError::Load("jail did not run".into())))
    }

    #[test]
    fn minimal_file_gets_the_spec_defaults() {
        let c = load(MINIMAL, &[]).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.max_body_bytes, 1_048_576);
        assert_eq!(c.store.url.expose(), "sqlite://wbots.db");
        assert_eq!(c.meta.graph_url.as_str(), "https://graph.facebook.com/");
        assert_eq!(c.meta.graph_version, "v23.0");
        assert_eq!(c.channels[0].reopen, ReopenPolicy::Reopen);
        assert!(!c.channels[0].human_agent_tag);
    }

    #[test]
    fn metrics_listen_on_loopback_by_default_or_off() {
        let c = load(MINIMAL, &[]).unwrap();
        assert_eq!(
            c.server.metrics_listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:8081")
        );
        assert!(!c.server.metrics_on_listen);
        let c = load(&format!("[server]\nmetrics_listen = \"\"\n{MINIMAL}"), &[]).unwrap();
        assert!(c.server.metrics_listen.is_none());
        let c = load(MINIMAL, &[("WBOTS_SERVER__METRICS_LISTEN", "off")]).unwrap();
        assert!(c.server.metrics_listen.is_none());
        let err = load(MINIMAL, &[("WBOTS_SERVER__METRICS_LISTEN", "127.0.0.1:8080")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.metrics_listen"), "{err}");
        let err =
            load(MINIMAL, &[("WBOTS_SERVER__METRICS_TOKEN", "short")]).unwrap_err().to_string();
        assert!(err.starts_with("server.metrics_token"), "{err}");
    }

    #[test]
    fn page_id_is_for_instagram_through_facebook_only() {
        let ig =
            MINIMAL.replace("kind = \"messenger\"", "kind = \"instagram\"\npage_id = \"104001\"");
        assert_eq!(load(&ig, &[]).unwrap().channels[0].page_id.as_deref(), Some("104001"));
        let ig_login = ig.replace("page_id", "login = \"instagram\"\npage_id");
        let err = load(&ig_login, &[]).unwrap_err().to_string();
        assert!(err.starts_with("channels[0].page_id"), "{err}");
        let messenger = MINIMAL.replace("inbox_id = 7", "inbox_id = 7\npage_id = \"104001\"");
        assert!(load(&messenger, &[]).unwrap_err().to_string().starts_with("channels[0].page_id"));
        let not_an_id = ig.replace("104001", "my page");
        assert!(load(&not_an_id, &[]).unwrap_err().to_string().starts_with("channels[0].page_id"));
    }

    #[test]
    fn env_overrides_any_key() {
        let c = load(
            MINIMAL,
            &[
                ("WBOTS_CHATWOOT__API_ACCESS_TOKEN", "from-env"),
                ("WBOTS_SERVER__LISTEN", "0.0.0.0:9000"),
                ("WBOTS_STORE__URL", "postgres://u:p@db/wbots"),
                // Not keys: the file's name, and variables of other tools.
                ("WBOTS_CONFIG", "elsewhere.toml"),
                ("WBOTS_TEST_POSTGRES_URL", "postgres://x"),
            ],
        )
        .unwrap();
        assert_eq!(c.chatwoot.api_access_token.expose(), "from-env");
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.store.url.expose(), "postgres://u:p@db/wbots");
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("listen = \"nowhere\"", "server.listen"),
            ("max_body_bytes = 10", "server.max_body_bytes"),
        ];
        for (line, key) in cases {
            let toml = format!("[server]\n{line}\n{MINIMAL}");
            let err = load(&toml, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{line}: {err}");
        }
        let err = load(&MINIMAL.replace("id = \"1234567890\"", "id = \"\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("channels[0].id"), "{err}");
        let err = load(&MINIMAL.replace("account_id = 1", "account_id = \"one\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("chatwoot.account_id"), "{err}");
        let err = load(&MINIMAL.replace("[meta]", "[meta]\nunknown_key = 1"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown_key"), "{err}");
        let err = load(&MINIMAL.replace("sqlite", "x"), &[("WBOTS_STORE__URL", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("store.url"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let c = load(MINIMAL, &[]).unwrap();
        let dump = format!("{c:?}");
        for secret in ["s3cr3t", "verify-0123", "cw-token", "EAAB", "path-token"] {
            assert!(!dump.contains(secret), "{secret} leaked: {dump}");
        }
    }

    #[test]
    fn no_chatwoot_webhook_authentication_is_refused() {
        let no_auth = MINIMAL.replace("webhook_token = \"path-token-0123456789\"", "");
        let err = load(&no_auth, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("chatwoot.webhook_secret") && err.contains("webhook_token"),
            "{err}"
        );
    }

    #[test]
    fn lanes_and_the_chatwoot_budget_have_keys_and_defaults() {
        let c = load(MINIMAL, &[]).unwrap();
        assert_eq!((c.engine.outbound_workers, c.chatwoot.max_requests_per_minute), (4, 2400));
        let c = load(
            &MINIMAL.replace("[chatwoot]", "[chatwoot]\nmax_requests_per_minute = 1200"),
            &[("WBOTS_ENGINE__OUTBOUND_WORKERS", "2")],
        )
        .unwrap();
        assert_eq!((c.engine.outbound_workers, c.chatwoot.max_requests_per_minute), (2, 1200));
        let err = load(MINIMAL, &[("WBOTS_ENGINE__OUTBOUND_WORKERS", "0")]).unwrap_err();
        assert!(err.to_string().starts_with("engine.outbound_workers"), "{err}");
    }

    #[test]
    fn empty_secrets_mean_unset() {
        // In the file: an empty signing key is no key.
        let c =
            load(&MINIMAL.replace("[chatwoot]", "[chatwoot]\nwebhook_secret = \"\""), &[]).unwrap();
        assert!(c.chatwoot.webhook_secret.is_none());
        // In the environment: an empty variable does not override the file…
        let c = load(MINIMAL, &[("WBOTS_CHATWOOT__WEBHOOK_TOKEN", "")]).unwrap();
        assert_eq!(c.chatwoot.webhook_token.unwrap().expose(), "path-token-0123456789");
        // …and never counts as authentication.
        let no_auth = MINIMAL.replace("webhook_token = \"path-token-0123456789\"", "");
        let err = load(
            &no_auth,
            &[("WBOTS_CHATWOOT__WEBHOOK_SECRET", ""), ("WBOTS_CHATWOOT__WEBHOOK_TOKEN", "")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("chatwoot.webhook_secret"), "{err}");
        let err = load(&MINIMAL.replace("s3cr3t-0123456789", ""), &[]).unwrap_err().to_string();
        assert!(err.starts_with("meta.app_secret"), "{err}");
    }

    #[test]
    fn a_secret_shorter_than_16_bytes_is_refused_naming_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("meta.app_secret", "s3cr3t-0123456789", "short"),
            ("meta.verify_token", "verify-0123456789", "verify"),
            ("chatwoot.webhook_token", "path-token-0123456789", "guessable"),
        ];
        for (key, long, short) in cases {
            let err = load(&MINIMAL.replace(long, short), &[]).unwrap_err().to_string();
            assert!(err.starts_with(key) && err.contains("16 bytes"), "{key}: {err}");
            assert!(!err.contains(&format!("\"{short}\"")), "{err}");
        }
        let err = load(MINIMAL, &[("WBOTS_CHATWOOT__WEBHOOK_SECRET", "fifteen-bytes!!")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("chatwoot.webhook_secret"), "{err}");
        let err =
            load(MINIMAL, &[("WBOTS_META__INSTAGRAM_APP_SECRET", "0123")]).unwrap_err().to_string();
        assert!(err.starts_with("meta.instagram_app_secret"), "{err}");
        // Exactly 16 is enough.
        load(MINIMAL, &[("WBOTS_CHATWOOT__WEBHOOK_SECRET", "sixteen-bytes-ok")]).unwrap();
    }

    #[test]
    fn all_digit_secrets_from_the_environment_are_kept_verbatim() {
        let c = load(
            MINIMAL,
            &[
                ("WBOTS_META__APP_SECRET", "00112233445566778899"),
                ("WBOTS_CHATWOOT__WEBHOOK_SECRET", "123456789012345678901234567890"),
                ("WBOTS_CHATWOOT__API_ACCESS_TOKEN", "000000000000000042"),
                ("WBOTS_META__VERIFY_TOKEN", "true"),
                // Other keys are still typed.
                ("WBOTS_CHATWOOT__ACCOUNT_ID", "3"),
            ],
        );
        let err = c.as_ref().err().map(ToString::to_string);
        // `true` is 4 bytes: refused for its length, not for its type.
        assert!(err.as_deref().is_some_and(|e| e.starts_with("meta.verify_token")), "{err:?}");
        let c = load(
            MINIMAL,
            &[
                ("WBOTS_META__APP_SECRET", "00112233445566778899"),
                ("WBOTS_CHATWOOT__WEBHOOK_SECRET", "123456789012345678901234567890"),
                ("WBOTS_CHATWOOT__API_ACCESS_TOKEN", "000000000000000042"),
                ("WBOTS_CHATWOOT__ACCOUNT_ID", "3"),
            ],
        )
        .unwrap();
        assert_eq!(c.meta.app_secret.expose(), "00112233445566778899");
        assert_eq!(c.chatwoot.webhook_secret.unwrap().expose(), "123456789012345678901234567890");
        assert_eq!(c.chatwoot.api_access_token.expose(), "000000000000000042");
        assert_eq!(c.chatwoot.account_id, 3);
    }

    #[test]
    fn config_errors_never_print_a_secrets_value() {
        // A syntax error on the line holding the secret: the parser quotes that line.
        let broken = MINIMAL.replace("\"s3cr3t-0123456789\"", "\"s3cr3t-0123456789");
        let err = load(&broken, &[]).unwrap_err().to_string();
        assert!(err.contains("line 3"), "the position is kept: {err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        // A secret of the wrong type.
        let number = MINIMAL.replace("\"path-token-0123456789\"", "9876543210987654");
        let err = load(&number, &[]).unwrap_err().to_string();
        assert!(err.starts_with("chatwoot.webhook_token") && err.contains("quotes"), "{err}");
        assert!(!err.contains("98765"), "{err}");
        let table = MINIMAL.replace("\"cw-token\"", "{ value = \"cw-token-in-a-table\" }");
        let err = load(&table, &[]).unwrap_err().to_string();
        assert!(err.starts_with("chatwoot.api_access_token"), "{err}");
        assert!(!err.contains("cw-token"), "{err}");
    }

    #[test]
    fn upkeep_keys_have_defaults_env_overrides_and_bounds() {
        let c = load(MINIMAL, &[]).unwrap();
        assert_eq!((c.upkeep.every_seconds, c.upkeep.refresh_days_left), (21_600, 10));
        let c = load(
            MINIMAL,
            &[("WBOTS_UPKEEP__EVERY_SECONDS", "0"), ("WBOTS_UPKEEP__REFRESH_DAYS_LEFT", "20")],
        )
        .unwrap();
        assert_eq!((c.upkeep.every_seconds, c.upkeep.refresh_days_left), (0, 20));
        let err = load(&format!("[upkeep]\nrefresh_days_left = 60\n{MINIMAL}"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("upkeep.refresh_days_left"), "{err}");
    }

    #[test]
    fn several_inboxes_with_only_one_inboxs_signing_secret_is_a_problem_check_names() {
        let signed_only = MINIMAL.replace(
            "webhook_token = \"path-token-0123456789\"",
            "webhook_secret = \"123456789012345678901234567890\"",
        );
        let one = load(&signed_only, &[]).unwrap();
        assert!(!one.warnings().iter().any(|w| w.starts_with("chatwoot.webhook_token")));
        let two = format!(
            "{signed_only}\n[[channels]]\nkind = \"messenger\"\nid = \"222\"\naccess_token = \"EAAC\"\ninbox_id = 8\n"
        );
        let two = load(&two, &[]).unwrap();
        let warned = two.warnings();
        assert!(
            warned
                .iter()
                .any(|w| w.starts_with("chatwoot.webhook_token") && w.contains("2 inboxes")),
            "{warned:?}"
        );
        assert!(
            !load(MINIMAL, &[])
                .unwrap()
                .warnings()
                .iter()
                .any(|w| w.starts_with("chatwoot.webhook_token"))
        );
    }
}
