//! The parts of an event beside its exception chain, as tables a page shows: message,
//! tags, breadcrumbs, request, user, contexts, SDK and extra data. Every value goes
//! through `meta::field`, so what the scrubber removed reads as such.

use serde_json::Value;

use super::meta::{Field, cut, field, field_at, text_of};
use super::time::clock;

/// Most breadcrumbs shown (the newest).
const MAX_BREADCRUMBS: usize = 100;
/// Most rows of any one key/value table.
const MAX_ROWS: usize = 100;

#[derive(Debug, Clone)]
pub struct Breadcrumb {
    pub time: String,
    pub category: String,
    pub level: String,
    pub message: Field,
    /// The breadcrumb's data, one `key: value` per entry.
    pub data: Vec<(String, Field)>,
}

#[derive(Debug, Clone)]
pub struct RequestView {
    pub method: String,
    pub url: Field,
    pub query: Vec<(String, Field)>,
    pub headers: Vec<(String, Field)>,
    pub cookies: Vec<(String, Field)>,
    pub data: Vec<(String, Field)>,
    pub env: Vec<(String, Field)>,
}

/// A titled key/value table (a context, the user, extra data).
#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub rows: Vec<(String, Field)>,
}

/// Everything of an event below its exceptions.
#[derive(Debug, Clone)]
pub struct Details {
    pub message: Option<Field>,
    pub tags: Vec<(String, String)>,
    pub breadcrumbs: Vec<Breadcrumb>,
    pub breadcrumbs_omitted: usize,
    pub request: Option<RequestView>,
    pub user: Option<Table>,
    pub contexts: Vec<Table>,
    pub sdk: Option<String>,
    pub extra: Option<Table>,
}

pub fn details(event: &Value) -> Details {
    let meta = event.get("_meta");
    let message = ["formatted", "message"]
        .iter()
        .find(|k| event.pointer(&format!("/logentry/{k}")).is_some_and(|v| !v.is_null()))
        .map(|k| field_at(event, meta, &["logentry", k]));
    let (breadcrumbs, breadcrumbs_omitted) = breadcrumbs(event, meta);
    Details {
        message,
        tags: tags(event),
        breadcrumbs,
        breadcrumbs_omitted,
        request: request(event, meta),
        user: object_table(event, meta, "user", "User"),
        contexts: contexts(event, meta),
        sdk: sdk(event),
        extra: object_table(event, meta, "extra", "Additional data"),
    }
}

/// The event's tags as `[key, value]` pairs, sorted by key.
fn tags(event: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = event
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(k), v]) => Some((k.clone(), text_of(v))),
            _ => None,
        })
        .take(MAX_ROWS)
        .collect();
    out.sort();
    out
}

fn breadcrumbs(event: &Value, meta: Option<&Value>) -> (Vec<Breadcrumb>, usize) {
    let values = event
        .pointer("/breadcrumbs/values")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let skip = values.len().saturating_sub(MAX_BREADCRUMBS);
    let crumbs = values
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, crumb)| {
            let i = i.to_string();
            let s = |k: &str| crumb.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let time = crumb
                .get("timestamp")
                .and_then(Value::as_f64)
                .map(|secs| clock((secs * 1_000_000.0) as i64))
                .unwrap_or_default();
            let category = match s("category") {
                c if c.is_empty() => s("type"),
                c => c,
            };
            let data_path = ["breadcrumbs", "values", i.as_str(), "data"];
            Breadcrumb {
                time,
                category,
                level: s("level"),
                message: field_at(event, meta, &["breadcrumbs", "values", &i, "message"]),
                data: rows(crumb.get("data"), subtree(meta, &data_path)),
            }
        })
        .collect();
    (crumbs, skip)
}

fn request(event: &Value, meta: Option<&Value>) -> Option<RequestView> {
    let request = event.get("request").filter(|r| r.is_object())?;
    let part = |k: &str| rows(request.get(k), subtree(meta, &["request", k]));
    Some(RequestView {
        method: request.get("method").and_then(Value::as_str).unwrap_or("").to_owned(),
        url: field_at(event, meta, &["request", "url"]),
        query: part("query_string"),
        headers: part("headers"),
        cookies: part("cookies"),
        data: match request.get("data") {
            Some(Value::Object(_)) | Some(Value::Array(_)) => part("data"),
            Some(v) if !v.is_null() => vec![(
                "body".to_owned(),
                field(Some(v), super::meta::annotation(meta, &["request", "data"])),
            )],
            _ => {
                let note = super::meta::annotation(meta, &["request", "data"]);
                note.map(|n| vec![("body".to_owned(), field(None, Some(n)))])
                    .unwrap_or_default()
            }
        },
        env: part("env"),
    })
}

fn object_table(event: &Value, meta: Option<&Value>, key: &str, title: &str) -> Option<Table> {
    let value = event
        .get(key)
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))?;
    Some(Table {
        title: title.to_owned(),
        rows: rows(Some(value), subtree(meta, &[key])),
    })
}

