//! `X-Hub-Signature-256` and the subscription handshake.

use wbots_core::{RawRequest, Secret, WebhookError, hmac_sha256};

/// The `X-Hub-Signature-256` value of `body` under `secret`: `sha256=` + lowercase hex.
pub fn sign_body(secret: &Secret, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256::sign_hex(secret.expose().as_bytes(), &[body]))
}

/// Accepts a delivery whose signature over the exact raw bytes matches any of `secrets`.
pub(crate) fn verify(request: &RawRequest<'_>, secrets: &[&Secret]) -> Result<(), WebhookError> {
    let Some(header) = request.header("x-hub-signature-256") else {
        return Err(WebhookError::Unauthorized("missing X-Hub-Signature-256".into()));
    };
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return Err(WebhookError::Unauthorized("X-Hub-Signature-256 is not sha256=…".into()));
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return Err(WebhookError::Unauthorized("X-Hub-Signature-256 is not hex".into()));
    };
    let ok = secrets
        .iter()
        .any(|secret| hmac_sha256::verify(secret.expose().as_bytes(), &[request.body], &given));
    if ok {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized("X-Hub-Signature-256 does not match".into()))
    }
}

/// Answers Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.
pub(crate) fn handshake(
    request: &RawRequest<'_>,
    verify_token: &Secret,
) -> Result<String, WebhookError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(request.query).unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    if get("hub.mode") != Some("subscribe") {
        return Err(WebhookError::Forbidden("hub.mode must be subscribe".into()));
    }
    match (get("hub.verify_token"), get("hub.challenge")) {
        (Some(token), Some(challenge)) if verify_token.matches(token.as_bytes()) => {
            Ok(challenge.to_owned())
        }
        _ => Err(WebhookError::Forbidden("wrong hub.verify_token".into())),
    }
}
