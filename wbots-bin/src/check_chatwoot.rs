//! `wbots check`'s Chatwoot-installation checks: the token's kind, the version, and
//! whether Chatwoot may call `public_url` at all.

use std::net::IpAddr;

use wbots_chatwoot::ChatwootInbox;
use wbots_chatwoot::setup::{TokenKind, Version};

/// What the checks found: `ok` lines, warnings (messages still flow, with limits), and
/// problems (they do not).
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub ok: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

/// The token must be a user's: Chatwoot refuses agent-bot tokens on contacts, message lists
/// and updates, and inboxes (`chatwoot-api.md`).
pub(crate) async fn token(inbox: &ChatwootInbox, found: &mut Findings) -> bool {
    match inbox.token_kind().await {
        Ok(TokenKind::User { name, role }) => {
            found.ok.push(format!(
                "chatwoot: the token is {name:?}'s ({})",
                role.as_deref().unwrap_or("no role in this account")
            ));
            true
        }
        Ok(TokenKind::Bot) => {
            found.problems.push("chatwoot.api_access_token: this is an agent bot's token; Chatwoot refuses bots on contacts, message lists, status updates and inboxes. Use a user's token (Profile settings → Access Token of an agent of the inboxes, or an administrator for `wbots setup`)".into());
            false
        }
        Err(e) => {
            found.problems.push(format!("chatwoot.api_access_token: {}", e.message()));
            false
        }
    }
}

/// Warns about installations too old for parts of the bridge.
pub(crate) async fn version(inbox: &ChatwootInbox, path_token: bool, found: &mut Findings) {
    let version = match inbox.version().await {
        Ok(v) => v,
        Err(e) => {
            found
                .warnings
                .push(format!("chatwoot: could not read the version (GET /api): {}", e.message()));
            return;
        }
    };
    found.ok.push(format!("chatwoot: version {version}"));
    if version < Version(4, 2, 0) {
        found.warnings.push(format!("chatwoot {version}: below v4.2 Chatwoot has no message status updates and sends no typing events; agents will not see delivered/read/failed"));
    }
    if version < Version(4, 13, 0) && !path_token {
        found.warnings.push(format!("chatwoot {version}: below v4.13 API-inbox webhooks are not signed; set chatwoot.webhook_token (a secret path token) or every agent reply is refused"));
    }
}

/// Chatwoot v4.14+ refuses to call webhook URLs on private or loopback addresses unless
/// `SAFE_FETCH_ALLOW_PRIVATE_NETWORK=true` (`chatwoot-signin-and-sweep.md` §5.3).
pub(crate) async fn public_url(url: Option<&url::Url>, found: &mut Findings) {
    let Some(url) = url else { return };
    let Some(host) = url.host_str() else { return };
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((host, port)).await {
            Ok(a) => a.map(|s| s.ip()).collect(),
            Err(e) => {
                found.warnings.push(format!("server.public_url: {host} does not resolve here ({e}); Chatwoot must be able to reach it"));
                return;
            }
        },
    };
    if let Some(private) = addresses.iter().find(|ip| is_private(ip)) {
        found.warnings.push(format!("server.public_url: {host} resolves to the private address {private}; Chatwoot v4.14+ refuses to call it unless SAFE_FETCH_ALLOW_PRIVATE_NETWORK=true is set on Chatwoot (every agent message then fails with \"Hostname '{host}' has no public ip addresses\")"));
    }
}

/// Chatwoot's SSRF filter refuses every address that is not public unicast; the bridge's
/// own fetch policy draws the same line.
fn is_private(ip: &IpAddr) -> bool {
    !wbots_core::fetch_policy::is_public_address(*ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(&ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860::8888"] {
            assert!(!is_private(&ip.parse().unwrap()), "{ip}");
        }
    }
}
