//! Subscription of Pages and Instagram accounts to the app's webhooks, for `wbots check` and
//! `wbots setup`.

use serde_json::Value;
use wbots_core::{ChannelAddress, DeliveryError, DeliveryErrorKind};

use crate::MetaChannel;

/// The webhook fields the bridge needs, per platform.
pub const MESSENGER_FIELDS: &str = "messages,message_echoes,message_deliveries,message_reads,message_reactions,message_edits,messaging_postbacks,messaging_referrals";
/// Instagram's names for them.
pub const INSTAGRAM_FIELDS: &str =
    "messages,message_reactions,messaging_postbacks,messaging_referral,messaging_seen";

impl MetaChannel {
    fn subscribed_apps_url(
        &self,
        address: &ChannelAddress,
    ) -> Result<(url::Url, &crate::MetaAccount), DeliveryError> {
        let account = self.account(address).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("{address} is not configured"),
            )
        })?;
        let node = account.page_id.as_deref().unwrap_or(&account.id);
        Ok((self.graph(account, &format!("{node}/subscribed_apps"))?, account))
    }

    /// The apps subscribed to the account's webhooks (their ids). A refused token shows as
    /// an `Unauthorized` error.
    pub async fn subscribed_apps(
        &self,
        address: &ChannelAddress,
    ) -> Result<Vec<String>, DeliveryError> {
        let (url, account) = self.subscribed_apps_url(address)?;
        let response =
            self.http().get(url).bearer_auth(account.access_token.expose()).send().await.map_err(
                |e| {
                    DeliveryError::temporary(
                        DeliveryErrorKind::Network,
                        format!("Graph API unreachable: {e}"),
                    )
                },
            )?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(crate::errors::classify(status, &body, None));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(v.get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                a.get("id")
                    .map(|id| id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string()))
            })
            .collect())
    }

    /// Subscribes the account to the app's webhooks with the fields the bridge needs.
    pub async fn subscribe(&self, address: &ChannelAddress) -> Result<(), DeliveryError> {
        let (mut url, account) = self.subscribed_apps_url(address)?;
        let fields = match account.kind {
            crate::Platform::Messenger => MESSENGER_FIELDS,
            crate::Platform::Instagram => INSTAGRAM_FIELDS,
        };
        url.query_pairs_mut().append_pair("subscribed_fields", fields);
        let response =
            self.http().post(url).bearer_auth(account.access_token.expose()).send().await.map_err(
                |e| {
                    DeliveryError::temporary(
                        DeliveryErrorKind::Network,
                        format!("Graph API unreachable: {e}"),
                    )
                },
            )?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(crate::errors::classify(status, &body, None))
        }
    }
}
