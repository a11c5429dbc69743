//! Reading Apollo's answer without building it as a tree (#16): one pass over its bytes
//! that says whether any record in it holds a personal field (by the same declaration
//! [`super::personal::redact`] applies) and keeps only its *outline*, the tree cut two levels
//! down, which is all the audit sentence and the price need (counts, `pagination`,
//! `credits_consumed`, whether `person` is null, a sequence's name).
//!
//! When nothing needs removing, the answer goes to the agent byte for byte and no tree of it
//! is ever built; when something does, the gate parses it fully and redacts it as before.
//! The scan and the redaction must agree on every input: a property test holds them to it.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::personal::RecordKind;

/// How deep the outline keeps values: the answer's own fields (depth 1) and their members
/// (depth 2), a list or record at depth 2 standing as `true` (something, not null), as does
/// anything deeper.
const KEPT_DEPTH: usize = 2;

/// What one pass over an answer found.
#[derive(Debug)]
pub(super) struct Scanned {
    /// Some record holds a field an agent without `reveal` must not see.
    pub personal: bool,
    /// The answer cut two levels down.
    pub outline: Value,
}

/// Scans a JSON answer; `None` when it is not JSON (then it holds no field to redact either:
/// [`super::personal::redact`] works on parsed JSON only).
pub(super) fn scan(bytes: &[u8]) -> Option<Scanned> {
    // UTF-8 checked once over the whole answer, then read as text: read as bytes, serde_json
    // checks each string on its own, and those calls were a fifth of the scan (issue 16). A
    // JSON text is UTF-8 throughout (RFC 8259 section 8.1), so what this refuses, reading it
    // as bytes refused too, and the redaction (which parses the bytes) agrees.
    let text = std::str::from_utf8(bytes).ok()?;
    let personal = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let outline = Node {
        depth: 0,
        kind: RecordKind::Person,
        personal: &personal,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    Some(Scanned {
        personal: personal.get(),
        outline,
    })
}

/// One value of the answer, at a depth, inside a kind of record.
#[derive(Clone, Copy)]
struct Node<'p> {
    depth: usize,
    kind: RecordKind,
    personal: &'p Cell<bool>,
}

