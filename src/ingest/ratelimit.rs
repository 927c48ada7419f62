//! Rate limits per DSN key, for every kind of item a key can send: a token bucket (GCRA)
//! per key and quota class. A key's limit (`count` events per `window` seconds, its own
//! `rateLimit` or the configured default per minute; 0 turns limiting off) is scaled per
//! class: as many user reports and feedback as events, ten attachments per event and
//! 1 MiB of attachment bytes per event, ten of every other item (sessions, client reports,
//! transactions…). Over a class's limit, ingest drops those items and answers 429 with
//! `Retry-After` and `X-Sentry-Rate-Limits` naming the Sentry categories that are limited.
//!
//! Buckets live in each process: with several nodes on one PostgreSQL database, each node
//! enforces a key's limit on the traffic it receives, so a key may send up to N times its
//! limit across N nodes. A change to the limit itself reaches every node with the key
//! (`ingest/cache.rs`), and each node rebuilds its bucket for it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::store::ProjectKey;

/// Categories the event limit applies to, in Sentry's header format: errors and messages.
pub const LIMITED_CATEGORIES: &str = "error;default;security";

/// Relay never advertises a wait longer than this (seconds).
const MAX_RETRY_AFTER: u64 = 300;

/// Bound on live buckets (only existing keys get one, one per class they use).
const MAX_BUCKETS: usize = 50_000;

/// Attachment bytes are counted in KiB, so a large limit still fits a bucket's `u32`.
const ATTACHMENT_UNIT: usize = 1024;

/// A quota class: which items share one bucket, how they are named in
/// `X-Sentry-Rate-Limits`, and how many units the key's event limit allows per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Class {
    /// The Sentry categories this bucket limits, `;`-separated (the header's second field).
    pub categories: &'static str,
    /// Units allowed per event of the key's limit.
    per_event: u32,
}

impl Class {
    /// Errors and messages (the key's limit as configured).
    pub const EVENTS: Class = Class {
        categories: LIMITED_CATEGORIES,
        per_event: 1,
    };
    /// Attachment items.
    pub const ATTACHMENT_ITEMS: Class = Class {
        categories: "attachment",
        per_event: 10,
    };
    /// Attachment bytes, in KiB: 1 MiB per event.
    pub const ATTACHMENT_BYTES: Class = Class {
        categories: "attachment",
        per_event: 1024,
    };
    /// Legacy user reports.
    pub const USER_REPORTS: Class = Class {
        categories: "user_report_v2",
        per_event: 1,
    };
    /// User feedback.
    pub const FEEDBACK: Class = Class {
        categories: "feedback",
        per_event: 1,
    };

    /// The class of an item type other than events and attachments; `None` for types
    /// that are never limited (unknown, legacy and reserved ones are acknowledged only).
    pub fn of_item(ty: &str) -> Option<Class> {
        let categories = match ty {
            "user_report" => return Some(Class::USER_REPORTS),
            "feedback" => return Some(Class::FEEDBACK),
            "transaction" => "transaction;span",
            "session" | "sessions" => "session",
            "client_report" => "internal",
            "check_in" => "monitor",
            "profile" => "profile",
            "profile_chunk" | "profile_chunk_ui" => "profile_chunk",
            "replay_event" | "replay_recording" | "replay_video" => "replay",
            "log" => "log_item;log_byte",
            "span" => "span",
            "trace_metric" => "trace_metric",
            _ => return None,
        };
        Some(Class {
            categories,
            per_event: 10,
        })
    }

    /// Units an attachment of `len` bytes takes from [`Class::ATTACHMENT_BYTES`].
    pub fn attachment_units(len: usize) -> u32 {
        u32::try_from(len.div_ceil(ATTACHMENT_UNIT)).unwrap_or(u32::MAX)
    }
}

/// Events allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLimit {
    pub count: u32,
    pub window_secs: u64,
}

impl KeyLimit {
    /// The limit that applies to a key: its own, else the default (per minute); `None` = unlimited.
    pub fn for_key(key: &ProjectKey, default_per_minute: u32) -> Option<KeyLimit> {
        let limit = match (key.rate_limit_count, key.rate_limit_window) {
            (Some(count), Some(window)) => KeyLimit {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                window_secs: u64::try_from(window).unwrap_or(0),
            },
            _ => KeyLimit {
                count: default_per_minute,
                window_secs: 60,
            },
        };
        (limit.count > 0 && limit.window_secs > 0).then_some(limit)
    }

