//! Subscription of Pages and Instagram accounts to the app's webhooks, for `wbots check` and
//! `wbots setup`.
//!
//! Messenger Pages and Instagram accounts reached through Facebook Login are both subscribed
//! on the *Page*: `POST /{page-id}/subscribed_apps` with Page fields; the Instagram fields of
//! the latter are chosen on the app's Instagram webhook in the dashboard, and there is no
//! `/{ig-id}/subscribed_apps` on graph.facebook.com (meta-platform.md §1.4 and §9, S1, S16).
//! Instagram-Login accounts subscribe themselves on graph.instagram.com with Instagram
//! field names (S15).

use serde_json::Value;
use wbots_core::{ChannelAddress, DeliveryError, DeliveryErrorKind};

use crate::{Login, MetaAccount, MetaChannel, Platform};

/// The Page webhook fields the bridge needs (Messenger, and Instagram through a Page).
/// `standby` and `messaging_handovers` show when another app holds a conversation;
/// `messaging_policy_enforcement` tells when Meta blocks the Page (S1, S12–S14).
pub const MESSENGER_FIELDS: &str = "messages,message_echoes,message_deliveries,message_reads,message_reactions,message_edits,messaging_postbacks,messaging_referrals,messaging_handovers,standby,messaging_policy_enforcement";
/// Instagram Login's names for them (S15: singular `messaging_referral`, `messaging_seen`,
/// `messaging_handover`).
pub const INSTAGRAM_FIELDS: &str = "messages,message_reactions,messaging_postbacks,messaging_referral,messaging_seen,messaging_handover,standby";

/// Where an account's webhook subscription lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The node subscribed: the Page id, or the Instagram-Login account id.
    pub node: String,
    /// The apps subscribed to it (their ids).
    pub apps: Vec<String>,
}

impl MetaChannel {
    async fn subscription_node(
        &self,
        address: &ChannelAddress,
    ) -> Result<(String, &MetaAccount), DeliveryError> {
        let account = self.account(address).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("{address} is not configured"),
            )
        })?;
        let node = match (account.kind, account.login) {
            (Platform::Instagram, Login::Facebook) => self.page_id(account).await?,
            _ => account.id.clone(),
        };
        Ok((node, account))
    }

    /// The apps subscribed to the account's webhooks, and on which node. A refused token
    /// shows as an `Unauthorized` error.
    pub async fn subscription(
        &self,
        address: &ChannelAddress,
    ) -> Result<Subscription, DeliveryError> {
        let (node, account) = self.subscription_node(address).await?;
        let url = self.graph(account, &[&node, "subscribed_apps"])?;
        let v = self.call(self.authed(self.http().get(url), account)).await?;
        let apps = v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                a.get("id")
                    .map(|id| id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string()))
            })
            .collect();
        Ok(Subscription { node, apps })
    }

    /// The apps subscribed to the account's webhooks (their ids).
    pub async fn subscribed_apps(
        &self,
        address: &ChannelAddress,
    ) -> Result<Vec<String>, DeliveryError> {
        Ok(self.subscription(address).await?.apps)
    }

    /// Subscribes the account to the app's webhooks with the fields the bridge needs.
    /// Returns the node subscribed (the Page, for Instagram through Facebook Login).
    pub async fn subscribe(&self, address: &ChannelAddress) -> Result<String, DeliveryError> {
        let (node, account) = self.subscription_node(address).await?;
        let mut url = self.graph(account, &[&node, "subscribed_apps"])?;
        let fields = match (account.kind, account.login) {
            (Platform::Instagram, Login::Instagram) => INSTAGRAM_FIELDS,
            // A Page takes Page fields only, whichever platform the channel is.
            _ => MESSENGER_FIELDS,
        };
        url.query_pairs_mut().append_pair("subscribed_fields", fields);
        self.call(self.authed(self.http().post(url), account)).await?;
        Ok(node)
    }
}
