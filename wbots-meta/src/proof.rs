//! `appsecret_proof`: the hex HMAC-SHA256 of the access token keyed with the app secret,
//! sent with every Graph call so apps with "Require App Secret" on accept the bridge's
//! calls (Meta, "Securing Graph API requests":
//! <https://developers.facebook.com/docs/graph-api/guides/secure-requests> — reference S34,
//! meta-platform.md §3.1 and §9).

use wbots_core::{Secret, hmac_sha256};

/// `appsecret_proof` for `access_token` under `app_secret`: lowercase hex.
pub fn appsecret_proof(app_secret: &Secret, access_token: &str) -> String {
    keyed_hex(app_secret, access_token.as_bytes())
}

/// A fingerprint of a channel's token for its flag: keyed with the app secret and a
/// purpose prefix, so it is neither the token nor its `appsecret_proof`.
pub(crate) fn token_fingerprint(app_secret: &Secret, access_token: &str) -> String {
    let mut input = b"wbots channel flag\0".to_vec();
    input.extend_from_slice(access_token.as_bytes());
    let mut hex = keyed_hex(app_secret, &input);
    hex.truncate(16);
    hex
}

fn keyed_hex(key: &Secret, message: &[u8]) -> String {
    hmac_sha256::sign_hex(key.expose().as_bytes(), &[message])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_is_the_hex_hmac_of_the_token() {
        // Computed independently: printf 'page-token' | openssl dgst -sha256 -hmac app-secret
        assert_eq!(
            appsecret_proof(&Secret::new("app-secret"), "page-token"),
            "d8b448b9cc7d64c51098271805b3cc20b5b715e52bd587eb71b610259587c856"
        );
    }
}
