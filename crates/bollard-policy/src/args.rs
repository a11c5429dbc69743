//! Reading an agent's arguments the way Apollo (Rails) does: the query string, Rails
//! style (`a[]=x`, `r[min]=1`, `a[0]=x`), and the body (JSON, or a form that Rails also
//! reads), merged. Security-critical: the policy reads flags such as
//! `reveal_phone_number` from here, so no spelling, position or repetition may let one
//! slip past. Hence the rules:
//!
//! - [`Args::flag`] takes the strictest reading: any occurrence, anywhere, in any case,
//!   that Rails would not read as false, makes the flag true.
//! - Readings that disagree on anything else are refused ([`ArgsError::Conflict`]), and so
//!   are duplicate JSON keys, deep nesting, huge argument lists and bytes that are not
//!   UTF-8.
//! - The gateway forwards [`Args::to_json_body`] or [`Args::to_query_string`], the one
//!   canonical reading it decided on, never the agent's raw bytes.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// How deeply arguments may nest; Apollo's never go past three levels.
pub const MAX_DEPTH: usize = 16;
/// How many values (scalars and containers) one request may carry.
pub const MAX_VALUES: usize = 10_000;

/// The flags whose readings may disagree without a conflict: the strictest wins, and the
/// canonical reading carries it as a JSON boolean.
pub const SENSITIVE_FLAGS: [&str; 4] = [
    "reveal_personal_emails",
    "reveal_phone_number",
    "run_waterfall_email",
    "run_waterfall_phone",
];

/// Why arguments could not be read. Every message is a sentence an agent can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("The request body is not valid JSON ({0}); send one JSON object of arguments.")]
    Json(String),
    #[error("The request body must be a JSON object of arguments, such as {{\"per_page\": 10}}.")]
    NotAnObject,
    #[error("The JSON body has the key '{key}' more than once; send each key once.")]
    DuplicateKey { key: String },
    #[error("The arguments nest more than {MAX_DEPTH} levels deep; Apollo's arguments never do.")]
    TooDeep,
    #[error(
        "The request carries more than {MAX_VALUES} argument values; split it into smaller calls."
    )]
    TooMany,
    #[error("The {place} is not valid UTF-8; send UTF-8 text.")]
    Utf8 { place: &'static str },
    #[error(
        "The {place} has an invalid percent-encoding near '{near}'; write a literal '%' as %25."
    )]
    Percent { place: &'static str, near: String },
    #[error("The {place} has a malformed key '{key}': {why}.")]
    MalformedKey {
        place: &'static str,
        key: String,
        why: &'static str,
    },
    #[error(
        "Bollard does not read request bodies of type '{0}'; send the arguments as JSON (application/json) or as a form (application/x-www-form-urlencoded)."
    )]
    ContentType(String),
    #[error("{message}")]
    Conflict { key: String, message: String },
    #[error(
        "'_method' cannot be sent: Bollard decides on the method the request uses, so send the request with that method instead."
    )]
    MethodOverride,
    #[error("'{key}' must be a whole number, not {value}.")]
    NotANumber { key: String, value: String },
    #[error(
        "The {place} has an argument named '{key}', which is not a name Apollo uses: argument names are letters, digits, '_', '-' and '.', so that no version of Apollo's parser can read one as another name."
    )]
    AmbiguousName { place: &'static str, key: String },
    #[error(
        "'{key}' holds a list of lists or of objects, which a GET request cannot carry unambiguously; send this call as POST with a JSON body."
    )]
    NotQueryShaped { key: String },
}

/// An agent's arguments, read and merged: the canonical reading the gateway decides on
/// and forwards.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args {
    value: Map<String, Value>,
    /// Normalized keys (see [`flag_key`]) that had a value Rails reads as true somewhere,
    /// in any part of the request, before merging.
    truthy: BTreeSet<String>,
}