    /// The same window with the count scaled for a class.
    fn scaled(self, class: Class) -> KeyLimit {
        KeyLimit {
            count: self.count.saturating_mul(class.per_event),
            window_secs: self.window_secs,
        }
    }

    fn quota(self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.count)?;
        let period = Duration::from_secs(self.window_secs).checked_div(self.count)?;
        Some(Quota::with_period(period.max(Duration::from_nanos(1)))?.allow_burst(burst))
    }
}

/// A refusal: which categories are limited and how long the client should wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
    pub categories: &'static str,
}

impl Limited {
    /// The `X-Sentry-Rate-Limits` entry: `retry_after:categories:scope:reason_code`.
    pub fn header(&self) -> String {
        format!("{}:{}:key:key_quota", self.retry_after_secs, self.categories)
    }
}

/// The limits one request hit, once per category set, longest wait kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refusals(Vec<Limited>);

impl Refusals {
    pub fn add(&mut self, limited: Limited) {
        match self.0.iter_mut().find(|l| l.categories == limited.categories) {
            Some(seen) => seen.retry_after_secs = seen.retry_after_secs.max(limited.retry_after_secs),
            None => self.0.push(limited),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The longest wait of all.
    pub fn retry_after_secs(&self) -> u64 {
        self.0.iter().map(|l| l.retry_after_secs).max().unwrap_or(1)
    }

    /// The whole `X-Sentry-Rate-Limits` value: entries joined by `, `.
    pub fn header(&self) -> String {
        self.0.iter().map(Limited::header).collect::<Vec<_>>().join(", ")
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;
/// Buckets by (public key, class), each with the limit it was built for.
type BucketMap = HashMap<(String, Class), (KeyLimit, Arc<Bucket>)>;

/// The buckets of every key and class in use.
#[derive(Default)]
pub struct RateLimiters {
    buckets: Mutex<BucketMap>,
}

impl RateLimiters {
    /// Takes one event from the key's event bucket.
    pub fn check(&self, public_key: &str, limit: KeyLimit) -> Result<(), Limited> {
        self.check_n(public_key, limit, Class::EVENTS, 1)
    }

    /// Takes `units` from the key's bucket of `class`; all or nothing. More units than the
    /// bucket can ever hold are refused with the longest wait.
    pub fn check_n(&self, public_key: &str, limit: KeyLimit, class: Class, units: u32) -> Result<(), Limited> {
        let Some(units) = NonZeroU32::new(units) else {
            return Ok(());
        };
        let Some(bucket) = self.bucket(public_key, limit.scaled(class), class) else {
            return Ok(());
        };
        let refused = |secs: u64| Limited {
            retry_after_secs: secs.clamp(1, MAX_RETRY_AFTER),
            categories: class.categories,
        };
        match bucket.check_n(units) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(refused(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)))
            }
            Err(_) => Err(refused(MAX_RETRY_AFTER)),
        }
    }

    fn bucket(&self, public_key: &str, limit: KeyLimit, class: Class) -> Option<Arc<Bucket>> {
        let mut buckets = self.buckets.lock().ok()?;
        let id = (public_key.to_string(), class);
        if let Some((current, bucket)) = buckets.get(&id)
            && *current == limit
        {
            return Some(bucket.clone());
        }
        if buckets.len() >= MAX_BUCKETS {
            buckets.clear();
        }
        let bucket = Arc::new(RateLimiter::direct(limit.quota()?));
        buckets.insert(id, (limit, bucket.clone()));
        Some(bucket)
    }
}

/// The quota checks of one request: takes from the key's buckets and collects refusals.
pub struct QuotaCheck<'a> {
    limiters: &'a RateLimiters,
    public_key: &'a str,
    limit: Option<KeyLimit>,
    pub refusals: Refusals,
}

