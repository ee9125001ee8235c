//! [`Route`]: one endpoint and what its request must carry; [`Reply`]: its answer, mounted
//! when awaited.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use ::wiremock::matchers::{
    body_json, body_partial_json, header, method, path, query_param, query_param_is_missing,
};
use ::wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};
use serde_json::Value;

use super::answers;

/// An endpoint on a [`MockServer`] and the matchers its requests must pass. A request that
/// matches no mounted route gets wiremock's 404.
#[must_use = "a route does nothing until it answers and is awaited"]
pub struct Route<'s> {
    server: &'s MockServer,
    mock: MockBuilder,
}

impl std::fmt::Debug for Route<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("server", &self.server.uri()).finish_non_exhaustive()
    }
}

impl<'s> Route<'s> {
    /// `method` on exactly `path`.
    pub fn new(server: &'s MockServer, method_name: &str, path_exact: impl Into<String>) -> Self {
        Self { server, mock: Mock::given(method(method_name)).and(path(path_exact)) }
    }

    /// `method` on every path: a service that answers whatever is asked (an internal host an
    /// attacker points the bridge at, a capture endpoint).
    pub fn any_path(server: &'s MockServer, method_name: &str) -> Self {
        Self { server, mock: Mock::given(method(method_name)) }
    }

    /// The request's JSON body contains `partial` (objects may carry more fields).
    pub fn body(self, partial: Value) -> Self {
        Self { server: self.server, mock: self.mock.and(body_partial_json(partial)) }
    }

    /// The request's JSON body is exactly `body`.
    pub fn exact_body(self, body: Value) -> Self {
        Self { server: self.server, mock: self.mock.and(body_json(body)) }
    }

    /// The request carries header `name` with `value`.
    pub fn header(self, name: &str, value: &str) -> Self {
        Self { server: self.server, mock: self.mock.and(header(name, value)) }
    }

    /// The query string has `name=value`.
    pub fn query(self, name: &str, value: &str) -> Self {
        Self { server: self.server, mock: self.mock.and(query_param(name, value)) }
    }

    /// The query string has no `name`.
    pub fn without_query(self, name: &str) -> Self {
        Self { server: self.server, mock: self.mock.and(query_param_is_missing(name)) }
    }

    /// Answers matching requests with `response`.
    pub fn answers(self, response: ResponseTemplate) -> Reply<'s> {
        Reply { server: self.server, mock: self.mock.respond_with(response) }
    }

    /// Answers matching requests with HTTP `status` and the JSON `body`.
    pub fn json(self, status: u16, body: Value) -> Reply<'s> {
        self.answers(answers::json(status, body))
    }
}

/// A route with its answer. Awaiting it mounts it on the server; the expectations
/// ([`once`](Self::once), [`times`](Self::times), [`never`](Self::never)) are checked when the
/// server drops, as wiremock does.
#[must_use = "a reply is mounted only when awaited"]
pub struct Reply<'s> {
    server: &'s MockServer,
    mock: Mock,
}

impl std::fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("server", &self.server.uri()).finish_non_exhaustive()
    }
}

impl Reply<'_> {
    /// Exactly one request reaches it.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// Exactly `n` requests reach it.
    pub fn times(self, n: u64) -> Self {
        Self { server: self.server, mock: self.mock.expect(n) }
    }

    /// No request reaches it.
    pub fn never(self) -> Self {
        self.times(0)
    }
}

impl<'s> IntoFuture for Reply<'s> {
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send + 's>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.mock.mount(self.server))
    }
}
