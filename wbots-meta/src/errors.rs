//! Graph API errors → [`DeliveryError`]: one table, from `{error:{code,error_subcode}}` and the
//! HTTP status to kind and retryability.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use wbots_core::{DeliveryError, DeliveryErrorKind, HttpFailures};

use crate::wire::ErrorDocument;

/// The Graph API's failures, read with the signature every adapter uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct GraphFailures;

impl HttpFailures for GraphFailures {
    type Transport = reqwest::Error;

    /// The wait is `Retry-After`, else the estimate from `X-Business-Use-Case-Usage`
    /// (meta-platform.md §3.7); the rest is [`classify`]'s table.
    fn refused(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError {
        let wait = wbots_core::retry_after(headers).or_else(|| {
            let usage = headers.get("x-business-use-case-usage")?.to_str().ok()?;
            crate::rate_limit::business_use_case_wait(usage)
        });
        classify(status.as_u16(), body, wait)
    }

    fn unreachable(&self, error: reqwest::Error) -> DeliveryError {
        // The URL carries `appsecret_proof`: keep it out of the message and the source.
        let e = error.without_url();
        let what = if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "connection failed".to_owned()
        } else {
            e.to_string()
        };
        DeliveryError::temporary(
            DeliveryErrorKind::Network,
            format!("Graph API unreachable: {what}"),
        )
        .with_source(e)
    }
}

/// How long to wait after a rate limit when Meta gives no `Retry-After`.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A Graph error body's parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphError {
    /// `error.code`.
    pub code: Option<i64>,
    /// `error.error_subcode`.
    pub subcode: Option<i64>,
    /// `error.message`.
    pub message: String,
    /// `error.is_transient`.
    pub transient: bool,
    /// `error.fbtrace_id`, for Meta support.
    pub fbtrace_id: Option<String>,
}

impl GraphError {
    /// Reads a Graph error body; `None` when it is not one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        // Only an object has fields (a derived shape would also read an array positionally).
        if !v.is_object() {
            return None;
        }
        let document = ErrorDocument::deserialize(v).unwrap_or_default();
        let e = document.error.get()?;
        Some(Self {
            code: e.code.0,
            subcode: e.error_subcode.0,
            message: e.message.cloned().unwrap_or_default(),
            transient: e.is_transient.is_true(),
            fbtrace_id: e.fbtrace_id.cloned(),
        })
    }
}

/// The one table. Rows are (code, subcode or any, kind, temporary?, message for the agent).
/// Order matters: the first matching row wins, so specific subcodes come before their code.
const TABLE: &[(i64, Option<i64>, DeliveryErrorKind, bool, &str)] = &[
    (
        10,
        Some(2018278),
        DeliveryErrorKind::OutsideWindow,
        false,
        "the 24-hour messaging window has closed",
    ),
    (10, Some(2534022), DeliveryErrorKind::OutsideWindow, false, "the messaging window has closed"),
    (10, Some(2018065), DeliveryErrorKind::OutsideWindow, false, "the messaging window has closed"),
    (
        10,
        Some(2018108),
        DeliveryErrorKind::RecipientUnavailable,
        false,
        "this person isn't receiving messages from you right now",
    ),
    (
        551,
        None,
        DeliveryErrorKind::RecipientUnavailable,
        false,
        "this person isn't available right now (blocked the account or deactivated)",
    ),
    (
        200,
        Some(1545041),
        DeliveryErrorKind::RecipientUnavailable,
        false,
        "this person isn't receiving messages from you right now",
    ),
    (100, Some(2018001), DeliveryErrorKind::RecipientUnavailable, false, "no matching user found"),
    (
        100,
        Some(2018047),
        DeliveryErrorKind::InvalidRequest,
        false,
        "the attachment could not be uploaded (type or size)",
    ),
    (
        100,
        Some(2018008),
        DeliveryErrorKind::InvalidRequest,
        false,
        "Meta could not fetch the attachment",
    ),
    (100, Some(2018109), DeliveryErrorKind::TooLarge, false, "the attachment is too large"),
    (100, None, DeliveryErrorKind::InvalidRequest, false, "Meta refused the request as invalid"),
    (
        190,
        None,
        DeliveryErrorKind::Unauthorized,
        false,
        "the access token is invalid or expired: renew the Page/Instagram token",
    ),
    (102, None, DeliveryErrorKind::Unauthorized, false, "the session is invalid: renew the token"),
    (
        368,
        None,
        DeliveryErrorKind::Forbidden,
        false,
        "the account is temporarily blocked for policy violations",
    ),
    (10, None, DeliveryErrorKind::Forbidden, false, "the app lacks a permission for this"),
    (200, None, DeliveryErrorKind::Forbidden, false, "the app lacks a permission for this"),
    (1, None, DeliveryErrorKind::Unavailable, true, "Meta had an unknown error"),
    (2, None, DeliveryErrorKind::Unavailable, true, "Meta's service is temporarily unavailable"),
    (1200, None, DeliveryErrorKind::Unavailable, true, "temporary send failure"),
    (4, None, DeliveryErrorKind::RateLimited, true, "the app's request limit was reached"),
    (17, None, DeliveryErrorKind::RateLimited, true, "the user request limit was reached"),
    (32, None, DeliveryErrorKind::RateLimited, true, "the Page request limit was reached"),
    (613, None, DeliveryErrorKind::RateLimited, true, "the rate limit was exceeded"),
];

