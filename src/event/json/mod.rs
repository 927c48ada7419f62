//! The tree an event is processed as: JSON whose strings and keys borrow from the payload
//! they were parsed from, so parsing allocates one vector per object or array and none
//! per string without escapes, and dropping the tree frees as few.
//!
//! It mirrors `serde_json::Value`'s API (variants, accessors, `get`, indexing) and
//! serializes to the same bytes: object keys in byte order, numbers as
//! `serde_json::Number`. Owned text (`Str`) is used where a stage builds or rewrites a
//! string; `Value::into_owned` detaches a tree from its payload.

mod map;
mod parse;
mod text;
mod write;

use std::fmt;

pub use map::{Entry, Map};
pub use parse::{from_slice, from_str};
pub use serde_json::Number;
pub use text::Str;
pub use write::to_writer;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Value<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Str<'a>),
    Array(Vec<Value<'a>>),
    Object(Map<'a>),
}

/// What indexing a missing key or position returns.
pub static NULL: Value<'static> = Value::Null;

/// `serde_json::json!`, building this crate's `Value` (tests and fixed shapes).
#[allow(unused_macros)]
macro_rules! json {
    ($($tt:tt)+) => {
        $crate::event::json::Value::from(::serde_json::json!($($tt)+))
    };
}
#[allow(unused_imports)]
pub(crate) use json;

impl<'a> Value<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    pub fn as_object(&self) -> Option<&Map<'a>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map<'a>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value<'a>>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value<'a>>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    pub fn is_i64(&self) -> bool {
        self.as_number().is_some_and(Number::is_i64)
    }

    pub fn is_u64(&self) -> bool {
        self.as_number().is_some_and(Number::is_u64)
    }

    /// The value of an object's key or an array's element; `None` for anything else.
    pub fn get<I: ValueIndex>(&self, index: I) -> Option<&Value<'a>> {
        index.index_into(self)
    }

    pub fn get_mut<I: ValueIndex>(&mut self, index: I) -> Option<&mut Value<'a>> {
        index.index_into_mut(self)
    }

    /// The value at a JSON pointer (RFC 6901), as `serde_json::Value::pointer`.
    pub fn pointer(&self, pointer: &str) -> Option<&Value<'a>> {
        pointer_tokens(pointer)?.try_fold(self, |target, token| match target {
            Value::Object(map) => map.get(&token),
            Value::Array(list) => array_index(&token).and_then(|i| list.get(i)),
            _ => None,
        })
    }

    pub fn pointer_mut(&mut self, pointer: &str) -> Option<&mut Value<'a>> {
        pointer_tokens(pointer)?.try_fold(self, |target, token| match target {
            Value::Object(map) => map.get_mut(&token),
            Value::Array(list) => array_index(&token).and_then(move |i| list.get_mut(i)),
            _ => None,
        })
    }

    /// Takes the value out, leaving `Null`.
    pub fn take(&mut self) -> Value<'a> {
        std::mem::take(self)
    }

    /// The same tree with every string owned, so it outlives its payload.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Number(n) => Value::Number(n),
            Value::String(s) => Value::String(s.into_owned()),
            Value::Array(a) => Value::Array(a.into_iter().map(Value::into_owned).collect()),
            Value::Object(m) => Value::Object(m.into_owned()),
        }
    }
}

/// The unescaped reference tokens of a JSON pointer: none for `""`, `None` for a
/// pointer that does not start with `/`.
fn pointer_tokens(pointer: &str) -> Option<impl Iterator<Item = std::borrow::Cow<'_, str>>> {
    let rest = match pointer {
        "" => None,
        _ => Some(pointer.strip_prefix('/')?),
    };
    Some(rest.into_iter().flat_map(|r| r.split('/')).map(|token| {
        if token.contains('~') {
            token.replace("~1", "/").replace("~0", "~").into()
        } else {
            token.into()
        }
    }))
}

fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
        return None;
    }
    token.parse().ok()
}

/// What `Value::get` takes: a key (`&str`, `String`, `Str`) or a position (`usize`).
pub trait ValueIndex {
    fn index_into<'v, 'a>(&self, value: &'v Value<'a>) -> Option<&'v Value<'a>>;
    fn index_into_mut<'v, 'a>(&self, value: &'v mut Value<'a>) -> Option<&'v mut Value<'a>>;
}

