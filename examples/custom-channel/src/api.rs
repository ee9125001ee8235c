//! Telegram Bot API answers and their classification.

use std::time::Duration;

use serde::Deserialize;
use wbots_core::{DeliveryError, DeliveryErrorKind};

#[derive(Debug, Deserialize)]
pub(crate) struct Answer<T> {
    pub ok: bool,
    pub result: Option<T>,
    pub error_code: Option<u16>,
    pub description: Option<String>,
    pub parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Parameters {
    pub retry_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SentMessage {
    pub message_id: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatInfo {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FileInfo {
    pub file_path: Option<String>,
    pub file_size: Option<u64>,
}

/// Sorts a failed Bot API call into retry-later or give-up.
pub(crate) fn classify(status: u16, answer: Option<&Answer<serde_json::Value>>) -> DeliveryError {
    let description =
        answer.and_then(|a| a.description.clone()).unwrap_or_else(|| format!("HTTP {status}"));
    let code = answer.and_then(|a| a.error_code).unwrap_or(status);
    let err = match code {
        429 => {
            let after = answer
                .and_then(|a| a.parameters.as_ref())
                .and_then(|p| p.retry_after)
                .unwrap_or(30);
            return DeliveryError::temporary(DeliveryErrorKind::RateLimited, description)
                .with_retry_after(Duration::from_secs(after))
                .with_code("429");
        }
        500..=599 => DeliveryError::temporary(DeliveryErrorKind::Unavailable, description),
        401 => DeliveryError::permanent(
            DeliveryErrorKind::Unauthorized,
            format!("the bot token was refused: {description}"),
        ),
        // "Forbidden: bot was blocked by the user".
        403 => DeliveryError::permanent(DeliveryErrorKind::RecipientUnavailable, description),
        404 => DeliveryError::permanent(DeliveryErrorKind::NotFound, description),
        413 => DeliveryError::permanent(DeliveryErrorKind::TooLarge, description),
        _ => DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, description),
    };
    err.with_code(code.to_string())
}

pub(crate) fn network(e: &reqwest::Error) -> DeliveryError {
    // Never `e` itself: its text holds the URL, which carries the bot token, and this
    // message is shown to agents.
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        std::error::Error::source(e).map_or_else(|| "request failed".to_owned(), |s| s.to_string())
    };
    DeliveryError::temporary(DeliveryErrorKind::Network, format!("Telegram unreachable: {what}"))
}
