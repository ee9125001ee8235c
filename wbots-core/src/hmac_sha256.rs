//! HMAC-SHA256, the one keyed hash every adapter signs and verifies with: Meta's
//! `X-Hub-Signature-256` and `signed_request`, `appsecret_proof`, Chatwoot's
//! `X-Chatwoot-Signature`, credential fingerprints, the test kit's doubles.
//!
//! One implementation so verification is constant-time everywhere: a tag is checked with
//! [`verify`] (the `hmac` crate's `verify_slice`, built on `subtle`), never by comparing
//! strings.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The length of a tag in bytes.
pub const TAG_LEN: usize = 32;

fn keyed(key: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length (longer ones are hashed first, RFC 2104 §3), so this
    // never fails; the `None` arm exists so no input can panic.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// The HMAC-SHA256 tag of `parts`, concatenated, under `key`.
pub fn sign(key: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    keyed(key, parts).map(|m| m.finalize().into_bytes().into()).unwrap_or([0; TAG_LEN])
}

/// [`sign`] as lowercase hex, as most headers and query parameters carry it.
pub fn sign_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(sign(key, parts))
}

/// Whether `tag` is the HMAC-SHA256 of `parts` under `key`, compared in constant time.
pub fn verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    keyed(key, parts).is_some_and(|m| m.verify_slice(tag).is_ok())
}

/// Whether `tag_hex` (hex, either case) is the HMAC-SHA256 of `parts` under `key`, compared
/// in constant time. Text that is not hex never matches.
pub fn verify_hex(key: &[u8], parts: &[&[u8]], tag_hex: &str) -> bool {
    hex::decode(tag_hex.trim()).is_ok_and(|tag| verify(key, parts, &tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let tag = sign_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(tag, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_hex(b"Jefe", &[b"what do ya want for nothing?"], &tag));
        assert!(verify_hex(b"Jefe", &[b"what do ya want for nothing?"], &tag.to_uppercase()));
    }

    #[test]
    fn anything_else_is_refused() {
        let tag = sign(b"key", &[b"body"]);
        assert!(verify(b"key", &[b"body"], &tag));
        assert!(!verify(b"other", &[b"body"], &tag));
        assert!(!verify(b"key", &[b"body2"], &tag));
        assert!(!verify(b"key", &[b"body"], &tag[..31]));
        assert!(!verify(b"key", &[b"body"], &[]));
        assert!(!verify_hex(b"key", &[b"body"], "not hex"));
        assert!(!verify_hex(b"key", &[b"body"], ""));
    }
}
