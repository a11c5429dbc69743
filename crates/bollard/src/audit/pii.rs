//! Keeps secrets and personal data out of audit arguments.
//!
//! Secrets (`api_key`, anything named like a key or token) are removed. Personal identifiers
//! (emails, phone numbers, names, LinkedIn URLs) become `hmac:<16 hex>`, an HMAC-SHA256 under
//! a per-installation secret: the same email always maps to the same value, so "every call
//! about this person" can still be found by hashing the email the same way, without the log
//! holding the email.
//!
//! Free text is read too: an email address or phone number inside any string argument
//! (`q_keywords`, a task's `note`, a title) is replaced by its keyed hash in the stored
//! arguments, and by "an email address (#3fa2…)" in the sentence, so an agent cannot put
//! personal data in the log in clear by typing it where a name was not expected.

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

    /// The sealer of approval arguments (reveal on request), keyed from the same secret.
    pub fn sealer(&self) -> Option<crate::approval::seal::Sealer> {
        crate::approval::seal::Sealer::new(&self.key)
    }

    /// The hash that binds an approval to one call (`approval::call_hash`), keyed from the
    /// same secret.
    pub fn call_hash(
        &self,
        agent_id: &str,
        action: &str,
        path_id: Option<&str>,
        args: &Map<String, Value>,
    ) -> String {
        crate::approval::call_hash(&self.key, agent_id, action, path_id, args)
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

    /// The arguments as the audit sentence may describe them: emails and phone numbers in
    /// every string replaced by "an email address (#3fa2…)" or "a phone number (#3fa2…)".
    /// Keeps everything when the installation keeps personal data in clear.
    pub fn for_sentence(&self, args: &bollard_policy::Args) -> bollard_policy::Args {
        if self.keep_in_clear {
            return args.clone();
        }
        let render = |kind: TextKind, found: &str| {
            let hash = self.hash(found);
            let short = hash.strip_prefix("hmac:").unwrap_or(&hash);
            format!("{} (#{}…)", kind.noun(), short.get(..4).unwrap_or(short))
        };
        let mut map = args.value().clone();
        map.values_mut()
            .for_each(|v| map_strings(v, &|s| replace_personal(s, &render), 0));
        bollard_policy::Args::from_value(map)
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
            Value::String(t) if !self.keep_in_clear => {
                Value::String(replace_personal(t, &|_, found| self.hash(found)))
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

/// Personal data found in free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Email,
    Phone,
}

impl TextKind {
    fn noun(self) -> &'static str {
        match self {
            TextKind::Email => "an email address",
            TextKind::Phone => "a phone number",
        }
    }
}

/// Whether `s` is what [`PiiHasher::for_sentence`] put in place of personal data, so that a
/// sentence shows it as prose rather than as a quoted search term.
pub fn is_placeholder(s: &str) -> bool {
    (s.starts_with("an email address (#") || s.starts_with("a phone number (#"))
        && s.ends_with("…)")
}

fn map_strings(v: &mut Value, f: &dyn Fn(&str) -> String, depth: usize) {
    if depth > 16 {
        return;
    }
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| map_strings(i, f, depth + 1)),
        Value::Object(m) => m.values_mut().for_each(|i| map_strings(i, f, depth + 1)),
        _ => {}
    }
}

