//! Rails-style forms and query strings, read as Rack's `parse_nested_query` reads them
//! (stricter where Rack is loose), and the canonical encoding back.

use std::cell::Cell;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use super::{
    ArgsError, MAX_DEPTH, MAX_VALUES, conflict, is_flag_key, is_secret_key, loosely_equal,
    rails_true, scalar_string,
};

#[derive(Debug)]
enum Seg {
    Key(String),
    Push,
}

pub(super) fn parse_form(
    text: &str,
    place: &'static str,
    count: &Cell<usize>,
) -> Result<Map<String, Value>, ArgsError> {
    let mut map = Map::new();
    // Rack has split on ';' as well as '&'; reading both is the stricter choice.
    for pair in text.split(['&', ';']) {
        if pair.is_empty() {
            continue;
        }
        bump(count)?;
        let (raw_key, raw_value) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let key = decode(raw_key, place)?;
        if key.is_empty() {
            continue;
        }
        let value = match raw_value {
            Some(v) => Value::String(decode(v, place)?),
            None => Value::Null,
        };
        let (name, segs) = split_key(&key, place)?;
        insert(&mut map, &name, &segs, value, &name)?;
    }
    Ok(map)
}

pub(super) fn bump(count: &Cell<usize>) -> Result<(), ArgsError> {
    let n = count.get() + 1;
    count.set(n);
    if n > MAX_VALUES {
        Err(ArgsError::TooMany)
    } else {
        Ok(())
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; a stray `%` is an error (Rack raises too).
fn decode(s: &str, place: &'static str) -> Result<String, ArgsError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok().filter(|_| h.len() == 2));
                match hex {
                    Some(byte) if bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) => {
                        out.push(byte);
                        i += 2;
                    }
                    _ => {
                        return Err(ArgsError::Percent {
                            place,
                            near: s.get(i..).unwrap_or_default().chars().take(6).collect(),
                        });
                    }
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ArgsError::Utf8 { place })
}

/// `a[b][]` -> ("a", [Key("b"), Push]). Only well-formed bracket groups are accepted.
fn split_key(key: &str, place: &'static str) -> Result<(String, Vec<Seg>), ArgsError> {
    let malformed = |why| ArgsError::MalformedKey {
        place,
        key: key.chars().take(80).collect(),
        why,
    };
    let (name, mut rest) = match key.find('[') {
        Some(0) => return Err(malformed("it starts with '['")),
        Some(i) => (
            key.get(..i).unwrap_or_default(),
            key.get(i..).unwrap_or_default(),
        ),
        None => (key, ""),
    };
    if name.contains(']') {
        return Err(malformed("it has a ']' without a '['"));
    }
    let mut segs = Vec::new();
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .ok_or_else(|| malformed("text follows a ']'"))?;
        let close = inner
            .find(']')
            .ok_or_else(|| malformed("a '[' is never closed"))?;
        let part = inner.get(..close).unwrap_or_default();
        if part.contains('[') {
            return Err(malformed("brackets are nested inside brackets"));
        }
        segs.push(if part.is_empty() {
            Seg::Push
        } else {
            Seg::Key(part.to_owned())
        });
        rest = inner.get(close + 1..).unwrap_or_default();
    }
    if segs.len() + 1 > MAX_DEPTH {
        return Err(ArgsError::TooDeep);
    }
    Ok((name.to_owned(), segs))
}

