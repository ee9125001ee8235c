//! Pigeon's send API answers → classified [`DeliveryError`]s.

use std::time::Duration;

use wbots_core::{DeliveryError, DeliveryErrorKind};

/// How long to wait after a 429 that names no time (Pigeon always does; a proxy may not).
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Sorts a refused call. `retry_after` is the `Retry-After` header in seconds; `error` the
/// `{"error": "…"}` body's text, shown to the agent when the message fails for good.
pub(crate) fn classify(
    status: u16,
    retry_after: Option<Duration>,
    error: Option<String>,
) -> DeliveryError {
    let said = error.unwrap_or_else(|| format!("HTTP {status}"));
    let e = match status {
        429 => DeliveryError::temporary(
            DeliveryErrorKind::RateLimited,
            format!("Pigeon asked to slow down ({said})"),
        )
        .with_retry_after(retry_after.unwrap_or(DEFAULT_WAIT)),
        500..=599 => DeliveryError::temporary(
            DeliveryErrorKind::Unavailable,
            format!("Pigeon failed ({said})"),
        ),
        401 => DeliveryError::permanent(
            DeliveryErrorKind::Unauthorized,
            format!(
                "Pigeon refused the API token ({said}): renew it in the bridge's configuration"
            ),
        ),
        403 => DeliveryError::permanent(
            DeliveryErrorKind::Forbidden,
            format!("Pigeon refused the send ({said})"),
        ),
        404 => DeliveryError::permanent(
            DeliveryErrorKind::NotFound,
            format!("the conversation is gone ({said})"),
        ),
        413 => DeliveryError::permanent(
            DeliveryErrorKind::TooLarge,
            format!("the file is too large for Pigeon ({said})"),
        ),
        _ => DeliveryError::permanent(
            DeliveryErrorKind::InvalidRequest,
            format!("Pigeon refused the message ({said})"),
        ),
    };
    e.with_code(status.to_string())
}

/// A failure before any answer: the request may or may not have reached Pigeon.
pub(crate) fn network(e: &reqwest::Error) -> DeliveryError {
    // Not `e` itself: its text holds the URL, and this message is shown to agents.
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        std::error::Error::source(e).map_or_else(|| "request failed".to_owned(), |s| s.to_string())
    };
    DeliveryError::temporary(DeliveryErrorKind::Network, format!("Pigeon unreachable: {what}"))
}
