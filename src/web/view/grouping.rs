//! Why an event is in its issue, from the grouping information the API computes
//! (`api::grouping::grouping_info`): each variant with what it hashed and whether it
//! decided the issue.

use serde_json::Value;

use super::meta::{cut, text_of};

/// Most tokens listed per variant.
const MAX_TOKENS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantView {
    pub name: String,
    pub description: String,
    pub contributes: bool,
    /// This variant's hash is the event's primary hash: it chose the issue.
    pub primary: bool,
    pub hash: String,
    pub hint: String,
    /// The hash belongs to an issue other than this one now (merged or split since).
    pub elsewhere: Option<String>,
    pub tokens: Vec<String>,
}

/// The variants of a grouping-info object, the deciding one first, then the other
/// contributing ones, then the rest by name.
pub fn variants(info: &Value, issue_id: i64) -> Vec<VariantView> {
    let Some(map) = info.as_object() else {
        return Vec::new();
    };
    let mut out: Vec<VariantView> = map
        .iter()
        .map(|(name, v)| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let owner = v.get("issueId").and_then(Value::as_str).map(str::to_owned);
            VariantView {
                name: name.clone(),
                description: s("description"),
                contributes: v.get("contributes").and_then(Value::as_bool).unwrap_or(false),
                primary: v.get("isPrimary").and_then(Value::as_bool).unwrap_or(false),
                hash: s("hash"),
                hint: s("hint"),
                elsewhere: owner.filter(|o| *o != issue_id.to_string()),
                tokens: v
                    .pointer("/component/values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .take(MAX_TOKENS)
                    .map(|t| cut(text_of(t), 300))
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.primary
            .cmp(&a.primary)
            .then(b.contributes.cmp(&a.contributes))
            .then(a.name.cmp(&b.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_deciding_variant_comes_first() {
        let info = json!({
            "app": {"description": "in-app exception stack-trace", "contributes": false,
                    "hash": null, "hint": "no in-app frames", "isPrimary": false,
                    "component": {"values": []}},
            "system": {"description": "exception stack-trace", "contributes": true,
                       "hash": "abc", "isPrimary": true, "issueId": "7",
                       "component": {"values": ["ZeroDivisionError", "divide"]}},
            "other": {"description": "x", "contributes": true, "hash": "def",
                      "isPrimary": false, "issueId": "9", "component": {"values": []}}
        });
        let v = variants(&info, 7);
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["system", "other", "app"]);
        assert_eq!(v[0].tokens, ["ZeroDivisionError", "divide"]);
        assert_eq!(v[0].elsewhere, None);
        assert_eq!(v[1].elsewhere.as_deref(), Some("9"));
        assert_eq!(v[2].hint, "no in-app frames");
    }
}
