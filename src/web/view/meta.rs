//! What the scrubber and normalizer recorded in an event's `_meta`, turned into words a
//! reader understands ("[Filtered: password rule]"). Only the annotation is ever shown:
//! an original value kept in `_meta` (`val`) is never read here.

use serde_json::Value;

/// One value of an event as a page shows it: its text, and what `_meta` says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub text: String,
    /// Why the value is not (all) there, e.g. "[Filtered: password rule]".
    pub note: Option<String>,
    /// The whole value was removed or replaced: `text` is the note itself.
    pub redacted: bool,
}

impl Field {
    pub fn plain(text: impl Into<String>) -> Field {
        Field {
            text: text.into(),
            note: None,
            redacted: false,
        }
    }
}

/// Longest text shown for one value; the rest is cut with an ellipsis.
const MAX_TEXT: usize = 2_000;

/// The `_meta` node that annotates the value at `path` (the object under the key `""`).
pub fn annotation<'a>(meta: Option<&'a Value>, path: &[&str]) -> Option<&'a Value> {
    let mut node = meta?;
    for key in path {
        node = match node {
            Value::Object(map) => map.get(*key)?,
            _ => return None,
        };
    }
    node.get("")
}

/// Shows `value` with the annotation `note` (from `annotation`).
pub fn field(value: Option<&Value>, note: Option<&Value>) -> Field {
    let text = value.map(text_of).unwrap_or_default();
    let Some(note) = note else {
        return Field::plain(text);
    };
    let rules = rule_names(note);
    let removed = note
        .get("rem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r.get(1).and_then(Value::as_str) == Some("x"));
    let errors = error_names(note);
    let missing = value.is_none_or(Value::is_null);
    let whole = missing || covers_whole(note, value);
    let label = |verb: &str, names: &[String]| {
        if names.is_empty() {
            format!("[{verb}]")
        } else {
            format!("[{verb}: {}]", names.join(", "))
        }
    };
    if !errors.is_empty() && missing {
        return redacted(label("Invalid", &errors));
    }
    if rules.is_empty() {
        return if errors.is_empty() {
            Field::plain(text)
        } else {
            Field {
                text,
                note: Some(label("Invalid", &errors)),
                redacted: false,
            }
        };
    }
    if removed && missing {
        return redacted(label("Removed", &rules));
    }
    if whole {
        return redacted(label("Filtered", &rules));
    }
    Field {
        text,
        note: Some(label("Partly filtered", &rules)),
        redacted: false,
    }
}

/// The value at `path` of `root` with its annotation from `meta`.
pub fn field_at(root: &Value, meta: Option<&Value>, path: &[&str]) -> Field {
    let mut value = Some(root);
    for key in path {
        value = value.and_then(|v| match v {
            Value::Object(map) => map.get(*key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        });
    }
    field(value, annotation(meta, path))
}

fn redacted(text: String) -> Field {
    Field {
        text,
        note: None,
        redacted: true,
    }
}

/// A value as text: strings as they are, anything else as compact JSON; cut when long.
pub fn text_of(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    cut(text, MAX_TEXT)
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn cut(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Whether the substitutions of `note` cover the whole current value (nothing of the
/// original is left beside the replacement).
fn covers_whole(note: &Value, value: Option<&Value>) -> bool {
    let Some(Value::String(current)) = value else {
        // A number, object or list that was replaced whole by a rule.
        return note.get("rem").is_some();
    };
    let len = current.chars().count() as u64;
    note.get("rem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| {
            let start = r.get(2).and_then(Value::as_u64);
            let end = r.get(3).and_then(Value::as_u64);
            matches!((start, end), (Some(0), Some(e)) if e >= len)
        })
}

/// Readable names of the rules in `rem` ("password rule", "size limit"), deduplicated.
fn rule_names(note: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for rem in note.get("rem").and_then(Value::as_array).into_iter().flatten() {
        let Some(id) = rem.get(0).and_then(Value::as_str) else {
            continue;
        };
        let name = rule_name(id);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `@password:filter` → "password rule", `custom:iban` → "iban rule", `!limit` → "size limit".
pub fn rule_name(id: &str) -> String {
    if let Some(special) = id.strip_prefix('!') {
        return match special {
            "limit" => "size limit".to_owned(),
            other => format!("{other} limit"),
        };
    }
    let id = id.strip_prefix('@').unwrap_or(id);
    let id = id.strip_prefix("custom:").unwrap_or(id);
    let base = id.split(':').next().unwrap_or(id);
    format!("{base} rule")
}

fn error_names(note: &Value) -> Vec<String> {
    note.get("err")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| match e {
            Value::String(s) => Some(s.replace('_', " ")),
            Value::Array(parts) => parts.first().and_then(Value::as_str).map(|s| s.replace('_', " ")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> Value {
        json!({
            "extra": {
                "password": {"": {"rem": [["@password:filter", "s", 0, 10]], "len": 6}},
                "note": {"": {"rem": [["@password:filter", "s", 9, 19]], "len": 14}},
                "card": {"": {"rem": [["@creditcard:filter", "x"]], "len": 16}},
                "size": {"": {"err": ["invalid_data"], "val": "secret-original"}},
                "cut": {"": {"rem": [["!limit", "x"]]}}
            }
        })
    }

    #[test]
    fn a_wholly_filtered_value_is_named_by_its_rule() {
        let event = json!({"extra": {"password": "[Filtered]"}});
        let f = field_at(&event, Some(&meta()), &["extra", "password"]);
        assert_eq!(f.text, "[Filtered: password rule]");
        assert!(f.redacted);
    }

    #[test]
    fn a_partly_filtered_value_keeps_its_text_and_a_note() {
        let event = json!({"extra": {"note": "password=[Filtered] rest"}});
        let f = field_at(&event, Some(&meta()), &["extra", "note"]);
        assert_eq!(f.text, "password=[Filtered] rest");
        assert_eq!(f.note.as_deref(), Some("[Partly filtered: password rule]"));
        assert!(!f.redacted);
    }

    #[test]
    fn a_removed_value_says_it_was_removed() {
        let event = json!({"extra": {}});
        let f = field_at(&event, Some(&meta()), &["extra", "card"]);
        assert_eq!(f.text, "[Removed: creditcard rule]");
        let f = field_at(&event, Some(&meta()), &["extra", "cut"]);
        assert_eq!(f.text, "[Removed: size limit]");
    }

    #[test]
    fn the_original_value_kept_in_meta_is_never_shown() {
        let event = json!({"extra": {"size": null}});
        let f = field_at(&event, Some(&meta()), &["extra", "size"]);
        assert_eq!(f.text, "[Invalid: invalid data]");
        assert!(!format!("{f:?}").contains("secret-original"));
    }

    #[test]
    fn values_without_meta_are_plain_and_cut_when_long() {
        let event = json!({"extra": {"n": 5, "long": "x".repeat(5000)}});
        assert_eq!(field_at(&event, None, &["extra", "n"]), Field::plain("5"));
        let long = field_at(&event, Some(&meta()), &["extra", "long"]);
        assert_eq!(long.text.chars().count(), MAX_TEXT + 1);
        assert!(long.text.ends_with('…'));
    }

    #[test]
    fn rule_ids_read_as_words() {
        assert_eq!(rule_name("@password:filter"), "password rule");
        assert_eq!(rule_name("@ip:replace"), "ip rule");
        assert_eq!(rule_name("custom:iban"), "iban rule");
        assert_eq!(rule_name("!limit"), "size limit");
    }
}