impl ValueIndex for usize {
    fn index_into<'v, 'a>(&self, value: &'v Value<'a>) -> Option<&'v Value<'a>> {
        value.as_array().and_then(|a| a.get(*self))
    }
    fn index_into_mut<'v, 'a>(&self, value: &'v mut Value<'a>) -> Option<&'v mut Value<'a>> {
        value.as_array_mut().and_then(|a| a.get_mut(*self))
    }
}

impl ValueIndex for str {
    fn index_into<'v, 'a>(&self, value: &'v Value<'a>) -> Option<&'v Value<'a>> {
        value.as_object().and_then(|m| m.get(self))
    }
    fn index_into_mut<'v, 'a>(&self, value: &'v mut Value<'a>) -> Option<&'v mut Value<'a>> {
        value.as_object_mut().and_then(|m| m.get_mut(self))
    }
}

impl ValueIndex for String {
    fn index_into<'v, 'a>(&self, value: &'v Value<'a>) -> Option<&'v Value<'a>> {
        self.as_str().index_into(value)
    }
    fn index_into_mut<'v, 'a>(&self, value: &'v mut Value<'a>) -> Option<&'v mut Value<'a>> {
        self.as_str().index_into_mut(value)
    }
}

impl ValueIndex for Str<'_> {
    fn index_into<'v, 'a>(&self, value: &'v Value<'a>) -> Option<&'v Value<'a>> {
        self.as_str().index_into(value)
    }
    fn index_into_mut<'v, 'a>(&self, value: &'v mut Value<'a>) -> Option<&'v mut Value<'a>> {
        self.as_str().index_into_mut(value)
    }
}

impl<T: ValueIndex + ?Sized> ValueIndex for &T {
    fn index_into<'v, 'a>(&self, value: &'v Value<'a>) -> Option<&'v Value<'a>> {
        (**self).index_into(value)
    }
    fn index_into_mut<'v, 'a>(&self, value: &'v mut Value<'a>) -> Option<&'v mut Value<'a>> {
        (**self).index_into_mut(value)
    }
}

impl<'a, I: ValueIndex> std::ops::Index<I> for Value<'a> {
    type Output = Value<'a>;
    fn index(&self, index: I) -> &Value<'a> {
        index.index_into(self).unwrap_or(&NULL)
    }
}

/// `value["key"] = …` as in `serde_json`: `Null` becomes an object, a missing key is
/// inserted as `Null`. Panics on any other value, so only for trees the code built.
impl<'a> std::ops::IndexMut<&str> for Value<'a> {
    fn index_mut(&mut self, key: &str) -> &mut Value<'a> {
        if self.is_null() {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(map) => map.entry(Str::from(key.to_owned())).or_insert(Value::Null),
            _ => panic!("cannot index into a non-object JSON value with a key"),
        }
    }
}

impl fmt::Display for Value<'_> {
    /// Compact JSON; `{:#}` pretty-prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            let text = serde_json::to_string_pretty(self).map_err(|_| fmt::Error)?;
            return f.write_str(&text);
        }
        let mut text = Vec::new();
        to_writer(&mut text, self);
        f.write_str(&String::from_utf8_lossy(&text))
    }
}

impl serde::Serialize for Value<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(list) => {
                let mut seq = serializer.serialize_seq(Some(list.len()))?;
                for item in list {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(map) => map.serialize(serializer),
        }
    }
}

macro_rules! from_number {
    ($($ty:ty)*) => {$(
        impl From<$ty> for Value<'_> {
            fn from(n: $ty) -> Self {
                Value::Number(n.into())
            }
        }
    )*};
}
from_number!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

impl From<f64> for Value<'_> {
    /// Not-a-number and infinities become `Null`, as in `serde_json`.
    fn from(n: f64) -> Self {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

impl From<f32> for Value<'_> {
    fn from(n: f32) -> Self {
        Value::from(f64::from(n))
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Number> for Value<'_> {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::String(Str::from(s))
    }
}

impl<'a> From<Str<'a>> for Value<'a> {
    fn from(s: Str<'a>) -> Self {
        Value::String(s)
    }
}

