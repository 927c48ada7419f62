//! Uploads on SQLite: chunks, artifact bundles and their files (see `store::artifacts`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStore;
use crate::store::artifacts::{ArtifactInfo, ArtifactRow, BundleInfo, NewBundle};
use crate::store::{StoreError, now_us};

const ROW_COLUMNS: &str = "kind, url, debug_id, sourcemap_ref, content";

fn to_row(r: &rusqlite::Row) -> rusqlite::Result<ArtifactRow> {
    Ok(ArtifactRow {
        kind: r.get(0)?,
        url: r.get(1)?,
        debug_id: r.get(2)?,
        sourcemap_ref: r.get(3)?,
        compressed: r.get(4)?,
    })
}

impl SqliteStore {
    pub async fn artifact_by_debug_id(
        &self,
        project_id: i64,
        debug_id: String,
        kind: &'static str,
    ) -> Result<Option<ArtifactRow>, StoreError> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM artifact_files WHERE project_id = ?1 AND debug_id = ?2 AND kind = ?3 \
                 ORDER BY id DESC LIMIT 1"
            );
            Ok(c.query_row(&sql, params![project_id, debug_id, kind], to_row)
                .optional()?)
        })
        .await
    }

    pub async fn artifact_by_url(
        &self,
        project_id: i64,
        release: String,
        dist: Option<String>,
        url: String,
    ) -> Result<Option<ArtifactRow>, StoreError> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM artifact_files WHERE project_id = ?1 AND release = ?2 AND url = ?3 \
                 AND dist IS ?4 ORDER BY id DESC LIMIT 1"
            );
            Ok(c.query_row(&sql, params![project_id, release, url, dist], to_row)
                .optional()?)
        })
        .await
    }

    pub async fn put_chunks(
        &self,
        organization_id: i64,
        chunks: Vec<(String, Vec<u8>)>,
        max_org_bytes: i64,
    ) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| put_chunks(tx, organization_id, &chunks, max_org_bytes))
            .await
    }

    pub async fn missing_chunks(
        &self,
        organization_id: i64,
        checksums: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT 1 FROM upload_chunks WHERE organization_id = ?1 AND checksum = ?2")?;
            let mut missing = Vec::new();
            for checksum in checksums {
                if !stmt.exists(params![organization_id, checksum])? && !missing.contains(&checksum) {
                    missing.push(checksum);
                }
            }
            Ok(missing)
        })
        .await
    }

    pub async fn chunk_data(&self, organization_id: i64, checksums: Vec<String>) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read(move |c| chunk_data(c, organization_id, &checksums)).await
    }

    pub async fn bundle_by_checksum(&self, organization_id: i64, checksum: String) -> Result<Option<i64>, StoreError> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id FROM artifact_bundles WHERE organization_id = ?1 AND checksum = ?2",
                params![organization_id, checksum],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    pub async fn save_bundle(&self, bundle: NewBundle) -> Result<i64, StoreError> {
        self.writer.maintain(move |tx| save_bundle(tx, &bundle)).await
    }

    pub async fn artifact_bundles(&self, project_id: i64, limit: usize) -> Result<Vec<BundleInfo>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT b.id, b.checksum, b.release, b.dist, b.file_count, b.size, b.date_created \
                 FROM artifact_bundles b WHERE b.id IN (SELECT bundle_id FROM artifact_files WHERE project_id = ?1) \
                 ORDER BY b.id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![project_id, limit as i64], |r| {
                Ok(BundleInfo {
                    id: r.get(0)?,
                    checksum: r.get(1)?,
                    release: r.get(2)?,
                    dist: r.get(3)?,
                    file_count: r.get(4)?,
                    size: r.get(5)?,
                    date_created_us: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn artifact_files(
        &self,
        project_id: i64,
        release: Option<String>,
        limit: usize,
    ) -> Result<Vec<ArtifactInfo>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, bundle_id, kind, url, debug_id, sourcemap_ref, release, dist, size, date_created \
                 FROM artifact_files WHERE project_id = ?1 AND (?2 IS NULL OR release = ?2) \
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![project_id, release, limit as i64], |r| {
                Ok(ArtifactInfo {
                    id: r.get(0)?,
                    bundle_id: r.get(1)?,
                    kind: r.get(2)?,
                    url: r.get(3)?,
                    debug_id: r.get(4)?,
                    sourcemap_ref: r.get(5)?,
                    release: r.get(6)?,
                    dist: r.get(7)?,
                    size: r.get(8)?,
                    date_created_us: r.get(9)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn expire_artifacts(
        &self,
        chunk_cutoff_us: i64,
        bundle_cutoff_us: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.writer
            .maintain(move |tx| {
                let limit = limit as i64;
                let chunks = tx.execute(
                    "DELETE FROM upload_chunks WHERE (organization_id, checksum) IN \
                     (SELECT organization_id, checksum FROM upload_chunks WHERE date_created < ?1 LIMIT ?2)",
                    params![chunk_cutoff_us, limit],
                )?;
                let bundles = tx.execute(
                    "DELETE FROM artifact_bundles WHERE id IN (SELECT id FROM artifact_bundles \
                     WHERE date_created < ?1 ORDER BY id LIMIT ?2)",
                    params![bundle_cutoff_us, limit],
                )?;
                Ok(chunks + bundles)
            })
            .await
    }
}

fn put_chunks(
    tx: &Transaction,
    organization_id: i64,
    chunks: &[(String, Vec<u8>)],
    max_org_bytes: i64,
) -> Result<(), StoreError> {
    let held: i64 = tx.query_row(
        "SELECT coalesce(sum(size), 0) FROM upload_chunks WHERE organization_id = ?1",
        [organization_id],
        |r| r.get(0),
    )?;
    let adding: i64 = chunks.iter().map(|(_, data)| data.len() as i64).sum();
    if held + adding > max_org_bytes {
        return Err(StoreError::Conflict(format!(
            "the organization holds {held} bytes of chunks not yet assembled; at most {max_org_bytes} may wait"
        )));
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO upload_chunks (organization_id, checksum, size, data, date_created) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (organization_id, checksum) DO UPDATE SET date_created = excluded.date_created",
    )?;
    let now = now_us();
    for (checksum, data) in chunks {
        stmt.execute(params![organization_id, checksum, data.len() as i64, data, now])
            .map_err(super::from_write)?;
    }
    Ok(())
}

fn chunk_data(c: &Connection, organization_id: i64, checksums: &[String]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT data FROM upload_chunks WHERE organization_id = ?1 AND checksum = ?2")?;
    let mut out = Vec::with_capacity(checksums.len());
    for checksum in checksums {
        let data: Vec<u8> = stmt
            .query_row(params![organization_id, checksum], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::NotFound("chunk"))?;
        out.push(data);
    }
    Ok(out)
}

fn save_bundle(tx: &Transaction, bundle: &NewBundle) -> Result<i64, StoreError> {
    let now = now_us();
    let adding: i64 = bundle.files.iter().map(|f| f.size).sum();
    for project_id in &bundle.project_ids {
        let held: i64 = tx.query_row(
            "SELECT coalesce(sum(size), 0) FROM artifact_files WHERE project_id = ?1",
            [project_id],
            |r| r.get(0),
        )?;
        if held + adding > bundle.max_project_bytes {
            return Err(StoreError::Conflict(format!(
                "the project holds {held} bytes of uploaded files; this bundle would take it past {}",
                bundle.max_project_bytes
            )));
        }
    }
    let existing: Option<i64> = tx
        .query_row(
            "SELECT id FROM artifact_bundles WHERE organization_id = ?1 AND checksum = ?2",
            params![bundle.organization_id, bundle.checksum],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO artifact_bundles (organization_id, checksum, release, dist, file_count, size, date_created) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            bundle.organization_id,
            bundle.checksum,
            bundle.release,
            bundle.dist,
            bundle.files.len() as i64,
            bundle.size,
            now
        ],
    )
    .map_err(super::from_write)?;
    let bundle_id = tx.last_insert_rowid();
    let mut stmt = tx.prepare_cached(
        "INSERT INTO artifact_files (bundle_id, project_id, kind, url, debug_id, sourcemap_ref, release, dist, size, \
         content, date_created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for project_id in &bundle.project_ids {
        for file in &bundle.files {
            stmt.execute(params![
                bundle_id,
                project_id,
                file.kind.as_str(),
                file.url,
                file.debug_id_text(),
                file.sourcemap_ref,
                bundle.release,
                bundle.dist,
                file.size,
                file.compressed,
                now
            ])
            .map_err(super::from_write)?;
        }
    }
    let mut delete = tx.prepare_cached("DELETE FROM upload_chunks WHERE organization_id = ?1 AND checksum = ?2")?;
    for checksum in &bundle.chunks {
        delete.execute(params![bundle.organization_id, checksum])?;
    }
    Ok(bundle_id)
}
