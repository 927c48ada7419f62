//! Compact JSON text of a tree, the same bytes `serde_json::to_writer` writes.
//!
//! `serde_json` walks each string byte by byte through its escape table. Most strings
//! of an event (all those borrowed from the payload) need no escaping at all: one check
//! finds that out and the string is copied whole. Only a string that does need it goes
//! through `serde_json`'s escaper.

use super::{Map, Value};

/// Appends the compact JSON text of `value` to `out`.
pub fn to_writer(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_via_serde(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                to_writer(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(out, map),
    }
}

fn write_map(out: &mut Vec<u8>, map: &Map<'_>) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        to_writer(out, value);
    }
    out.push(b'}');
}

/// A JSON string: quoted as is when nothing in it needs escaping.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if needs_escape(bytes) {
        write_via_serde(out, text);
    } else {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    }
}

/// Whether any byte is one JSON escapes (`"`, `\` or a control character). No early
/// exit: a branch per byte costs more than reading the rest of a string that has one.
fn needs_escape(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(false, |found, &b| found | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

fn write_via_serde(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    // Numbers and strings always serialize, and writing to a vector cannot fail.
    let _ = serde_json::to_writer(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::json;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time check finds every byte JSON escapes, wherever it sits.
        #[test]
        fn finds_every_byte_to_escape(mut bytes in proptest::collection::vec(0x20u8..=0xff, 0..40), at in any::<usize>(), b in any::<u8>()) {
            bytes.retain(|&c| c != b'"' && c != b'\\');
            prop_assert!(!needs_escape(&bytes));
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            prop_assert_eq!(needs_escape(&bytes), bytes.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\'));
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let value = json!({
            "plain": "text", "quote": "a\"b", "slash": "a\\b", "control": "a\u{1}b\n\t",
            "unicode": "é😀\u{7f}", "numbers": [0, -1, 1.5, 1e300, u64::MAX, i64::MIN],
            "empty": {}, "none": [], "null": null, "bools": [true, false], "": "",
        });
        let mut ours = Vec::new();
        to_writer(&mut ours, &value);
        assert_eq!(
            String::from_utf8(ours).expect("UTF-8"),
            serde_json::to_string(&value).expect("serializes")
        );
    }
}
