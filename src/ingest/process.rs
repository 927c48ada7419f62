//! Turns one event payload into a record the store can commit: parse, normalize,
//! scrub, group, summarize, compress. CPU only, no I/O; runs outside the writer.

use std::sync::Arc;

use crate::event::json::{self, Value};

use crate::event::bounds::{self, BoundsError};
use crate::event::derive::{self, Derived};
use crate::event::group::{self, GroupingRules};
use crate::event::normalize::{self, NormalizeContext, NormalizeError};
use crate::event::scrub::{ScrubSummary, Scrubber};
use crate::ids::EventId;
use crate::store::{EventRecord, payload};
use crate::store::{NewAttachment, UserReport};

/// What processing needs to know about the project an event belongs to.
#[derive(Debug)]
pub struct ProjectContext {
    pub project_id: i64,
    pub scrubber: Scrubber,
    pub rules: GroupingRules,
    /// IP scrubbing is on: never infer a client IP for `{{auto}}`.
    pub scrub_ip: bool,
    /// Keep attachments that are not text (and so cannot be scrubbed); off by default.
    pub store_binary_attachments: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Normalize(#[from] NormalizeError),
    #[error("invalid event id {0:?}")]
    InvalidEventId(String),
    #[error(transparent)]
    TooLarge(#[from] BoundsError),
}

/// The event id an SDK sent: 32 hex digits, with no hyphens or the four of a UUID, any
/// case (no braces: those are the normalizer's leniency, not the wire's).
pub fn parse_event_id(raw: &str) -> Option<EventId> {
    let hyphens = raw.bytes().filter(|b| *b == b'-').count();
    if !matches!(hyphens, 0 | 4) || raw.contains(['{', '}']) {
        return None;
    }
    EventId::parse_lookup(raw)
}

pub fn new_event_id() -> EventId {
    EventId::new_random()
}

/// The processed event: its record for the store and what scrubbing removed.
pub struct Processed {
    pub record: EventRecord,
    pub scrubbed: ScrubSummary,
}

/// Processes one event payload. `event_id` (from the envelope header) wins over the payload's.
/// The stored JSON is at most `max_size` bytes (`limits.max_event_size`): a larger event
/// is trimmed (`event::bounds::fit_to_size`), and one that cannot be is refused.
pub fn process_event(
    payload: &[u8],
    event_id: Option<&str>,
    project: &ProjectContext,
    received_at: f64,
    client_ip: Option<&str>,
    max_size: usize,
) -> Result<Processed, ProcessError> {
    let event = prepare_event(payload, event_id, project, received_at, client_ip)?;
    finish_event(event, payload.len(), project, received_at, max_size)
}

/// The first half of `process_event`: parse and normalize. Ingest looks at the normalized
/// event for the source maps it needs before finishing it.
pub fn prepare_event<'a>(
    payload: &'a [u8],
    event_id: Option<&str>,
    project: &ProjectContext,
    received_at: f64,
    client_ip: Option<&str>,
) -> Result<Value<'a>, ProcessError> {
    let mut raw = normalize::parse_payload(payload)?;
    if let (Some(id), Some(obj)) = (event_id, raw.as_object_mut()) {
        obj.insert("event_id", Value::from(id.to_string()));
    }
    let ctx = NormalizeContext {
        project_id: project.project_id as u64,
        received_at,
        client_ip: client_ip.map(String::from),
        infer_ip: !project.scrub_ip,
    };
    let mut event = normalize::normalize(raw, &ctx)?;
    bounds::limit_depth(&mut event);
    Ok(event)
}

