//! The ingest edge's in-memory state: caches of DSN keys and project processing
//! contexts (so ingest does not read the database per event), the per-key rate
//! limiters, and the outcome and rate-limited-event counts waiting to be written.
//!
//! Cache entries are stamped with the store's config generation; any administrative
//! write bumps it and entries refetch. On PostgreSQL the generation also moves when another
//! node commits such a change (`store/postgres/config_watch.rs`). Entries also expire after
//! `MAX_AGE`, so a change the CLI writes straight to the database (bypassing the server's
//! writer), or one a node missed, takes effect within seconds. Counts are written by a
//! background flush every few seconds, all in one transaction, and once more at shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process::{ProjectContext, SharedProject};
use super::ratelimit::RateLimiters;
use crate::event::group::GroupingRules;
use crate::event::scrub::{ScrubSettings, Scrubber};
use crate::store::outcomes::OutcomeTally;
use crate::store::{LimitedCount, ProjectKey, Store, StoreError};

/// Bound on cached keys, so a flood of random keys cannot grow memory.
const MAX_KEYS: usize = 10_000;

/// Bound on distinct (issue hashes, hour) pairs of rate-limited events waiting for a flush.
const MAX_LIMITED_GROUPS: usize = 10_000;

/// How often pending counts are written.
const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// How long a cached key or project is trusted without a generation change.
const MAX_AGE: Duration = Duration::from_secs(2);

/// The config generation an entry was read at, and when.
type Stamp = (u64, Instant);

fn fresh(stamp: &Stamp, generation: u64) -> bool {
    stamp.0 == generation && stamp.1.elapsed() < MAX_AGE
}

/// Keys by public id, each stamped with the config generation it was read at.
type KeyMap = HashMap<String, (Stamp, Option<Arc<ProjectKey>>)>;
/// Rate-limited events per (project, grouping hashes, hour): (count, latest timestamp µs).
type LimitedMap = HashMap<(i64, Vec<String>, i64), (i64, i64)>;

#[derive(Default)]
pub struct IngestCache {
    keys: RwLock<KeyMap>,
    /// Each project's context with the settings it was built from: a stale entry whose
    /// settings did not change is re-stamped, not rebuilt, so compiled scrubbing patterns
    /// (and their warmed-up search caches) survive the periodic re-read.
    projects: RwLock<HashMap<i64, (Stamp, Value, SharedProject)>>,
    pub limiters: RateLimiters,
    pub outcomes: OutcomeTally,
    limited: Mutex<LimitedMap>,
    flusher_started: AtomicBool,
    /// Parsed source maps and recent misses.
    pub sourcemaps: super::sourcemaps::MapCache,
}

impl IngestCache {
    /// Remembers a rate-limited event so its issue, if known, still counts it.
    pub fn count_limited(&self, project_id: i64, hashes: Vec<String>, timestamp_us: i64) {
        let hour = timestamp_us.div_euclid(3_600_000_000);
        let Ok(mut limited) = self.limited.lock() else {
            return;
        };
        let key = (project_id, hashes, hour);
        if limited.len() >= MAX_LIMITED_GROUPS && !limited.contains_key(&key) {
            tracing::warn!("too many distinct rate-limited groups pending; not counting this one");
            return;
        }
        let entry = limited.entry(key).or_insert((0, timestamp_us));
        entry.0 += 1;
        entry.1 = entry.1.max(timestamp_us);
    }

