//! Walks the canonical event in place and decides, field by field, which rule chain
//! applies (spec §4, §8, §9, §10). Untouched values are neither copied nor allocated.

use super::chunks::{self, Chunked, Context, Outcome, Remark};
use super::rules::{self, Chain};
use super::{SafeField, ScrubSummary, Scrubber};
use crate::event::json::{Map, Str, Value};
use std::borrow::Cow;

/// Deeper containers than this are removed instead of walked, so no input can make
/// the walk recurse without bound and nothing below the limit escapes unscrubbed.
/// Events are cut at the same depth before scrubbing (`event::bounds`), so `_meta`
/// written for the deepest value stays readable.
pub(super) const MAX_DEPTH: usize = crate::event::bounds::MAX_DEPTH;

/// Budget for the paths of `_meta` annotations of one run (bytes of path segments plus
/// a fixed cost per annotation). Past it, values are still scrubbed and counted in the
/// summary, but get no annotation of their own: many values under long keys must not
/// multiply into gigabytes of `_meta` paths.
const MAX_NOTE_BYTES: usize = 1 << 20;
const NOTE_COST: usize = 32;

/// One path segment: an object key or an array position. Keys of the event are kept
/// as the event's own text, so `_meta` paths share it instead of copying it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seg<'p, 't> {
    Key(&'p Str<'t>),
    /// A fixed field name.
    Name(&'static str),
    Index(usize),
}

impl<'p> Seg<'p, '_> {
    fn name(self) -> Option<&'p str> {
        match self {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Name(n) => Some(n),
            Seg::Index(_) => None,
        }
    }
}

/// The position of the value being visited, as a list linked through the stack.
/// `meta` is its place in the `_meta` tree (structural: pairs by index), `sel` its
/// place as safe fields and key rules see it (a pair's value under its name).
#[derive(Debug, Clone, Copy)]
pub(super) struct Path<'p, 't> {
    parent: Option<&'p Path<'p, 't>>,
    meta: Option<Seg<'p, 't>>,
    sel: Option<Seg<'p, 't>>,
    depth: usize,
}

impl<'p, 't> Path<'p, 't> {
    pub fn root() -> Self {
        Self {
            parent: None,
            meta: None,
            sel: None,
            depth: 0,
        }
    }

    pub fn child(&'p self, meta: Option<Seg<'p, 't>>, sel: Option<Seg<'p, 't>>) -> Self {
        Self {
            parent: Some(self),
            meta,
            sel,
            depth: self.depth + 1,
        }
    }

    pub fn key(&'p self, key: &'p Str<'t>) -> Self {
        self.child(Some(Seg::Key(key)), Some(Seg::Key(key)))
    }

    fn name(&'p self, name: &'static str) -> Self {
        self.child(Some(Seg::Name(name)), Some(Seg::Name(name)))
    }

    fn index(&'p self, index: usize) -> Self {
        self.child(Some(Seg::Index(index)), Some(Seg::Index(index)))
    }

    /// The key the rules see: the last selector segment, if it is a name.
    fn rule_key(&self) -> Option<&'p str> {
        self.sel.and_then(Seg::name)
    }

    /// Bytes `meta_path` would hold, counted without allocating.
    fn meta_len(&self) -> usize {
        let mut len = 0;
        let mut node = Some(self);
        while let Some(p) = node {
            len += match p.meta {
                Some(Seg::Key(k)) => k.len(),
                Some(Seg::Name(n)) => n.len(),
                Some(Seg::Index(_)) => 4,
                None => 0,
            };
            node = p.parent;
        }
        len
    }

    fn meta_path(&self) -> Vec<Str<'t>> {
        let mut out = Vec::with_capacity(self.depth);
        let mut node = Some(self);
        while let Some(p) = node {
            match p.meta {
                Some(Seg::Key(k)) => out.push(k.clone()),
                Some(Seg::Name(n)) => out.push(Str::from(n)),
                Some(Seg::Index(i)) => out.push(Str::from(i.to_string())),
                None => {}
            }
            node = p.parent;
        }
        out.reverse();
        out
    }

    fn matches_safe(&self, safe: &SafeField) -> bool {
        match safe {
            SafeField::Key(name) => self
                .sel
                .and_then(Seg::name)
                .is_some_and(|k| k.eq_ignore_ascii_case(name)),
            SafeField::Path(segments) => {
                let mut node = Some(self);
                for want in segments.iter().rev() {
                    // Skip structural-only levels (the index of a pair).
                    while let Some(p) = node {
                        if p.sel.is_some() {
                            break;
                        }
                        node = p.parent;
                    }
                    let Some(p) = node else { return false };
                    let hit = match p.sel {
                        Some(Seg::Key(k)) => want == "*" || k.eq_ignore_ascii_case(want),
                        Some(Seg::Name(n)) => want == "*" || n.eq_ignore_ascii_case(want),
                        Some(Seg::Index(i)) => want == "*" || *want == i.to_string(),
                        None => false,
                    };
                    if !hit {
                        return false;
                    }
                    node = p.parent;
                }
                // The whole path must be consumed: anchored at the event root.
                let mut rest = node;
                while let Some(p) = rest {
                    if p.sel.is_some() {
                        return false;
                    }
                    rest = p.parent;
                }
                true
            }
        }
    }
}