/// Reads the query string (no leading `?`) and the body with its content type.
///
/// JSON when the content type is `application/json` (or absent and the body starts like
/// JSON); Rails-style form when it is `application/x-www-form-urlencoded` (or absent
/// otherwise: Rack reads such bodies as forms too). Any other type with a non-empty body
/// is refused. The body wins over the query on a key, but only where they agree or the
/// key is a sensitive flag; any other disagreement is a conflict.
pub fn read_args(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Args, ArgsError> {
    let count = Cell::new(0usize);
    let query = match query {
        Some(q) if !q.is_empty() => rails_array_hashes(parse_form(q, "query string", &count)?),
        _ => Map::new(),
    };
    check_names(&query, "query string")?;
    let body = read_body(content_type, body, &count)?;
    check_names(&body, "request body")?;

    let mut truthy = BTreeSet::new();
    collect_truthy(&query, &mut truthy, 0);
    collect_truthy(&body, &mut truthy, 0);

    // Rack's MethodOverride turns a POST with `_method` into another method, which
    // would be another action than the one the policy decided on.
    if query
        .keys()
        .chain(body.keys())
        .any(|k| flag_key(k) == "_method")
    {
        return Err(ArgsError::MethodOverride);
    }

    let mut value = query;
    for (key, new) in body {
        match value.get(&key) {
            Some(old)
                if !is_flag_key(&key) && !is_secret_key(&key) && !loosely_equal(old, &new) =>
            {
                return Err(conflict(&key, old, &new));
            }
            _ => {
                value.insert(key, new);
            }
        }
    }
    Ok(Args::canonical(value, truthy))
}

fn read_body(
    content_type: Option<&str>,
    body: &[u8],
    count: &Cell<usize>,
) -> Result<Map<String, Value>, ArgsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let media = content_type.map(|c| {
        c.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let looks_like_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[');
    let text = std::str::from_utf8(body).map_err(|_| ArgsError::Utf8 {
        place: "request body",
    })?;
    match media.as_deref() {
        Some("application/json" | "text/x-json" | "application/jsonrequest") => {
            parse_json(text, count)
        }
        None if looks_like_json => parse_json(text, count),
        Some("application/x-www-form-urlencoded") | None => {
            Ok(rails_array_hashes(parse_form(text, "form body", count)?))
        }
        Some(_) => Err(ArgsError::ContentType(
            content_type.unwrap_or_default().chars().take(100).collect(),
        )),
    }
}

impl Args {
    /// Arguments that arrived as JSON already parsed (MCP tool arguments). Flags are read
    /// exactly as for REST.
    pub fn from_value(value: Map<String, Value>) -> Args {
        let mut truthy = BTreeSet::new();
        collect_truthy(&value, &mut truthy, 0);
        Args::canonical(value, truthy)
    }

    /// Like [`Args::from_value`], but holds the map to the same limits as [`read_args`]
    /// (depth and number of values).
    pub fn try_from_value(value: Map<String, Value>) -> Result<Args, ArgsError> {
        let mut count = 0usize;
        check_limits(&value, 1, &mut count)?;
        check_names(&value, "arguments")?;
        Ok(Args::from_value(value))
    }

    /// Top-level sensitive flags become JSON booleans carrying the strictest reading.
    fn canonical(mut value: Map<String, Value>, truthy: BTreeSet<String>) -> Args {
        for (key, v) in value.iter_mut() {
            if is_flag_key(key) {
                *v = Value::Bool(truthy.contains(&flag_key(key)));
            }
        }
        Args { value, truthy }
    }

    /// The merged arguments.
    pub fn value(&self) -> &Map<String, Value> {
        &self.value
    }

    /// The strictest reading of a flag: true if any occurrence of the key, in the query or
    /// the body, at the top level or nested, compared ASCII-case-insensitively and without
    /// a trailing `[...]`, has a value Rails would not read as false.
    pub fn flag(&self, name: &str) -> bool {
        self.truthy.contains(&flag_key(name))
    }

    /// The value of `key` when it is a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// The value of `key` as Apollo reads text: a string, or a number or boolean written out
    /// (Apollo searches `{"q_keywords": 5}` for "5"); "" when absent or not a scalar.
    pub fn text(&self, key: &str) -> String {
        self.value
            .get(key)
            .and_then(scalar_string)
            .unwrap_or_default()
    }

    /// The value of `key` as a whole number (a JSON number or a string of digits); `None`
    /// when absent, null or empty.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ArgsError> {
        let bad = |v: &Value| ArgsError::NotANumber {
            key: key.to_owned(),
            value: shorten(v),
        };
        match self.value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(v @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(v)),
            Some(v @ Value::String(s)) if s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u64>().map(Some).map_err(|_| bad(v))
            }
            Some(v) => Err(bad(v)),
        }
    }

    /// The value of `key` as a list of strings: an array's scalar items, an object's scalar
    /// values (Rails reads `a[0]=x` as a hash and Apollo takes its values as the list), or a
    /// single value.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.value.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_string).collect(),
            Some(Value::Object(m)) => m.values().filter_map(scalar_string).collect(),
            Some(v) => scalar_string(v).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// Whether `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.value.get(key).is_some_and(|v| !v.is_null())
    }

    /// The same arguments without any `api_key`, at any depth, in any case.
    pub fn without_secrets(&self) -> Args {
        let mut value = self.value.clone();
        strip_secrets(&mut value);
        Args {
            value,
            truthy: self.truthy.clone(),
        }
    }

    /// The same arguments without the top-level `key` (for example the path id an MCP
    /// tool takes as an argument). Flag readings are kept.
    pub fn without(&self, key: &str) -> Args {
        let mut value = self.value.clone();
        value.remove(key);
        Args {
            value,
            truthy: self.truthy.clone(),
        }
    }

    /// The canonical reading as a JSON object.
    pub fn to_json_body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.value).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Refuses arguments that [`Args::to_query_string`] cannot write so that Rack reads back
    /// exactly this reading: lists holding lists or objects (`a[][k]` groups elements by
    /// key order, not by the agent's objects). A GET call forwards its arguments as a query
    /// string, so it must pass this first.
    pub fn check_query_shaped(&self) -> Result<(), ArgsError> {
        fn nested_list(v: &Value) -> bool {
            match v {
                Value::Array(items) => items
                    .iter()
                    .any(|i| matches!(i, Value::Array(_) | Value::Object(_))),
                Value::Object(m) => m.values().any(nested_list),
                _ => false,
            }
        }
        match self.value.iter().find(|(_, v)| nested_list(v)) {
            Some((key, _)) => Err(ArgsError::NotQueryShaped {
                key: key.chars().take(40).collect(),
            }),
            None => Ok(()),
        }
    }

    /// The canonical reading as a Rails query string (no leading `?`), its own keys sorted
    /// and an object's keys in the order read (see `encode_pair`):
    /// `k=v`, `k[]=v` for lists, `k[sub]=v` for objects, `k[][a]=v` for lists of objects
    /// (as Rails' `to_query` writes them). Empty lists and objects are left out; null is
    /// a bare `k`. Lists of objects with differing keys are ambiguous in this form: send
    /// such arguments as a JSON body.
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        let mut keys: Vec<&String> = self.value.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(v) = self.value.get(key) {
                encode_pair(&encode_component(key), v, &mut parts);
            }
        }
        parts.join("&")
    }
}

