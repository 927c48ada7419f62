//! Rate limits per DSN key: a token bucket (GCRA) per key that allows `count` events per
//! `window` seconds, bursts up to `count`. A key's own `rateLimit` wins; keys without one
//! use the configured default (events per minute); a count of 0 turns limiting off.
//! Over the limit, ingest answers 429 with `Retry-After` and `X-Sentry-Rate-Limits`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::store::ProjectKey;

/// Categories the limit applies to, in Sentry's header format: events (errors and messages).
pub const LIMITED_CATEGORIES: &str = "error;default;security";

/// Relay never advertises a wait longer than this (seconds).
const MAX_RETRY_AFTER: u64 = 300;

/// Bound on keys with a live bucket (only existing keys get one).
const MAX_BUCKETS: usize = 10_000;

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

    fn quota(self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.count)?;
        let period = Duration::from_secs(self.window_secs).checked_div(self.count)?;
        Some(Quota::with_period(period.max(Duration::from_nanos(1)))?.allow_burst(burst))
    }
}

/// A refusal: how long the client should wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

impl Limited {
    /// The `X-Sentry-Rate-Limits` value: `retry_after:categories:scope:reason_code`.
    pub fn header(&self) -> String {
        format!("{}:{LIMITED_CATEGORIES}:key:key_quota", self.retry_after_secs)
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// The buckets of every key that has sent events.
#[derive(Default)]
pub struct RateLimiters {
    buckets: Mutex<HashMap<String, (KeyLimit, Arc<Bucket>)>>,
}

impl RateLimiters {
    /// Takes one event from the key's bucket.
    pub fn check(&self, public_key: &str, limit: KeyLimit) -> Result<(), Limited> {
        let Some(bucket) = self.bucket(public_key, limit) else {
            return Ok(());
        };
        bucket.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Limited {
                retry_after_secs: secs.clamp(1, MAX_RETRY_AFTER),
            }
        })
    }

    fn bucket(&self, public_key: &str, limit: KeyLimit) -> Option<Arc<Bucket>> {
        let mut buckets = self.buckets.lock().ok()?;
        if let Some((current, bucket)) = buckets.get(public_key)
            && *current == limit
        {
            return Some(bucket.clone());
        }
        if buckets.len() >= MAX_BUCKETS {
            buckets.clear();
        }
        let bucket = Arc::new(RateLimiter::direct(limit.quota()?));
        buckets.insert(public_key.to_string(), (limit, bucket.clone()));
        Some(bucket)
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
}
