//! Records what normalization rejected, then writes it into the event the way
//! Relay does: one entry per problem in `errors`, and the same problem plus the
//! original value under `_meta` at the field's path.

use crate::event::json::{Map, Str, Value};

/// One step of a path into the event.
#[derive(Clone, Copy)]
pub(super) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A path into the event, built on the stack as a linked list so that the
/// happy path never allocates; it is turned into strings only on error.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    pub(super) fn root(key: &'a str) -> Self {
        Path {
            parent: None,
            seg: Seg::Key(key),
        }
    }

    pub(super) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    pub(super) fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    fn segments(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut node = Some(self);
        while let Some(p) = node {
            out.push(match p.seg {
                Seg::Key(k) => k.to_owned(),
                Seg::Index(i) => i.to_string(),
            });
            node = p.parent;
        }
        out.reverse();
        out
    }
}

struct Entry<'a> {
    segs: Vec<String>,
    /// `None` for a bare remark that only keeps the original value.
    kind: Option<&'static str>,
    data: Map<'a>,
    original: Option<Value<'a>>,
}

/// Collects rejected values while the event is being normalized.
#[derive(Default)]
pub(super) struct Recorder<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Recorder<'a> {
    /// `invalid_data` with a reason, keeping the original value if given.
    pub(super) fn invalid(&mut self, path: &Path<'_>, reason: impl Into<Str<'a>>, original: Option<Value<'a>>) {
        let mut data = Map::new();
        data.insert("reason", Value::String(reason.into()));
        self.push(path, Some("invalid_data"), data, original);
    }

    /// An error of any kind with extra data fields.
    pub(super) fn error(&mut self, path: &Path<'_>, kind: &'static str, data: Map<'a>, original: Option<Value<'a>>) {
        self.push(path, Some(kind), data, original);
    }

    /// Keeps an original value that was replaced without it being an error.
    pub(super) fn remark(&mut self, path: &Path<'_>, original: Value<'a>) {
        self.push(path, None, Map::new(), Some(original));
    }

    fn push(&mut self, path: &Path<'_>, kind: Option<&'static str>, data: Map<'a>, original: Option<Value<'a>>) {
        self.entries.push(Entry {
            segs: path.segments(),
            kind,
            data,
            original,
        });
    }

    /// Writes `errors` and `_meta` into the event. Entries are ordered by the
    /// position of their top-level field in Relay's event schema, keeping the
    /// order of recording within a field.
    pub(super) fn finish(mut self, event: &mut Map<'a>) {
        if self.entries.is_empty() {
            return;
        }
        self.entries
            .sort_by_key(|e| field_rank(e.segs.first().map(String::as_str).unwrap_or("")));

        let mut new_errors = Vec::new();
        let mut meta = match event.remove("_meta") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for entry in self.entries {
            let mut node_meta = Map::new();
            if let Some(kind) = entry.kind {
                let mut err = Map::new();
                err.insert("type", Value::from(kind));
                err.insert("name", Value::from(entry.segs.join(".")));
                if let Some(original) = &entry.original {
                    err.insert("value", original.clone());
                }
                for (k, v) in &entry.data {
                    err.insert(k.clone(), v.clone());
                }
                new_errors.push(Value::Object(err));
                let meta_err = if entry.data.is_empty() {
                    Value::Array(vec![Value::from(kind)])
                } else {
                    Value::Array(vec![Value::from(kind), Value::Object(entry.data)])
                };
                node_meta.insert("err", Value::Array(vec![meta_err]));
            }
            if let Some(original) = entry.original {
                node_meta.insert("val", original);
            }
            merge_meta(&mut meta, entry.segs, node_meta);
        }

        match event.get_mut("errors") {
            Some(Value::Array(existing)) => existing.extend(new_errors),
            _ => {
                if !new_errors.is_empty() {
                    event.insert("errors", Value::Array(new_errors));
                }
            }
        }
        event.insert("_meta", Value::Object(meta));
    }
}

/// Places `node_meta` under `segs` and then `""`, merging error lists.
fn merge_meta<'a>(meta: &mut Map<'a>, segs: Vec<String>, node_meta: Map<'a>) {
    let mut current = meta;
    for seg in segs.into_iter().map(Str::from).chain(std::iter::once(Str::from(""))) {
        let slot = current.entry(seg).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        current = next;
    }
    for (key, value) in node_meta {
        match (key.as_str(), current.get_mut(&key), value) {
            ("err", Some(Value::Array(existing)), Value::Array(more)) => existing.extend(more),
            (_, _, value) => {
                current.insert(key, value);
            }
        }
    }
}

/// Relay's top-level field order, which decides the order of `errors`.
fn field_rank(field: &str) -> usize {
    const ORDER: &[&str] = &[
        "event_id",
        "level",
        "version",
        "type",
        "fingerprint",
        "culprit",
        "transaction",
        "transaction_info",
        "time_spent",
        "logentry",
        "logger",
        "modules",
        "platform",
        "timestamp",
        "start_timestamp",
        "received",
        "server_name",
        "release",
        "dist",
        "environment",
        "site",
        "user",
        "request",
        "contexts",
        "breadcrumbs",
        "exception",
        "stacktrace",
        "template",
        "threads",
        "tags",
        "extra",
        "debug_meta",
        "sdk",
    ];
    ORDER.iter().position(|f| *f == field).unwrap_or(ORDER.len())
}
