//! Keeps secrets and personal data out of audit arguments.
//!
//! Secrets (`api_key`, anything named like a key or token) are removed. Personal identifiers
//! (emails, phone numbers, names, LinkedIn URLs) become `hmac:<16 hex>`, an HMAC-SHA256 under
//! a per-installation secret: the same email always maps to the same value, so "every call
//! about this person" can still be found by hashing the email the same way, without the log
//! holding the email.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

#[derive(Clone)]
pub struct PiiHasher {
    key: Vec<u8>,
    keep_in_clear: bool,
}

impl std::fmt::Debug for PiiHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiHasher")
            .field("keep_in_clear", &self.keep_in_clear)
            .finish_non_exhaustive()
    }
}

const SECRET_KEYS: [&str; 6] = [
    "api_key",
    "apikey",
    "x-api-key",
    "token",
    "access_token",
    "password",
];

fn is_personal(key: &str) -> bool {
    let k = key.trim_end_matches("[]").to_ascii_lowercase();
    k == "name"
        || k.contains("email")
            && !matches!(
                k.as_str(),
                "contact_email_status"
                    | "email_status"
                    | "reveal_personal_emails"
                    | "run_waterfall_email"
                    | "sequence_no_email"
                    | "sequence_unverified_email"
            )
        || k.contains("phone")
            && !matches!(k.as_str(), "reveal_phone_number" | "run_waterfall_phone")
        || k == "first_name"
        || k == "last_name"
        || k.contains("linkedin")
        || k == "present_raw_address"
        || k == "raw_address"
}

impl PiiHasher {
    pub fn new(key: Vec<u8>, keep_in_clear: bool) -> Self {
        Self { key, keep_in_clear }
    }

    /// The keyed hash of one value, as stored: `hmac:` and 16 hex digits.
    pub fn hash(&self, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return "hmac:unavailable".into();
        };
        mac.update(value.trim().to_lowercase().as_bytes());
        let out = mac.finalize().into_bytes();
        format!("hmac:{}", hex::encode(out.get(..8).unwrap_or_default()))
    }

    /// A copy of the arguments fit for the audit log.
    pub fn scrub(&self, args: &Map<String, Value>) -> Value {
        Value::Object(self.scrub_map(args, 0))
    }

    fn scrub_map(&self, m: &Map<String, Value>, depth: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            let lower = k.to_ascii_lowercase();
            if SECRET_KEYS.contains(&lower.as_str()) {
                continue;
            }
            let v = if is_personal(k) && !self.keep_in_clear {
                self.hash_value(v)
            } else {
                self.scrub_value(v, depth + 1)
            };
            out.insert(k.clone(), v);
        }
        out
    }

    fn scrub_value(&self, v: &Value, depth: usize) -> Value {
        if depth > 16 {
            return Value::String("(too deep)".into());
        }
        match v {
            Value::Object(m) => Value::Object(self.scrub_map(m, depth)),
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.scrub_value(x, depth + 1)).collect())
            }
            other => other.clone(),
        }
    }

    fn hash_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) if s.is_empty() => Value::String(String::new()),
            Value::String(s) => Value::String(self.hash(s)),
            Value::Number(n) => Value::String(self.hash(&n.to_string())),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.hash_value(x)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.hash_value(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_phones_and_names_become_stable_keyed_hashes() {
        let h = PiiHasher::new(b"k".to_vec(), false);
        let Value::Object(args) = json!({
            "email": "Ada@Example.com", "first_name": "Ada", "title": "CTO",
            "details": [{"email": "ada@example.com", "linkedin_url": "https://linkedin.com/in/ada"}],
            "reveal_phone_number": true, "api_key": "secret", "mobile_phone": "+1 555"
        }) else {
            unreachable!()
        };
        let out = h.scrub(&args).to_string();
        for clear in [
            "Ada@Example.com",
            "ada@example.com",
            "Ada\"",
            "linkedin.com",
            "secret",
            "+1 555",
        ] {
            assert!(!out.contains(clear), "{clear} leaked: {out}");
        }
        assert!(out.contains("\"title\":\"CTO\""));
        assert!(out.contains("\"reveal_phone_number\":true"));
        assert_eq!(h.hash("ada@example.com"), h.hash("ADA@example.com "));
        assert_ne!(
            PiiHasher::new(b"other".to_vec(), false).hash("a"),
            h.hash("a")
        );
    }

    #[test]
    fn keeps_personal_data_in_clear_when_configured_but_never_secrets() {
        let h = PiiHasher::new(b"k".to_vec(), true);
        let Value::Object(args) = json!({"email": "a@b.co", "api_key": "s"}) else {
            unreachable!()
        };
        assert_eq!(h.scrub(&args), json!({"email": "a@b.co"}));
    }
}
