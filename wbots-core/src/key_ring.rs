//! [`KeyRing`]: the keys that seal secrets kept at rest (connected channels' tokens), with
//! an AEAD — XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`).
//!
//! Why this shape:
//! - **Several keys, the first seals.** Rotation is "put the new key first, keep the old
//!   ones until everything is resealed" (`wbots rekey`), then drop them.
//! - **A key id in every sealed value**, so opening picks the right key at once and a value
//!   sealed with a key that is no longer configured is a clear error ("sealed with key
//!   3f1c…, which is not configured"), not a vague decryption failure. The id is a hash of
//!   the key: nothing to configure, nothing secret revealed.
//! - **A fresh random nonce per sealing**: XChaCha20's 192-bit nonces may be drawn at random
//!   without counting (AES-GCM's 96-bit ones may not, at scale).
//! - **Bound to what it belongs to**: the caller's context (a channel's address) is
//!   authenticated with the value, so sealed credentials moved to another record fail to
//!   open instead of lending one business's token to another.
//!
//! Sealed layout: `version (1) ‖ key id (8) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`; the
//! version and key id are authenticated too.
//!
//! Errors ([`KeyError`], [`SealError`]) name positions and key ids, never a key or a
//! plaintext.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::Secret;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// The length of a key, in bytes.
pub const KEY_BYTES: usize = 32;

/// A key's public name: the first bytes of a hash of the key, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    fn of(key: &[u8]) -> Self {
        let digest = Sha256::new().chain_update(b"wbots key id\0").chain_update(key).finalize();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

struct Key {
    id: KeyId,
    cipher: XChaCha20Poly1305,
}

/// The keys secrets at rest are sealed with: the first seals, every one opens.
///
/// `Debug` shows the key ids only.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|k| k.id)).finish()
    }
}

/// A key ring that could not be built. Never shows a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No key was given.
    #[error("no key given")]
    Empty,
    /// A key is not base64.
    #[error("key {position} is not base64 (`wbots keygen` prints a valid key)")]
    NotBase64 {
        /// Its position, from 1.
        position: usize,
    },
    /// A key does not decode to 32 bytes.
    #[error(
        "key {position} is {bytes} bytes long, not {KEY_BYTES} (`wbots keygen` prints a valid key)"
    )]
    WrongLength {
        /// Its position, from 1.
        position: usize,
        /// How many bytes it decoded to.
        bytes: usize,
    },
    /// The same key twice.
    #[error("key {position} repeats an earlier key")]
    Duplicate {
        /// Its position, from 1.
        position: usize,
    },
}

/// A sealed value that could not be opened. Never shows a key or a plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Sealed with a key the ring does not hold: the wrong key is configured, or a key was
    /// removed before `rekey` resealed everything with the first one.
    #[error(
        "sealed with key {0}, which is not among the configured keys (wrong key, or removed before a rekey)"
    )]
    UnknownKey(KeyId),
    /// The key matched but authentication failed: the value was altered, or it belongs to
    /// another record.
    #[error(
        "authentication failed with key {0}: the sealed value was altered or belongs to another record"
    )]
    Rejected(KeyId),
    /// Too large to seal (beyond the cipher's limit).
    #[error("too large to seal")]
    TooLarge,
    /// Not a sealed value of a version this build reads.
    #[error("not a sealed value this version of wbots reads ({0})")]
    Malformed(&'static str),
}

