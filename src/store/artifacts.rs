//! What the store keeps of sentry-cli's uploads: chunks waiting to be assembled (by their
//! SHA-1, per organization), artifact bundles, and each bundle's files (minified sources,
//! source maps, sources) with the debug id, URL, release and dist they were uploaded for.
//! File contents are kept zstd-compressed; callers see them uncompressed.

use std::sync::Arc;

use uuid::Uuid;

use super::{Store, StoreError, dispatch};

/// What a file of a bundle is, as the bundle's manifest names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    MinifiedSource,
    SourceMap,
    Source,
}

impl ArtifactKind {
    /// The name stored and shown (the manifest's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::MinifiedSource => "minified_source",
            ArtifactKind::SourceMap => "source_map",
            ArtifactKind::Source => "source",
        }
    }

    /// A manifest's `type`; unknown types are none of these.
    pub fn parse(name: &str) -> Option<ArtifactKind> {
        match name {
            "minified_source" => Some(ArtifactKind::MinifiedSource),
            "source_map" => Some(ArtifactKind::SourceMap),
            "source" => Some(ArtifactKind::Source),
            _ => None,
        }
    }
}

/// One stored file, uncompressed.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    pub kind: ArtifactKind,
    /// `~/static/app.min.js`, as uploaded.
    pub url: Option<String>,
    pub debug_id: Option<Uuid>,
    /// The `Sourcemap` header / `sourceMappingURL` of a minified file.
    pub sourcemap_ref: Option<String>,
    /// Uncompressed.
    pub content: Arc<[u8]>,
}

/// A file as the backends keep it: the content still compressed.
#[derive(Debug, Clone)]
pub struct ArtifactRow {
    pub kind: String,
    pub url: Option<String>,
    pub debug_id: Option<String>,
    pub sourcemap_ref: Option<String>,
    pub compressed: Vec<u8>,
}

impl ArtifactRow {
    fn into_file(self) -> Result<ArtifactFile, StoreError> {
        let kind = ArtifactKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown artifact kind {}", self.kind)))?;
        let debug_id = match self.debug_id {
            Some(id) => Some(Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?),
            None => None,
        };
        let content = zstd::decode_all(self.compressed.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(ArtifactFile {
            kind,
            url: self.url,
            debug_id,
            sourcemap_ref: self.sourcemap_ref,
            content: content.into(),
        })
    }
}

/// A file to keep with a new bundle.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub kind: ArtifactKind,
    pub url: Option<String>,
    pub debug_id: Option<Uuid>,
    pub sourcemap_ref: Option<String>,
    /// Uncompressed size.
    pub size: i64,
    /// zstd.
    pub compressed: Vec<u8>,
}

impl NewArtifact {
    /// Compresses `content` for storing.
    pub fn new(
        kind: ArtifactKind,
        url: Option<String>,
        debug_id: Option<Uuid>,
        sourcemap_ref: Option<String>,
        content: &[u8],
    ) -> Result<NewArtifact, StoreError> {
        let compressed = zstd::encode_all(content, 3).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(NewArtifact {
            kind,
            url,
            debug_id,
            sourcemap_ref,
            size: content.len() as i64,
            compressed,
        })
    }

    pub(crate) fn debug_id_text(&self) -> Option<String> {
        self.debug_id.map(|id| id.hyphenated().to_string())
    }
}

/// An assembled bundle to keep, its files once per project. The chunks it was assembled
/// from are deleted in the same transaction.
#[derive(Debug, Clone)]
pub struct NewBundle {
    pub organization_id: i64,
    pub checksum: String,
    pub release: Option<String>,
    pub dist: Option<String>,
    pub project_ids: Vec<i64>,
    pub files: Vec<NewArtifact>,
    pub size: i64,
    pub chunks: Vec<String>,
    /// Most bytes (uncompressed) of files a project may hold; past it the bundle is refused.
    pub max_project_bytes: i64,
}

/// A stored bundle, for listings.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    pub id: i64,
    pub checksum: String,
    pub release: Option<String>,
    pub dist: Option<String>,
    pub file_count: i64,
    pub size: i64,
    pub date_created_us: i64,
}

/// A stored file without its content, for listings.
#[derive(Debug, Clone)]
pub struct ArtifactInfo {
    pub id: i64,
    pub bundle_id: i64,
    pub kind: String,
    pub url: Option<String>,
    pub debug_id: Option<String>,
    pub sourcemap_ref: Option<String>,
    pub release: Option<String>,
    pub dist: Option<String>,
    pub size: i64,
    pub date_created_us: i64,
}