impl<'a> QuotaCheck<'a> {
    pub fn new(limiters: &'a RateLimiters, public_key: &'a str, limit: Option<KeyLimit>) -> Self {
        Self {
            limiters,
            public_key,
            limit,
            refusals: Refusals::default(),
        }
    }

    /// Takes `units` of `class`; `false` (and a refusal recorded) when over the limit.
    pub fn take(&mut self, class: Class, units: u32) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        match self.limiters.check_n(self.public_key, limit, class, units) {
            Ok(()) => true,
            Err(limited) => {
                self.refusals.add(limited);
                false
            }
        }
    }

    /// An attachment of `len` bytes: one item and its bytes, both or neither.
    pub fn take_attachment(&mut self, len: usize) -> bool {
        self.take(Class::ATTACHMENT_ITEMS, 1) && self.take(Class::ATTACHMENT_BYTES, Class::attachment_units(len))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn key(count: Option<i64>, window: Option<i64>) -> ProjectKey {
        ProjectKey {
            id: 1,
            project_id: 1,
            public_key: "k".into(),
            secret_key: "s".into(),
            label: "l".into(),
            is_active: true,
            rate_limit_count: count,
            rate_limit_window: window,
            allowed_origins: "*".into(),
            date_created: 0,
        }
    }

    #[test]
    fn key_limit_wins_over_default_and_zero_turns_it_off() {
        assert_eq!(
            KeyLimit::for_key(&key(Some(5), Some(10)), 100),
            Some(KeyLimit {
                count: 5,
                window_secs: 10
            })
        );
        assert_eq!(
            KeyLimit::for_key(&key(None, None), 100),
            Some(KeyLimit {
                count: 100,
                window_secs: 60
            })
        );
        assert_eq!(KeyLimit::for_key(&key(None, None), 0), None);
        assert_eq!(KeyLimit::for_key(&key(Some(0), Some(60)), 100), None);
    }

    #[test]
    fn bucket_allows_count_then_refuses_with_a_bounded_integer_wait() {
        let limiters = RateLimiters::default();
        let limit = KeyLimit {
            count: 3,
            window_secs: 3600,
        };
        for _ in 0..3 {
            assert_eq!(limiters.check("k", limit), Ok(()));
        }
        let refused = limiters.check("k", limit).unwrap_err();
        assert_eq!(refused.retry_after_secs, MAX_RETRY_AFTER);
        assert_eq!(refused.header(), "300:error;default;security:key:key_quota");
        // Another key has its own bucket; a changed limit gets a fresh one.
        assert_eq!(limiters.check("other", limit), Ok(()));
        assert_eq!(
            limiters.check(
                "k",
                KeyLimit {
                    count: 4,
                    window_secs: 3600
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn every_class_has_its_own_scaled_bucket_and_refusals_name_their_categories() {
        let limiters = RateLimiters::default();
        let limit = KeyLimit {
            count: 1,
            window_secs: 3600,
        };
        let mut quota = QuotaCheck::new(&limiters, "k", Some(limit));
        assert!(quota.take(Class::EVENTS, 1));
        assert!(!quota.take(Class::EVENTS, 1));
        assert!(quota.take(Class::USER_REPORTS, 1), "reports have their own bucket");
        assert!(!quota.take(Class::USER_REPORTS, 1));
        // 1 MiB of attachments per event: two of 600 KiB do not fit.
        assert!(quota.take_attachment(600 * 1024));
        assert!(!quota.take_attachment(600 * 1024));
        // More than a bucket can ever hold is refused, not an error.
        assert!(!quota.take_attachment(50 << 20));
        let client_reports = Class::of_item("client_report").expect("limited");
        for _ in 0..10 {
            assert!(quota.take(client_reports, 1));
        }
        assert!(!quota.take(client_reports, 1));
        assert_eq!(Class::of_item("made_up"), None);
        assert_eq!(
            quota.refusals.header(),
            "300:error;default;security:key:key_quota, 300:user_report_v2:key:key_quota, \
             300:attachment:key:key_quota, 300:internal:key:key_quota"
        );
        let mut unlimited = QuotaCheck::new(&limiters, "k", None);
        assert!(unlimited.take(Class::EVENTS, 1000) && unlimited.refusals.is_empty());
    }
}