/// The second half of `process_event`, on a normalized event (with its source maps applied,
/// so scrubbing sees the original context lines and grouping the original frames): scrub,
/// group, summarize, fit to `max_size` and compress. `payload_len` sizes the output buffer.
pub fn finish_event(
    mut event: Value<'_>,
    payload_len: usize,
    project: &ProjectContext,
    received_at: f64,
    max_size: usize,
) -> Result<Processed, ProcessError> {
    let scrubbed = project.scrubber.scrub(&mut event);
    let hashes = group::group_hashes(&event, &project.rules);
    let summary = group::summarize(&event);

    let event_id = event
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(parse_event_id)
        .unwrap_or_else(new_event_id);
    let timestamp = event.get("timestamp").and_then(Value::as_f64).unwrap_or(received_at);
    let text = |key: &str| {
        event
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let (platform, level, release, environment) =
        (text("platform"), text("level"), text("release"), text("environment"));
    let Derived {
        user_key,
        tags,
        trace_id,
    } = derive::derive(&event);
    // Serialized before `metadata` moves into the event, so it is not cloned.
    let metadata = summary.metadata.to_string();

    if let Some(obj) = event.as_object_mut() {
        // Normalize already wrote the canonical id; replace it only if it differs.
        match obj.get_mut("event_id") {
            Some(Value::String(stored)) if stored == event_id.as_str() => {}
            _ => {
                obj.insert("event_id", Value::from(event_id.to_string()));
            }
        }
        obj.insert("title", Value::from(summary.title.clone()));
        obj.insert("culprit", Value::from(summary.culprit.clone()));
        obj.insert("metadata", summary.metadata);
        obj.insert("hashes", hashes.iter().cloned().collect());
        obj.insert("grouping_config", Value::from(group::GROUPING_CONFIG));
        if scrubbed.filtered + scrubbed.removed > 0 {
            let summary = serde_json::to_value(&scrubbed).unwrap_or(serde_json::Value::Null);
            obj.insert("scrubbed", Value::from(summary));
        }
    }
    // The stored form adds normalized fields, `_meta` and the summary to the payload;
    // sizing the buffer up front saves the copies of growing it by doubling from 128 bytes.
    let mut text = Vec::with_capacity(serialized_capacity(payload_len).min(max_size.saturating_add(1)));
    json::to_writer(&mut text, &event);
    if text.len() > max_size {
        bounds::fit_to_size(&mut event, max_size)?;
        text.clear();
        json::to_writer(&mut text, &event);
    }
    let size = text.len();
    let payload = payload::compress(&text).map_err(|e| NormalizeError::InvalidJson(e.to_string()))?;

    let record = EventRecord {
        project_id: project.project_id,
        event_id,
        hashes,
        grouping_config: group::GROUPING_CONFIG,
        title: summary.title,
        culprit: summary.culprit,
        location: summary.location,
        metadata,
        kind: summary.kind,
        platform: platform.unwrap_or_else(|| "other".into()),
        timestamp: (timestamp * 1_000_000.0) as i64,
        received: (received_at * 1_000_000.0) as i64,
        level: level.unwrap_or_else(|| "error".into()),
        release,
        environment,
        trace_id,
        user_key,
        tags,
        payload,
        size,
    };
    Ok(Processed { record, scrubbed })
}

/// An attachment as the envelope item carries it, before scrubbing.
pub struct RawAttachment<'a> {
    pub name: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub attachment_type: Option<&'a str>,
    pub data: &'a [u8],
}

/// Why an attachment is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentRefusal {
    /// Not text, so it cannot be scrubbed, and the project does not keep such files.
    Binary,
}

/// Prepares an attachment for storage: UTF-8 text is scrubbed with the project's free-text
/// rules (the value rules and `password=…` pairs, spec/scrubbing.md §10) whatever its declared type (a log sent as `application/octet-stream` is still
/// text); anything else is binary, kept as sent only where the project enables it.
pub fn prepare_attachment(
    project: &ProjectContext,
    raw: &RawAttachment<'_>,
) -> Result<NewAttachment, AttachmentRefusal> {
    let data = match std::str::from_utf8(raw.data) {
        Ok(text) => match project.scrubber.scrub_free_text(text) {
            std::borrow::Cow::Borrowed(_) => raw.data.to_vec(),
            std::borrow::Cow::Owned(scrubbed) => scrubbed.into_bytes(),
        },
        Err(_) if project.store_binary_attachments => raw.data.to_vec(),
        Err(_) => return Err(AttachmentRefusal::Binary),
    };
    let text_field = |s: Option<&str>, default: &str| {
        s.filter(|s| !s.is_empty())
            .unwrap_or(default)
            .chars()
            .take(256)
            .collect()
    };
    Ok(NewAttachment {
        name: text_field(raw.name, "attachment"),
        content_type: raw.content_type.map(|c| c.chars().take(256).collect()),
        attachment_type: text_field(raw.attachment_type, "event.attachment"),
        data,
    })
}

/// A user report with its name, e-mail and comments passed through the project's
/// free-text rules, so neither the report row nor the event's `user_report` keeps a secret.
pub fn scrub_user_report(project: &ProjectContext, report: UserReport) -> UserReport {
    let scrub = |text: String| match project.scrubber.scrub_free_text(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(scrubbed) => scrubbed,
    };
    UserReport {
        event_id: report.event_id,
        name: scrub(report.name),
        email: scrub(report.email),
        comments: scrub(report.comments),
    }
}

/// A first guess of the stored JSON's size for a payload of `len` bytes.
fn serialized_capacity(len: usize) -> usize {
    len + len / 2 + 4096
}

