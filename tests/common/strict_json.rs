//! A strict JSON check: a line parses only if no object in it names a key
//! twice. serde_json keeps the last of two equal keys without a word (with
//! `preserve_order` too), and strict parsers elsewhere (Go's, Python's
//! `object_pairs_hook`, jq's `--seq` users) refuse such lines, so every JSON
//! line an orc tool prints is checked with this one.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value that was checked for duplicate keys (and dropped).
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value without duplicate keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<Strict>()?;
        }
        Ok(Strict)
    }
}

/// Check one line of JSON: `Err` names a syntax error or a duplicate key.
pub fn strict_parse(line: &str) -> Result<(), String> {
    serde_json::from_str::<Strict>(line).map_err(|e| e.to_string())?;
    Ok(())
}

/// Assert that every line of `text` that is JSON at all (an object or an
/// array, as serde_json reads it) is strict JSON: no key twice.
pub fn assert_strict_json_lines(text: &str, what: &str) {
    for line in text.lines().map(str::trim) {
        if !(line.starts_with('{') || line.starts_with('[')) {
            continue;
        }
        if serde_json::from_str::<serde_json::Value>(line).is_err() {
            continue;
        }
        if let Err(e) = strict_parse(line) {
            panic!("{what} printed JSON a strict parser rejects ({e}): {line}");
        }
    }
}
