//! Signed checkpoints of the audit log, in the formats transparency logs share.
//!
//! A checkpoint is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the origin line
//! (the log's name), the tree size in decimal, the RFC 9162 root hash in standard base64, and
//! extension lines. Bollard adds one extension line, `bollard-previous <base64 SHA-256>`, the
//! hash of the whole previous signed checkpoint, so that checkpoints form a chain of their own
//! (as CloudTrail's digest files carry the previous digest's signature) and a missing one
//! shows. The text is signed as a C2SP signed note (https://c2sp.org/signed-note): the text,
//! a blank line, then `— <key name> <base64(key id || Ed25519 signature)>` with U+2014 (em
//! dash). The key id is the first four bytes of `SHA-256(key name || 0x0A || 0x01 ||
//! public key)` (signed-note, "Signature types": 0x01 is Ed25519), and the public key is
//! shared as a verifier key (vkey) `<name>+<hex key id>+<base64(0x01 || public key)>`.
//! The private key file uses the same layout as the Go `note` package's signer keys:
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

const ED25519: u8 = 0x01;
/// U+2014 and a space: how every signature line begins (signed-note, "Format").
const SIG_PREFIX: &str = "\u{2014} ";
pub const PREVIOUS: &str = "bollard-previous";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the key file is not a checkpoint signing key made by `bollard audit keygen`")]
    BadKey,
    #[error("the public key is not a verifier key (NAME+ID+KEY) as `bollard audit keygen` prints")]
    BadPublicKey,
    #[error("the key name must be non-empty and hold no spaces or plus signs")]
    BadName,
    #[error("not a signed checkpoint: {0}")]
    Malformed(String),
    #[error("no signature by the key {0} is on it")]
    NotSignedByKey(String),
    #[error("its signature does not match its text: it was altered or forged")]
    BadSignature,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The signing key, read from its file.
pub struct CheckpointKey {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// A new random key for the log called `name`.
    pub fn generate(name: &str) -> Result<Self, CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::BadName);
        }
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn to_file_text(&self) -> String {
        let id = key_id(&self.name, self.key.verifying_key().as_bytes());
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}\n",
            self.name,
            hex::encode(id),
            B64.encode(raw)
        )
    }

    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(CheckpointError::BadKey)?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::BadKey);
        };
        let raw = B64.decode(key).map_err(|_| CheckpointError::BadKey)?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ED25519, seed)) => seed.try_into().map_err(|_| CheckpointError::BadKey)?,
            _ => return Err(CheckpointError::BadKey),
        };
        let key = SigningKey::from_bytes(&seed);
        if !valid_name(name) || hex::encode(key_id(name, key.verifying_key().as_bytes())) != id {
            return Err(CheckpointError::BadKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (which ends in a newline) as a C2SP signed note.
    pub fn sign_note(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let id = key_id(&self.name, self.key.verifying_key().as_bytes());
        let mut raw = id.to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// A verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// `<name>+<hex key id>+<base64(0x01 || public key)>`.
    pub fn vkey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, self.key.as_bytes())),
            B64.encode(raw)
        )
    }

    pub fn parse(vkey: &str) -> Result<Self, CheckpointError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::BadPublicKey);
        };
        let raw = B64.decode(key).map_err(|_| CheckpointError::BadPublicKey)?;
        let bytes: [u8; 32] = match raw.split_first() {
            Some((&ED25519, k)) => k.try_into().map_err(|_| CheckpointError::BadPublicKey)?,
            _ => return Err(CheckpointError::BadPublicKey),
        };
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| CheckpointError::BadPublicKey)?;
        if !valid_name(name) || hex::encode(key_id(name, &bytes)) != id {
            return Err(CheckpointError::BadPublicKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// Opens a signed note: the text, if a signature line by this key verifies. Lines by
    /// other keys (a witness's cosignature) are skipped, as signed-note says verifiers must;
    /// a line by this key that does not verify rejects the note.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, CheckpointError> {
        let split = note.rfind("\n\n").ok_or_else(|| {
            CheckpointError::Malformed("no blank line before the signatures".into())
        })?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(CheckpointError::Malformed(
                "it holds control characters".into(),
            ));
        }
        let id = key_id(&self.name, self.key.as_bytes());
        for line in sigs.lines() {
            let body = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
                CheckpointError::Malformed("a signature line does not start with an em dash".into())
            })?;
            let Some((name, sig)) = body.split_once(' ') else {
                return Err(CheckpointError::Malformed(
                    "a signature line has no signature".into(),
                ));
            };
            let raw = B64
                .decode(sig)
                .map_err(|_| CheckpointError::Malformed("a signature is not base64".into()))?;
            if name != self.name || raw.get(..4) != Some(&id[..]) {
                continue;
            }
            let sig = raw
                .get(4..)
                .and_then(|s| Signature::from_slice(s).ok())
                .ok_or(CheckpointError::BadSignature)?;
            return self
                .key
                .verify_strict(text.as_bytes(), &sig)
                .map(|()| text)
                .map_err(|_| CheckpointError::BadSignature);
        }
        Err(CheckpointError::NotSignedByKey(self.name.clone()))
    }

    /// Opens and parses a signed checkpoint.
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let text = self.open(note)?;
        let cp = Checkpoint::parse_text(text)?;
        if cp.origin != self.name {
            return Err(CheckpointError::Malformed(format!(
                "its origin is {:?}, not this log's {:?}",
                cp.origin, self.name
            )));
        }
        Ok(cp)
    }
}

