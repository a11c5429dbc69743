//! JSON bodies, with duplicate keys, depth and size refused. serde_json alone keeps the
//! last of duplicate keys, which would let `{"reveal_phone_number": true,
//! "reveal_phone_number": false}` read differently here and upstream.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::form::bump;
use super::{ArgsError, MAX_DEPTH};

struct Ctx<'c> {
    count: &'c Cell<usize>,
    error: RefCell<Option<ArgsError>>,
}

impl Ctx<'_> {
    fn fail<E: de::Error>(&self, e: ArgsError) -> E {
        let message = e.to_string();
        *self.error.borrow_mut() = Some(e);
        E::custom(message)
    }

    fn bump<E: de::Error>(&self) -> Result<(), E> {
        bump(self.count).map_err(|e| self.fail(e))
    }
}

#[derive(Clone, Copy)]
struct Seed<'a, 'c> {
    ctx: &'a Ctx<'c>,
    depth: usize,
}

impl Seed<'_, '_> {
    fn enter<E: de::Error>(&self) -> Result<(), E> {
        self.ctx.bump()?;
        if self.depth + 1 > MAX_DEPTH {
            Err(self.ctx.fail(ArgsError::TooDeep))
        } else {
            Ok(())
        }
    }

    fn deeper(self) -> Self {
        Seed {
            ctx: self.ctx,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.ctx.bump()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self.deeper())? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(self.ctx.fail(ArgsError::DuplicateKey {
                    key: key.chars().take(80).collect(),
                }));
            }
            let v = access.next_value_seed(self.deeper())?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

pub(super) fn parse_json(text: &str, count: &Cell<usize>) -> Result<Map<String, Value>, ArgsError> {
    let ctx = Ctx {
        count,
        error: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Seed {
        ctx: &ctx,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ArgsError::NotAnObject),
        Err(e) => Err(ctx
            .error
            .take()
            .unwrap_or_else(|| ArgsError::Json(e.to_string()))),
    }
}
