//! Request arguments, read the way Apollo (a Rails app) reads them.
//!
//! The query string is parsed Rails style (`a[]=x`, `r[min]=1`, `a[][k]=v`, `+` is a space),
//! the body as JSON or as a form, and the two are merged at the top level. On a clash the
//! query string wins: Rails builds `params` as `request_parameters.merge(query_parameters)`.
//! Typed accessors are lenient the way Rails is (numbers as strings, `"true"` as a boolean)
//! and answer a sentence, never a panic, when a value cannot be read.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// Deepest bracket nesting read from a query key; deeper keys are kept literally.
const MAX_NESTING: usize = 32;

/// A problem with the request's arguments, reported to the client as Apollo would.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgsError {
    #[error("The request body is not valid JSON: {0}.")]
    MalformedJson(String),
    #[error("Invalid value for '{key}': expected {expected}.")]
    WrongType { key: String, expected: &'static str },
}

/// The merged arguments of one request.
#[derive(Debug, Default, Clone)]
pub struct Args {
    map: Map<String, Value>,
}

impl Args {
    /// Reads the query string and body, and merges them (query wins, as in Rails).
    pub fn from_request(
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, ArgsError> {
        let mut map = parse_body(content_type, body)?;
        for (key, value) in parse_query(query) {
            map.insert(key, value);
        }
        Ok(Self { map })
    }

    /// Arguments from an already-built JSON object (used by tests and internal calls).
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self { map }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    pub fn insert(&mut self, key: &str, value: Value) {
        self.map.insert(key.to_owned(), value);
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.map)
    }

    /// A scalar as a string; empty strings count as absent, as Rails' `present?` does.
    pub fn str(&self, key: &str) -> Result<Option<String>, ArgsError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => scalar_string(value)
                .map(|s| Some(s).filter(|s| !s.trim().is_empty()))
                .ok_or_else(|| wrong(key, "a string")),
        }
    }

    /// A list of strings: a JSON array, `key[]=` values, a single value, or a Rails
    /// index hash (`key[0]=a`).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, ArgsError> {
        let expected = "an array of strings";
        let items: Vec<&Value> = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(Value::Object(map)) => map.values().collect(),
            Some(other) => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if item.is_null() {
                continue;
            }
            let s = scalar_string(item).ok_or_else(|| wrong(key, expected))?;
            if !s.trim().is_empty() {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// A boolean: JSON `true`/`false` or the strings Rails casts (`"true"`, `"1"`, ...).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ArgsError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "on" | "yes" => Ok(Some(true)),
                "false" | "0" | "f" | "off" | "no" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(wrong(key, "true or false")),
            },
            Some(_) => Err(wrong(key, "true or false")),
        }
    }

    /// `bool` with a default when absent.
    pub fn flag(&self, key: &str) -> Result<bool, ArgsError> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    /// An integer: a JSON integer or an integer in a string.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ArgsError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| wrong(key, "an integer")),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| wrong(key, "an integer")),
            Some(_) => Err(wrong(key, "an integer")),
        }
    }

    /// A number (integer or decimal), from JSON or from a string.
    pub fn number(&self, key: &str) -> Result<Option<f64>, ArgsError> {
        number_of(self.get(key), key)
    }

    /// `key[min]` and `key[max]` of a range argument such as `revenue_range`.
    pub fn range(&self, key: &str) -> Result<(Option<f64>, Option<f64>), ArgsError> {
        match self.get(key) {
            None => Ok((None, None)),
            Some(Value::Object(map)) => Ok((
                number_of(map.get("min").filter(|v| !v.is_null()), key)?,
                number_of(map.get("max").filter(|v| !v.is_null()), key)?,
            )),
            Some(_) => Err(wrong(key, "an object with min and max")),
        }
    }

    /// A JSON object argument such as `typed_custom_fields`.
    pub fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, ArgsError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(_) => Err(wrong(key, "an object")),
        }
    }
}

fn wrong(key: &str, expected: &'static str) -> ArgsError {
    ArgsError::WrongType {
        key: key.to_owned(),
        expected,
    }
}

fn number_of(value: Option<&Value>, key: &str) -> Result<Option<f64>, ArgsError> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| wrong(key, "a number")),
        Some(_) => Err(wrong(key, "a number")),
    }
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a request body by its content type. JSON that is not an object is kept under
/// `_json`, as Rails does. A form-typed body that is plainly JSON (what `curl -d '{...}'`
/// sends) is read as JSON: friendlier than Rails, and harmless.
pub fn parse_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ArgsError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Map::new());
    }
    let content_type = content_type.unwrap_or("").to_ascii_lowercase();
    let looks_json = trimmed.starts_with('{') || trimmed.starts_with('[');
    if content_type.contains("json") || (looks_json && !content_type.contains("multipart")) {
        let value: Value =
            serde_json::from_str(trimmed).map_err(|e| ArgsError::MalformedJson(e.to_string()))?;
        return Ok(match value {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("_json".to_owned(), other);
                map
            }
        });
    }
    if content_type.contains("x-www-form-urlencoded") || content_type.is_empty() {
        return Ok(parse_query(&text));
    }
    Ok(Map::new())
}

