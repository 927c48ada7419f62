//! `Map`: a JSON object with its keys in byte order (as `serde_json`'s default map keeps
//! them, so the stored JSON is the same).
//!
//! Most objects in an event have a handful of keys; they live in one sorted vector (one
//! allocation, binary search). An object that grows past [`SMALL`] keys moves to a
//! B-tree, so building one from many out-of-order keys stays O(n log n).

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;

use super::{Str, Value};

/// The most keys kept in the sorted vector.
pub const SMALL: usize = 32;

#[derive(Clone)]
pub struct Map<'a>(Repr<'a>);

#[derive(Clone)]
enum Repr<'a> {
    Small(Vec<(Str<'a>, Value<'a>)>),
    Large(BTreeMap<Str<'a>, Value<'a>>),
}

impl Default for Map<'_> {
    fn default() -> Self {
        Map(Repr::Small(Vec::new()))
    }
}

fn search<'a>(entries: &[(Str<'a>, Value<'a>)], key: &str) -> Result<usize, usize> {
    entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
}

impl<'a> Map<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Map(Repr::Small(Vec::with_capacity(capacity.min(SMALL))))
    }

    /// A map from entries in any order; a repeated key keeps its last value (as parsing
    /// JSON into `serde_json`'s map does).
    pub fn from_entries(mut entries: Vec<(Str<'a>, Value<'a>)>) -> Self {
        if entries.len() > SMALL {
            return Map(Repr::Large(entries.into_iter().collect()));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` keeps the earlier of two equal neighbours: move the later value into it.
        entries.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(&mut later.1, &mut earlier.1);
                true
            } else {
                false
            }
        });
        Map(Repr::Small(entries))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.0 = Repr::Small(Vec::new());
    }

    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match &self.0 {
            Repr::Small(v) => search(v, key).ok().map(|i| &v[i].1),
            Repr::Large(m) => m.get(key),
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value<'a>> {
        match &mut self.0 {
            Repr::Small(v) => match search(v, key) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            Repr::Large(m) => m.get_mut(key),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; returns the value it replaces.
    pub fn insert(&mut self, key: impl Into<Str<'a>>, value: Value<'a>) -> Option<Value<'a>> {
        let key = key.into();
        match &mut self.0 {
            Repr::Small(v) => {
                // Keys usually arrive in order (a copy of another map, or appended fields).
                let position = match v.last() {
                    Some((last, _)) if last.as_str() < key.as_str() => Err(v.len()),
                    None => Err(0),
                    Some(_) => search(v, &key),
                };
                match position {
                    Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                    Err(i) => {
                        v.insert(i, (key, value));
                        if v.len() > SMALL {
                            self.grow();
                        }
                        None
                    }
                }
            }
            Repr::Large(m) => m.insert(key, value),
        }
    }

    fn grow(&mut self) {
        if let Repr::Small(v) = &mut self.0 {
            let entries = std::mem::take(v);
            self.0 = Repr::Large(entries.into_iter().collect());
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value<'a>> {
        self.remove_entry(key).map(|(_, value)| value)
    }

    pub fn remove_entry(&mut self, key: &str) -> Option<(Str<'a>, Value<'a>)> {
        match &mut self.0 {
            Repr::Small(v) => search(v, key).ok().map(|i| v.remove(i)),
            Repr::Large(m) => m.remove_entry(key),
        }
    }

    /// The value at `key`, inserted by `default` first when missing.
    pub fn entry(&mut self, key: impl Into<Str<'a>>) -> Entry<'_, 'a> {
        Entry {
            map: self,
            key: key.into(),
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Str<'a>, &mut Value<'a>) -> bool) {
        match &mut self.0 {
            Repr::Small(v) => v.retain_mut(|(k, value)| keep(k, value)),
            Repr::Large(m) => m.retain(|k, value| keep(k, value)),
        }
    }

    /// Moves every entry of `other` into this map, replacing values of shared keys.
    pub fn append(&mut self, other: &mut Map<'a>) {
        for (key, value) in std::mem::take(other) {
            self.insert(key, value);
        }
    }

    pub fn iter(&self) -> Iter<'_, 'a> {
        match &self.0 {
            Repr::Small(v) => Entries::Small(v.iter().map(split as _)),
            Repr::Large(m) => Entries::Large(m.iter()),
        }
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, 'a> {
        match &mut self.0 {
            Repr::Small(v) => Entries::Small(v.iter_mut().map(split_mut as _)),
            Repr::Large(m) => Entries::Large(m.iter_mut()),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Str<'a>> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value<'a>> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Value<'a>> + ExactSizeIterator {
        self.iter_mut().map(|(_, v)| v)
    }

    /// The same map with every string owned.
    pub fn into_owned(self) -> Map<'static> {
        Map(match self.0 {
            Repr::Small(v) => Repr::Small(v.into_iter().map(|(k, x)| (k.into_owned(), x.into_owned())).collect()),
            Repr::Large(m) => Repr::Large(m.into_iter().map(|(k, x)| (k.into_owned(), x.into_owned())).collect()),
        })
    }
}

/// A key of a map, to read or insert its value (`Map::entry`).
pub struct Entry<'m, 'a> {
    map: &'m mut Map<'a>,
    key: Str<'a>,
}

impl<'m, 'a> Entry<'m, 'a> {
    pub fn or_insert(self, default: Value<'a>) -> &'m mut Value<'a> {
        self.or_insert_with(|| default)
    }

    pub fn or_insert_with(self, default: impl FnOnce() -> Value<'a>) -> &'m mut Value<'a> {
        let Entry { map, key } = self;
        if !map.contains_key(&key) {
            map.insert(key.clone(), default());
        }
        match map.get_mut(&key) {
            Some(value) => value,
            None => unreachable!("the key was just inserted"),
        }
    }

    pub fn or_default(self) -> &'m mut Value<'a> {
        self.or_insert_with(Value::default)
    }
}

/// An iterator over either representation of a map; both yield the same items.
pub enum Entries<S, L> {
    Small(S),
    Large(L),
}

impl<T, S: Iterator<Item = T>, L: Iterator<Item = T>> Iterator for Entries<S, L> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            Entries::Small(it) => it.next(),
            Entries::Large(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Entries::Small(it) => it.size_hint(),
            Entries::Large(it) => it.size_hint(),
        }
    }
}

impl<T, S: DoubleEndedIterator<Item = T>, L: DoubleEndedIterator<Item = T>> DoubleEndedIterator for Entries<S, L> {
    fn next_back(&mut self) -> Option<T> {
        match self {
            Entries::Small(it) => it.next_back(),
            Entries::Large(it) => it.next_back(),
        }
    }
}

impl<T, S: ExactSizeIterator<Item = T>, L: ExactSizeIterator<Item = T>> ExactSizeIterator for Entries<S, L> {}

type Pair<'a> = (Str<'a>, Value<'a>);

fn split<'m, 'a>((key, value): &'m Pair<'a>) -> (&'m Str<'a>, &'m Value<'a>) {
    (key, value)
}

fn split_mut<'m, 'a>((key, value): &'m mut Pair<'a>) -> (&'m Str<'a>, &'m mut Value<'a>) {
    (key, value)
}

pub type Iter<'m, 'a> = Entries<
    std::iter::Map<std::slice::Iter<'m, Pair<'a>>, fn(&'m Pair<'a>) -> (&'m Str<'a>, &'m Value<'a>)>,
    btree_map::Iter<'m, Str<'a>, Value<'a>>,
>;

pub type IterMut<'m, 'a> = Entries<
    std::iter::Map<std::slice::IterMut<'m, Pair<'a>>, fn(&'m mut Pair<'a>) -> (&'m Str<'a>, &'m mut Value<'a>)>,
    btree_map::IterMut<'m, Str<'a>, Value<'a>>,
>;

pub type IntoIter<'a> = Entries<std::vec::IntoIter<Pair<'a>>, btree_map::IntoIter<Str<'a>, Value<'a>>>;

impl<'a> IntoIterator for Map<'a> {
    type Item = (Str<'a>, Value<'a>);
    type IntoIter = IntoIter<'a>;
    fn into_iter(self) -> IntoIter<'a> {
        match self.0 {
            Repr::Small(v) => Entries::Small(v.into_iter()),
            Repr::Large(m) => Entries::Large(m.into_iter()),
        }
    }
}

impl<'m, 'a> IntoIterator for &'m Map<'a> {
    type Item = (&'m Str<'a>, &'m Value<'a>);
    type IntoIter = Iter<'m, 'a>;
    fn into_iter(self) -> Iter<'m, 'a> {
        self.iter()
    }
}

impl<'m, 'a> IntoIterator for &'m mut Map<'a> {
    type Item = (&'m Str<'a>, &'m mut Value<'a>);
    type IntoIter = IterMut<'m, 'a>;
    fn into_iter(self) -> IterMut<'m, 'a> {
        self.iter_mut()
    }
}

impl<'a, K: Into<Str<'a>>> FromIterator<(K, Value<'a>)> for Map<'a> {
    fn from_iter<I: IntoIterator<Item = (K, Value<'a>)>>(entries: I) -> Self {
        Map::from_entries(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<'a, K: Into<Str<'a>>> Extend<(K, Value<'a>)> for Map<'a> {
    fn extend<I: IntoIterator<Item = (K, Value<'a>)>>(&mut self, entries: I) {
        for (key, value) in entries {
            self.insert(key, value);
        }
    }
}

impl PartialEq for Map<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Map<'_> {}

impl fmt::Debug for Map<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> std::ops::Index<&str> for Map<'a> {
    type Output = Value<'a>;
    fn index(&self, key: &str) -> &Value<'a> {
        self.get(key).unwrap_or(&super::NULL)
    }
}

impl serde::Serialize for Map<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self {
            map.serialize_entry(key.as_str(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the order of inserts and removals, the map reads and iterates like a
        /// `BTreeMap` given the same operations, on both sides of the small/large line.
        #[test]
        fn behaves_like_a_btree_map(ops in proptest::collection::vec((0u8..3, 0u16..80, any::<u8>()), 0..200)) {
            let mut map = Map::new();
            let mut model = BTreeMap::new();
            for (op, key, value) in ops {
                let key = format!("k{key}");
                match op {
                    0 | 1 => prop_assert_eq!(
                        map.insert(key.clone(), Value::from(value)),
                        model.insert(key, Value::from(value))
                    ),
                    _ => prop_assert_eq!(map.remove(&key), model.remove(&key)),
                }
                prop_assert_eq!(map.len(), model.len());
            }
            let ours: Vec<_> = map.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            let theirs: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(ours, theirs);
        }

        /// Built from entries in any order, with repeats, the last value of a key wins.
        #[test]
        fn from_entries_keeps_the_last_value(keys in proptest::collection::vec(0u8..50, 0..80)) {
            let entries: Vec<_> = keys.iter().enumerate().map(|(i, k)| (Str::from(format!("{k}")), Value::from(i))).collect();
            let mut model = BTreeMap::new();
            for (k, v) in entries.clone() {
                model.insert(k, v);
            }
            let map = Map::from_entries(entries);
            prop_assert!(map.iter().map(|(k, v)| (k.clone(), v.clone())).eq(model));
        }
    }

    #[test]
    fn entry_inserts_once() {
        let mut map = Map::new();
        *map.entry("n").or_insert(Value::from(1)) = Value::from(2);
        map.entry("n").or_insert_with(|| Value::from(3));
        assert_eq!(map.get("n"), Some(&Value::from(2)));
        map.retain(|k, _| k != "n");
        assert!(map.is_empty());
    }
}
