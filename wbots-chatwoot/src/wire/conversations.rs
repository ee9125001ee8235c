//! Conversations (`chatwoot-api.md`, Conversations).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use wbots_core::DeliveryError;

use super::{Listing, WireId};
use crate::client::Client;

/// A conversation as Chatwoot answers it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Conversation {
    pub(crate) id: WireId,
    pub(crate) status: Option<String>,
    pub(crate) inbox_id: WireId,
}

impl Conversation {
    /// Whether agents closed it.
    pub(crate) fn is_resolved(&self) -> bool {
        self.status.as_deref() == Some("resolved")
    }
}

/// `POST conversations`.
#[derive(Debug, Serialize)]
pub(crate) struct NewConversation<'a> {
    pub(crate) source_id: &'a str,
    pub(crate) inbox_id: u64,
    pub(crate) contact_id: u64,
    pub(crate) status: &'static str,
    pub(crate) additional_attributes: ConversationAttributes<'a>,
}

/// The bridge's attributes on a conversation it creates.
#[derive(Debug, Serialize)]
pub(crate) struct ConversationAttributes<'a> {
    pub(crate) wbots_channel: &'a str,
    pub(crate) wbots_account: &'a str,
    pub(crate) wbots_thread: &'a str,
}

#[derive(Debug, Serialize)]
struct StatusChange {
    status: &'static str,
}

/// `GET conversations/{id}`.
pub(crate) async fn get(client: &Client, id: &str) -> Result<Conversation, DeliveryError> {
    let req = client.request(Method::GET, &["conversations", id])?;
    client.send(req, "reading a conversation").await
}

/// `GET contacts/{id}/conversations`.
pub(crate) async fn of_contact(
    client: &Client,
    contact: &str,
) -> Result<Vec<Conversation>, DeliveryError> {
    let req = client.request(Method::GET, &["contacts", contact, "conversations"])?;
    let listed: Listing<Conversation> =
        client.send(req, "listing the contact's conversations").await?;
    Ok(listed.0)
}

/// `POST conversations`.
pub(crate) async fn create(
    client: &Client,
    body: &NewConversation<'_>,
) -> Result<Conversation, DeliveryError> {
    let req = client.request(Method::POST, &["conversations"])?.json(body);
    client.send(req, "creating a conversation").await
}

/// `POST conversations/{id}/toggle_status` to `open`.
pub(crate) async fn reopen(client: &Client, id: &str) -> Result<(), DeliveryError> {
    let req = client
        .request(Method::POST, &["conversations", id, "toggle_status"])?
        .json(&StatusChange { status: "open" });
    client.send_raw(req, "reopening a conversation").await.map(|_| ())
}