impl<'a> From<std::borrow::Cow<'a, str>> for Value<'a> {
    fn from(s: std::borrow::Cow<'a, str>) -> Self {
        Value::String(Str::from(s))
    }
}

impl<'a> From<Map<'a>> for Value<'a> {
    fn from(m: Map<'a>) -> Self {
        Value::Object(m)
    }
}

impl<'a, T: Into<Value<'a>>> From<Vec<T>> for Value<'a> {
    fn from(items: Vec<T>) -> Self {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(item: Option<T>) -> Self {
        item.map_or(Value::Null, Into::into)
    }
}

impl<'a, T: Into<Value<'a>>> FromIterator<T> for Value<'a> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

/// A `serde_json` tree as an owned event tree (fixtures, stored events, fixed shapes).
impl From<serde_json::Value> for Value<'static> {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(Str::from(s)),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(Map::from_entries(
                m.into_iter().map(|(k, v)| (Str::from(k), Value::from(v))).collect(),
            )),
        }
    }
}

/// A `serde_json` tree read through this type without copying its strings.
impl<'a> From<&'a serde_json::Value> for Value<'a> {
    fn from(value: &'a serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(Str::from(s.as_str())),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(Map::from_entries(
                m.iter().map(|(k, v)| (Str::from(k.as_str()), Value::from(v))).collect(),
            )),
        }
    }
}

impl From<Value<'_>> for serde_json::Value {
    fn from(value: Value<'_>) -> Self {
        match value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => serde_json::Value::Number(n),
            Value::String(s) => serde_json::Value::String(s.into_string()),
            Value::Array(a) => serde_json::Value::Array(a.into_iter().map(serde_json::Value::from).collect()),
            Value::Object(m) => {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.into_string(), v.into())).collect())
            }
        }
    }
}

impl PartialEq<serde_json::Value> for Value<'_> {
    fn eq(&self, other: &serde_json::Value) -> bool {
        match (self, other) {
            (Value::Null, serde_json::Value::Null) => true,
            (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Value::Number(a), serde_json::Value::Number(b)) => a == b,
            (Value::String(a), serde_json::Value::String(b)) => a == b,
            (Value::Array(a), serde_json::Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Value::Object(a), serde_json::Value::Object(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && va == vb)
            }
            _ => false,
        }
    }
}

impl PartialEq<str> for Value<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Value<'_> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<bool> for Value<'_> {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

macro_rules! eq_number {
    ($($ty:ty => $as:ident as $wide:ty),*) => {$(
        impl PartialEq<$ty> for Value<'_> {
            fn eq(&self, other: &$ty) -> bool {
                self.$as().is_some_and(|n| n == *other as $wide)
            }
        }
    )*};
}
eq_number!(i32 => as_i64 as i64, i64 => as_i64 as i64, u32 => as_u64 as u64, u64 => as_u64 as u64, usize => as_u64 as u64, f64 => as_f64 as f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_like_serde_json() {
        let value = json!({"a": [1, {"b": "c"}], "d/e": {"~f": true}});
        assert_eq!(value["a"][1]["b"], "c");
        assert!(value["missing"]["deeper"].is_null());
        assert_eq!(value.pointer("/a/1/b").and_then(Value::as_str), Some("c"));
        assert_eq!(value.pointer("/d~1e/~0f"), Some(&Value::Bool(true)));
        assert_eq!(value.pointer("/a/01"), None);
        assert_eq!(value.pointer(""), Some(&value));
        assert_eq!(value.pointer("a"), None);
        assert_eq!(value.pointer("/missing/0"), None);
        let mut value = value;
        value["new"] = Value::from(3);
        assert_eq!(value.get("new").and_then(Value::as_u64), Some(3));
        *value.pointer_mut("/a/0").expect("present") = Value::from("x");
        assert_eq!(value["a"][0], "x");
    }

    #[test]
    fn converts_both_ways_with_serde_json() {
        let original = serde_json::json!({"z": 1.5, "a": [null, true, "s"], "m": {"k": -3}});
        let ours = Value::from(&original);
        assert_eq!(ours, original);
        assert_eq!(serde_json::Value::from(ours.clone()), original);
        assert_eq!(Value::from(original.clone()), ours);
        assert_eq!(ours.to_string(), original.to_string());
        assert_eq!(format!("{ours:#}"), format!("{original:#}"));
    }
}