/// Grouping hashes and timestamp (µs) of an event that will not be stored (rate limited),
/// from its normalized form (source maps applied): the same scrub and group steps as
/// `process_event`, without summary or compression.
pub fn group_prepared(mut event: Value<'_>, project: &ProjectContext, received_at: f64) -> (Vec<String>, i64) {
    project.scrubber.scrub(&mut event);
    let hashes = group::group_hashes(&event, &project.rules);
    let timestamp = event.get("timestamp").and_then(Value::as_f64).unwrap_or(received_at);
    (hashes, (timestamp * 1_000_000.0) as i64)
}

/// The tags ingest derives for an event, from its stored form as the store reads it back
/// (recounting an issue's tags after an unmerge).
pub fn tag_pairs(stored: &serde_json::Value) -> Vec<(String, String)> {
    derive::tag_pairs(&Value::from(stored))
}

/// Shared handle to a project's processing context.
pub type SharedProject = Arc<ProjectContext>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// The pure pipeline end to end, then read back the way the API reads it.
    fn round_trip(payload: &[u8], limit: usize) -> Result<(usize, Value), ProcessError> {
        let project = crate::ingest::cache::project_context(1, &json!({}));
        let processed = process_event(payload, None, &project, 1_700_000_000.0, Some("10.0.0.1"), limit)?;
        let json = payload::decompress(&processed.record.payload).expect("stored payload decompresses");
        assert_eq!(json.len(), processed.record.size);
        let event: Value = serde_json::from_slice(&json).expect("stored event parses with serde_json defaults");
        Ok((json.len(), event))
    }

    /// `levels` nested objects (or arrays) with a sensitive key at the bottom.
    fn deep(levels: usize, arrays: bool) -> Value {
        let mut value = json!({"password": "Zq9-deep-secret", "card": "4111 1111 1111 1111"});
        for i in 0..levels {
            value = if arrays {
                json!([value])
            } else {
                json!({ format!("k{i}"): value })
            };
        }
        value
    }

    /// Where a deep value is planted: extra, contexts, tags, breadcrumb data, frame vars.
    fn plant(place: usize, value: Value) -> Value {
        match place {
            0 => json!({"extra": {"x": value}}),
            1 => json!({"contexts": {"custom": {"x": value}}}),
            2 => json!({"tags": {"t": value}}),
            3 => json!({"breadcrumbs": [{"message": "m", "data": {"x": value}}]}),
            _ => json!({"exception": [{"type": "E", "value": "v",
                "stacktrace": {"frames": [{"function": "f", "vars": {"x": value}}]}}]}),
        }
    }

    fn amplifier(count: usize, param_len: usize, named: bool) -> Value {
        let param = "p".repeat(param_len);
        if named {
            json!({"logentry": {"message": "%(a)s".repeat(count), "params": {"a": param}}})
        } else {
            json!({"logentry": {"message": "%s".repeat(count), "params": vec![param; count.min(64)]}})
        }
    }

    #[test]
    fn the_amplification_payload_is_stored_within_the_limit() {
        let payload = serde_json::to_vec(&amplifier(100_000, 480_000, true)).unwrap();
        let (size, event) = round_trip(&payload, 1 << 20).unwrap();
        assert!(size <= 1 << 20);
        assert_eq!(event["logentry"]["formatted"].as_str().unwrap().chars().count(), 8192);
    }

    #[test]
    fn events_over_the_limit_keep_the_error_and_record_the_trimming() {
        let crumbs: Vec<Value> = (0..500)
            .map(|i| json!({"message": format!("{i} {}", "c".repeat(500))}))
            .collect();
        let mut event = json!({
            "exception": [{"type": "KeyError", "value": "missing", "stacktrace": {"frames": [
                {"function": "handler", "vars": {"blob": "v".repeat(100_000)}}]}}],
            "extra": {"blob": "e".repeat(100_000)},
        });
        event["breadcrumbs"] = json!(crumbs);
        let payload = serde_json::to_vec(&event).unwrap();
        let limit = 64 << 10;
        let (size, stored) = round_trip(&payload, limit).unwrap();
        assert!(size <= limit, "{size}");
        assert_eq!(stored["exception"]["values"][0]["type"], "KeyError");
        assert_eq!(stored["title"], "KeyError: missing");
        assert!(stored["_meta"].to_string().contains(bounds::LIMIT_RULE));
    }

    #[test]
    fn deep_scrubbed_keys_leave_a_readable_event() {
        for levels in [90, 100, 110, 118, 122, 124, 126] {
            for place in 0..5 {
                let payload = serde_json::to_vec(&plant(place, deep(levels, levels % 2 == 0))).unwrap();
                let Ok((_, event)) = round_trip(&payload, 1 << 20) else {
                    // Deeper than the parser accepts: refused as invalid, never stored.
                    assert!(levels >= 120, "{levels} at {place} refused");
                    continue;
                };
                assert!(bounds::depth(&(&event).into()) < bounds::READ_DEPTH_LIMIT);
                assert!(!event.to_string().contains("Zq9-deep-secret"));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn stored_events_fit_the_limit_and_read_back(
            count in 1usize..20_000,
            param_len in 0usize..50_000,
            named in any::<bool>(),
            levels in 0usize..130,
            arrays in any::<bool>(),
            place in 0usize..5,
            crumbs in 0usize..300,
            limit in prop::sample::select(vec![16usize << 10, 64 << 10, 1 << 20]),
        ) {
            let mut event = amplifier(count, param_len, named);
            let planted = plant(place, deep(levels, arrays));
            for (k, v) in planted.as_object().unwrap() {
                event[k] = v.clone();
            }
            if crumbs > 0 && place != 3 {
                event["breadcrumbs"] = json!((0..crumbs).map(|i| json!({"message": format!("crumb {i} password=x{i}")})).collect::<Vec<_>>());
            }
            let payload = serde_json::to_vec(&event).unwrap();
            match round_trip(&payload, limit) {
                Ok((size, stored)) => {
                    prop_assert!(size <= limit, "{} > {}", size, limit);
                    prop_assert!(bounds::depth(&(&stored).into()) < bounds::READ_DEPTH_LIMIT);
                    prop_assert!(!stored.to_string().contains("Zq9-deep-secret"));
                }
                // Only payloads nested deeper than the parser accepts are refused.
                Err(e) => prop_assert!(levels >= 120, "{e}"),
            }
        }
    }

    #[test]
    fn event_ids_are_canonicalized() {
        assert_eq!(
            parse_event_id("9F6C2E4B-8A1D-4C3B-9E2F-1A0B9C8D7E6F").map(|id| id.to_string()),
            Some("9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6f".to_owned())
        );
        assert_eq!(parse_event_id("not-a-uuid"), None);
        assert_eq!(parse_event_id("9f6c2e4b8a1d4c3b9e2f1a0b9c8d7e6"), None);
    }

    fn project(store_binary_attachments: bool) -> ProjectContext {
        ProjectContext {
            project_id: 1,
            scrubber: Scrubber::new(&crate::event::scrub::ScrubSettings::default()).expect("defaults compile"),
            rules: GroupingRules::default(),
            scrub_ip: false,
            store_binary_attachments,
        }
    }

    fn raw(data: &[u8]) -> RawAttachment<'_> {
        RawAttachment {
            name: Some("app.log"),
            content_type: Some("application/octet-stream"),
            attachment_type: None,
            data,
        }
    }

    #[test]
    fn text_attachments_are_scrubbed_and_binary_ones_kept_only_when_enabled() {
        let text = b"card 4111 1111 1111 1111 password=hunter2\r\nplain line";
        let kept = prepare_attachment(&project(false), &raw(text)).expect("text is kept");
        let kept = String::from_utf8(kept.data).expect("utf-8");
        assert!(!kept.contains("4111") && !kept.contains("hunter2"), "{kept}");
        assert!(kept.ends_with("\r\nplain line"), "{kept}");
        let clean = prepare_attachment(&project(false), &raw(b"nothing secret")).expect("kept");
        assert_eq!(clean.data, b"nothing secret");
        assert_eq!(clean.attachment_type, "event.attachment");
        let binary = [0xffu8, 0x00, 0x12, 0x80];
        assert_eq!(
            prepare_attachment(&project(false), &raw(&binary)).err(),
            Some(AttachmentRefusal::Binary)
        );
        let kept = prepare_attachment(&project(true), &raw(&binary)).expect("enabled");
        assert_eq!(kept.data, binary, "binary attachments are kept as sent");
    }

    #[test]
    fn user_reports_are_scrubbed_field_by_field() {
        let report = scrub_user_report(
            &project(false),
            UserReport {
                event_id: EventId::parse(&"a".repeat(32)).unwrap(),
                name: "Ada token=abc123".into(),
                email: "ada@example.com".into(),
                comments: "paid with 4111-1111-1111-1111, key AKIAIOSFODNN7EXAMPLE".into(),
            },
        );
        assert_eq!(report.name, "Ada token=[Filtered]");
        assert_eq!(report.email, "ada@example.com", "the reporter's address stays");
        assert!(
            !report.comments.contains("4111") && !report.comments.contains("AKIA"),
            "{}",
            report.comments
        );
    }
}
