//! `_meta` bookkeeping: writing the annotations of a scrub run in Relay's format, and
//! dropping original values (`val`) kept by normalisation that a rule would remove.

use super::Scrubber;
use super::chunks::Remark;
use super::walk::{MAX_DEPTH, Note};
use crate::event::json::{Map, Str, Value};

/// Merges the notes of one run into the `_meta` tree.
pub(super) fn apply_notes<'t>(tree: &mut Map<'t>, notes: Vec<Note<'_, 't>>) {
    for note in notes {
        let mut node = &mut *tree;
        for segment in note.path {
            node = object_entry(node, segment);
        }
        let annotation = object_entry(node, Str::from(""));
        let rem = annotation.entry("rem").or_insert_with(|| Value::Array(Vec::new()));
        if !rem.is_array() {
            *rem = Value::Array(Vec::new());
        }
        if let Value::Array(rem) = rem {
            if note.rerendered {
                // Ranges of older substitutions were re-derived from the chunks.
                rem.retain(|r| r.as_array().is_none_or(|a| a.len() < 4));
            }
            rem.extend(note.remarks.into_iter().map(remark_json));
        }
        if let Some(len) = note.len {
            annotation.entry("len").or_insert_with(|| Value::from(len));
        }
    }
}

/// A remark as `_meta` writes it; the rule id is copied (the event never borrows from the scrubber).
fn remark_json<'t>(remark: Remark<'_>) -> Value<'t> {
    let rule = Value::from(remark.rule.into_owned());
    match remark.range {
        Some((start, end)) => Value::from(vec![rule, "s".into(), start.into(), end.into()]),
        None => Value::from(vec![rule, "x".into()]),
    }
}

/// The object under `key`, created (or replacing a non-object) if needed.
fn object_entry<'m, 't>(map: &'m mut Map<'t>, key: Str<'t>) -> &'m mut Map<'t> {
    if !map.get(&key).is_some_and(Value::is_object) {
        map.insert(key.clone(), Value::Object(Map::new()));
    }
    match map.get_mut(&key) {
        Some(Value::Object(inner)) => inner,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// Runs every `val` kept in the incoming `_meta` through the rules of its field and
/// drops it if any rule would change it (spec §2 step 3, §11).
pub(super) fn scrub_original_values<'t>(sc: &Scrubber, tree: &mut Value<'t>, event: &Map<'t>) {
    let mut path = Vec::new();
    visit(sc, tree, &mut path, event);
}

fn visit<'t>(sc: &Scrubber, node: &mut Value<'t>, path: &mut Vec<Str<'t>>, event: &Map<'t>) {
    let Value::Object(obj) = node else { return };
    if path.len() > MAX_DEPTH {
        return;
    }
    if let Some(Value::Object(annotation)) = obj.get_mut("") {
        let drop = annotation
            .get("val")
            .is_some_and(|val| would_scrub(sc, val, path, event));
        if drop {
            annotation.remove("val");
        }
    }
    for (key, child) in obj.iter_mut() {
        if key.is_empty() {
            continue;
        }
        path.push(key.clone());
        visit(sc, child, path, event);
        path.pop();
    }
}

fn would_scrub<'t>(sc: &Scrubber, val: &Value<'t>, path: &[Str<'t>], event: &Map<'t>) -> bool {
    let key = rule_key(path, event);
    let ip_field = matches!(
        path.iter().map(Str::as_str).collect::<Vec<_>>().as_slice(),
        ["user", "ip_address"] | ["sdk", "client_ip"] | ["request", "env", "REMOTE_ADDR"]
    );
    let mut probe = val.clone();
    let mut walker = super::walk::Walker::new(sc, None);
    walker.probe(&mut probe, key.as_ref(), ip_field);
    walker.changes > 0
}

/// The key rules would see for the value at `path`: its object key, or for the value
/// of a `[name, value]` pair (meta path `…/<i>/1`) the pair's name.
fn rule_key<'t>(path: &[Str<'t>], event: &Map<'t>) -> Option<Str<'t>> {
    let last = path.last()?;
    if last.parse::<usize>().is_err() {
        return Some(last.clone());
    }
    if last != "1" {
        return None;
    }
    let parent = lookup(event, path.get(..path.len() - 1)?)?;
    match parent.as_array()?.as_slice() {
        [Value::String(name), _] => Some(name.clone()),
        _ => None,
    }
}

fn lookup<'e, 't>(event: &'e Map<'t>, path: &[Str<'_>]) -> Option<&'e Value<'t>> {
    let (first, rest) = path.split_first()?;
    let mut node = event.get(first)?;
    for segment in rest {
        node = match node {
            Value::Object(obj) => obj.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}