/// A checkpoint's text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// SHA-256 of the previous signed checkpoint, none for the first.
    pub previous: Option<Hash>,
}

impl Checkpoint {
    /// The checkpoint body (tlog-checkpoint, "Note text"), ending in a newline.
    pub fn text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        if let Some(p) = self.previous {
            t.push_str(&format!("{PREVIOUS} {}\n", B64.encode(p)));
        }
        t
    }

    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let bad = |why: &str| CheckpointError::Malformed(why.to_owned());
        let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .and_then(|s| {
                // Decimal, no leading zeros (tlog-checkpoint, "Note text").
                (s == "0" || !s.starts_with('0')).then(|| s.parse::<u64>().ok())?
            })
            .ok_or_else(|| bad("the second line is not a tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the third line is not a base64 SHA-256 root hash"))?;
        let mut previous = None;
        for line in lines {
            if line.is_empty() {
                return Err(bad("an empty extension line"));
            }
            if let Some(p) = line
                .strip_prefix(PREVIOUS)
                .and_then(|p| p.strip_prefix(' '))
            {
                previous = Some(
                    B64.decode(p)
                        .ok()
                        .and_then(|p| p.try_into().ok())
                        .ok_or_else(|| {
                            bad("the previous checkpoint's hash is not base64 SHA-256")
                        })?,
                );
            }
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            previous,
        })
    }
}

/// The hash a later checkpoint's `bollard-previous` line carries: of the whole signed note.
pub fn note_hash(note: &str) -> Hash {
    Sha256::digest(note.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(key: &CheckpointKey) -> String {
        let cp = Checkpoint {
            origin: key.name().to_owned(),
            size: 42,
            root: [7; 32],
            previous: Some([9; 32]),
        };
        key.sign_note(&cp.text())
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_public_key_and_round_trips() {
        let key = CheckpointKey::generate("bollard.example/audit").unwrap();
        let again = CheckpointKey::parse(&key.to_file_text()).unwrap();
        assert_eq!(again.public(), key.public());
        let public = PublicKey::parse(&key.public().vkey()).unwrap();
        let note = sample(&key);
        assert!(note.contains("\n\n\u{2014} bollard.example/audit "));
        let cp = public.open_checkpoint(&note).unwrap();
        assert_eq!(
            (cp.size, cp.root, cp.previous),
            (42, [7; 32], Some([9; 32]))
        );
    }

    #[test]
    fn a_forged_or_altered_checkpoint_is_rejected() {
        let key = CheckpointKey::generate("bollard.example/audit").unwrap();
        let public = key.public();
        let note = sample(&key);
        let altered = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(public.open(&altered), Err(CheckpointError::BadSignature));
        // Another key of the same name: its key id differs, so this key's signature is absent.
        let forger = CheckpointKey::generate("bollard.example/audit").unwrap();
        let forged = sample(&forger);
        assert!(matches!(
            public.open(&forged),
            Err(CheckpointError::NotSignedByKey(_))
        ));
        // The forger copies the real key id in front of its own signature.
        let real_line = note.lines().last().unwrap();
        let forged_line = forged.lines().last().unwrap();
        let real_raw = B64.decode(real_line.rsplit(' ').next().unwrap()).unwrap();
        let mut raw = B64.decode(forged_line.rsplit(' ').next().unwrap()).unwrap();
        raw[..4].copy_from_slice(&real_raw[..4]);
        let spliced = forged.replace(
            forged_line,
            &format!("\u{2014} bollard.example/audit {}", B64.encode(raw)),
        );
        assert_eq!(public.open(&spliced), Err(CheckpointError::BadSignature));
    }

    /// The reference vector of Go's golang.org/x/mod/sumdb/note (its package example), which
    /// C2SP signed-note grew from: same key id, same key files, same signature bytes.
    #[test]
    fn matches_the_go_sumdb_note_reference_vector() {
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let want = format!(
            "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        let key = CheckpointKey::parse(skey).unwrap();
        assert_eq!(key.public().vkey(), vkey);
        assert_eq!(key.to_file_text().trim(), skey);
        assert_eq!(key.sign_note(text), want);
        assert_eq!(PublicKey::parse(vkey).unwrap().open(&want).unwrap(), text);
    }
}