/// The forms of a URL a release file may have been uploaded under: the URL itself, then
/// `~/path` (scheme and host stripped; the query and fragment dropped).
pub fn url_candidates(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    if let Some(rest) = url.split_once("://").map(|(_, rest)| rest) {
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let tilde = format!("~{path}");
        if !out.contains(&tilde) {
            out.push(tilde);
        }
    }
    out
}

impl Store {
    /// The file of this kind carrying this debug id, for any bundle of the project.
    pub async fn artifact_by_debug_id(
        &self,
        project_id: i64,
        debug_id: Uuid,
        kind: ArtifactKind,
    ) -> Result<Option<ArtifactFile>, StoreError> {
        let id = debug_id.hyphenated().to_string();
        let row = dispatch!(self, b => b.artifact_by_debug_id(project_id, id, kind.as_str()).await)?;
        row.map(ArtifactRow::into_file).transpose()
    }

    /// A release file by URL: exact url, then the `~/path` form (scheme and host
    /// stripped), for this release and dist (dist None matches files without dist).
    pub async fn artifact_by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        url: &str,
    ) -> Result<Option<ArtifactFile>, StoreError> {
        for candidate in url_candidates(url) {
            let (release, dist) = (release.to_string(), dist.map(str::to_string));
            let row = dispatch!(self, b => b.artifact_by_url(project_id, release, dist, candidate).await)?;
            if let Some(row) = row {
                return row.into_file().map(Some);
            }
        }
        Ok(None)
    }

    /// Keeps uploaded chunks (already checked against their checksums); refuses them when
    /// the organization would hold more than `max_org_bytes` of waiting chunks.
    pub async fn put_chunks(
        &self,
        organization_id: i64,
        chunks: Vec<(String, Vec<u8>)>,
        max_org_bytes: i64,
    ) -> Result<(), StoreError> {
        dispatch!(self, b => b.put_chunks(organization_id, chunks, max_org_bytes).await)
    }

    /// Which of `checksums` the organization has no chunk for.
    pub async fn missing_chunks(
        &self,
        organization_id: i64,
        checksums: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        dispatch!(self, b => b.missing_chunks(organization_id, checksums).await)
    }

    /// The chunks' bytes in the order asked; `NotFound` when one is missing.
    pub async fn chunk_data(&self, organization_id: i64, checksums: Vec<String>) -> Result<Vec<Vec<u8>>, StoreError> {
        dispatch!(self, b => b.chunk_data(organization_id, checksums).await)
    }

    /// The id of the organization's bundle with this checksum, if assembled already.
    pub async fn bundle_by_checksum(&self, organization_id: i64, checksum: &str) -> Result<Option<i64>, StoreError> {
        let checksum = checksum.to_string();
        dispatch!(self, b => b.bundle_by_checksum(organization_id, checksum).await)
    }

    /// Keeps an assembled bundle with its files and deletes its chunks; returns its id.
    pub async fn save_bundle(&self, bundle: NewBundle) -> Result<i64, StoreError> {
        dispatch!(self, b => b.save_bundle(bundle).await)
    }

    /// A project's bundles, newest first.
    pub async fn artifact_bundles(&self, project_id: i64, limit: usize) -> Result<Vec<BundleInfo>, StoreError> {
        dispatch!(self, b => b.artifact_bundles(project_id, limit).await)
    }

    /// A project's files (of one release, when given), newest first, without content.
    pub async fn artifact_files(
        &self,
        project_id: i64,
        release: Option<String>,
        limit: usize,
    ) -> Result<Vec<ArtifactInfo>, StoreError> {
        dispatch!(self, b => b.artifact_files(project_id, release, limit).await)
    }

    /// Deletes up to `limit` chunks uploaded before `chunk_cutoff_us` and bundles (with
    /// their files) assembled before `bundle_cutoff_us`; returns how many rows went.
    pub async fn expire_artifacts(
        &self,
        chunk_cutoff_us: i64,
        bundle_cutoff_us: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        dispatch!(self, b => b.expire_artifacts(chunk_cutoff_us, bundle_cutoff_us, limit).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_is_also_looked_up_in_its_tilde_form() {
        assert_eq!(
            url_candidates("https://example.com/static/app.min.js?v=3"),
            vec!["https://example.com/static/app.min.js?v=3", "~/static/app.min.js"]
        );
        assert_eq!(url_candidates("~/app.js"), vec!["~/app.js"]);
        assert_eq!(url_candidates("app:///main.js"), vec!["app:///main.js", "~/main.js"]);
        assert_eq!(url_candidates("http://host"), vec!["http://host", "~/"]);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [
            ArtifactKind::MinifiedSource,
            ArtifactKind::SourceMap,
            ArtifactKind::Source,
        ] {
            assert_eq!(ArtifactKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ArtifactKind::parse("indexed_ram_bundle"), None);
    }
}
