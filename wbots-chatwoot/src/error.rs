//! Chatwoot's HTTP failures as classified [`DeliveryError`]s, read with the signature every
//! adapter uses ([`HttpFailures`]).

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use wbots_core::{DeliveryError, DeliveryErrorKind, HttpFailures};

use crate::wire::Refusal;

/// Chatwoot's failures while doing `what` (`"creating a contact"`): the words agents and
/// operators read after "while".
#[derive(Clone, Copy, Debug)]
pub struct ChatwootFailures<'a> {
    what: &'a str,
}

impl<'a> ChatwootFailures<'a> {
    /// The failures of a call doing `what`.
    pub fn new(what: &'a str) -> Self {
        Self { what }
    }
}

impl HttpFailures for ChatwootFailures<'_> {
    type Transport = reqwest::Error;

    fn refused(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
        let what = self.what;
        let refusal = Refusal::read(body);
        let detail = refusal.summary().map(|m| format!(": {m}")).unwrap_or_default();
        let status = status.as_u16();
        let err = match status {
            429 => DeliveryError::temporary(
                DeliveryErrorKind::RateLimited,
                format!("Chatwoot rate limit while {what}"),
            )
            .with_retry_after(wbots_core::retry_after(headers).unwrap_or(Duration::from_secs(60))),
            500..=599 => DeliveryError::temporary(
                DeliveryErrorKind::Unavailable,
                format!("Chatwoot failed ({status}) while {what}{detail}"),
            ),
            // Chatwoot's proxy or a restart can answer 408/409 briefly.
            408 | 409 => DeliveryError::temporary(
                DeliveryErrorKind::Unavailable,
                format!("Chatwoot answered {status} while {what}{detail}"),
            ),
            401 => DeliveryError::permanent(
                DeliveryErrorKind::Unauthorized,
                format!(
                    "Chatwoot refused the api_access_token while {what}: check chatwoot.api_access_token"
                ),
            ),
            403 => DeliveryError::permanent(
                DeliveryErrorKind::Forbidden,
                format!(
                    "the Chatwoot token may not do this ({what}): check chatwoot.account_id and that the token's user is an administrator or agent of the inbox"
                ),
            ),
            404 => DeliveryError::permanent(
                DeliveryErrorKind::NotFound,
                format!("Chatwoot has no such object ({what})"),
            ),
            // Chatwoot's flood guard: 200 messages a minute in one conversation
            // (`app/models/message.rb`, `chatwoot-api.md`). It passes within the minute.
            422 if refusal.flood_guard() => DeliveryError::temporary(
                DeliveryErrorKind::RateLimited,
                format!(
                    "Chatwoot's flood guard (200 messages a minute per conversation) while {what}"
                ),
            )
            .with_retry_after(Duration::from_secs(30)),
            // Only redirects within chatwoot.url's origin are followed (the token goes with them).
            300..=399 => DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                format!(
                    "Chatwoot redirected elsewhere ({status}) while {what}: the token is sent only to chatwoot.url's origin; check its scheme, host and port"
                ),
            ),
            413 => DeliveryError::permanent(
                DeliveryErrorKind::TooLarge,
                format!("Chatwoot refused the upload as too large ({what})"),
            ),
            _ => DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                format!("Chatwoot refused the request ({status}) while {what}{detail}"),
            ),
        };
        err.with_code(status.to_string())
    }

    /// Always worth retrying; reqwest's error, without its URL, is the source.
    fn unreachable(&self, error: reqwest::Error) -> DeliveryError {
        DeliveryError::temporary(
            DeliveryErrorKind::Network,
            format!("Chatwoot unreachable while {}: {}", self.what, without_url(&error)),
        )
        .with_source(error.without_url())
    }
}

/// An answer the bridge needs that does not read: a temporary failure (a proxy's page, a
/// Chatwoot hiccup), the decoding error kept as source.
pub(crate) fn unreadable(error: serde_json::Error, what: &str) -> DeliveryError {
    DeliveryError::temporary(
        DeliveryErrorKind::Unavailable,
        format!("unreadable Chatwoot answer while {what}: {error}"),
    )
    .with_source(error)
}

