//! Records what normalization rejected, then writes it into the event the way
//! Relay does: one entry per problem in `errors`, and the same problem plus the
//! original value under `_meta` at the field's path.

use serde_json::{Map, Value};

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

struct Entry {
    segs: Vec<String>,
    /// `None` for a bare remark that only keeps the original value.
    kind: Option<&'static str>,
    data: Map<String, Value>,
    original: Option<Value>,
}

/// Collects rejected values while the event is being normalized.
#[derive(Default)]
pub(super) struct Recorder {
    entries: Vec<Entry>,
}

impl Recorder {
    /// `invalid_data` with a reason, keeping the original value if given.
    pub(super) fn invalid(&mut self, path: &Path<'_>, reason: &str, original: Option<Value>) {
        let mut data = Map::new();
        data.insert("reason".to_owned(), Value::String(reason.to_owned()));
        self.push(path, Some("invalid_data"), data, original);
    }

    /// An error of any kind with extra data fields.
    pub(super) fn error(
        &mut self,
        path: &Path<'_>,
        kind: &'static str,
        data: Map<String, Value>,
        original: Option<Value>,
    ) {
        self.push(path, Some(kind), data, original);
    }

    /// Keeps an original value that was replaced without it being an error.
    pub(super) fn remark(&mut self, path: &Path<'_>, original: Value) {
        self.push(path, None, Map::new(), Some(original));
    }

    fn push(&mut self, path: &Path<'_>, kind: Option<&'static str>, data: Map<String, Value>, original: Option<Value>) {
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
    pub(super) fn finish(mut self, event: &mut Map<String, Value>) {
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
                err.insert("type".to_owned(), Value::String(kind.to_owned()));
                err.insert("name".to_owned(), Value::String(entry.segs.join(".")));
                if let Some(original) = &entry.original {
                    err.insert("value".to_owned(), original.clone());
                }
                for (k, v) in &entry.data {
                    err.insert(k.clone(), v.clone());
                }
                new_errors.push(Value::Object(err));
                let meta_err = if entry.data.is_empty() {
                    Value::Array(vec![Value::String(kind.to_owned())])
                } else {
                    Value::Array(vec![Value::String(kind.to_owned()), Value::Object(entry.data)])
                };
                node_meta.insert("err".to_owned(), Value::Array(vec![meta_err]));
            }
            if let Some(original) = entry.original {
                node_meta.insert("val".to_owned(), original);
            }
            merge_meta(&mut meta, &entry.segs, node_meta);
        }

        match event.get_mut("errors") {
            Some(Value::Array(existing)) => existing.extend(new_errors),
            _ => {
                if !new_errors.is_empty() {
                    event.insert("errors".to_owned(), Value::Array(new_errors));
                }
            }
        }
        event.insert("_meta".to_owned(), Value::Object(meta));
    }
}

/// Places `node_meta` under `segs` and then `""`, merging error lists.
fn merge_meta(meta: &mut Map<String, Value>, segs: &[String], node_meta: Map<String, Value>) {
    let mut current = meta;
    for seg in segs.iter().map(String::as_str).chain(std::iter::once("")) {
        let slot = current
            .entry(seg.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
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