/// `s` with every email address and phone number found by [`find_personal`] replaced by
/// `render(kind, what was found)`.
pub fn replace_personal(s: &str, render: &dyn Fn(TextKind, &str) -> String) -> String {
    let found = find_personal(s);
    if found.is_empty() {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (range, kind) in found {
        out.push_str(s.get(at..range.start).unwrap_or_default());
        out.push_str(&render(kind, s.get(range.clone()).unwrap_or_default()));
        at = range.end;
    }
    out.push_str(s.get(at..).unwrap_or_default());
    out
}

/// Byte ranges of the email addresses and phone numbers in `s`, in order, not overlapping.
/// Generous on purpose: hashing a string that was not personal costs a little readability;
/// missing one that was puts personal data in the log.
pub fn find_personal(s: &str) -> Vec<(std::ops::Range<usize>, TextKind)> {
    let mut found = emails(s);
    for phone in phones(s) {
        if !found
            .iter()
            .any(|(r, _)| r.start < phone.end && phone.start < r.end)
        {
            found.push((phone, TextKind::Phone));
        }
    }
    found.sort_by_key(|(r, _)| r.start);
    found
}

fn emails(s: &str) -> Vec<(std::ops::Range<usize>, TextKind)> {
    let b = s.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-'".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    let mut out = Vec::new();
    let mut from = 0;
    for (at, _) in s.match_indices('@') {
        if at < from {
            continue;
        }
        let mut start = at;
        while start > from && b.get(start - 1).copied().is_some_and(local) {
            start -= 1;
        }
        let mut end = at + 1;
        while b.get(end).copied().is_some_and(domain) {
            end += 1;
        }
        while end > at + 1 && matches!(b.get(end - 1), Some(b'.' | b'-')) {
            end -= 1;
        }
        let host = s.get(at + 1..end).unwrap_or_default();
        let dotted = host
            .rsplit_once('.')
            .is_some_and(|(name, tld)| !name.is_empty() && tld.len() >= 2);
        if start < at && dotted {
            out.push((start..end, TextKind::Email));
            from = end;
        }
    }
    out
}

fn phones(s: &str) -> Vec<std::ops::Range<usize>> {
    let b = s.as_bytes();
    let sep = |c: u8| matches!(c, b' ' | b'-' | b'.' | b'(' | b')');
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or_default();
        let starts = (c.is_ascii_digit() || c == b'+' || c == b'(')
            && (i == 0
                || !b
                    .get(i - 1)
                    .copied()
                    .is_some_and(|p| p.is_ascii_alphanumeric()));
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while b
            .get(end)
            .copied()
            .is_some_and(|c| c.is_ascii_digit() || sep(c))
        {
            end += 1;
        }
        // The number ends at its last digit.
        let mut last = end;
        while last > i && !b.get(last - 1).copied().is_some_and(|c| c.is_ascii_digit()) {
            last -= 1;
        }
        let span = s.get(i..last).unwrap_or_default();
        let digits = span.bytes().filter(u8::is_ascii_digit).count();
        let separated = span.bytes().any(sep) || span.starts_with('+');
        let glued = b
            .get(last)
            .copied()
            .is_some_and(|c| c.is_ascii_alphabetic());
        let date = is_date(span);
        if !glued && !date && (if separated { digits >= 7 } else { digits >= 10 }) && digits <= 15 {
            out.push(i..last);
        }
        i = end.max(i + 1);
    }
    out
}

/// `2026-12-01`, alone or followed by a time: a date, not a number to hide.
fn is_date(span: &str) -> bool {
    let b = span.as_bytes();
    b.len() >= 10
        && b.iter().take(10).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
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

    #[test]
    fn finds_emails_and_phone_numbers_in_free_text() {
        let found = |s: &str| -> Vec<String> {
            find_personal(s)
                .into_iter()
                .map(|(r, k)| format!("{k:?}:{}", s.get(r).unwrap_or_default()))
                .collect()
        };
        assert_eq!(
            found("call jane.doe+x@acme.co.uk or +1 (415) 555-0101 today"),
            vec!["Email:jane.doe+x@acme.co.uk", "Phone:+1 (415) 555-0101"]
        );
        assert_eq!(
            found("415-555-0101, 415.555.0102"),
            vec!["Phone:415-555-0101", "Phone:415.555.0102"]
        );
        assert_eq!(found("4155550103"), vec!["Phone:4155550103"]);
        assert_eq!(found("<bob@x.io>."), vec!["Email:bob@x.io"]);
        // Not personal: dates, ids, amounts, small numbers, handles, IPs of few digits.
        for clear in [
            "2026-12-01T10:00:00Z",
            "2026-12-01 10:00",
            "48837ae111c95802fff31269",
            "1500000",
            "VP Sales 2025",
            "@acme",
            "a@b",
            "http://127.0.0.1:9/hooks/x",
            "page 1, 25 per page",
        ] {
            assert!(found(clear).is_empty(), "{clear}: {:?}", found(clear));
        }
    }

    #[test]
    fn free_text_is_hashed_in_stored_arguments_and_described_in_sentences() {
        let h = PiiHasher::new(b"k".to_vec(), false);
        let Value::Object(args) = json!({"q_keywords": "Jane@Acme.com cto", "note": "ring +1 415 555 0101",
            "nested": [{"t": "x 415-555-0101"}], "title": "CTO"})
        else {
            unreachable!()
        };
        let out = h.scrub(&args).to_string();
        for clear in ["Jane@Acme.com", "415 555 0101", "415-555-0101"] {
            assert!(!out.contains(clear), "{clear} leaked: {out}");
        }
        assert!(
            out.contains(&format!("{} cto", h.hash("jane@acme.com"))),
            "{out}"
        );
        let a = h.for_sentence(&bollard_policy::Args::from_value(args.clone()));
        let q = a.str("q_keywords").unwrap_or_default().to_owned();
        assert!(
            q.starts_with("an email address (#") && q.ends_with("…) cto"),
            "{q}"
        );
        assert!(is_placeholder(q.trim_end_matches(" cto")));
        let kept = PiiHasher::new(b"k".to_vec(), true);
        assert_eq!(kept.scrub(&args), Value::Object(args));
    }
}