// reqwest errors print the URL; keep log lines short and about what failed.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return "connection failed".into();
    }
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(url.as_str(), ""),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use http::HeaderValue;

    use super::*;

    fn refused(status: u16, headers: &HeaderMap, body: &str) -> DeliveryError {
        let status = StatusCode::from_u16(status).unwrap();
        ChatwootFailures::new("testing").refused(status, headers, body.as_bytes())
    }

    #[test]
    fn each_status_gets_its_class() {
        let rows: &[(u16, DeliveryErrorKind, bool)] = &[
            (429, DeliveryErrorKind::RateLimited, true),
            (500, DeliveryErrorKind::Unavailable, true),
            (502, DeliveryErrorKind::Unavailable, true),
            (503, DeliveryErrorKind::Unavailable, true),
            (401, DeliveryErrorKind::Unauthorized, false),
            (403, DeliveryErrorKind::Forbidden, false),
            (404, DeliveryErrorKind::NotFound, false),
            (422, DeliveryErrorKind::InvalidRequest, false),
            (400, DeliveryErrorKind::InvalidRequest, false),
        ];
        for (status, kind, temporary) in rows {
            let e = refused(*status, &HeaderMap::new(), "");
            assert_eq!((e.kind(), e.is_temporary()), (*kind, *temporary), "{status}");
            assert_eq!(e.code(), Some(status.to_string().as_str()));
        }
    }

    #[test]
    fn retry_after_and_messages_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("12"));
        let e = refused(429, &headers, "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        assert_eq!(
            refused(429, &HeaderMap::new(), "").retry_after(),
            Some(Duration::from_secs(60))
        );
        let e = refused(422, &HeaderMap::new(), r#"{"message":"Source has already been taken"}"#);
        assert!(e.message().ends_with(": Source has already been taken"), "{}", e.message());
        let e = refused(503, &HeaderMap::new(), r#"{"error":"maintenance"}"#);
        assert!(e.message().ends_with("while testing: maintenance"), "{}", e.message());
        assert!(
            refused(401, &HeaderMap::new(), "").message().contains("chatwoot.api_access_token")
        );
    }

    #[test]
    fn the_flood_guard_is_read_from_the_error_field() {
        // `render_could_not_create_error(e.message)`: a RecordInvalid's message.
        let flood =
            refused(422, &HeaderMap::new(), r#"{"error":"Validation failed: Too many messages"}"#);
        assert!(flood.is_temporary(), "{flood:?}");
        assert_eq!(flood.kind(), DeliveryErrorKind::RateLimited);
        assert_eq!(flood.retry_after(), Some(Duration::from_secs(30)));
        // The words elsewhere, or in another sentence, are a refusal like any other.
        for body in [
            "Validation failed: Too many messages",
            r#"{"error":"Validation failed: Content Too many messages is not allowed"}"#,
            r#"{"content":"Too many messages"}"#,
        ] {
            assert!(!refused(422, &HeaderMap::new(), body).is_temporary(), "{body}");
        }
    }

    #[tokio::test]
    async fn no_answer_is_a_temporary_network_failure_keeping_its_source() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let error =
            reqwest::get(format!("http://127.0.0.1:{port}/api?token=secret")).await.unwrap_err();
        let e = ChatwootFailures::new("posting a message").unreachable(error);
        assert_eq!((e.kind(), e.is_temporary()), (DeliveryErrorKind::Network, true));
        assert!(
            e.message().starts_with("Chatwoot unreachable while posting a message"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("secret"), "{}", e.message());
        let source = e.source().expect("the transport's error is kept");
        assert!(!source.to_string().contains("secret"), "{source}");
    }

    #[test]
    fn an_unreadable_answer_is_temporary_keeping_its_source() {
        let error = serde_json::from_slice::<serde_json::Value>(b"<html>").unwrap_err();
        let e = unreadable(error, "creating a contact");
        assert_eq!((e.kind(), e.is_temporary()), (DeliveryErrorKind::Unavailable, true));
        assert!(e.source().is_some());
    }
}
