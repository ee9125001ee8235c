//! Meta's `signed_request`: what the data-deletion and deauthorize callbacks carry.
//!
//! Format: `base64url(signature).base64url(payload JSON)`, the signature being the raw
//! HMAC-SHA256 of the **still-encoded** payload under the app secret. Instagram-Login apps
//! sign with the Instagram app secret, so every configured secret is tried.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use wbots_core::{Secret, hmac_sha256};

// Meta omits the padding; accept it either way (the payload is signed as sent, so only the
// signature's padding can differ without breaking the HMAC).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The payload of a verified `signed_request`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SignedRequest {
    /// Always `HMAC-SHA256`.
    pub algorithm: String,
    /// The app-scoped id of the user asking (Facebook Login). Not a page-scoped id.
    #[serde(default, deserialize_with = "string_or_number")]
    pub user_id: Option<String>,
    /// The Page (or account) that removed the app, when a business did.
    #[serde(default, deserialize_with = "string_or_number")]
    pub profile_id: Option<String>,
    /// When Meta issued it (seconds since the epoch).
    #[serde(default)]
    pub issued_at: Option<i64>,
}

/// Why a `signed_request` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    /// Not `signature.payload` in base64url.
    #[error("malformed signed_request: {0}")]
    Malformed(&'static str),
    /// No configured secret produced the signature.
    #[error("signed_request signature does not match any configured app secret")]
    BadSignature,
    /// Signed, but not with HMAC-SHA256 or not a JSON object we understand.
    #[error("unsupported signed_request payload: {0}")]
    Unsupported(String),
}

/// Verifies `raw` against each secret and decodes its payload.
///
/// The signature is checked before the payload is decoded, so an unauthenticated caller
/// never reaches the JSON parser.
pub fn decode(raw: &str, secrets: &[&Secret]) -> Result<SignedRequest, SignedRequestError> {
    let (sig_b64, payload_b64) =
        raw.trim().split_once('.').ok_or(SignedRequestError::Malformed("no '.' separator"))?;
    if sig_b64.is_empty() || payload_b64.is_empty() {
        return Err(SignedRequestError::Malformed("empty part"));
    }
    let signature = URL_SAFE_LENIENT
        .decode(sig_b64)
        .map_err(|_| SignedRequestError::Malformed("signature is not base64url"))?;
    let authentic = secrets.iter().filter(|s| !s.is_empty()).any(|secret| {
        hmac_sha256::verify(secret.expose().as_bytes(), &[payload_b64.as_bytes()], &signature)
    });
    if !authentic {
        return Err(SignedRequestError::BadSignature);
    }
    let payload = URL_SAFE_LENIENT
        .decode(payload_b64)
        .map_err(|_| SignedRequestError::Malformed("payload is not base64url"))?;
    let request: SignedRequest = serde_json::from_slice(&payload)
        .map_err(|e| SignedRequestError::Unsupported(e.to_string()))?;
    if !request.algorithm.eq_ignore_ascii_case("HMAC-SHA256") {
        return Err(SignedRequestError::Unsupported(format!("algorithm {:?}", request.algorithm)));
    }
    Ok(request)
}

/// Builds a `signed_request` as Meta does: for tests, fakes and the sandbox.
pub fn encode(payload: &serde_json::Value, secret: &Secret) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload_b64 = engine.encode(payload.to_string());
    let signature = hmac_sha256::sign(secret.expose().as_bytes(), &[payload_b64.as_bytes()]);
    format!("{}.{payload_b64}", engine.encode(signature))
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(u64),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("app-secret")
    }

    #[test]
    fn decodes_what_meta_sends() {
        let raw = encode(
            &serde_json::json!({"algorithm":"HMAC-SHA256","expires":1291840400,"issued_at":1291836800,"user_id":"218471"}),
            &secret(),
        );
        let req = decode(&raw, &[&secret()]).unwrap();
        assert_eq!(req.user_id.as_deref(), Some("218471"));
        assert_eq!(req.issued_at, Some(1291836800));
    }

    #[test]
    fn any_configured_secret_may_have_signed_it() {
        let ig = Secret::new("instagram-secret");
        let raw = encode(&serde_json::json!({"algorithm":"HMAC-SHA256","user_id":42}), &ig);
        assert_eq!(decode(&raw, &[&secret(), &ig]).unwrap().user_id.as_deref(), Some("42"));
        assert_eq!(decode(&raw, &[&secret()]), Err(SignedRequestError::BadSignature));
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let raw = encode(&serde_json::json!({"algorithm":"HMAC-SHA256","user_id":"1"}), &secret());
        let (sig, _) = raw.split_once('.').unwrap();
        let forged = format!(
            "{sig}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(r#"{"algorithm":"HMAC-SHA256","user_id":"2"}"#)
        );
        assert_eq!(decode(&forged, &[&secret()]), Err(SignedRequestError::BadSignature));
        for junk in ["", ".", "abc", "a.", ".b", "!!!.???", "a.b.c"] {
            assert!(decode(junk, &[&secret()]).is_err(), "{junk:?}");
        }
        assert_eq!(decode(&raw, &[]), Err(SignedRequestError::BadSignature));
        assert_eq!(decode(&raw, &[&Secret::new("")]), Err(SignedRequestError::BadSignature));
    }

    #[test]
    fn a_padded_signature_is_accepted() {
        let raw = encode(&serde_json::json!({"algorithm":"HMAC-SHA256","user_id":"7"}), &secret());
        let (sig, payload) = raw.split_once('.').unwrap();
        let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        assert!(decode(&format!("{}.{payload}", pad(sig)), &[&secret()]).is_ok());
    }

    #[test]
    fn other_algorithms_are_refused_after_the_signature_check() {
        let raw = encode(&serde_json::json!({"algorithm":"none","user_id":"1"}), &secret());
        assert!(matches!(decode(&raw, &[&secret()]), Err(SignedRequestError::Unsupported(_))));
    }
}
