//! Finds the source maps an event's JavaScript frames need: by debug id first, then by the
//! release's files (the minified file by URL, then the map it names). Lookups go through
//! a cache of parsed maps bounded by bytes, keyed by project and debug id or release, dist
//! and URL, with misses remembered briefly so a map uploaded after an event still applies
//! to the next one. Parsing runs on the blocking pool; the mapping itself is
//! `event::sourcemap`'s.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::event::sourcemap::{self, FileRequest, MapError, MapReference, ParsedMap, Problem, Resolution, paths};
use crate::store::StoreError;
use crate::store::artifacts::{ArtifactFile, ArtifactKind};

/// Bytes of parsed maps the cache holds (approximate); least recently used go first.
pub const CACHE_BUDGET: usize = 256 << 20;
/// How long a miss (no artifact, an invalid map) is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(3);

/// Which stored file of a debug id is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    MinifiedSource,
    SourceMap,
}

/// An uploaded file, as the resolver needs it.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub content: Arc<[u8]>,
    /// The `Sourcemap` header / `sourceMappingURL` a minified file was uploaded with.
    pub sourcemap_ref: Option<String>,
}

/// Where uploaded files are read from (the store; a double in tests).
pub trait ArtifactSource: Sync {
    fn by_debug_id(
        &self,
        project_id: i64,
        debug_id: Uuid,
        wanted: Wanted,
    ) -> impl Future<Output = Result<Option<Artifact>, StoreError>> + Send;

    fn by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        url: &str,
    ) -> impl Future<Output = Result<Option<Artifact>, StoreError>> + Send;
}

/// The files sentry-cli uploaded, as the store keeps them.
impl ArtifactSource for crate::store::Store {
    async fn by_debug_id(
        &self,
        project_id: i64,
        debug_id: Uuid,
        wanted: Wanted,
    ) -> Result<Option<Artifact>, StoreError> {
        let kind = match wanted {
            Wanted::MinifiedSource => ArtifactKind::MinifiedSource,
            Wanted::SourceMap => ArtifactKind::SourceMap,
        };
        let file = self.artifact_by_debug_id(project_id, debug_id, kind).await?;
        Ok(file.map(artifact))
    }

    async fn by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        url: &str,
    ) -> Result<Option<Artifact>, StoreError> {
        let file = self.artifact_by_url(project_id, release, dist, url).await?;
        Ok(file.map(artifact))
    }
}

