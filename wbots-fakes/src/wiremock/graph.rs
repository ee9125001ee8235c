//! The Graph API's endpoints the Meta adapter calls, and its answers
//! (shared/reference/meta-platform.md §3 Send API, §4 user profile, §9).

use std::fmt::Display;

use ::wiremock::{MockServer, ResponseTemplate};
use serde_json::{Value, json};

use super::Route;

/// The Graph API version in every path: `MetaConfig`'s default.
const VERSION: &str = "v23.0";

/// The Graph API on a [`MockServer`] (`MetaConfig::with_graph_urls(server.uri())`).
#[derive(Clone, Copy, Debug)]
pub struct GraphApi<'s> {
    server: &'s MockServer,
}

impl<'s> GraphApi<'s> {
    /// The Graph API served by `server`.
    pub fn new(server: &'s MockServer) -> Self {
        Self { server }
    }

    /// The Send API: `POST /{version}/{node}/messages` (`node`: a Page, an Instagram account
    /// or `me`).
    pub fn send(&self, node: &str) -> Route<'s> {
        Route::new(self.server, "POST", format!("/{VERSION}/{node}/messages"))
    }

    /// A node read: `GET /{version}/{id}` (a customer's profile, `fields` in the query).
    pub fn node(&self, id: impl Display) -> Route<'s> {
        Route::new(self.server, "GET", format!("/{VERSION}/{id}"))
    }

    /// Unsubscribing a node from the app: `DELETE /{version}/{node}/subscribed_apps`
    /// (meta-login.md §4.2).
    pub fn unsubscribe(&self, node: &str) -> Route<'s> {
        Route::new(self.server, "DELETE", format!("/{VERSION}/{node}/subscribed_apps"))
    }

    /// Refreshing an Instagram-Login token: `GET /refresh_access_token`, unversioned, on
    /// graph.instagram.com (meta-login.md §5.5).
    pub fn refresh_access_token(&self) -> Route<'s> {
        Route::new(self.server, "GET", "/refresh_access_token")
    }

    /// Inspecting a token: `GET /{version}/debug_token` (meta-login.md §1.5).
    pub fn debug_token(&self) -> Route<'s> {
        Route::new(self.server, "GET", format!("/{VERSION}/debug_token"))
    }

    /// Facebook Login's token endpoint: `GET /{version}/oauth/access_token` (the code and
    /// the long-lived exchanges, meta-login.md §1.4, §1.6).
    pub fn oauth_access_token(&self) -> Route<'s> {
        Route::new(self.server, "GET", format!("/{VERSION}/oauth/access_token"))
    }

    /// Instagram Login's code exchange: `POST /oauth/access_token`, unversioned, on
    /// api.instagram.com (meta-login.md §5.3).
    pub fn instagram_oauth_access_token(&self) -> Route<'s> {
        Route::new(self.server, "POST", "/oauth/access_token")
    }

    /// A file on Meta's CDN at `path` (attachment URLs point there).
    pub fn cdn(&self, path: &str) -> Route<'s> {
        Route::new(self.server, "GET", path)
    }
}

/// The Send API accepting a message: 200 `{recipient_id, message_id}` (meta-platform.md §3.2;
/// S17, S19).
pub fn accepted(recipient: &str, message_id: &str) -> ResponseTemplate {
    super::json(200, json!({"recipient_id": recipient, "message_id": message_id}))
}

/// The Send API accepting a sender action or a reaction: 200 `{recipient_id}`, no
/// `message_id` (meta-platform.md §3.5; S24).
pub fn action_accepted(recipient: &str) -> ResponseTemplate {
    super::json(200, json!({"recipient_id": recipient}))
}

/// A Graph error: HTTP `status` with `{"error": error}` (`code`, `error_subcode`, `message`…;
/// meta-platform.md §3.6; S21, S22).
pub fn graph_error(status: u16, error: Value) -> ResponseTemplate {
    super::json(status, json!({ "error": error }))
}
