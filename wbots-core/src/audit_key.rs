//! [`AuditKey`]: the key that turns a person's id into the keyed hash the privacy audit
//! trail records instead of the id (HMAC-SHA256).
//!
//! Keyed, not a plain hash: Meta's ids are short digit strings, so a plain SHA-256 of one is
//! reversed by trying them all; without the key no one can, yet an operator holding it can
//! still answer "what happened to this person's request" by hashing the id again
//! ([`AuditKey::subject`]).

use std::fmt;

use crate::Secret;
use crate::hmac_sha256::{TAG_LEN, sign, sign_hex};

/// The audit trail's hashing key.
#[derive(Clone)]
pub struct AuditKey([u8; TAG_LEN]);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// Derived from a key of `store.secret_key` (HMAC-SHA256 of a fixed label under it):
    /// no new secret to manage, and the derived key reveals nothing of the store key.
    pub fn derived_from_store_key(store_key: &Secret) -> Self {
        Self(sign(store_key.expose().as_bytes(), &[b"wbots privacy audit subject key v1"]))
    }

    /// A key of its own (`privacy.audit_key`), through the same derivation, so any length
    /// of configured secret gives a full-length key.
    pub fn configured(key: &Secret) -> Self {
        Self(sign(key.expose().as_bytes(), &[b"wbots privacy audit key (configured) v1"]))
    }

    /// The keyed hash of a person, from their data-deletion scope (`kind:account/user`):
    /// lowercase hex.
    pub fn subject(&self, scope: &str) -> String {
        sign_hex(&self.0, &[b"subject\n", scope.as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_hides_the_id_and_depends_on_the_key() {
        let a = AuditKey::derived_from_store_key(&Secret::new("key-a"));
        let b = AuditKey::derived_from_store_key(&Secret::new("key-b"));
        let scope = "messenger:111/2222";
        let hashed = a.subject(scope);
        assert_eq!(hashed.len(), 64);
        assert!(!hashed.contains("2222"));
        assert_eq!(hashed, a.subject(scope), "the same person hashes alike");
        assert_ne!(hashed, b.subject(scope), "another key, another hash");
        assert_ne!(hashed, a.subject("messenger:111/2223"));
        assert_eq!(format!("{a:?}"), "AuditKey(..)");
    }
}
