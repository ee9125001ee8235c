//! Chatwoot's HTTP failures as classified [`DeliveryError`]s.

use std::time::Duration;

use wbots_core::{DeliveryError, DeliveryErrorKind};

/// Classifies an HTTP answer that was not a success. `retry_after` is the `Retry-After`
/// header in seconds, when present.
pub fn classify(status: u16, body: &str, retry_after: Option<u64>, what: &str) -> DeliveryError {
    let detail = summary(body);
    let err = match status {
        429 => DeliveryError::temporary(
            DeliveryErrorKind::RateLimited,
            format!("Chatwoot rate limit while {what}"),
        )
        .with_retry_after(Duration::from_secs(retry_after.unwrap_or(60))),
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
        422 if body.contains("Too many messages") => DeliveryError::temporary(
            DeliveryErrorKind::RateLimited,
            format!("Chatwoot's flood guard (200 messages a minute per conversation) while {what}"),
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

/// A network failure: always worth retrying.
pub(crate) fn network(e: reqwest::Error, what: &str) -> DeliveryError {
    DeliveryError::temporary(
        DeliveryErrorKind::Network,
        format!("Chatwoot unreachable while {what}: {}", without_url(&e)),
    )
    .with_source(e.without_url())
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

/// Chatwoot's error message, if the body carries one, as `": message"`.
fn summary(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.get("message").or_else(|| v.get("error")).or_else(|| v.get("errors")).map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    });
    match message {
        Some(m) => format!(": {}", m.chars().take(200).collect::<String>()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let e = classify(*status, "", None, "testing");
            assert_eq!((e.kind(), e.is_temporary()), (*kind, *temporary), "{status}");
            assert_eq!(e.code(), Some(status.to_string().as_str()));
        }
    }

    #[test]
    fn retry_after_and_messages_are_kept() {
        let e = classify(429, "", Some(12), "posting");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        let e = classify(422, r#"{"message":"Source has already been taken"}"#, None, "linking");
        assert!(e.message().ends_with(": Source has already been taken"), "{}", e.message());
        assert!(classify(401, "", None, "x").message().contains("chatwoot.api_access_token"));
        let flood = classify(422, r#"{"error":"Validation failed: Too many messages"}"#, None, "x");
        assert!(flood.is_temporary(), "{flood:?}");
        assert_eq!(flood.kind(), DeliveryErrorKind::RateLimited);
    }
}
