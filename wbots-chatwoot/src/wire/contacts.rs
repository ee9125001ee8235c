//! Contacts and their contact inboxes (`chatwoot-api.md`, Contacts).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use wbots_core::DeliveryError;

use super::{Listing, WireId};
use crate::client::Client;

/// A contact as Chatwoot lists it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Contact {
    pub(crate) id: WireId,
    pub(crate) name: Option<String>,
    pub(crate) identifier: Option<String>,
    /// Chatwoot's own copy of the avatar; empty when the contact has none.
    pub(crate) thumbnail: Option<String>,
}

/// `POST contacts`.
#[derive(Debug, Serialize)]
pub(crate) struct NewContact<'a> {
    pub(crate) inbox_id: u64,
    pub(crate) source_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) identifier: &'a str,
    pub(crate) additional_attributes: ContactAttributes<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) avatar_url: Option<&'a str>,
}

/// The bridge's attributes on a contact it creates.
#[derive(Debug, Serialize)]
pub(crate) struct ContactAttributes<'a> {
    pub(crate) wbots_channel: &'a str,
    pub(crate) wbots_account: &'a str,
    pub(crate) username: Option<&'a str>,
}

/// `PUT contacts/{id}`: only the fields given change.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ContactUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) avatar_url: Option<&'a str>,
}

/// What `POST contacts` did.
#[derive(Debug)]
pub(crate) enum Created {
    /// A new contact with this id.
    Contact(String),
    /// A contact with this identifier exists already.
    IdentifierTaken,
}

/// What `POST contacts/{id}/contact_inboxes` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Linked {
    /// The contact inbox was created.
    Now,
    /// A contact inbox with this source id exists already.
    Already,
}

/// The answer to `POST contacts`: `{payload: {contact: {id}}}`, `{payload: {id}}` or `{id}`
/// depending on the version.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreatedContact {
    payload: Option<CreatedPayload>,
    id: WireId,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreatedPayload {
    contact: Option<IdOnly>,
    id: WireId,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdOnly {
    id: WireId,
}

/// `POST contacts/filter` body: one exact condition on the identifier.
#[derive(Debug, Serialize)]
struct Filter<'a> {
    payload: [Condition<'a>; 1],
}

#[derive(Debug, Serialize)]
struct Condition<'a> {
    attribute_key: &'static str,
    filter_operator: &'static str,
    values: [&'a str; 1],
    query_operator: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct NewContactInbox<'a> {
    inbox_id: u64,
    source_id: &'a str,
}

/// `POST contacts/filter`: the contacts whose identifier equals `identifier`.
pub(crate) async fn filter_by_identifier(
    client: &Client,
    identifier: &str,
) -> Result<Vec<Contact>, DeliveryError> {
    let body = Filter {
        payload: [Condition {
            attribute_key: "identifier",
            filter_operator: "equal_to",
            values: [identifier],
            query_operator: None,
        }],
    };
    let req = client.request(Method::POST, &["contacts", "filter"])?.json(&body);
    let found: Listing<Contact> = client.send(req, "looking up a contact").await?;
    Ok(found.0)
}

/// `POST contacts`.
pub(crate) async fn create(
    client: &Client,
    body: &NewContact<'_>,
) -> Result<Created, DeliveryError> {
    let req = client.request(Method::POST, &["contacts"])?.json(body);
    let what = "creating a contact";
    let raw = match client.attempt(req, what).await {
        Ok(raw) => raw,
        Err(f) if f.taken("Identifier") => return Ok(Created::IdentifierTaken),
        Err(f) => return Err(f.error),
    };
    let created: CreatedContact = client.decode(&raw, what)?;
    let id = match created.payload {
        Some(CreatedPayload { contact: Some(contact), .. }) => contact.id,
        Some(payload) => payload.id,
        None => created.id,
    };
    Ok(Created::Contact(id.required("a new contact")?))
}

/// `PUT contacts/{id}`.
pub(crate) async fn update(
    client: &Client,
    contact: &str,
    body: &ContactUpdate<'_>,
) -> Result<(), DeliveryError> {
    let req = client.request(Method::PUT, &["contacts", contact])?.json(body);
    client.send_raw(req, "updating a contact").await.map(|_| ())
}

/// `DELETE contacts/{id}`.
pub(crate) async fn delete(client: &Client, contact: &str) -> Result<(), DeliveryError> {
    let req = client.request(Method::DELETE, &["contacts", contact])?;
    client.send_raw(req, "deleting a contact").await.map(|_| ())
}

/// `POST contacts/{id}/contact_inboxes`.
pub(crate) async fn link_inbox(
    client: &Client,
    contact: &str,
    inbox_id: u64,
    source_id: &str,
) -> Result<Linked, DeliveryError> {
    let req = client
        .request(Method::POST, &["contacts", contact, "contact_inboxes"])?
        .json(&NewContactInbox { inbox_id, source_id });
    match client.attempt(req, "linking the contact to the inbox").await {
        Ok(_) => Ok(Linked::Now),
        Err(f) if f.taken("Source") => Ok(Linked::Already),
        Err(f) => Err(f.error),
    }
}
