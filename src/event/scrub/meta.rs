//! `_meta` bookkeeping: writing the annotations of a scrub run in Relay's format, and
//! dropping original values (`val`) kept by normalisation that a rule would remove.

use super::Scrubber;
use super::chunks::Remark;
use super::walk::{MAX_DEPTH, Note};
use serde_json::{Map, Value};

/// Merges the notes of one run into the `_meta` tree.
pub(super) fn apply_notes(tree: &mut Map<String, Value>, notes: Vec<Note<'_>>) {
    for note in notes {
        let mut node = &mut *tree;
        for segment in &note.path {
            node = object_entry(node, segment);
        }
        let annotation = object_entry(node, "");
        let rem = annotation.entry("rem").or_insert_with(|| Value::Array(Vec::new()));
        if !rem.is_array() {
            *rem = Value::Array(Vec::new());
        }
        if let Value::Array(rem) = rem {
            if note.rerendered {
                // Ranges of older substitutions were re-derived from the chunks.
                rem.retain(|r| r.as_array().is_none_or(|a| a.len() < 4));
            }
            rem.extend(note.remarks.iter().map(remark_json));
        }
        if let Some(len) = note.len {
            annotation.entry("len").or_insert_with(|| Value::from(len));
        }
    }
}

fn remark_json(remark: &Remark<'_>) -> Value {
    match remark.range {
        Some((start, end)) => Value::from(vec![
            Value::from(remark.rule.as_ref()),
            "s".into(),
            start.into(),
            end.into(),
        ]),
        None => Value::from(vec![Value::from(remark.rule.as_ref()), "x".into()]),
    }
}

/// The object under `key`, created (or replacing a non-object) if needed.
fn object_entry<'t>(map: &'t mut Map<String, Value>, key: &str) -> &'t mut Map<String, Value> {
    let slot = map.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(inner) => inner,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// Runs every `val` kept in the incoming `_meta` through the rules of its field and
/// drops it if any rule would change it (spec §2 step 3, §11).
pub(super) fn scrub_original_values(sc: &Scrubber, tree: &mut Value, event: &Map<String, Value>) {
    let mut path = Vec::new();
    visit(sc, tree, &mut path, event);
}

fn visit(sc: &Scrubber, node: &mut Value, path: &mut Vec<String>, event: &Map<String, Value>) {
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

fn would_scrub(sc: &Scrubber, val: &Value, path: &[String], event: &Map<String, Value>) -> bool {
    let key = rule_key(path, event);
    let ip_field = matches!(
        path.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        ["user", "ip_address"] | ["sdk", "client_ip"] | ["request", "env", "REMOTE_ADDR"]
    );
    let mut probe = val.clone();
    let mut walker = super::walk::Walker::new(sc, None);
    walker.probe(&mut probe, key.as_deref(), ip_field);
    walker.changes > 0
}

/// The key rules would see for the value at `path`: its object key, or for the value
/// of a `[name, value]` pair (meta path `…/<i>/1`) the pair's name.
fn rule_key(path: &[String], event: &Map<String, Value>) -> Option<String> {
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

fn lookup<'e>(event: &'e Map<String, Value>, path: &[String]) -> Option<&'e Value> {
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