impl fmt::Display for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_json_body()))
    }
}

/// The key a flag is compared under: trimmed, without `[...]`, ASCII lower case.
pub(crate) fn flag_key(key: &str) -> String {
    key.split('[')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_flag_key(key: &str) -> bool {
    SENSITIVE_FLAGS.contains(&flag_key(key).as_str())
}

fn is_secret_key(key: &str) -> bool {
    flag_key(key) == "api_key"
}

/// How Rails (ActiveModel's boolean type) reads a value: false for `false`, `0`, `"0"`,
/// `"f"`, `"F"`, `"false"`, `"FALSE"`, `"off"`, `"OFF"`, and not set for `""` and null.
/// Everything else, lists and objects included, is true.
pub(crate) fn rails_true(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => !(n.as_u64() == Some(0) || n.as_i64() == Some(0)),
        Value::String(s) => !matches!(
            s.as_str(),
            "" | "0" | "f" | "F" | "false" | "FALSE" | "off" | "OFF"
        ),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn collect_truthy(map: &Map<String, Value>, out: &mut BTreeSet<String>, depth: usize) {
    if depth > MAX_DEPTH * 8 {
        // Only reachable through `from_value` with absurd nesting; nothing deeper counts.
        return;
    }
    for (key, v) in map {
        if rails_true(v) {
            out.insert(flag_key(key));
        }
        collect_truthy_value(v, out, depth + 1);
    }
}

fn collect_truthy_value(v: &Value, out: &mut BTreeSet<String>, depth: usize) {
    match v {
        Value::Object(m) => collect_truthy(m, out, depth),
        Value::Array(items) => items
            .iter()
            .for_each(|i| collect_truthy_value(i, out, depth + 1)),
        _ => {}
    }
}

fn check_limits(
    map: &Map<String, Value>,
    depth: usize,
    count: &mut usize,
) -> Result<(), ArgsError> {
    if depth > MAX_DEPTH {
        return Err(ArgsError::TooDeep);
    }
    for v in map.values() {
        check_value_limits(v, depth, count)?;
    }
    Ok(())
}

fn check_value_limits(v: &Value, depth: usize, count: &mut usize) -> Result<(), ArgsError> {
    *count += 1;
    if *count > MAX_VALUES {
        return Err(ArgsError::TooMany);
    }
    match v {
        Value::Object(m) => check_limits(m, depth + 1, count),
        Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(ArgsError::TooDeep);
            }
            items
                .iter()
                .try_for_each(|i| check_value_limits(i, depth + 1, count))
        }
        _ => Ok(()),
    }
}

