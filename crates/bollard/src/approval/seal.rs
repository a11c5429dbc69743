//! Reveal on request (#15): the arguments of a call that waits for approval, personal data in
//! clear, kept sealed so that an approver can ask to see them while the audit log keeps only
//! keyed hashes. ChaCha20-Poly1305 (ring's AEAD) under a key derived from the installation
//! secret with HMAC-SHA256 and a label of its own, a fresh random nonce each time, and the
//! request's id as associated data, so a sealed value moved to another request does not open.
//!
//! Stored as `v1.<base64url(nonce || ciphertext || tag)>`. The store erases it when the
//! request is decided or expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use sha2::Sha256;

const LABEL: &[u8] = b"bollard approval arguments seal v1";
const PREFIX: &str = "v1.";

/// Seals and opens approval arguments under one installation's secret.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer of the installation whose secret is `secret` (the one the audit log's keyed
    /// hashes use; a label of its own keeps the two keys apart).
    pub fn new(secret: &[u8]) -> Option<Self> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
        mac.update(LABEL);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Some(Self { key })
    }

    fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.key)
            .ok()
            .map(LessSafeKey::new)
    }

    /// `arguments` sealed for the request `id`; `None` only if the system's random source
    /// fails (then nothing is kept, and there is nothing to reveal).
    pub fn seal(&self, id: &str, arguments: &Value) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut data = serde_json::to_vec(arguments).ok()?;
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(id.as_bytes()),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The arguments sealed for request `id`, or `None` when `sealed` was not sealed for it
    /// under this installation's secret (or was altered).
    pub fn open(&self, id: &str, sealed: &str) -> Option<Value> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(id.as_bytes()), &mut data)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn opens_only_for_the_same_request_and_secret_and_hides_the_data() {
        let s = Sealer::new(b"installation secret").unwrap();
        let args = json!({"email": "ada@example.com", "contact_ids": ["c1"]});
        let sealed = s.seal("apr_1", &args).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("ada"));
        assert_ne!(sealed, s.seal("apr_1", &args).unwrap(), "a fresh nonce");
        assert_eq!(s.open("apr_1", &sealed), Some(args));
        assert_eq!(s.open("apr_2", &sealed), None, "bound to its request");
        let other = Sealer::new(b"another installation").unwrap();
        assert_eq!(other.open("apr_1", &sealed), None);
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(s.open("apr_1", &tampered), None);
        assert_eq!(s.open("apr_1", "v1."), None);
        assert_eq!(s.open("apr_1", "nonsense"), None);
    }
}