/// Parses a Rails-style query string or form body into a JSON object.
pub fn parse_query(query: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key);
        let value = decode(raw_value);
        match split_key(&key) {
            Some(segments) => insert(&mut map, &segments, value),
            None => {
                if !key.is_empty() {
                    map.insert(key, Value::String(value));
                }
            }
        }
    }
    map
}

/// Decodes one query component: `+` is a space, then percent-decoding (lossy UTF-8).
pub fn decode(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Splits `a[b][]` into `["a", "b", ""]`. `None` for keys without brackets or with
/// malformed ones, which Rails keeps as plain keys.
fn split_key(key: &str) -> Option<Vec<&str>> {
    let open = key.find('[')?;
    let head = &key[..open];
    if head.is_empty() {
        return None;
    }
    let mut segments = vec![head];
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
        if segments.len() > MAX_NESTING {
            return None;
        }
    }
    Some(segments)
}

fn insert(map: &mut Map<String, Value>, segments: &[&str], value: String) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match rest.first() {
        None => {
            map.insert((*first).to_owned(), Value::String(value));
        }
        Some(&"") => {
            let slot = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else { return };
            let after = &rest[1..];
            if after.is_empty() {
                items.push(Value::String(value));
                return;
            }
            // `a[][k]=v`: Rails adds to the last hash unless it already has `k`.
            let reuse =
                matches!(items.last(), Some(Value::Object(last)) if !last.contains_key(after[0]));
            if !reuse {
                items.push(Value::Object(Map::new()));
            }
            if let Some(Value::Object(last)) = items.last_mut() {
                insert(last, after, value);
            }
        }
        Some(_) => {
            let slot = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(query: &str, body: &str) -> Args {
        Args::from_request(query, Some("application/json"), body.as_bytes()).expect("parses")
    }

    #[test]
    fn reads_rails_arrays_hashes_and_spaces() {
        let map = parse_query(
            "person_titles[]=VP+Sales&person_titles[]=cto%20x&revenue_range[min]=1&q=a%2Bb",
        );
        assert_eq!(
            Value::Object(map),
            json!({"person_titles": ["VP Sales", "cto x"], "revenue_range": {"min": "1"}, "q": "a+b"})
        );
    }

    #[test]
    fn reads_arrays_of_hashes_and_keeps_malformed_keys() {
        let map = parse_query("details[][email]=a&details[][name]=b&details[][email]=c&x[=1&[y]=2");
        assert_eq!(
            Value::Object(map),
            json!({"details": [{"email": "a", "name": "b"}, {"email": "c"}], "x[": "1", "[y]": "2"})
        );
    }

    #[test]
    fn query_wins_over_body_like_rails() {
        let a = args("page=3", r#"{"page": 2, "per_page": 5}"#);
        assert_eq!(a.int("page"), Ok(Some(3)));
        assert_eq!(a.int("per_page"), Ok(Some(5)));
    }

    #[test]
    fn casts_booleans_and_numbers_from_strings() {
        let a = args("a=true&b=0&c=12", r#"{"d": true, "e": "maybe"}"#);
        assert_eq!(a.bool("a"), Ok(Some(true)));
        assert_eq!(a.bool("b"), Ok(Some(false)));
        assert_eq!(a.int("c"), Ok(Some(12)));
        assert_eq!(a.bool("d"), Ok(Some(true)));
        assert!(a.bool("e").is_err());
        assert!(a.int("e").is_err());
    }

    #[test]
    fn a_single_value_is_a_list_of_one() {
        let a = args("", r#"{"t": "cto", "o": {"x": 1}}"#);
        assert_eq!(a.strings("t"), Ok(vec!["cto".to_owned()]));
        assert_eq!(a.strings("o"), Ok(vec!["1".to_owned()]));
        let bad = args("", r#"{"t": [{"x": 1}]}"#);
        assert!(bad.strings("t").is_err());
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        let err =
            Args::from_request("", Some("application/json"), b"{\"a\": ").expect_err("malformed");
        assert!(matches!(err, ArgsError::MalformedJson(_)));
    }

    #[test]
    fn form_bodies_are_read_like_query_strings() {
        let a = Args::from_request(
            "",
            Some("application/x-www-form-urlencoded"),
            b"q_keywords=a+b&ids[]=1",
        )
        .expect("parses");
        assert_eq!(a.str("q_keywords"), Ok(Some("a b".to_owned())));
        assert_eq!(a.strings("ids"), Ok(vec!["1".to_owned()]));
    }
}