impl KeyRing {
    /// A ring from base64 keys (standard alphabet, padded), each 32 bytes once decoded; the
    /// first seals.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a Secret>) -> Result<Self, KeyError> {
        let mut ring = Vec::new();
        for (i, text) in keys.into_iter().enumerate() {
            let position = i + 1;
            let bytes = STANDARD
                .decode(text.expose().trim())
                .map_err(|_| KeyError::NotBase64 { position })?;
            if bytes.len() != KEY_BYTES {
                return Err(KeyError::WrongLength { position, bytes: bytes.len() });
            }
            let id = KeyId::of(&bytes);
            if ring.iter().any(|k: &Key| k.id == id) {
                return Err(KeyError::Duplicate { position });
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| KeyError::WrongLength { position, bytes: bytes.len() })?;
            ring.push(Key { id, cipher });
        }
        if ring.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys: ring })
    }

    /// A fresh random key (from the operating system's generator), base64: what
    /// `wbots keygen` prints.
    pub fn generate_key() -> Secret {
        Secret::new(STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng)))
    }

    /// The id of the key that seals.
    pub fn sealing_key(&self) -> KeyId {
        self.keys[0].id
    }

    /// Every key's id, the sealing one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// Seals `plaintext` with the first key, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = &self.keys[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&key.id.0);
        out.extend_from_slice(&nonce);
        let aad = [&out[..1 + KEY_ID_LEN], context].concat();
        // Encryption fails only for a plaintext beyond the cipher's limit (256 GiB).
        let sealed = key
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: &aad })
            .map_err(|_| SealError::TooLarge)?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value [`KeyRing::seal`] made with any key of the ring, for the same
    /// `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let id = sealed_with(sealed)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or(SealError::UnknownKey(id))?;
        let nonce = XNonce::from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        let aad = [&sealed[..1 + KEY_ID_LEN], context].concat();
        key.cipher
            .decrypt(nonce, Payload { msg: &sealed[HEADER_LEN..], aad: &aad })
            .map_err(|_| SealError::Rejected(id))
    }

    /// Whether `sealed` is sealed with the first key already (nothing for a rekey to do).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed_with(sealed).is_ok_and(|id| id == self.sealing_key())
    }
}

/// The id of the key a sealed value names.
pub fn sealed_with(sealed: &[u8]) -> Result<KeyId, SealError> {
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(SealError::Malformed("too short"));
    }
    if sealed[0] != VERSION {
        return Err(SealError::Malformed("unknown version"));
    }
    let mut id = [0; KEY_ID_LEN];
    id.copy_from_slice(&sealed[1..1 + KEY_ID_LEN]);
    Ok(KeyId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[&Secret]) -> KeyRing {
        KeyRing::new(keys.iter().copied()).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_its_context_only() {
        let key = KeyRing::generate_key();
        let ring = ring(&[&key]);
        let sealed = ring.seal(b"EAAB-token", b"messenger:1").unwrap();
        assert_eq!(ring.open(&sealed, b"messenger:1").unwrap(), b"EAAB-token");
        assert_eq!(
            ring.open(&sealed, b"messenger:2"),
            Err(SealError::Rejected(ring.sealing_key()))
        );
        assert!(
            !sealed.windows(4).any(|w| w == b"EAAB"),
            "the plaintext is not in the sealed bytes"
        );
        let again = ring.seal(b"EAAB-token", b"messenger:1").unwrap();
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let ring = ring(&[&KeyRing::generate_key()]);
        let sealed = ring.seal(b"secret", b"ctx").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(ring.open(&bad, b"ctx").is_err(), "byte {i} altered");
        }
        assert_eq!(ring.open(&sealed[..20], b"ctx"), Err(SealError::Malformed("too short")));
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let (old, new) = (KeyRing::generate_key(), KeyRing::generate_key());
        let sealed_old = ring(&[&old]).seal(b"t", b"c").unwrap();
        let rotated = ring(&[&new, &old]);
        assert_eq!(rotated.open(&sealed_old, b"c").unwrap(), b"t");
        assert!(!rotated.is_current(&sealed_old));
        let resealed = rotated.seal(b"t", b"c").unwrap();
        assert!(rotated.is_current(&resealed));
        assert_eq!(ring(&[&new]).open(&resealed, b"c").unwrap(), b"t");
        let only_new = ring(&[&new]);
        let err = only_new.open(&sealed_old, b"c").unwrap_err();
        assert!(matches!(err, SealError::UnknownKey(_)), "{err}");
    }

    #[test]
    fn bad_keys_are_named_by_position_never_shown() {
        let short = Secret::new(STANDARD.encode([7u8; 16]));
        let junk = Secret::new("not base64 at all!");
        let good = KeyRing::generate_key();
        let err = KeyRing::new([&good, &short]).unwrap_err();
        assert_eq!(err, KeyError::WrongLength { position: 2, bytes: 16 });
        assert!(!err.to_string().contains(short.expose()));
        let err = KeyRing::new([&junk]).unwrap_err();
        assert_eq!(err, KeyError::NotBase64 { position: 1 });
        assert!(!err.to_string().contains("base64 at all"));
        assert_eq!(KeyRing::new([&good, &good]).unwrap_err(), KeyError::Duplicate { position: 2 });
        assert_eq!(KeyRing::new([]).unwrap_err(), KeyError::Empty);
        let debug = format!("{:?}", ring(&[&good]));
        assert!(!debug.contains(good.expose()), "{debug}");
    }
}