/// An annotation to write into `_meta`.
#[derive(Debug)]
pub(super) struct Note<'r, 't> {
    pub path: Vec<Str<'t>>,
    pub remarks: Vec<Remark<'r>>,
    /// Original character length, for strings whose text was substituted.
    pub len: Option<usize>,
    /// The string was re-rendered: ranges of older remarks no longer apply.
    pub rerendered: bool,
}

/// How the children of a walked container are visited.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Data,
    Env,
    Headers,
    Cookies,
    Query,
    Tags,
    CustomContext,
}

pub(super) struct Walker<'r, 'm, 't> {
    sc: &'r Scrubber,
    existing: Option<&'m Value<'t>>,
    pub notes: Vec<Note<'r, 't>>,
    pub summary: ScrubSummary,
    /// Spent of `MAX_NOTE_BYTES`.
    note_bytes: usize,
    /// Values changed so far, annotated or not.
    pub changes: usize,
}

impl<'r, 'm, 't> Walker<'r, 'm, 't> {
    pub fn new(sc: &'r Scrubber, existing: Option<&'m Value<'t>>) -> Self {
        Self {
            sc,
            existing,
            notes: Vec::new(),
            summary: ScrubSummary::default(),
            note_bytes: 0,
            changes: 0,
        }
    }

    /// Scrubs a detached value as if it sat under `key` (used for `_meta` originals).
    pub fn probe(&mut self, value: &mut Value<'t>, key: Option<&Str<'t>>, ip_field: bool) {
        let sc = self.sc;
        let root = Path::root();
        let path = match key {
            Some(k) => root.key(k),
            None => root.index(0),
        };
        let extra = ip_field.then_some(&sc.chains.ip_field);
        self.walk_node(value, &path, None, Kind::Data, extra);
    }

    /// Entry point: the top level of the event.
    pub fn walk_event(&mut self, event: &mut Map<'t>) {
        let sc = self.sc;
        let root = Path::root();
        let meta = self.existing;
        for (key, value) in event.iter_mut() {
            let path = root.key(key);
            let m = meta_child(meta, Seg::Key(key));
            match key.as_str() {
                "request" => self.walk_request(value, &path, m),
                "user" => self.walk_user(value, &path, m),
                "sdk" => self.walk_sdk(value, &path, m),
                "contexts" => self.walk_contexts(value, &path, m),
                "exception" => self.walk_exceptions(value, &path, m),
                "threads" => self.walk_threads(value, &path, m),
                "stacktrace" => self.walk_stacktrace(value, &path, m),
                "breadcrumbs" => self.walk_breadcrumbs(value, &path, m),
                "logentry" => self.walk_logentry(value, &path, m),
                "message" => self.special(value, &path, m, &sc.chains.message),
                "tags" => self.walk_node(value, &path, m, Kind::Tags, None),
                "errors" => self.walk_errors(value, &path, m),
                "extra" | "server_name" => self.walk_node(value, &path, m, Kind::Data, None),
                k if is_exempt_top_level(k) => {}
                // Unknown top-level data is walked: better filtered than leaked.
                _ => self.walk_node(value, &path, m, Kind::Data, None),
            }
        }
    }

