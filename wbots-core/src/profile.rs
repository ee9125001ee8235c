//! What the platform tells about a customer.

use serde::{Deserialize, Serialize};
use url::Url;

/// A customer's public profile, used to create and update the inbox contact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// A name to show agents. Adapters fall back to a readable stand-in
    /// ("Instagram user 1234") when the platform will not tell.
    pub name: String,
    /// The platform handle, where there is one (Instagram's username).
    pub username: Option<String>,
    /// A picture URL. Meta's expire, so the inbox should copy rather than link it.
    pub avatar_url: Option<Url>,
}