impl Node<'_> {
    fn kept(&self) -> bool {
        self.depth <= KEPT_DEPTH
    }

    /// A list or record is kept with its members only above the kept depth.
    fn container_kept(&self) -> bool {
        self.depth < KEPT_DEPTH
    }

    /// A list or record past the kept depth stands as `true` (something), unless it is
    /// empty: an empty list is kept as one, so "Apollo found none" can be told from "some"
    /// (the price of a reveal that found nothing, #19 item 5).
    fn container(&self, v: Value, empty: bool) -> Value {
        if self.container_kept() || empty {
            v
        } else {
            Value::Bool(true)
        }
    }

    /// A value past the kept depth: something, not null.
    fn stand_in(&self, v: Value) -> Value {
        if self.kept() { v } else { Value::Bool(true) }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(self.stand_in(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(self.stand_in(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(self.stand_in(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(self.stand_in(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(if self.kept() {
            Value::String(v.to_owned())
        } else {
            Value::Bool(true)
        })
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Items of a list are records of the list's own kind, as `redact` reads them.
        let item = Node {
            depth: self.depth + 1,
            ..self
        };
        let mut items = Vec::new();
        let mut empty = true;
        while let Some(v) = seq.next_element_seed(item)? {
            empty = false;
            if self.container_kept() {
                items.push(v);
            }
        }
        Ok(self.container(Value::Array(items), empty))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        let mut empty = true;
        while let Some(key) = map.next_key_seed(KeySeed {
            keep: self.container_kept(),
            record: self.kind,
            personal: self.personal,
        })? {
            let child = Node {
                depth: self.depth + 1,
                kind: key.kind,
                personal: self.personal,
            };
            let v = map.next_value_seed(child)?;
            empty = false;
            if let Some(name) = key.name {
                fields.insert(name, v);
            }
        }
        Ok(self.container(Value::Object(fields), empty))
    }
}

/// A field's name: personal or not in the record it is found in, the kind of record its
/// value is, and the name itself when the outline keeps it.
struct Key {
    kind: RecordKind,
    name: Option<String>,
}

struct KeySeed<'p> {
    keep: bool,
    record: RecordKind,
    personal: &'p Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        if self.record.is_personal(key) {
            self.personal.set(true);
        }
        Ok(Key {
            kind: self.record.child(key),
            name: self.keep.then(|| key.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::personal::{ALWAYS_PERSONAL, COMPANY_KEYS, PERSON_ONLY, redact};
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_search_answer_has_nothing_personal_and_keeps_what_the_sentence_counts() {
        let body = json!({"total_entries": 45, "pagination": {"page": 1, "total_entries": 45},
            "people": [{"id": "p1", "has_direct_phone": "Yes",
                "organization": {"name": "Acme", "phone": "+1 555", "has_phone": true}}, null],
            "emailer_campaign": {"name": "Q4", "steps": [{"id": "s"}]}});
        let s = scan(body.to_string().as_bytes()).unwrap();
        assert!(!s.personal);
        assert_eq!(
            s.outline,
            json!({"total_entries": 45, "pagination": {"page": 1, "total_entries": 45},
                "people": [true, null], "emailer_campaign": {"name": "Q4", "steps": true}})
        );
    }

    #[test]
    fn finds_a_personal_field_at_any_depth_and_in_any_spelling() {
        for body in [
            r#"{"people": [{"contact": {"mobile_phone": "1"}}]}"#,
            r#"{"a": {"b": {"c": {"d": [{"Personal_Emails": []}]}}}}"#,
            r#"{"matches": [null, {"sanitized_phone": "+1"}]}"#,
            r#"{"organization": {"contacts": [{"phone": "1"}]}}"#,
            r#"{"x": {"mobile\u005fphone": "1"}}"#,
            r#"{"sanitized_phone": "+2"}"#,
        ] {
            assert!(scan(body.as_bytes()).unwrap().personal, "{body}");
        }
        // A company's switchboard is not personal.
        let body = r#"{"organizations": [{"phone": "+1", "primary_phone": {"number": "+1"}}]}"#;
        assert!(!scan(body.as_bytes()).unwrap().personal);
    }

    #[test]
    fn what_is_not_json_is_not_scanned() {
        assert!(scan(b"<html>502</html>").is_none());
        assert!(scan(br#"{"a": 1} trailing"#).is_none());
        assert!(scan(b"").is_none());
        // Not UTF-8, in a string or outside one: not JSON, as the parse the redaction uses says.
        for body in [
            &b"{\"a\": \"\xff\"}"[..],
            b"{\"a\": 1}\xc3",
            b"{\"\xe2\x82\": 1}",
        ] {
            assert!(scan(body).is_none());
            assert!(serde_json::from_slice::<Value>(body).is_err());
        }
    }

    /// Keys drawn mostly from the declared lists, so personal fields turn up often.
    fn key() -> impl Strategy<Value = String> {
        let declared: Vec<&'static str> = ALWAYS_PERSONAL
            .iter()
            .chain(PERSON_ONLY)
            .chain(COMPANY_KEYS)
            .copied()
            .chain(["people", "contacts", "matches", "id", "name"])
            .collect();
        prop_oneof![
            3 => proptest::sample::select(declared).prop_map(str::to_owned),
            1 => "[a-zA-Z_]{1,12}",
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z+ 0-9]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(key(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The scan says "personal" exactly when the redaction would remove something.
        #[test]
        fn the_scan_and_the_redaction_agree(v in json_value()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let mut redacted = v.clone();
            let removed = redact(&mut redacted);
            prop_assert_eq!(scan(&bytes).unwrap().personal, removed);
        }
    }
}
