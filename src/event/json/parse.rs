//! Parsing into the borrowed tree, through `serde_json`'s parser (its recursion limit,
//! number handling and error messages): strings without escapes are borrowed from the
//! input, objects are collected once and sorted.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

use super::{Map, Str, Value};

/// Parses JSON text; the tree borrows from `text`.
pub fn from_str(text: &str) -> serde_json::Result<Value<'_>> {
    serde_json::from_str(text)
}

/// Parses JSON bytes (each string checked for UTF-8); the tree borrows from `bytes`.
pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value<'_>> {
    serde_json::from_slice(bytes)
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value<'de>, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value<'de>, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value<'de>, E> {
        Ok(Value::from(n))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Str::from(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Str::from(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Str::from(s)))
    }

    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value<'de>, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = access.next_key::<Key<'de>>()? {
            let value = access.next_value()?;
            entries.push((key.0, value));
        }
        Ok(Value::Object(Map::from_entries(entries)))
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'de>(Str<'de>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Str::from(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Str::from(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
        Ok(Key(Str::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_text() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
            "[a-z\"\\\\\n]{0,6}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 120, 40, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::vec(("[a-e\"\\\\]{0,3}", inner), 0..40)
                    .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON text reads back as `serde_json` reads it and writes the same bytes,
        /// including objects with repeated keys (the last wins) and escaped strings.
        #[test]
        fn parses_and_writes_like_serde_json(value in json_text(), dup in "[a-c]{1,2}") {
            let mut text = serde_json::to_string(&value).expect("serializes");
            if text.starts_with('{') && text.len() > 2 {
                text = format!("{{\"{dup}\":1,{}", &text[1..]);
                text = format!("{},\"{dup}\":[2]}}", &text[..text.len() - 1]);
            }
            let theirs: serde_json::Value = serde_json::from_str(&text).expect("parses");
            let ours = from_str(&text).expect("parses");
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(serde_json::to_string(&ours).expect("serializes"), serde_json::to_string(&theirs).expect("serializes"));
            let mut written = Vec::new();
            super::super::to_writer(&mut written, &ours);
            prop_assert_eq!(String::from_utf8(written).expect("UTF-8"), serde_json::to_string(&theirs).expect("serializes"));
            prop_assert_eq!(from_slice(text.as_bytes()).expect("parses"), ours);
        }
    }

    #[test]
    fn borrows_strings_without_escapes() {
        let text = r#"{"plain": "value", "esc\"aped": "a\nb"}"#;
        let value = from_str(text).expect("parses");
        let Some(Value::String(plain)) = value.get("plain") else {
            panic!("a string")
        };
        let inside = text.as_bytes().as_ptr_range();
        assert!(inside.contains(&plain.as_str().as_ptr()));
        assert_eq!(value["esc\"aped"], "a\nb");
    }

    #[test]
    fn keeps_serde_json_errors_and_depth_limit() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let ours = from_str(&deep).expect_err("too deep").to_string();
        let theirs = serde_json::from_str::<serde_json::Value>(&deep)
            .expect_err("too deep")
            .to_string();
        assert_eq!(ours, theirs);
        assert!(from_str("{\"a\":}").is_err());
    }
}
