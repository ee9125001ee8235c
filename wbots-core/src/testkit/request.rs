//! [`OwnedRequest`]: a webhook request a test can build, keep and hand out as a
//! [`RawRequest`].

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::request::RawRequest;

/// An owned HTTP request for driving `verify`/`parse` and the engine's ingest in tests.
#[derive(Clone, Debug)]
pub struct OwnedRequest {
    /// The method.
    pub method: Method,
    /// The query string without `?`.
    pub query: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// A secret path segment.
    pub path_token: Option<String>,
}

impl OwnedRequest {
    /// A POST with this body and no headers.
    pub fn post(body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: Method::POST,
            query: String::new(),
            headers: HeaderMap::new(),
            body: body.into(),
            path_token: None,
        }
    }

    /// A GET with this query string.
    pub fn get(query: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            query: query.into(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            path_token: None,
        }
    }

    /// Adds a header. Panics on an invalid name or value: test input is the caller's own.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        #[allow(clippy::expect_used)]
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
        self
    }

    /// Sets the secret path segment.
    pub fn path_token(mut self, token: impl Into<String>) -> Self {
        self.path_token = Some(token.into());
        self
    }

    /// The borrowed view adapters take.
    pub fn as_raw(&self) -> RawRequest<'_> {
        RawRequest {
            method: &self.method,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            path_token: self.path_token.as_deref(),
        }
    }
}