    fn walk_request(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let sc = self.sc;
        let Value::Object(request) = value else { return };
        for (key, value) in request.iter_mut() {
            let path = path.key(key);
            let m = meta_child(meta, Seg::Key(key));
            match key.as_str() {
                "url" => self.special(value, &path, m, &sc.chains.url),
                "headers" => self.walk_node(value, &path, m, Kind::Headers, None),
                "cookies" => self.walk_node(value, &path, m, Kind::Cookies, None),
                "query_string" => self.walk_node(value, &path, m, Kind::Query, None),
                "env" => self.walk_node(value, &path, m, Kind::Env, None),
                "method" | "inferred_content_type" | "api_target" | "body_size" | "protocol" => {}
                _ => self.walk_node(value, &path, m, Kind::Data, None),
            }
        }
    }

    fn walk_user(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let sc = self.sc;
        let Value::Object(user) = value else { return };
        for (key, value) in user.iter_mut() {
            let path = path.key(key);
            let m = meta_child(meta, Seg::Key(key));
            let extra = (key == "ip_address").then_some(&sc.chains.ip_field);
            self.walk_node(value, &path, m, Kind::Data, extra);
        }
    }

    fn walk_sdk(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let sc = self.sc;
        if let Some(ip) = value.get_mut("client_ip") {
            let path = path.name("client_ip");
            let m = meta_child(meta, Seg::Name("client_ip"));
            self.walk_node(ip, &path, m, Kind::Data, Some(&sc.chains.ip_field));
        }
    }

    fn walk_contexts(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let Value::Object(contexts) = value else { return };
        for (name, context) in contexts.iter_mut() {
            let path = path.key(name);
            let m = meta_child(meta, Seg::Key(name));
            let ty = match context.get("type").and_then(Value::as_str) {
                Some(ty) => ty.to_ascii_lowercase(),
                None => name.to_ascii_lowercase(),
            };
            match ty.as_str() {
                "trace" => self.walk_fields(context, &path, m, &[("data", Kind::Data)]),
                "response" => self.walk_fields(
                    context,
                    &path,
                    m,
                    &[
                        ("data", Kind::Data),
                        ("headers", Kind::Headers),
                        ("cookies", Kind::Cookies),
                    ],
                ),
                t if is_structured_context(t) => {}
                _ => self.walk_node(context, &path, m, Kind::CustomContext, None),
            }
        }
    }

    fn walk_exceptions(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        self.each_value(value, path, meta, |w, exc, path, m| {
            let Value::Object(exc) = exc else { return };
            for (key, value) in exc.iter_mut() {
                let path = path.key(key);
                let m = meta_child(m, Seg::Key(key));
                match key.as_str() {
                    "value" => {
                        let sc = w.sc;
                        w.special(value, &path, m, &sc.chains.exception_value)
                    }
                    "stacktrace" | "raw_stacktrace" => w.walk_stacktrace(value, &path, m),
                    "mechanism" => w.walk_fields(value, &path, m, &[("data", Kind::Data)]),
                    _ => {}
                }
            }
        });
    }

    fn walk_threads(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        self.each_value(value, path, meta, |w, thread, path, m| {
            let Value::Object(thread) = thread else { return };
            for (key, value) in thread.iter_mut() {
                if key == "stacktrace" || key == "raw_stacktrace" {
                    let path = path.key(key);
                    w.walk_stacktrace(value, &path, meta_child(m, Seg::Key(key)));
                }
            }
        });
    }

    fn walk_stacktrace(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let Some(Value::Array(frames)) = value.get_mut("frames") else {
            return;
        };
        let path = path.name("frames");
        let meta = meta_child(meta, Seg::Name("frames"));
        for (i, frame) in frames.iter_mut().enumerate() {
            let path = path.index(i);
            let m = meta_child(meta, Seg::Index(i));
            self.walk_fields(frame, &path, m, &[("vars", Kind::Data)]);
        }
    }

    fn walk_breadcrumbs(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        self.each_value(value, path, meta, |w, crumb, path, m| {
            w.walk_fields(crumb, path, m, &[("message", Kind::Data), ("data", Kind::Data)]);
        });
    }

    fn walk_logentry(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        self.walk_fields(value, path, meta, &[("params", Kind::Data)]);
        let sc = self.sc;
        if let Some(formatted) = value.get_mut("formatted") {
            let path = path.name("formatted");
            let m = meta_child(meta, Seg::Name("formatted"));
            self.special(formatted, &path, m, &sc.chains.message);
        }
    }

