//! Secret keys: generation, hashing and constant-time comparison, and a secret string type
//! that never prints.
//!
//! Agent keys look like `bol_agent_<48 hex>` and admin keys `bol_admin_<48 hex>`: 192 random
//! bits behind a prefix that secret scanners can match. Only their SHA-256 is stored.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::KeyHash;

pub const AGENT_KEY_PREFIX: &str = "bol_agent_";
pub const ADMIN_KEY_PREFIX: &str = "bol_admin_";

/// How many characters of a key are safe to show: the prefix and four hex digits.
const SHOWN_CHARS: usize = 4;

/// A secret held in memory: its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that must send or show it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A freshly made key: shown once, then only its hash and prefix are kept.
#[derive(Debug)]
pub struct NewKey {
    pub secret: Secret,
    pub hash: KeyHash,
    pub shown_prefix: String,
}

pub fn generate(prefix: &str) -> NewKey {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", hex::encode(bytes));
    let hash = hash_key(&secret);
    let shown_prefix = secret
        .get(..prefix.len() + SHOWN_CHARS)
        .unwrap_or(prefix)
        .to_owned();
    NewKey {
        secret: Secret(secret),
        hash,
        shown_prefix,
    }
}

pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// Constant-time equality of two key hashes.
pub fn hashes_match(a: &KeyHash, b: &KeyHash) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_carry_the_prefix_and_192_bits() {
        let k = generate(AGENT_KEY_PREFIX);
        assert!(k.secret.expose().starts_with("bol_agent_"));
        assert_eq!(k.secret.expose().len(), "bol_agent_".len() + 48);
        assert_eq!(k.hash, hash_key(k.secret.expose()));
        assert_eq!(k.shown_prefix.len(), "bol_agent_".len() + 4);
        assert_ne!(generate(AGENT_KEY_PREFIX).hash, k.hash);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("bol_agent_abcdef");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    }
}