    /// Starts the background flush once (on the first request that records anything).
    pub fn ensure_flusher(self: &Arc<Self>, store: &Store) {
        if self.flusher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FLUSH_INTERVAL).await;
                let Some(cache) = weak.upgrade() else {
                    return;
                };
                if let Err(StoreError::Closed) = cache.flush(&store).await {
                    return;
                }
            }
        });
    }

    /// Writes pending outcomes and rate-limited counts in one transaction; on failure they
    /// stay pending for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let rows = self.outcomes.take();
        let limited: Vec<LimitedCount> = match self.limited.lock() {
            Ok(mut pending) => pending
                .drain()
                .map(|((project_id, hashes, hour), (count, last_seen))| LimitedCount {
                    project_id,
                    hashes,
                    hour,
                    count,
                    last_seen,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        if rows.is_empty() && limited.is_empty() {
            return Ok(());
        }
        let (rows_again, limited_again) = (rows.clone(), limited.clone());
        let result = store.flush_counts(rows, limited).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "writing outcomes failed; keeping them for the next flush");
            self.outcomes.restore(rows_again);
            if let Ok(mut pending) = self.limited.lock() {
                for c in limited_again {
                    let entry = pending
                        .entry((c.project_id, c.hashes, c.hour))
                        .or_insert((0, c.last_seen));
                    entry.0 += c.count;
                    entry.1 = entry.1.max(c.last_seen);
                }
            }
        }
        result
    }

    /// The key with this public id, if it exists.
    pub async fn key(&self, store: &Store, public_key: &str) -> Result<Option<Arc<ProjectKey>>, StoreError> {
        let generation = store.generation();
        if let Some((stamp, key)) = self.keys.read().ok().and_then(|m| m.get(public_key).cloned())
            && fresh(&stamp, generation)
        {
            return Ok(key);
        }
        let key = store.key_by_public(public_key).await?.map(Arc::new);
        if let Ok(mut map) = self.keys.write() {
            if map.len() >= MAX_KEYS {
                map.clear();
            }
            map.insert(public_key.to_string(), ((generation, Instant::now()), key.clone()));
        }
        Ok(key)
    }

    /// The processing context (scrubber, grouping rules) of a project.
    pub async fn project(&self, store: &Store, project_id: i64) -> Result<SharedProject, StoreError> {
        let generation = store.generation();
        let cached = self.projects.read().ok().and_then(|m| m.get(&project_id).cloned());
        if let Some((stamp, _, context)) = &cached
            && fresh(stamp, generation)
        {
            return Ok(context.clone());
        }
        let project = store.project_by_id(project_id).await?;
        let context = match cached {
            Some((_, settings, context)) if settings == project.settings => context,
            _ => Arc::new(project_context(project.id, &project.settings)),
        };
        if let Ok(mut map) = self.projects.write() {
            map.insert(
                project_id,
                ((generation, Instant::now()), project.settings, context.clone()),
            );
        }
        Ok(context)
    }
}

/// Builds a project's context from its stored settings; invalid stored settings fall back to defaults.
pub fn project_context(project_id: i64, settings: &Value) -> ProjectContext {
    let scrub_settings: ScrubSettings = settings
        .get("scrubbing")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    let scrubber = Scrubber::new(&scrub_settings)
        .or_else(|_| Scrubber::new(&ScrubSettings::default()))
        .expect("the default scrubbing settings always compile");
    let fingerprint = settings
        .pointer("/grouping/fingerprint_rules")
        .and_then(Value::as_str)
        .unwrap_or("");
    let stacktrace = settings
        .pointer("/grouping/stacktrace_rules")
        .and_then(Value::as_str)
        .unwrap_or("");
    ProjectContext {
        project_id,
        scrub_ip: scrub_settings.scrub_ip_addresses,
        store_binary_attachments: crate::settings::store_binary_attachments(settings),
        scrubber,
        rules: parse_rules(fingerprint, stacktrace).unwrap_or_default(),
    }
}

/// Parses a project's grouping rules; the error says which line is wrong.
pub fn parse_rules(fingerprint: &str, stacktrace: &str) -> Result<GroupingRules, String> {
    if fingerprint.trim().is_empty() && stacktrace.trim().is_empty() {
        return Ok(GroupingRules::default());
    }
    GroupingRules::parse(fingerprint, stacktrace).map_err(|e| e.to_string())
}
