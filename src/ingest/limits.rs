//! Size and count limits for ingested envelopes (spec §9), and the rate-limit data category
//! of each item type (spec §6).
//!
//! Defaults are Relay's. Items are grouped the way Relay groups them: each group has a size
//! limit per item, a count limit and a size limit for all its items in one envelope. An
//! envelope over any limit is refused whole (413); the error names the configuration key.

use serde::{Deserialize, Serialize};

use super::envelope::{Envelope, Item};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Configurable limits, all in bytes except the counts. Missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Limits {
    /// A whole envelope after decompression (also the decode cap for `envelope/`).
    pub max_envelope_size: usize,
    /// Items in one envelope; bounds the parser's work.
    pub max_envelope_items: usize,
    /// One event, transaction or feedback item; at most one of them per envelope.
    pub max_event_size: usize,
    /// A whole `store/` body after decompression.
    pub max_store_body_size: usize,
    pub max_attachment_size: usize,
    /// All attachments of one envelope together.
    pub max_attachments_size: usize,
    pub max_attachment_count: usize,
    pub max_session_count: usize,
    /// All session items of one envelope together.
    pub max_sessions_size: usize,
    /// All client reports of one envelope together.
    pub max_client_reports_size: usize,
    pub max_client_reports_count: usize,
    pub max_check_in_size: usize,
    pub max_profile_size: usize,
    /// A replay recording or video item as sent (compressed).
    pub max_replay_compressed_size: usize,
    /// A replay recording once decompressed, for whoever inflates it.
    pub max_replay_uncompressed_size: usize,
    /// One log record (container size divided by its `item_count`).
    pub max_log_size: usize,
    /// One span (container size divided by its `item_count`).
    pub max_span_size: usize,
    /// One trace metric (container size divided by its `item_count`).
    pub max_trace_metric_size: usize,
    /// A whole log, span or trace-metric container item.
    pub max_container_size: usize,
    pub max_statsd_size: usize,
    pub max_metric_buckets_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope_size: 200 * MIB,
            max_envelope_items: 1000,
            max_event_size: MIB,
            max_store_body_size: MIB,
            max_attachment_size: 200 * MIB,
            max_attachments_size: 200 * MIB,
            max_attachment_count: 30,
            max_session_count: 100,
            max_sessions_size: 10 * MIB,
            max_client_reports_size: 100 * KIB,
            max_client_reports_count: 100,
            max_check_in_size: 100 * KIB,
            max_profile_size: 50 * MIB,
            max_replay_compressed_size: 10 * MIB,
            max_replay_uncompressed_size: 100 * MIB,
            max_log_size: 2 * MIB,
            max_span_size: 10 * MIB,
            max_trace_metric_size: MIB,
            max_container_size: 12 * MIB,
            max_statsd_size: MIB,
            max_metric_buckets_size: MIB,
        }
    }
}

/// Which limit an envelope broke. `Display` is the `detail` of the 413 response.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("envelope has more than {limit} items (max_envelope_items)")]
    TooManyItems { limit: usize },
    #[error("envelope of {size} bytes exceeds max_envelope_size of {limit} bytes")]
    EnvelopeTooLarge { size: usize, limit: usize },
    #[error("`{item_type}` item of {size} bytes exceeds {limit_name} of {limit} bytes")]
    ItemTooLarge {
        item_type: String,
        limit_name: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("envelope has more `{item_type}` items than {limit_name} allows ({limit})")]
    TooManyOfType {
        item_type: String,
        limit_name: &'static str,
        limit: usize,
    },
    #[error("`{item_type}` items together exceed {limit_name} of {limit} bytes")]
    TotalTooLarge {
        item_type: String,
        limit_name: &'static str,
        limit: usize,
    },
}

/// Checks an envelope against every limit; the first limit broken is returned.
pub fn check_envelope(env: &Envelope<'_>, limits: &Limits) -> Result<(), LimitError> {
    if env.items.len() > limits.max_envelope_items {
        return Err(LimitError::TooManyItems {
            limit: limits.max_envelope_items,
        });
    }
    let size: usize = env.items.iter().map(|item| item.payload.len()).sum();
    if size > limits.max_envelope_size {
        return Err(LimitError::EnvelopeTooLarge {
            size,
            limit: limits.max_envelope_size,
        });
    }

    let mut budgets: Vec<(Group, Budget)> = Vec::new();
    for item in &env.items {
        let Some(group) = Group::of(item.ty()) else {
            continue; // unknown types count only toward the envelope limits
        };
        let rule = group.rule(limits);
        let budget = match budgets.iter_mut().find(|(g, _)| *g == group) {
            Some((_, budget)) => budget,
            None => {
                budgets.push((group, Budget::new(&rule)));
                let last = budgets.len() - 1;
                &mut budgets[last].1
            }
        };
        budget.take(item, &rule)?;
    }
    Ok(())
}

