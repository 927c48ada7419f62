//! In-memory caches of DSN keys and project processing contexts, so ingest does
//! not read the database per event. Entries are stamped with the store's config
//! generation; any administrative write bumps it and entries refetch.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::process::{ProjectContext, SharedProject};
use crate::event::group::GroupingRules;
use crate::event::scrub::{ScrubSettings, Scrubber};
use crate::store::{ProjectKey, Store, StoreError, admin};

/// Bound on cached keys, so a flood of random keys cannot grow memory.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct IngestCache {
    keys: RwLock<HashMap<String, (u64, Option<Arc<ProjectKey>>)>>,
    projects: RwLock<HashMap<i64, (u64, SharedProject)>>,
}

impl IngestCache {
    /// The key with this public id, if it exists.
    pub async fn key(&self, store: &Store, public_key: &str) -> Result<Option<Arc<ProjectKey>>, StoreError> {
        let generation = store.generation();
        if let Some((g, key)) = self.keys.read().ok().and_then(|m| m.get(public_key).cloned()) {
            if g == generation {
                return Ok(key);
            }
        }
        let lookup = public_key.to_string();
        let key = store
            .read(move |c| admin::key_by_public(c, &lookup))
            .await?
            .map(Arc::new);
        if let Ok(mut map) = self.keys.write() {
            if map.len() >= MAX_KEYS {
                map.clear();
            }
            map.insert(public_key.to_string(), (generation, key.clone()));
        }
        Ok(key)
    }

    /// The processing context (scrubber, grouping rules) of a project.
    pub async fn project(&self, store: &Store, project_id: i64) -> Result<SharedProject, StoreError> {
        let generation = store.generation();
        if let Some((g, project)) = self.projects.read().ok().and_then(|m| m.get(&project_id).cloned()) {
            if g == generation {
                return Ok(project);
            }
        }
        let project = store.read(move |c| admin::project_by_id(c, project_id)).await?;
        let context = Arc::new(project_context(project.id, &project.settings));
        if let Ok(mut map) = self.projects.write() {
            map.insert(project_id, (generation, context.clone()));
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