    /// Normalisation errors keep the rejected value; it is walked under the key of
    /// the field it was rejected from.
    fn walk_errors(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let Value::Array(errors) = value else { return };
        for (i, error) in errors.iter_mut().enumerate() {
            let Value::Object(error) = error else { continue };
            let key = match error.get("name").and_then(Value::as_str) {
                Some(name) => Str::from(name.rsplit('.').next().unwrap_or(name).to_owned()),
                None => Str::from("value"),
            };
            if let Some(rejected) = error.get_mut("value") {
                let item = path.index(i);
                let p = item.child(Some(Seg::Name("value")), Some(Seg::Key(&key)));
                let m = meta_child(meta_child(meta, Seg::Index(i)), Seg::Name("value"));
                self.walk_node(rejected, &p, m, Kind::Data, None);
            }
        }
    }

    /// `{"values": [...]}` (or a bare list): calls `f` for each item.
    fn each_value(
        &mut self,
        value: &mut Value<'t>,
        path: &Path<'_, 't>,
        meta: Option<&'m Value<'t>>,
        mut f: impl FnMut(&mut Self, &mut Value<'t>, &Path<'_, 't>, Option<&'m Value<'t>>),
    ) {
        let (items, path, meta) = match value {
            Value::Object(obj) => match obj.get_mut("values") {
                Some(Value::Array(items)) => (items, path.name("values"), meta_child(meta, Seg::Name("values"))),
                _ => return,
            },
            Value::Array(items) => (items, *path, meta),
            _ => return,
        };
        for (i, item) in items.iter_mut().enumerate() {
            let path = path.index(i);
            f(self, item, &path, meta_child(meta, Seg::Index(i)));
        }
    }

    /// Walks the named fields of an object, each with its kind.
    fn walk_fields(
        &mut self,
        value: &mut Value<'t>,
        path: &Path<'_, 't>,
        meta: Option<&'m Value<'t>>,
        fields: &[(&str, Kind)],
    ) {
        let Value::Object(obj) = value else { return };
        for (key, value) in obj.iter_mut() {
            if let Some((_, kind)) = fields.iter().find(|(name, _)| name == key) {
                let path = path.key(key);
                self.walk_node(value, &path, meta_child(meta, Seg::Key(key)), *kind, None);
            }
        }
    }

    /// A field with its own chain (message, exception value, URL): no recursion.
    fn special(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, meta: Option<&'m Value<'t>>, chain: &'r Chain) {
        if chain.is_empty() || self.is_safe(path) {
            return;
        }
        self.apply(value, path, meta, &[chain], true);
    }

    /// A walked field: the walked chain (unless safe) plus `extra` (which applies even
    /// to safe fields, §9), then the children.
    fn walk_node(
        &mut self,
        value: &mut Value<'t>,
        path: &Path<'_, 't>,
        meta: Option<&'m Value<'t>>,
        kind: Kind,
        extra: Option<&'r Chain>,
    ) {
        let sc = self.sc;
        let walked = &sc.chains.walked;
        let safe = self.is_safe(path);
        let mut chains: [&'r Chain; 2] = [walked, walked];
        let mut n = 0;
        if !safe && !walked.is_empty() {
            n += 1;
        }
        if let Some(extra) = extra.filter(|c| !c.is_empty()) {
            chains[n] = extra;
            n += 1;
        }
        if n > 0 && self.apply(value, path, meta, &chains[..n], true) {
            return;
        }
        if walked.is_empty() || !matches!(value, Value::Array(_) | Value::Object(_)) {
            return;
        }
        if path.depth >= MAX_DEPTH {
            self.remove(value, path, "@maxdepth:remove");
            return;
        }
        match (kind, value) {
            (Kind::Headers | Kind::Cookies | Kind::Query | Kind::Tags, Value::Array(items)) => {
                self.walk_pairs(items, path, meta, kind)
            }
            (Kind::Tags, Value::Object(tags)) => {
                for (key, value) in tags.iter_mut() {
                    let path = path.key(key);
                    let m = meta_child(meta, Seg::Key(key));
                    self.special(value, &path, m, &sc.chains.tag_value);
                }
            }
            (_, Value::Array(items)) => self.walk_array(items, path, meta),
            (_, Value::Object(obj)) => {
                for (key, value) in obj.iter_mut() {
                    if kind == Kind::CustomContext && key == "type" {
                        continue;
                    }
                    let path = path.key(key);
                    let m = meta_child(meta, Seg::Key(key));
                    if kind == Kind::Headers && key.eq_ignore_ascii_case("user-agent") {
                        continue;
                    }
                    let extra = if kind == Kind::Env && key.eq_ignore_ascii_case("REMOTE_ADDR") {
                        Some(&sc.chains.ip_field)
                    } else if kind == Kind::Cookies && rules::is_session_cookie(key) && !self.is_safe(&path) {
                        Some(&sc.chains.session_cookie)
                    } else {
                        None
                    };
                    self.walk_node(value, &path, m, Kind::Data, extra);
                }
            }
            _ => {}
        }
    }

    /// Canonical `[name, value]` lists: the value is scrubbed under the name.
    fn walk_pairs(&mut self, items: &mut [Value<'t>], path: &Path<'_, 't>, meta: Option<&'m Value<'t>>, kind: Kind) {
        let sc = self.sc;
        for (i, item) in items.iter_mut().enumerate() {
            let item_meta = meta_child(meta, Seg::Index(i));
            let Value::Array(pair) = item else {
                let path = path.index(i);
                self.walk_node(item, &path, item_meta, Kind::Data, None);
                continue;
            };
            let [Value::String(name), value] = pair.as_mut_slice() else {
                let path = path.index(i);
                self.walk_array(pair, &path, item_meta);
                continue;
            };
            let entry = path.child(Some(Seg::Index(i)), None);
            let at = entry.child(Some(Seg::Index(1)), Some(Seg::Key(name)));
            let m = meta_child(item_meta, Seg::Index(1));
            match kind {
                Kind::Headers if name.eq_ignore_ascii_case("user-agent") => {}
                Kind::Tags => self.special(value, &at, m, &sc.chains.tag_value),
                Kind::Cookies if rules::is_session_cookie(name) && !self.is_safe(&at) => {
                    let extra = &sc.chains.session_cookie;
                    self.walk_node(value, &at, m, Kind::Data, Some(extra));
                }
                _ => self.walk_node(value, &at, m, Kind::Data, None),
            }
        }
    }

    /// Plain data arrays. A two-element array whose first element is a string is
    /// first tried as a `[key, value]` pair (§4, §10); if that changes nothing, the
    /// elements are scanned on their own.
    fn walk_array(&mut self, items: &mut [Value<'t>], path: &Path<'_, 't>, meta: Option<&'m Value<'t>>) {
        let sc = self.sc;
        if let [Value::String(name), value] = items {
            let before = self.changes;
            {
                let at = path.child(Some(Seg::Index(1)), Some(Seg::Key(name)));
                self.walk_node(value, &at, meta_child(meta, Seg::Index(1)), Kind::Data, None);
            }
            // On a second run the value is already filtered: its annotation says so.
            let scrubbed_before = meta_child(meta_child(meta, Seg::Index(1)), Seg::Name(""))
                .and_then(|a| a.get("rem"))
                .and_then(Value::as_array)
                .is_some_and(|rem| !rem.is_empty());
            if self.changes > before || scrubbed_before {
                // The name element still gets the value patterns (a card number or a
                // token in it must not survive); words only when it is not a plain key.
                let value_words = !looks_like_key(name);
                let at = path.index(0);
                let mut element = Value::String(std::mem::take(name));
                self.apply(
                    &mut element,
                    &at,
                    meta_child(meta, Seg::Index(0)),
                    &[&sc.chains.walked],
                    value_words,
                );
                if let Value::String(s) = element {
                    *name = s;
                }
                return;
            }
        }
        for (i, item) in items.iter_mut().enumerate() {
            let path = path.index(i);
            self.walk_node(item, &path, meta_child(meta, Seg::Index(i)), Kind::Data, None);
        }
    }

    fn is_safe(&self, path: &Path<'_, 't>) -> bool {
        self.sc.safe_fields.iter().any(|s| path.matches_safe(s))
    }

    /// Applies the chains to this value; true if the value was removed.
    fn apply(
        &mut self,
        value: &mut Value<'t>,
        path: &Path<'_, 't>,
        meta: Option<&'m Value<'t>>,
        chains: &[&'r Chain],
        value_words: bool,
    ) -> bool {
        let ctx = Context {
            key: path.rule_key(),
            value_words,
        };
        let Value::String(text) = value else {
            if let Some(rule) = chunks::scrub_other(chains, ctx, value) {
                self.remove(value, path, rule);
                return true;
            }
            return false;
        };
        if matches!(text.as_str(), "" | "true" | "false" | "null" | "undefined") {
            return false;
        }
        let seeds = seeds_from_meta(meta, text);
        match chunks::scrub_str(chains, ctx, text, seeds) {
            Outcome::Unchanged => false,
            Outcome::Changed(chunked) => {
                let len = text.chars().count();
                let (new, remarks) = chunked.render();
                *text = Str::from(new);
                self.note(path, remarks, Some(len), true);
                false
            }
            Outcome::Removed { rule, prior } => {
                let (mut remarks, len) = match prior {
                    Some(chunked) => (chunked.render().1, Some(text.chars().count())),
                    None => (Vec::new(), None),
                };
                remarks.push(Remark {
                    rule: Cow::Borrowed(rule),
                    range: None,
                    fresh: true,
                });
                *value = Value::Null;
                self.note(path, remarks, len, len.is_some());
                true
            }
        }
    }

    fn remove(&mut self, value: &mut Value<'t>, path: &Path<'_, 't>, rule: &'r str) {
        *value = Value::Null;
        let remark = Remark {
            rule: Cow::Borrowed(rule),
            range: None,
            fresh: true,
        };
        self.note(path, vec![remark], None, false);
    }

    fn note(&mut self, path: &Path<'_, 't>, remarks: Vec<Remark<'r>>, len: Option<usize>, rerendered: bool) {
        for remark in remarks.iter().filter(|r| r.fresh) {
            if remark.range.is_some() {
                self.summary.filtered += 1;
            } else {
                self.summary.removed += 1;
            }
            *self.summary.rules.entry(remark.rule.to_string()).or_insert(0) += 1;
        }
        self.changes += 1;
        let cost = path.meta_len() + NOTE_COST * (1 + remarks.len());
        if self.note_bytes + cost > MAX_NOTE_BYTES {
            return;
        }
        self.note_bytes += cost;
        self.notes.push(Note {
            path: path.meta_path(),
            remarks,
            len,
            rerendered,
        });
    }
}

/// A pair name that is just an identifier (`password`, `X-Api-Key`), not free text.
fn looks_like_key(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn meta_child<'m, 't>(meta: Option<&'m Value<'t>>, seg: Seg<'_, '_>) -> Option<&'m Value<'t>> {
    let obj = meta?.as_object()?;
    match seg {
        Seg::Key(k) => obj.get(k),
        Seg::Name(n) => obj.get(n),
        Seg::Index(i) => obj.get(&i.to_string()),
    }
}

/// The substitutions already recorded for this string in the incoming `_meta`.
fn seeds_from_meta<'r>(meta: Option<&Value<'_>>, text: &str) -> Option<Chunked<'r>> {
    let rem = meta?.get("")?.get("rem")?.as_array()?;
    let ranges: Vec<(Cow<'r, str>, usize, usize)> = rem
        .iter()
        .filter_map(|r| match r.as_array()?.as_slice() {
            [Value::String(rule), _, Value::Number(start), Value::Number(end)] => Some((
                Cow::Owned(rule.to_string()),
                usize::try_from(start.as_u64()?).ok()?,
                usize::try_from(end.as_u64()?).ok()?,
            )),
            _ => None,
        })
        .collect();
    if ranges.is_empty() {
        return None;
    }
    Chunked::from_remarks(text, &ranges)
}

fn is_exempt_top_level(key: &str) -> bool {
    matches!(
        key,
        "event_id"
            | "level"
            | "version"
            | "type"
            | "fingerprint"
            | "culprit"
            | "transaction"
            | "transaction_info"
            | "time_spent"
            | "logger"
            | "modules"
            | "platform"
            | "timestamp"
            | "start_timestamp"
            | "received"
            | "release"
            | "dist"
            | "environment"
            | "debug_meta"
            | "key_id"
            | "project"
            | "grouping_config"
            | "measurements"
            | "breakdowns"
            | "spans"
            | "_metrics"
            | "_dsc"
            | "_meta"
            | "scraping_attempts"
            | "ingest_path"
    )
}

/// Context types with a fixed schema; their fields are never scrubbed (§4).
fn is_structured_context(ty: &str) -> bool {
    matches!(
        ty,
        "os" | "browser"
            | "device"
            | "app"
            | "runtime"
            | "gpu"
            | "culture"
            | "cloud_resource"
            | "otel"
            | "profile"
            | "replay"
            | "monitor"
            | "state"
            | "flags"
            | "reprocessing"
            | "spring"
            | "nel"
            | "user_report_v2"
            | "performance_score"
            | "chromium_stability_report"
            | "ota_updates"
            | "client_os"
            | "client_sdk"
    )
}