/// Whether Rack, in any version, reads `key` as exactly this name. Old Rack strips leading
/// `[`/`]` and trailing `]` (`per_page]` is `per_page`), and all versions give brackets,
/// `%`, `&`, `=`, `;`, `+` and spaces meanings of their own; bytes beyond ASCII invite
/// normalisation. Apollo's own names never need any of them.
fn plain_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Every key, at every depth, must be a [`plain_name`]: a JSON key re-encoded into a
/// forwarded query (a GET call) must read back as the same name, and a key the gateway
/// reads one way must not be another name upstream.
fn check_names(map: &Map<String, Value>, place: &'static str) -> Result<(), ArgsError> {
    fn value(v: &Value, place: &'static str) -> Result<(), ArgsError> {
        match v {
            Value::Object(m) => check_names(m, place),
            Value::Array(items) => items.iter().try_for_each(|i| value(i, place)),
            _ => Ok(()),
        }
    }
    for (key, v) in map {
        if !plain_name(key) {
            return Err(ArgsError::AmbiguousName {
                place,
                key: key
                    .chars()
                    .take(40)
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect(),
            });
        }
        value(v, place)?;
    }
    Ok(())
}

fn strip_secrets(map: &mut Map<String, Value>) {
    map.retain(|k, _| !is_secret_key(k));
    for v in map.values_mut() {
        strip_secrets_value(v);
    }
}

fn strip_secrets_value(v: &mut Value) {
    match v {
        Value::Object(m) => strip_secrets(m),
        Value::Array(items) => items.iter_mut().for_each(strip_secrets_value),
        _ => {}
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Equal as Apollo would read them: `10` and `"10"`, `true` and `"true"` agree.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loosely_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loosely_equal(v, w)))
        }
        _ => match (scalar_string(a), scalar_string(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// A value for a message: short, and never more than a few dozen characters.
fn shorten(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// Whether a value may be quoted back in a message (which may end up in logs and audit
/// records): short plain tokens of keys that are not personal identifiers.
fn quotable(key: &str, v: &Value) -> bool {
    let key = flag_key(key);
    let personal = ["email", "name", "phone", "linkedin", "address", "url"]
        .iter()
        .any(|p| key.contains(p));
    let plain = match v {
        Value::Bool(_) | Value::Number(_) => true,
        Value::String(s) => {
            (1..=32).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        }
        _ => false,
    };
    !personal && plain
}

fn conflict(key: &str, old: &Value, new: &Value) -> ArgsError {
    let shape = |v: &Value| match v {
        Value::Array(_) => "a list",
        Value::Object(_) => "a set of named values",
        _ => "a single value",
    };
    let message = if shape(old) != shape(new) {
        format!(
            "'{key}' is given both as {} and as {}; send it one way.",
            shape(old),
            shape(new)
        )
    } else if !quotable(key, old) || !quotable(key, new) {
        format!("'{key}' is given twice with different values; send it once.")
    } else {
        format!(
            "'{key}' is given twice with different values ({} and {}); send it once.",
            shorten(old),
            shorten(new)
        )
    };
    ArgsError::Conflict {
        key: key.to_owned(),
        message,
    }
}

mod form;
mod json;

use form::{encode_component, encode_pair, parse_form, rails_array_hashes};
use json::parse_json;

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