/// The primary rate-limit data category of an item type (spec §6), `None` for types that are
/// never rate limited (unknown, legacy and reserved types). An `event` without an exception
/// counts as `default`, with one as `error`.
pub fn item_category(ty: &str, event_has_exception: bool) -> Option<&'static str> {
    item_categories(ty, event_has_exception).first().copied()
}

/// Every rate-limit category an item type counts toward: a transaction is also a `span`,
/// a log container both `log_item` and `log_byte`.
pub fn item_categories(ty: &str, event_has_exception: bool) -> &'static [&'static str] {
    match ty {
        "event" if event_has_exception => &["error"],
        "event" => &["default"],
        "transaction" => &["transaction", "span"],
        "attachment" => &["attachment"],
        "user_report" => &["user_report_v2"],
        "feedback" => &["feedback"],
        "session" | "sessions" => &["session"],
        "client_report" => &["internal"],
        "check_in" => &["monitor"],
        "profile" => &["profile"],
        "profile_chunk" | "profile_chunk_ui" => &["profile_chunk"],
        "replay_event" | "replay_recording" | "replay_video" => &["replay"],
        "log" => &["log_item", "log_byte"],
        "span" => &["span"],
        "trace_metric" => &["trace_metric"],
        _ => &[],
    }
}

/// Item types that share one set of limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Event,
    Attachment,
    ReplayRecording,
    ReplayVideo,
    Session,
    ClientReport,
    Profile,
    CheckIn,
    Statsd,
    MetricBuckets,
    Log,
    Span,
    TraceMetric,
}

/// The limits of one group: per item, item count, and total bytes.
struct Rule {
    item_size: (&'static str, usize),
    count: (&'static str, usize),
    total_size: (&'static str, usize),
    /// Container items are checked per contained record: size / `item_count`.
    per_record: bool,
}

struct Budget {
    count: usize,
    size: usize,
}

impl Group {
    fn of(ty: &str) -> Option<Self> {
        Some(match ty {
            "event" | "transaction" | "feedback" | "security" | "raw_security" | "nel" | "replay_event"
            | "form_data" => Self::Event,
            "attachment" | "unreal_report" | "user_report" => Self::Attachment,
            "replay_recording" => Self::ReplayRecording,
            "replay_video" => Self::ReplayVideo,
            "session" | "sessions" => Self::Session,
            "client_report" => Self::ClientReport,
            "profile" | "profile_chunk" | "profile_chunk_ui" => Self::Profile,
            "check_in" => Self::CheckIn,
            "statsd" => Self::Statsd,
            "metric_buckets" => Self::MetricBuckets,
            "log" => Self::Log,
            "span" => Self::Span,
            "trace_metric" => Self::TraceMetric,
            _ => return None,
        })
    }

    fn rule(self, l: &Limits) -> Rule {
        let single = |name: &'static str, size: usize| Rule {
            item_size: (name, size),
            count: (name, 1),
            total_size: (name, size),
            per_record: false,
        };
        let container = |name: &'static str, size: usize, count: usize| Rule {
            item_size: (name, size),
            count: ("max_envelope_items", count),
            total_size: ("max_container_size", l.max_container_size),
            per_record: true,
        };
        match self {
            Self::Event => single("max_event_size", l.max_event_size),
            Self::Attachment => Rule {
                item_size: ("max_attachment_size", l.max_attachment_size),
                count: ("max_attachment_count", l.max_attachment_count),
                total_size: ("max_attachments_size", l.max_attachments_size),
                per_record: false,
            },
            Self::ReplayRecording | Self::ReplayVideo => {
                single("max_replay_compressed_size", l.max_replay_compressed_size)
            }
            Self::Session => Rule {
                item_size: ("max_sessions_size", l.max_sessions_size),
                count: ("max_session_count", l.max_session_count),
                total_size: ("max_sessions_size", l.max_sessions_size),
                per_record: false,
            },
            Self::ClientReport => Rule {
                item_size: ("max_client_reports_size", l.max_client_reports_size),
                count: ("max_client_reports_count", l.max_client_reports_count),
                total_size: ("max_client_reports_size", l.max_client_reports_size),
                per_record: false,
            },
            Self::Profile => single("max_profile_size", l.max_profile_size),
            Self::CheckIn => single("max_check_in_size", l.max_check_in_size),
            Self::Statsd => single("max_statsd_size", l.max_statsd_size),
            Self::MetricBuckets => single("max_metric_buckets_size", l.max_metric_buckets_size),
            Self::Log => container("max_log_size", l.max_log_size, 1),
            // Standalone (non-container) spans may come many to an envelope.
            Self::Span => container("max_span_size", l.max_span_size, l.max_envelope_items),
            Self::TraceMetric => container("max_trace_metric_size", l.max_trace_metric_size, 1),
        }
    }
}

impl Budget {
    fn new(rule: &Rule) -> Self {
        Self {
            count: rule.count.1,
            size: rule.total_size.1,
        }
    }