/// Classifies a failed Graph call from its status, body and the wait Meta announced: the
/// table behind [`GraphFailures::refused`], which reads the wait from the headers.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> DeliveryError {
    let graph = GraphError::parse(body).unwrap_or_default();
    let code_label = match (graph.code, graph.subcode) {
        (Some(c), Some(s)) => format!("{c}/{s}"),
        (Some(c), None) => c.to_string(),
        _ => format!("http {status}"),
    };
    let row = graph.code.and_then(|code| {
        TABLE.iter().find(|(c, sub, ..)| *c == code && sub.is_none_or(|s| graph.subcode == Some(s)))
    });
    // 200-299 are all permission errors.
    let row = row.or_else(|| {
        graph.code.filter(|c| (200..300).contains(c)).map(|_| {
            &(200, None, DeliveryErrorKind::Forbidden, false, "the app lacks a permission for this")
        })
    });
    // 80000-80014 are business-use-case rate limits (80001 Pages, 80002 Instagram, 80006
    // Messenger…): HTTP 400, often without `is_transient`, yet temporary. The wait is the
    // `X-Business-Use-Case-Usage` estimate the caller passes as `retry_after`, else the job
    // queue's backoff (meta-platform.md §9; Meta "Rate limits", S37).
    if let Some(code) = graph.code.filter(|c| (80000..=80014).contains(c)) {
        let what = "Meta's business-use-case rate limit was reached";
        let text = if graph.message.is_empty() {
            what.to_owned()
        } else {
            format!("{what} ({})", graph.message)
        };
        let e = DeliveryError::temporary(DeliveryErrorKind::RateLimited, text);
        let e = match retry_after {
            Some(w) => e.with_retry_after(w),
            None => e,
        };
        return e.with_code(code.to_string());
    }
    let err = match row {
        Some((_, _, kind, temporary, what)) => {
            let text = if graph.message.is_empty() {
                (*what).to_owned()
            } else {
                format!("{what} ({})", graph.message)
            };
            if *temporary || graph.transient {
                let e = DeliveryError::temporary(*kind, text);
                let wait = retry_after
                    .or((*kind == DeliveryErrorKind::RateLimited)
                        .then_some(DEFAULT_RATE_LIMIT_WAIT));
                match wait {
                    Some(w) => e.with_retry_after(w),
                    None => e,
                }
            } else {
                DeliveryError::permanent(*kind, text)
            }
        }
        None => match status {
            429 => {
                DeliveryError::temporary(DeliveryErrorKind::RateLimited, "Meta asked to slow down")
                    .with_retry_after(retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT))
            }
            500..=599 => DeliveryError::temporary(
                DeliveryErrorKind::Unavailable,
                format!("Meta answered {status}"),
            ),
            401 => DeliveryError::permanent(
                DeliveryErrorKind::Unauthorized,
                "the access token was refused: renew it",
            ),
            403 => DeliveryError::permanent(
                DeliveryErrorKind::Forbidden,
                "Meta refused the request (permission)",
            ),
            _ if graph.transient => {
                DeliveryError::temporary(DeliveryErrorKind::Unavailable, graph.message.clone())
            }
            _ => DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                if graph.message.is_empty() {
                    format!("Meta refused the request ({status})")
                } else {
                    graph.message.clone()
                },
            ),
        },
    };
    err.with_code(code_label)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use http::HeaderValue;

    use super::*;

    fn refused(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> DeliveryError {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        GraphFailures.refused(StatusCode::from_u16(status).unwrap(), &map, body.as_bytes())
    }

    fn class(e: &DeliveryError) -> (DeliveryErrorKind, bool) {
        (e.kind(), e.is_temporary())
    }

    #[test]
    fn rate_limits_wait_what_meta_asks() {
        let e = refused(429, &[("retry-after", "7")], "");
        assert_eq!(class(&e), (DeliveryErrorKind::RateLimited, true));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(refused(429, &[], "").retry_after(), Some(DEFAULT_RATE_LIMIT_WAIT));
        // A business-use-case limit: HTTP 400, the wait from Meta's usage header (S37).
        let usage = r#"{"1":[{"type":"messenger","estimated_time_to_regain_access":2}]}"#;
        let e = refused(
            400,
            &[("x-business-use-case-usage", usage)],
            r#"{"error":{"code":80006,"message":"limit"}}"#,
        );
        assert_eq!(class(&e), (DeliveryErrorKind::RateLimited, true));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    }

    #[test]
    fn failures_get_their_class() {
        let rows: &[(u16, &str, DeliveryErrorKind, bool)] = &[
            (500, "", DeliveryErrorKind::Unavailable, true),
            (503, "<html>", DeliveryErrorKind::Unavailable, true),
            (401, "", DeliveryErrorKind::Unauthorized, false),
            (
                400,
                r#"{"error":{"code":190,"message":"expired"}}"#,
                DeliveryErrorKind::Unauthorized,
                false,
            ),
            (403, "", DeliveryErrorKind::Forbidden, false),
            (400, r#"{"error":{"code":100}}"#, DeliveryErrorKind::InvalidRequest, false),
            (400, "", DeliveryErrorKind::InvalidRequest, false),
            (
                400,
                r#"{"error":{"code":999,"is_transient":true}}"#,
                DeliveryErrorKind::Unavailable,
                true,
            ),
            // An error document in a 200 is a failure too.
            (200, r#"{"error":{"code":2}}"#, DeliveryErrorKind::Unavailable, true),
        ];
        for (status, body, kind, temporary) in rows {
            assert_eq!(class(&refused(*status, &[], body)), (*kind, *temporary), "{status} {body}");
        }
        assert!(refused(400, &[], r#"{"error":{"code":190}}"#).message().contains("renew"));
    }

    #[test]
    fn the_error_document_is_read_tolerantly() {
        let e = GraphError::parse(
            br#"{"error":{"message":"m","code":10,"error_subcode":2018278,"is_transient":false,"fbtrace_id":"T","type":"OAuthException","new":1}}"#,
        )
        .unwrap();
        assert_eq!((e.code, e.subcode, e.message.as_str()), (Some(10), Some(2018278), "m"));
        assert_eq!(e.fbtrace_id.as_deref(), Some("T"));
        // A code that is not a number is no code; a document of another shape says nothing.
        let e = GraphError::parse(br#"{"error":{"code":"190","is_transient":"yes"}}"#).unwrap();
        assert_eq!((e.code, e.transient), (None, false));
        assert_eq!(GraphError::parse(br#"{"error":["x"]}"#), Some(GraphError::default()));
        for not_graph in [&b"<html>"[..], b"[]", br#"{"data":[]}"#] {
            assert_eq!(GraphError::parse(not_graph), None);
        }
    }

    #[tokio::test]
    async fn no_answer_is_a_temporary_network_failure_without_the_proof() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/me?appsecret_proof=abc123&access_token=tok");
        let error = reqwest::get(url).await.unwrap_err();
        let e = GraphFailures.unreachable(error);
        assert_eq!(class(&e), (DeliveryErrorKind::Network, true));
        let source = e.source().expect("the transport's error is kept");
        for text in [e.message().to_owned(), source.to_string()] {
            assert!(!text.contains("abc123") && !text.contains("access_token"), "{text}");
        }
    }
}