fn contexts(event: &Value, meta: Option<&Value>) -> Vec<Table> {
    let Some(contexts) = event.get("contexts").and_then(Value::as_object) else {
        return Vec::new();
    };
    contexts
        .iter()
        .take(MAX_ROWS)
        .filter(|(_, v)| v.is_object())
        .map(|(name, value)| {
            let rows = rows(Some(value), subtree(meta, &["contexts", name]))
                .into_iter()
                .filter(|(k, _)| k != "type")
                .collect();
            Table {
                title: name.clone(),
                rows,
            }
        })
        .collect()
}

fn sdk(event: &Value) -> Option<String> {
    let sdk = event.get("sdk")?;
    let name = sdk.get("name").and_then(Value::as_str)?;
    Some(match sdk.get("version").and_then(Value::as_str) {
        Some(version) => format!("{name} {version}"),
        None => name.to_owned(),
    })
}

/// The `_meta` subtree at `path`.
fn subtree<'a>(meta: Option<&'a Value>, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(meta?, |node, key| node.get(*key))
}

/// Rows of an object (`{k: v}`) or of canonical pairs (`[[k, v]]`), each value with its
/// annotation from `meta` (the subtree of the same container).
fn rows(container: Option<&Value>, meta: Option<&Value>) -> Vec<(String, Field)> {
    let note = |path: &[&str]| super::meta::annotation(meta, path);
    match container {
        Some(Value::Object(map)) => map
            .iter()
            .take(MAX_ROWS)
            .map(|(k, v)| (cut(k.clone(), 200), field(Some(v), note(&[k]))))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .take(MAX_ROWS)
            .filter_map(|(i, item)| {
                let pair = item.as_array()?;
                let key = pair.first().map(text_of)?;
                let i = i.to_string();
                Some((cut(key, 200), field(pair.get(1), note(&[&i, "1"]))))
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "logentry": {"formatted": "checkout failed"},
            "tags": [["server", "web-1"], ["browser", "Firefox"]],
            "breadcrumbs": {"values": [
                {"timestamp": 1704164640.0, "category": "auth", "level": "info",
                 "message": "password=[Filtered]", "data": {"token": "[Filtered]", "n": 1}}
            ]},
            "request": {
                "method": "POST", "url": "https://shop.example/pay",
                "headers": [["Authorization", "[Filtered]"], ["Accept", "*/*"]],
                "data": {"card": "[Filtered]"}
            },
            "user": {"id": "u1", "email": "a@example.com"},
            "contexts": {"os": {"type": "os", "name": "Linux"}},
            "sdk": {"name": "sentry.python", "version": "2.0.0"},
            "_meta": {
                "breadcrumbs": {"values": {"0": {
                    "message": {"": {"rem": [["@password:filter", "s", 9, 19]], "len": 14}},
                    "data": {"token": {"": {"rem": [["@password:filter", "s", 0, 10]], "len": 5}}}
                }}},
                "request": {
                    "headers": {"0": {"1": {"": {"rem": [["@password:filter", "s", 0, 10]], "len": 9}}}},
                    "data": {"card": {"": {"rem": [["@creditcard:filter", "s", 0, 10]], "len": 16}}}
                }
            }
        })
    }

    #[test]
    fn breadcrumbs_carry_their_annotations() {
        let d = details(&event());
        let crumb = &d.breadcrumbs[0];
        assert_eq!(crumb.category, "auth");
        assert_eq!(crumb.time, "03:04:00");
        assert_eq!(crumb.message.note.as_deref(), Some("[Partly filtered: password rule]"));
        let token = crumb
            .data
            .iter()
            .find(|(k, _)| k == "token")
            .map(|(_, f)| f.text.as_str());
        assert_eq!(token, Some("[Filtered: password rule]"));
    }

    #[test]
    fn request_pairs_and_body_name_their_rules() {
        let d = details(&event());
        let request = d.request.expect("the event has a request");
        assert_eq!(request.method, "POST");
        assert_eq!(request.headers[0].1.text, "[Filtered: password rule]");
        assert_eq!(request.headers[1].1.text, "*/*");
        assert_eq!(request.data[0].1.text, "[Filtered: creditcard rule]");
    }

    #[test]
    fn message_tags_user_contexts_and_sdk() {
        let d = details(&event());
        assert_eq!(d.message.map(|m| m.text).as_deref(), Some("checkout failed"));
        assert_eq!(d.tags[0], ("browser".to_owned(), "Firefox".to_owned()));
        assert_eq!(d.user.map(|u| u.rows.len()), Some(2));
        assert_eq!(d.contexts[0].title, "os");
        assert_eq!(d.contexts[0].rows.len(), 1);
        assert_eq!(d.sdk.as_deref(), Some("sentry.python 2.0.0"));
        assert!(d.extra.is_none());
    }
}