fn insert(
    map: &mut Map<String, Value>,
    name: &str,
    segs: &[Seg],
    value: Value,
    path: &str,
) -> Result<(), ArgsError> {
    match segs.split_first() {
        None => set_scalar(map, name, value, path),
        Some((Seg::Push, rest)) => {
            let entry = map
                .entry(name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = entry else {
                return Err(conflict(path, entry, &Value::Array(Vec::new())));
            };
            let path = format!("{path}[]");
            match rest.split_first() {
                None => {
                    items.push(value);
                    Ok(())
                }
                Some((Seg::Key(child), more)) => {
                    // Rack: `a[][b]=1&a[][b]=2` starts a new element when the last one
                    // already has `b`.
                    let reuse =
                        matches!(items.last(), Some(Value::Object(o)) if !has_path(o, child, more));
                    if !reuse {
                        items.push(Value::Object(Map::new()));
                    }
                    match items.last_mut() {
                        Some(Value::Object(o)) => insert(o, child, more, value, &path),
                        _ => Err(conflict(&path, &Value::Null, &value)),
                    }
                }
                Some((Seg::Push, _)) => Err(ArgsError::MalformedKey {
                    place: "query string",
                    key: format!("{path}[]"),
                    why: "lists of lists are not arguments Apollo takes",
                }),
            }
        }
        Some((Seg::Key(child), rest)) => {
            let entry = map
                .entry(name.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = entry else {
                return Err(conflict(path, entry, &Value::Object(Map::new())));
            };
            insert(inner, child, rest, value, &format!("{path}[{child}]"))
        }
    }
}

fn has_path(o: &Map<String, Value>, key: &str, more: &[Seg]) -> bool {
    match (o.get(key), more.first()) {
        (None, _) => false,
        (Some(Value::Object(inner)), Some(Seg::Key(k))) => {
            has_path(inner, k, more.get(1..).unwrap_or_default())
        }
        (Some(_), _) => true,
    }
}

fn set_scalar(
    map: &mut Map<String, Value>,
    name: &str,
    value: Value,
    path: &str,
) -> Result<(), ArgsError> {
    match map.get(name) {
        None => {
            map.insert(name.to_owned(), value);
        }
        // A sensitive flag keeps its truest reading; `flag()` sees every occurrence anyway.
        Some(_) if is_flag_key(name) => {
            if rails_true(&value) {
                map.insert(name.to_owned(), value);
            }
        }
        // Secrets are stripped before forwarding; never quote them in a message.
        Some(_) if is_secret_key(name) => {
            map.insert(name.to_owned(), value);
        }
        Some(old) if loosely_equal(old, &value) => {}
        Some(old) => return Err(conflict(path, old, &value)),
    }
    Ok(())
}

/// Rails reads `a[0]=x&a[1]=y` as a hash with index keys and treats it as a list where a
/// list is expected; Bollard makes it the list.
pub(super) fn rails_array_hashes(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().map(|(k, v)| (k, array_hash(v))).collect()
}

fn array_hash(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let indexed = !m.is_empty()
                && m.keys().all(|k| {
                    k.len() <= 5
                        && k.bytes().all(|b| b.is_ascii_digit())
                        && (k == "0" || !k.starts_with('0'))
                });
            let m = rails_array_hashes(m);
            if indexed {
                let mut items: Vec<(u32, Value)> = m
                    .into_iter()
                    .filter_map(|(k, v)| k.parse::<u32>().ok().map(|i| (i, v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(m)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(array_hash).collect()),
        other => other,
    }
}

/// Unreserved characters stay as they are; everything else is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(super) fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

pub(super) fn encode_pair(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(prefix.to_owned()),
        Value::Array(items) => {
            let prefix = format!("{prefix}[]");
            items.iter().for_each(|i| encode_pair(&prefix, i, out));
        }
        // In the order read, not sorted: Rack builds a hash in the order its keys come and
        // Apollo takes a hash's values as a list in that order, so `t[x]=1&t[0]=100`, sorted,
        // would reach Apollo as the list 100, 1 where the gate read (and decided on) 1, 100.
        Value::Object(m) => {
            for (k, inner) in m {
                encode_pair(&format!("{prefix}[{}]", encode_component(k)), inner, out);
            }
        }
        scalar => {
            let s = scalar_string(scalar).unwrap_or_default();
            out.push(format!("{prefix}={}", encode_component(&s)));
        }
    }
}
