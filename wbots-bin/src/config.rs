//! The configuration file (`wbots.toml`) and its `WBOTS_*` environment overrides.
//!
//! Layers, later wins: built-in defaults → the TOML file → environment variables
//! `WBOTS_<SECTION>__<KEY>` (e.g. `WBOTS_CHATWOOT__API_ACCESS_TOKEN`). Every error names the
//! key it is about, so `wbots` exits before listening with a message an operator can act on.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;
use wbots_chatwoot::ChatwootConfig;
use wbots_core::{ReopenPolicy, Secret};
use wbots_meta::MetaConfig;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
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
}

/// `[server]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
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
    /// Serve `/metrics` on its own address instead of `listen` (keeps it off the public
    /// webhook port).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
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
            metrics_listen: None,
        }
    }
}

/// `[store]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://wbots.db` (relative to the working directory) or `postgres://…`.
    #[serde(default = "default_store_url")]
    pub url: Secret,
}

fn default_store_url() -> Secret {
    Secret::new("sqlite://wbots.db")
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: default_store_url() }
    }
}

/// The platform of a `[[channels]]` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKindConfig {
    /// A Facebook Page.
    Messenger,
    /// An Instagram professional account.
    Instagram,
}

/// How an Instagram account is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginConfig {
    /// Through its Facebook Page (`graph_url`).
    #[default]
    Facebook,
    /// Instagram Login (`instagram_graph_url`).
    Instagram,
}

/// One `[[channels]]` entry: a Page or Instagram account bridged into an inbox.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSection {
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
    /// When a customer writes into a resolved conversation: `reopen` (default) or `new`.
    #[serde(default)]
    pub reopen: ReopenPolicy,
}

/// `[engine]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Jobs processed at once.
    #[serde(default = "default_workers")]
    pub workers: usize,
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

fn default_attempts() -> u32 {
    12
}

impl Default for EngineSection {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            max_attempts: default_attempts(),
            lease_seconds: default_lease(),
            retry_max_seconds: default_retry_max(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
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
pub enum ConfigError {
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

impl Config {
    /// Loads `path` (which may be missing when everything comes from the environment) with
    /// the environment overrides of `env`, then validates.
    pub fn load(path: &Path, env: Env) -> Result<Self, ConfigError> {
        let figment = Figment::new()
            .merge(Serialized::defaults(serde_json::json!({})))
            .merge(Toml::file(path))
            .merge(env);
        let config: Config = figment.extract().map_err(|e| {
            let mut lines = Vec::new();
            for err in e {
                let key = err.path.join(".");
                lines.push(if key.is_empty() {
                    err.to_string()
                } else {
                    format!("{key}: {}", err.kind)
                });
            }
            ConfigError::Load(lines.join("; "))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates a configuration from TOML text (no environment overrides).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The environment provider wbots reads: `WBOTS_<SECTION>__<KEY>` only. Other `WBOTS_*`
    /// variables (`WBOTS_CONFIG`, which names the file, or a deployment's own) are not keys.
    pub fn env() -> Env {
        Env::prefixed("WBOTS_").filter(|key| key.as_str().contains("__")).split("__")
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.meta.app_secret.is_empty() {
            return Err(invalid(
                "meta.app_secret",
                "must not be empty: it is the key of X-Hub-Signature-256",
            ));
        }
        if self.meta.verify_token.is_empty() {
            return Err(invalid("meta.verify_token", "must not be empty"));
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
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if self.channels.is_empty() {
            return Err(invalid("channels", "at least one [[channels]] entry is needed"));
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
        }
        if self.engine.workers == 0 {
            return Err(invalid("engine.workers", "must be at least 1"));
        }
        if self.engine.lease_seconds < 2 {
            return Err(invalid("engine.lease_seconds", "must be at least 2"));
        }
        if self.engine.retry_max_seconds == 0 {
            return Err(invalid("engine.retry_max_seconds", "must be at least 1"));
        }
        if self.engine.max_attempts == 0 {
            return Err(invalid("engine.max_attempts", "must be at least 1"));
        }
        Ok(())
    }

    /// Problems that do not stop the bridge but that an operator should fix (`check`).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.chatwoot.webhook_secret.is_none() && self.chatwoot.webhook_token.is_none() {
            out.push("chatwoot.webhook_secret / chatwoot.webhook_token: neither is set, so every Chatwoot webhook is refused and agent replies never reach customers".to_owned());
        }
        if self.server.public_url.is_none() {
            out.push("server.public_url: not set; `setup` cannot register webhook URLs and data-deletion status URLs cannot be built".to_owned());
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
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[meta]
app_secret = "s3cr3t"
verify_token = "vt"

[chatwoot]
url = "https://chat.example.com"
api_access_token = "cw-token"
account_id = 1
webhook_token = "path-token"

[[channels]]
kind = "messenger"
id = "1234567890"
access_token = "EAAB"
inbox_id = 7
"#;

    #[allow(clippy::result_large_err)] // figment's Jail dictates the closure's error type
    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
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
        for secret in ["s3cr3t", "cw-token", "EAAB", "path-token"] {
            assert!(!dump.contains(secret), "{secret} leaked: {dump}");
        }
    }

    #[test]
    fn check_warns_when_chatwoot_webhooks_cannot_be_authenticated() {
        let c = load(&MINIMAL.replace("webhook_token = \"path-token\"", ""), &[]).unwrap();
        assert!(c.warnings().iter().any(|w| w.contains("every Chatwoot webhook is refused")));
    }
}