fn artifact(file: ArtifactFile) -> Artifact {
    Artifact {
        content: file.content,
        sourcemap_ref: file.sourcemap_ref,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    DebugId(i64, Uuid),
    Url {
        project_id: i64,
        release: String,
        dist: Option<String>,
        abs_path: String,
    },
}

struct Entry {
    resolution: Resolution,
    weight: usize,
    last_used: u64,
    /// Misses expire; parsed maps stay until evicted.
    expires: Option<Instant>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<CacheKey, Entry>,
    bytes: usize,
    tick: u64,
}

/// Parsed maps and recent misses, shared by all ingest workers.
pub struct MapCache {
    entries: Mutex<Entries>,
    budget: usize,
    negative_ttl: Duration,
}

impl Default for MapCache {
    fn default() -> MapCache {
        MapCache::new(CACHE_BUDGET, NEGATIVE_TTL)
    }
}

impl MapCache {
    pub fn new(budget: usize, negative_ttl: Duration) -> MapCache {
        MapCache {
            entries: Mutex::default(),
            budget,
            negative_ttl,
        }
    }

    fn get(&self, key: &CacheKey) -> Option<Resolution> {
        let mut entries = self.entries.lock().ok()?;
        entries.tick += 1;
        let tick = entries.tick;
        let entry = entries.map.get_mut(key)?;
        if entry.expires.is_some_and(|at| at <= Instant::now()) {
            let weight = entry.weight;
            entries.map.remove(key);
            entries.bytes -= weight;
            return None;
        }
        entry.last_used = tick;
        Some(entry.resolution.clone())
    }

    fn put(&self, key: CacheKey, resolution: &Resolution) {
        let (weight, expires) = match resolution {
            Resolution::Mapped(parsed) => (parsed.weight, None),
            Resolution::Failed(_) => (256, Some(Instant::now() + self.negative_ttl)),
        };
        if weight > self.budget {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.tick += 1;
        let tick = entries.tick;
        if let Some(old) = entries.map.remove(&key) {
            entries.bytes -= old.weight;
        }
        while entries.bytes + weight > self.budget {
            let oldest = entries
                .map
                .iter()
                .min_by_key(|(_, e)| (e.expires.is_none(), e.last_used))
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(old) = entries.map.remove(&oldest) {
                entries.bytes -= old.weight;
            }
        }
        entries.bytes += weight;
        entries.map.insert(
            key,
            Entry {
                resolution: resolution.clone(),
                weight,
                last_used: tick,
                expires,
            },
        );
    }

    /// Bytes held, for metrics and tests.
    pub fn bytes(&self) -> usize {
        self.entries.lock().map(|e| e.bytes).unwrap_or(0)
    }
}

/// Resolves each requested file to its parsed map or the reason there is none. Files whose
/// lookup failed in the store are left out (their frames stay as sent, nothing cached).
pub async fn resolve(
    source: &impl ArtifactSource,
    cache: &MapCache,
    project_id: i64,
    release: Option<(String, Option<String>)>,
    requests: Vec<FileRequest>,
) -> HashMap<String, Resolution> {
    let mut out = HashMap::new();
    for request in requests {
        match resolve_file(source, cache, project_id, release.as_ref(), &request).await {
            Ok(resolution) => {
                out.insert(request.abs_path, resolution);
            }
            Err(e) => tracing::warn!(error = %e, "source map lookup failed; frames left as sent"),
        }
    }
    out
}

async fn resolve_file(
    source: &impl ArtifactSource,
    cache: &MapCache,
    project_id: i64,
    release: Option<&(String, Option<String>)>,
    request: &FileRequest,
) -> Result<Resolution, StoreError> {
    if let Some(debug_id) = request.debug_id {
        let key = CacheKey::DebugId(project_id, debug_id);
        let resolution = match cache.get(&key) {
            Some(hit) => hit,
            None => {
                let found = by_debug_id(source, project_id, debug_id).await?;
                cache.put(key, &found);
                found
            }
        };
        // A bundle without this debug id may still be among the release's files.
        let missing = matches!(resolution, Resolution::Failed(Problem::NoArtifact { .. }));
        if !missing || release.is_none() {
            return Ok(resolution);
        }
    }
    let Some((release, dist)) = release else {
        return Ok(Resolution::Failed(Problem::NoArtifact {
            debug_id: request.debug_id,
            release: None,
        }));
    };
    let key = CacheKey::Url {
        project_id,
        release: release.clone(),
        dist: dist.clone(),
        abs_path: request.abs_path.clone(),
    };
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    let mut found = by_url(source, project_id, release, dist.as_deref(), &request.abs_path).await?;
    if let Resolution::Failed(Problem::NoArtifact { debug_id, .. }) = &mut found {
        *debug_id = request.debug_id;
    }
    cache.put(key, &found);
    Ok(found)
}

/// The bundle's map for a debug id, with its minified file when uploaded too.
async fn by_debug_id(source: &impl ArtifactSource, project_id: i64, debug_id: Uuid) -> Result<Resolution, StoreError> {
    let Some(map) = source.by_debug_id(project_id, debug_id, Wanted::SourceMap).await? else {
        return Ok(Resolution::Failed(Problem::NoArtifact {
            debug_id: Some(debug_id),
            release: None,
        }));
    };
    let minified = source
        .by_debug_id(project_id, debug_id, Wanted::MinifiedSource)
        .await?
        .map(|m| m.content);
    Ok(parse_off_runtime(map.content, None, minified, format!("debug-id://{debug_id}")).await)
}

/// A release file for the URL (or `~/path`), then the map it names.
async fn by_url(
    source: &impl ArtifactSource,
    project_id: i64,
    release: &str,
    dist: Option<&str>,
    abs_path: &str,
) -> Result<Resolution, StoreError> {
    let mut minified = None;
    for candidate in paths::url_candidates(abs_path) {
        if let Some(found) = source.by_url(project_id, release, dist, &candidate).await? {
            minified = Some((candidate, found));
            break;
        }
    }
    let Some((minified_url, minified)) = minified else {
        return Ok(Resolution::Failed(Problem::NoArtifact {
            debug_id: None,
            release: Some(release.to_string()),
        }));
    };
    let reference = sourcemap::map_reference(&minified.content, minified.sourcemap_ref.as_deref(), &minified_url);
    let (map_url, map_bytes) = match reference {
        None => return Ok(Resolution::Failed(Problem::NoMapReference { minified_url })),
        Some(MapReference::Embedded(bytes)) => (minified_url.clone(), bytes),
        Some(MapReference::Url(map_url)) => {
            let mut found = None;
            for candidate in paths::url_candidates(&map_url) {
                if let Some(map) = source.by_url(project_id, release, dist, &candidate).await? {
                    found = Some(map.content);
                    break;
                }
            }
            match found {
                Some(bytes) => (map_url, bytes),
                None => return Ok(Resolution::Failed(Problem::MapNotFound { map_url })),
            }
        }
    };
    // Sources resolve against the map's real location: the frame's URL with the
    // reference applied (the release-file name may be a `~/` one).
    let map_location = match sourcemap::map_reference(&minified.content, minified.sourcemap_ref.as_deref(), abs_path) {
        Some(MapReference::Url(url)) => url,
        _ => abs_path.to_string(),
    };
    Ok(parse_off_runtime(map_bytes, Some(map_location), Some(minified.content), map_url).await)
}

/// Parses a map on the blocking pool (a large map takes a while).
async fn parse_off_runtime(
    bytes: Arc<[u8]>,
    url: Option<String>,
    minified: Option<Arc<[u8]>>,
    name: String,
) -> Resolution {
    let parsed = tokio::task::spawn_blocking(move || sourcemap::parse_map(&bytes, url, minified.as_deref())).await;
    match parsed {
        Ok(Ok(parsed)) => Resolution::Mapped(Arc::new(parsed)),
        Ok(Err(MapError::TooLarge)) => Resolution::Failed(Problem::TooLarge { url: name }),
        Ok(Err(MapError::Invalid(reason))) => Resolution::Failed(Problem::InvalidMap { url: name, reason }),
        Err(e) => Resolution::Failed(Problem::InvalidMap {
            url: name,
            reason: format!("the map could not be parsed: {e}"),
        }),
    }
}

/// A parsed map's approximate size, for tests of the cache.
pub fn weight_of(parsed: &ParsedMap) -> usize {
    parsed.weight
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Files in memory, counting lookups.
    #[derive(Default)]
    struct Double {
        by_id: HashMap<(Uuid, &'static str), Artifact>,
        by_url: HashMap<String, Artifact>,
        lookups: AtomicUsize,
    }

    fn artifact(content: &[u8], sourcemap_ref: Option<&str>) -> Artifact {
        Artifact {
            content: Arc::from(content),
            sourcemap_ref: sourcemap_ref.map(String::from),
        }
    }

    impl ArtifactSource for Double {
        async fn by_debug_id(&self, _: i64, debug_id: Uuid, wanted: Wanted) -> Result<Option<Artifact>, StoreError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            let kind = if wanted == Wanted::SourceMap { "map" } else { "min" };
            Ok(self.by_id.get(&(debug_id, kind)).cloned())
        }

        async fn by_url(
            &self,
            _: i64,
            release: &str,
            _: Option<&str>,
            url: &str,
        ) -> Result<Option<Artifact>, StoreError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            Ok(self.by_url.get(&format!("{release} {url}")).cloned())
        }
    }

    const MAP: &[u8] =
        br#"{"version":3,"sources":["../src/a.js"],"sourcesContent":["x\n"],"names":[],"mappings":"AAAA"}"#;

    fn request(abs_path: &str, debug_id: Option<Uuid>) -> Vec<FileRequest> {
        vec![FileRequest {
            abs_path: abs_path.into(),
            debug_id,
        }]
    }

    #[tokio::test]
    async fn debug_ids_come_first_and_parsed_maps_are_cached() {
        let id = Uuid::new_v4();
        let mut double = Double::default();
        double.by_id.insert((id, "map"), artifact(MAP, None));
        let cache = MapCache::default();
        let out = resolve(&double, &cache, 1, None, request("https://h/a.js", Some(id))).await;
        assert!(matches!(out["https://h/a.js"], Resolution::Mapped(_)));
        let lookups = double.lookups.load(Ordering::Relaxed);
        let again = resolve(&double, &cache, 1, None, request("https://h/a.js", Some(id))).await;
        assert!(matches!(again["https://h/a.js"], Resolution::Mapped(_)));
        assert_eq!(double.lookups.load(Ordering::Relaxed), lookups, "served from the cache");
    }

    #[tokio::test]
    async fn release_files_lead_from_the_minified_file_to_its_map() {
        let mut double = Double::default();
        double.by_url.insert(
            "r1 ~/static/a.js".into(),
            artifact(b"x()\n//# sourceMappingURL=a.js.map", None),
        );
        double.by_url.insert("r1 ~/static/a.js.map".into(), artifact(MAP, None));
        let cache = MapCache::default();
        let release = Some(("r1".to_string(), None));
        let out = resolve(&double, &cache, 1, release, request("https://h/static/a.js?v=1", None)).await;
        let Resolution::Mapped(parsed) = &out["https://h/static/a.js?v=1"] else {
            panic!("{:?}", out);
        };
        assert_eq!(parsed.url.as_deref(), Some("https://h/static/a.js.map"));
    }

    #[tokio::test]
    async fn misses_are_explained_and_forgotten_quickly() {
        let double = Double::default();
        let cache = MapCache::new(1 << 20, Duration::from_millis(0));
        let id = Uuid::new_v4();
        let release = Some(("r1".to_string(), None));
        let out = resolve(&double, &cache, 1, release.clone(), request("https://h/a.js", Some(id))).await;
        let Resolution::Failed(problem) = &out["https://h/a.js"] else {
            panic!("{:?}", out);
        };
        assert_eq!(
            *problem,
            Problem::NoArtifact {
                debug_id: Some(id),
                release: Some("r1".into())
            }
        );
        let before = double.lookups.load(Ordering::Relaxed);
        resolve(&double, &cache, 1, release, request("https://h/a.js", Some(id))).await;
        assert!(
            double.lookups.load(Ordering::Relaxed) > before,
            "an expired miss is looked up again"
        );

        let mut double = Double::default();
        double.by_url.insert("r1 https://h/b.js".into(), artifact(b"b()", None));
        double
            .by_url
            .insert("r1 https://h/c.js".into(), artifact(b"c()", Some("c.map")));
        double
            .by_url
            .insert("r1 https://h/d.js".into(), artifact(b"d()", Some("d.map")));
        double
            .by_url
            .insert("r1 https://h/d.map".into(), artifact(b"{garbage", None));
        let release = Some(("r1".to_string(), None));
        for (path, expected) in [
            ("https://h/b.js", "NoMapReference"),
            ("https://h/c.js", "MapNotFound"),
            ("https://h/d.js", "InvalidMap"),
        ] {
            let out = resolve(&double, &cache, 1, release.clone(), request(path, None)).await;
            assert!(format!("{:?}", out[path]).contains(expected), "{:?}", out[path]);
        }
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let parsed = sourcemap::parse_map(MAP, None, None).unwrap();
        let weight = weight_of(&parsed);
        let cache = MapCache::new(weight * 3, NEGATIVE_TTL);
        let mapped = Resolution::Mapped(Arc::new(parsed));
        for i in 0..10 {
            cache.put(CacheKey::DebugId(1, Uuid::from_u128(i)), &mapped);
            assert!(cache.bytes() <= weight * 3);
        }
        // The most recently used survive.
        assert!(cache.get(&CacheKey::DebugId(1, Uuid::from_u128(9))).is_some());
        assert!(cache.get(&CacheKey::DebugId(1, Uuid::from_u128(0))).is_none());
    }
}
