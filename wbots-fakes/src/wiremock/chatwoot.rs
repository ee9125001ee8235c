//! Chatwoot's Application API endpoints the Chatwoot adapter calls, and its refusals
//! (shared/reference/chatwoot-api.md).

use std::fmt::Display;

use ::wiremock::{MockServer, ResponseTemplate};
use serde_json::json;

use super::Route;

/// One Chatwoot account's Application API on a [`MockServer`]
/// (`ChatwootConfig::new(server.uri(), token, account)`).
#[derive(Clone, Copy, Debug)]
pub struct ChatwootApi<'s> {
    server: &'s MockServer,
    account: u64,
}

impl<'s> ChatwootApi<'s> {
    /// Account `account` on `server`.
    pub fn new(server: &'s MockServer, account: u64) -> Self {
        Self { server, account }
    }

    fn route(&self, method: &str, tail: impl Display) -> Route<'s> {
        Route::new(self.server, method, format!("/api/v1/accounts/{}/{tail}", self.account))
    }

    /// `POST contacts/filter`: contacts by identifier.
    pub fn filter_contacts(&self) -> Route<'s> {
        self.route("POST", "contacts/filter")
    }

    /// `POST contacts`: creates a contact (and its contact inbox).
    pub fn create_contact(&self) -> Route<'s> {
        self.route("POST", "contacts")
    }

    /// `PUT contacts/{contact}`: renames a contact.
    pub fn update_contact(&self, contact: impl Display) -> Route<'s> {
        self.route("PUT", format!("contacts/{contact}"))
    }

    /// `POST contacts/{contact}/contact_inboxes`: links a contact to an inbox under a
    /// `source_id`.
    pub fn link_contact_inbox(&self, contact: impl Display) -> Route<'s> {
        self.route("POST", format!("contacts/{contact}/contact_inboxes"))
    }

    /// `GET contacts/{contact}/conversations`.
    pub fn contact_conversations(&self, contact: impl Display) -> Route<'s> {
        self.route("GET", format!("contacts/{contact}/conversations"))
    }

    /// `GET conversations/{id}`.
    pub fn conversation(&self, id: impl Display) -> Route<'s> {
        self.route("GET", format!("conversations/{id}"))
    }

    /// `POST conversations/{id}/toggle_status`: reopens (or resolves) a conversation.
    pub fn toggle_status(&self, id: impl Display) -> Route<'s> {
        self.route("POST", format!("conversations/{id}/toggle_status"))
    }

    /// `POST conversations`: creates a conversation.
    pub fn create_conversation(&self) -> Route<'s> {
        self.route("POST", "conversations")
    }

    /// `GET conversations`: the account's conversations, filtered by the query.
    pub fn list_conversations(&self) -> Route<'s> {
        self.route("GET", "conversations")
    }

    /// `POST conversations/{conversation}/messages`: posts a message (JSON or multipart).
    pub fn create_message(&self, conversation: impl Display) -> Route<'s> {
        self.route("POST", format!("conversations/{conversation}/messages"))
    }

    /// `GET conversations/{conversation}/messages`: a page of messages (`before` in the query).
    pub fn list_messages(&self, conversation: impl Display) -> Route<'s> {
        self.route("GET", format!("conversations/{conversation}/messages"))
    }

    /// `PATCH conversations/{conversation}/messages/{message}`: a status update.
    pub fn update_message(&self, conversation: impl Display, message: impl Display) -> Route<'s> {
        self.route("PATCH", format!("conversations/{conversation}/messages/{message}"))
    }

    /// `DELETE conversations/{conversation}/messages/{message}`.
    pub fn delete_message(&self, conversation: impl Display, message: impl Display) -> Route<'s> {
        self.route("DELETE", format!("conversations/{conversation}/messages/{message}"))
    }

    /// `GET inboxes`: the account's inboxes (also how a token is checked).
    pub fn list_inboxes(&self) -> Route<'s> {
        self.route("GET", "inboxes")
    }

    /// `POST inboxes`: creates an inbox.
    pub fn create_inbox(&self) -> Route<'s> {
        self.route("POST", "inboxes")
    }

    /// `PATCH inboxes/{id}`: updates an inbox (its webhook URL).
    pub fn update_inbox(&self, id: impl Display) -> Route<'s> {
        self.route("PATCH", format!("inboxes/{id}"))
    }

    /// An Active Storage file: `GET /rails/active_storage/{path}` (attachment URLs point
    /// there; blobs redirect to the stored file).
    pub fn storage(&self, path: impl Display) -> Route<'s> {
        Route::new(self.server, "GET", format!("/rails/active_storage/{path}"))
    }
}

/// A refusal as Chatwoot words it: HTTP `status` with `{"message": message}`, `message` joining
/// the record's full error messages with ", " (`render_record_invalid` in Chatwoot's
/// `app/controllers/concerns/request_exception_handler.rb`).
pub fn refusal(status: u16, message: &str) -> ResponseTemplate {
    super::json(status, json!({ "message": message }))
}
