//! [`HttpFailures`]: one signature for how every adapter reads what went wrong with one HTTP
//! call to its service.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::error::DeliveryError;

/// How an adapter classifies the failures of one HTTP call to its service (a platform's
/// API, the inbox's). Every adapter reads them through this one signature, so the classes
/// agree across adapters and each is tested once per adapter:
///
/// | what happened | class |
/// |---|---|
/// | rate limited (429, or the service's own code) | temporary `RateLimited`, with the service's wait ([`retry_after`]) or a default |
/// | the service failing (5xx) | temporary `Unavailable` |
/// | refused credentials (401, a token error in the body) | permanent `Unauthorized`: the engine flags the channel |
/// | refused permission (403) | permanent `Forbidden` |
/// | refused request (400, 422) | permanent `InvalidRequest`, unless the body says it is transient |
/// | no answer (connection, timeout, a body cut short) | temporary `Network`, the transport's error kept as `source()` |
///
/// A *success* whose body cannot be read is no failure class here: what it means depends on
/// the call. A platform send answered 2xx was accepted (`Channel::send`'s contract: `Ok`
/// without an id, since an error would send the message twice); an inbox answer the bridge
/// needs (a new contact's id) is a temporary failure keeping the decoding error as source.
///
/// Messages are shown to agents and operators: plain words, never a token or a URL that
/// carries one.
pub trait HttpFailures {
    /// The HTTP client's error (`reqwest::Error`).
    type Transport: std::error::Error + Send + Sync + 'static;

    /// An answer that is not a success: its status, headers (`Retry-After`, the service's
    /// usage headers) and body (the service's error document).
    fn refused(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> DeliveryError;

    /// No (complete) answer: the request could not be sent, timed out, or its body was
    /// cut short.
    fn unreachable(&self, error: Self::Transport) -> DeliveryError;
}

/// The wait a `Retry-After` header asks for, in its delta-seconds form (the HTTP-date form
/// reads as absent: the queue's backoff applies).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_only() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::RETRY_AFTER, HeaderValue::from_static(v));
            retry_after(&h)
        };
        assert_eq!(with(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(with("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
