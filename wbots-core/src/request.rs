//! The borrowed view of an HTTP request that channels and inboxes verify and parse.

use http::{HeaderMap, Method};

/// A webhook request exactly as received: the signature checks need the raw bytes, so no
/// layer may parse or re-serialise the body before [`Channel::verify`] /
/// [`Inbox::verify`] ran.
///
/// [`Channel::verify`]: crate::Channel::verify
/// [`Inbox::verify`]: crate::Inbox::verify
#[derive(Clone, Copy, Debug)]
pub struct RawRequest<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// The query string, without the `?` (empty when none).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body, byte for byte.
    pub body: &'a [u8],
    /// A secret path segment (`/webhooks/chatwoot/{token}`), for senders that cannot sign.
    pub path_token: Option<&'a str>,
}

impl<'a> RawRequest<'a> {
    /// A request with no query string and no path token.
    pub fn new(method: &'a Method, headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        Self { method, query: "", headers, body, path_token: None }
    }

    /// The value of a header as text, if present and valid ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
