//! Where a connected channel's webhook subscription lives: on its Page for Messenger and for
//! an Instagram account reached through Facebook Login (Meta subscribes it through the Page,
//! meta-login.md §4.3), on the Instagram account itself for Instagram Login (§5.7). One
//! Page's subscription serves every channel reached through it, so disconnecting one of
//! them must not unsubscribe a node another served channel still needs (`channels remove`,
//! the connect page's *Disconnect*).

use wbots_core::store::{ConnectedChannel, LoginKind};

use crate::Login;

/// The node `c` is subscribed on and with which login; `None` for an Instagram account
/// through Facebook Login whose Page is not stored (it may be behind any Page).
pub fn node_of(c: &ConnectedChannel) -> Option<(String, Login)> {
    match (c.address.kind.as_str(), c.login) {
        (_, LoginKind::Instagram) => Some((c.address.account.to_string(), Login::Instagram)),
        ("messenger", _) => Some((c.address.account.to_string(), Login::Facebook)),
        (_, LoginKind::Facebook) => c.page_id.clone().map(|page| (page, Login::Facebook)),
    }
}

/// Whether a channel subscribed on `through` ([`node_of`]) is, or may be, reached through
/// `node` subscribed with `login`: one behind an unknown Page counts for every Page.
pub fn reached_through(through: Option<(&str, Login)>, node: &str, login: Login) -> bool {
    match through {
        Some((n, l)) => n == node && l == login,
        None => login == Login::Facebook,
    }
}

/// [`reached_through`] for a stored channel.
pub fn channel_reached_through(c: &ConnectedChannel, node: &str, login: Login) -> bool {
    let through = node_of(c);
    reached_through(through.as_ref().map(|(n, l)| (n.as_str(), *l)), node, login)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use wbots_core::ChannelAddress;
    use wbots_core::store::{ChannelStatus, ChatwootTarget};

    use super::*;

    fn channel(kind: &str, id: &str, login: LoginKind, page: Option<&str>) -> ConnectedChannel {
        ConnectedChannel {
            address: ChannelAddress::new(kind, id),
            page_id: page.map(str::to_owned),
            login,
            chatwoot: ChatwootTarget { url: None, account_id: None, inbox_id: 1 },
            status: ChannelStatus::Active,
            token_expires_at: None,
            connected_by: "ops".into(),
            connected_at: Utc::now(),
        }
    }

    #[test]
    fn each_channel_is_subscribed_where_meta_delivers_its_webhooks() {
        let page = channel("messenger", "111", LoginKind::Facebook, None);
        let behind = channel("instagram", "178", LoginKind::Facebook, Some("111"));
        let unknown = channel("instagram", "179", LoginKind::Facebook, None);
        let own = channel("instagram", "180", LoginKind::Instagram, None);
        assert_eq!(node_of(&page), Some(("111".into(), Login::Facebook)));
        assert_eq!(node_of(&behind), Some(("111".into(), Login::Facebook)));
        assert_eq!(node_of(&unknown), None);
        assert_eq!(node_of(&own), Some(("180".into(), Login::Instagram)));
        assert!(channel_reached_through(&behind, "111", Login::Facebook));
        assert!(!channel_reached_through(&behind, "222", Login::Facebook));
        assert!(channel_reached_through(&unknown, "222", Login::Facebook), "any Page");
        assert!(!channel_reached_through(&unknown, "180", Login::Instagram));
        assert!(!channel_reached_through(&own, "180", Login::Facebook));
    }
}