    /// Charges one item against the group's budget.
    fn take(&mut self, item: &Item<'_>, rule: &Rule) -> Result<(), LimitError> {
        let len = item.payload.len();
        let records = match (rule.per_record, item.header.item_count) {
            (true, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX).max(1),
            _ => 1,
        };
        let item_type = || item.ty().to_owned();
        let (name, limit) = rule.item_size;
        // For a container this is the average record, as records are checked again when read.
        let size = len / records;
        if size > limit {
            return Err(LimitError::ItemTooLarge {
                item_type: item_type(),
                limit_name: name,
                size,
                limit,
            });
        }
        self.count = self.count.checked_sub(1).ok_or_else(|| LimitError::TooManyOfType {
            item_type: item_type(),
            limit_name: rule.count.0,
            limit: rule.count.1,
        })?;
        self.size = self.size.checked_sub(len).ok_or_else(|| LimitError::TotalTooLarge {
            item_type: item_type(),
            limit_name: rule.total_size.0,
            limit: rule.total_size.1,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::{EnvelopeHeader, ItemHeader, parse};
    use super::*;

    /// Payload bytes the test items borrow from.
    static ZEROS: [u8; 2 * MIB + 1] = [0; 2 * MIB + 1];

    fn item(ty: &str, len: usize) -> Item<'static> {
        item_n(ty, len, None)
    }

    fn item_n(ty: &str, len: usize, item_count: Option<u64>) -> Item<'static> {
        Item {
            header: ItemHeader {
                ty: ty.to_owned(),
                item_count,
                ..Default::default()
            },
            payload: &ZEROS[..len],
        }
    }

    fn envelope(items: Vec<Item<'static>>) -> Envelope<'static> {
        Envelope {
            header: EnvelopeHeader::default(),
            items,
        }
    }

    fn repeat(ty: &str, len: usize, n: usize) -> Vec<Item<'static>> {
        (0..n).map(|_| item(ty, len)).collect()
    }

    /// Small limits so each case stays cheap; the names in errors are the config keys.
    fn small() -> Limits {
        Limits {
            max_envelope_size: 10_000,
            max_envelope_items: 50,
            max_event_size: 100,
            max_attachment_size: 300,
            max_attachments_size: 500,
            max_attachment_count: 3,
            max_session_count: 2,
            max_sessions_size: 100,
            max_client_reports_size: 50,
            max_client_reports_count: 2,
            max_check_in_size: 10,
            max_profile_size: 100,
            max_replay_compressed_size: 100,
            max_log_size: 10,
            max_span_size: 10,
            max_trace_metric_size: 10,
            max_container_size: 1000,
            max_statsd_size: 10,
            max_metric_buckets_size: 10,
            ..Limits::default()
        }
    }

    #[test]
    fn envelopes_within_limits_pass() {
        let l = small();
        let cases: Vec<(&str, Vec<Item<'static>>)> = vec![
            ("empty", vec![]),
            ("event at limit", vec![item("event", 100)]),
            (
                "event and attachments",
                vec![item("event", 50), item("attachment", 300), item("attachment", 200)],
            ),
            ("three attachments", repeat("attachment", 10, 3)),
            ("two sessions", vec![item("session", 50), item("sessions", 50)]),
            ("client reports", repeat("client_report", 25, 2)),
            ("unknown types are not limited per type", repeat("mystery", 1000, 5)),
            ("log container averaged per record", vec![item_n("log", 100, Some(10))]),
            ("many standalone spans", repeat("span", 10, 20)),
            ("event and session", vec![item("event", 100), item("session", 100)]),
        ];
        for (name, items) in cases {
            assert_eq!(check_envelope(&envelope(items), &l), Ok(()), "{name}");
        }
    }

    #[test]
    fn envelopes_over_a_limit_name_it() {
        let l = small();
        let cases: Vec<(&str, Vec<Item<'static>>, &str)> = vec![
            (
                "event too large",
                vec![item("event", 101)],
                "`event` item of 101 bytes exceeds max_event_size of 100 bytes",
            ),
            (
                "transaction too large",
                vec![item("transaction", 101)],
                "max_event_size",
            ),
            ("feedback too large", vec![item("feedback", 101)], "max_event_size"),
            (
                "two events",
                vec![item("event", 1), item("transaction", 1)],
                "more `transaction` items than max_event_size allows (1)",
            ),
            (
                "attachment too large",
                vec![item("attachment", 301)],
                "max_attachment_size of 300",
            ),
            (
                "attachments together too large",
                vec![item("attachment", 300), item("attachment", 201)],
                "`attachment` items together exceed max_attachments_size of 500 bytes",
            ),
            (
                "four attachments",
                repeat("attachment", 1, 4),
                "max_attachment_count allows (3)",
            ),
            ("three sessions", repeat("session", 1, 3), "max_session_count"),
            (
                "sessions bytes",
                vec![item("session", 60), item("sessions", 60)],
                "max_sessions_size",
            ),
            (
                "client report bytes",
                vec![item("client_report", 30), item("client_report", 30)],
                "max_client_reports_size",
            ),
            (
                "client report count",
                repeat("client_report", 1, 3),
                "max_client_reports_count",
            ),
            ("check-in", vec![item("check_in", 11)], "max_check_in_size"),
            ("profile", vec![item("profile", 101)], "max_profile_size"),
            ("profile chunk", vec![item("profile_chunk", 101)], "max_profile_size"),
            (
                "replay recording",
                vec![item("replay_recording", 101)],
                "max_replay_compressed_size",
            ),
            (
                "replay video",
                vec![item("replay_video", 101)],
                "max_replay_compressed_size",
            ),
            (
                "replay event is an event",
                vec![item("replay_event", 101)],
                "max_event_size",
            ),
            ("log record average", vec![item_n("log", 111, Some(10))], "max_log_size"),
            ("log without item count", vec![item("log", 11)], "max_log_size"),
            ("span", vec![item("span", 11)], "max_span_size"),
            (
                "span container total",
                vec![item_n("span", 1001, Some(1000))],
                "max_container_size",
            ),
            ("trace metric", vec![item("trace_metric", 11)], "max_trace_metric_size"),
            ("statsd", vec![item("statsd", 11)], "max_statsd_size"),
            (
                "metric buckets",
                vec![item("metric_buckets", 11)],
                "max_metric_buckets_size",
            ),
            (
                "user report counts as attachment",
                vec![item("user_report", 301)],
                "max_attachment_size",
            ),
            (
                "too many items",
                repeat("mystery", 0, 51),
                "more than 50 items (max_envelope_items)",
            ),
            (
                "envelope size",
                repeat("mystery", 2500, 5),
                "envelope of 12500 bytes exceeds max_envelope_size of 10000 bytes",
            ),
        ];
        for (name, items, message) in cases {
            let err = check_envelope(&envelope(items), &l).expect_err(name);
            assert!(err.to_string().contains(message), "{name}: {err}");
        }
    }

    /// Conformance checklist 19 with the default limits: event > 1 MiB, 31 attachments and
    /// 101 sessions are each refused.
    #[test]
    fn default_limits_refuse_checklist_cases() {
        let l = Limits::default();
        assert_eq!(check_envelope(&envelope(vec![item("event", MIB)]), &l), Ok(()));
        let cases = [
            (vec![item("event", MIB + 1)], "max_event_size"),
            (repeat("attachment", 1, 31), "max_attachment_count"),
            (repeat("session", 1, 101), "max_session_count"),
            (repeat("client_report", 1, 101), "max_client_reports_count"),
        ];
        for (items, name) in cases {
            let err = check_envelope(&envelope(items), &l).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert!(check_envelope(&envelope(repeat("attachment", 1, 30)), &l).is_ok());
        assert!(check_envelope(&envelope(repeat("session", 1, 100)), &l).is_ok());
    }

    #[test]
    fn defaults_are_relays() {
        let l = Limits::default();
        assert_eq!(l.max_envelope_size, 200 * MIB);
        assert_eq!(l.max_event_size, MIB);
        assert_eq!(l.max_store_body_size, MIB);
        assert_eq!(
            (l.max_attachment_size, l.max_attachments_size, l.max_attachment_count),
            (200 * MIB, 200 * MIB, 30)
        );
        assert_eq!((l.max_session_count, l.max_sessions_size), (100, 10 * MIB));
        assert_eq!(
            (l.max_client_reports_size, l.max_client_reports_count),
            (100 * KIB, 100)
        );
        assert_eq!((l.max_check_in_size, l.max_profile_size), (100 * KIB, 50 * MIB));
        assert_eq!(
            (l.max_replay_compressed_size, l.max_replay_uncompressed_size),
            (10 * MIB, 100 * MIB)
        );
        assert_eq!(
            (
                l.max_log_size,
                l.max_span_size,
                l.max_trace_metric_size,
                l.max_statsd_size
            ),
            (2 * MIB, 10 * MIB, MIB, MIB)
        );
    }

    #[test]
    fn limits_deserialize_with_defaults_for_missing_keys() {
        let l: Limits = serde_json::from_str(r#"{"max_event_size": 2048, "max_attachment_count": 5}"#).unwrap();
        assert_eq!(l.max_event_size, 2048);
        assert_eq!(l.max_attachment_count, 5);
        assert_eq!(l.max_envelope_size, 200 * MIB);
        let round: Limits = serde_json::from_value(serde_json::to_value(&l).unwrap()).unwrap();
        assert_eq!(round, l);
    }

    #[test]
    fn item_types_map_to_rate_limit_categories() {
        let cases: &[(&str, bool, Option<&str>, &[&str])] = &[
            ("event", true, Some("error"), &["error"]),
            ("event", false, Some("default"), &["default"]),
            ("transaction", false, Some("transaction"), &["transaction", "span"]),
            ("attachment", false, Some("attachment"), &["attachment"]),
            ("user_report", false, Some("user_report_v2"), &["user_report_v2"]),
            ("feedback", false, Some("feedback"), &["feedback"]),
            ("session", false, Some("session"), &["session"]),
            ("sessions", false, Some("session"), &["session"]),
            ("client_report", false, Some("internal"), &["internal"]),
            ("check_in", false, Some("monitor"), &["monitor"]),
            ("profile", false, Some("profile"), &["profile"]),
            ("profile_chunk", false, Some("profile_chunk"), &["profile_chunk"]),
            ("profile_chunk_ui", false, Some("profile_chunk"), &["profile_chunk"]),
            ("replay_event", false, Some("replay"), &["replay"]),
            ("replay_recording", false, Some("replay"), &["replay"]),
            ("replay_video", false, Some("replay"), &["replay"]),
            ("log", false, Some("log_item"), &["log_item", "log_byte"]),
            ("span", false, Some("span"), &["span"]),
            ("trace_metric", false, Some("trace_metric"), &["trace_metric"]),
            ("statsd", false, None, &[]),
            ("otel_log", false, None, &[]),
            ("nel", false, None, &[]),
            ("something_new", true, None, &[]),
        ];
        for (ty, exc, primary, all) in cases {
            assert_eq!(item_category(ty, *exc), *primary, "{ty}");
            assert_eq!(item_categories(ty, *exc), *all, "{ty}");
        }
    }

    #[test]
    fn wire_captures_are_within_default_limits() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire");
        let mut checked = 0;
        for client in std::fs::read_dir(dir).unwrap() {
            let client = client.unwrap().path();
            if !client.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(client).unwrap() {
                let path = file.unwrap().path();
                if path.extension().and_then(|e| e.to_str()) != Some("body") {
                    continue;
                }
                let body = std::fs::read(&path).unwrap();
                let Ok(env) = parse(&body, Limits::default().max_envelope_items) else {
                    continue; // GET/OPTIONS captures have no envelope
                };
                assert_eq!(check_envelope(&env, &Limits::default()), Ok(()), "{path:?}");
                checked += 1;
            }
        }
        assert!(checked >= 58, "{checked}");
    }
}
