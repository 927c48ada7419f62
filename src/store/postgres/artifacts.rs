//! Uploads on PostgreSQL: chunks, artifact bundles and their files, as on SQLite
//! (see `store::artifacts`).

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{PgError, PgStore};
use crate::store::artifacts::{ArtifactInfo, ArtifactRow, BundleInfo, NewBundle};
use crate::store::{StoreError, now_us};

const ROW_COLUMNS: &str = "kind, url, debug_id, sourcemap_ref, content";

fn to_row(r: &Row) -> ArtifactRow {
    ArtifactRow {
        kind: r.get(0),
        url: r.get(1),
        debug_id: r.get(2),
        sourcemap_ref: r.get(3),
        compressed: r.get(4),
    }
}

impl PgStore {
    pub async fn artifact_by_debug_id(
        &self,
        project_id: i64,
        debug_id: String,
        kind: &'static str,
    ) -> Result<Option<ArtifactRow>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM artifact_files WHERE project_id = $1 AND debug_id = $2 AND kind = $3 \
             ORDER BY id DESC LIMIT 1"
        );
        let row = client
            .query_opt(&sql, &[&project_id, &debug_id, &kind])
            .await
            .map_err(PgError::from)?;
        Ok(row.as_ref().map(to_row))
    }

    pub async fn artifact_by_url(
        &self,
        project_id: i64,
        release: String,
        dist: Option<String>,
        url: String,
    ) -> Result<Option<ArtifactRow>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM artifact_files WHERE project_id = $1 AND release = $2 AND url = $3 \
             AND dist IS NOT DISTINCT FROM $4 ORDER BY id DESC LIMIT 1"
        );
        let row = client
            .query_opt(&sql, &[&project_id, &release, &url, &dist])
            .await
            .map_err(PgError::from)?;
        Ok(row.as_ref().map(to_row))
    }

    pub async fn put_chunks(
        &self,
        organization_id: i64,
        chunks: Vec<(String, Vec<u8>)>,
        max_org_bytes: i64,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        // One upload at a time per organization, so two cannot both pass the quota check.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&(0x6368_756e_6b00_0000_i64 ^ organization_id)],
        )
        .await
        .map_err(PgError::from)?;
        let held: i64 = tx
            .query_one(
                "SELECT coalesce(sum(size), 0)::BIGINT FROM upload_chunks WHERE organization_id = $1",
                &[&organization_id],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        let adding: i64 = chunks.iter().map(|(_, data)| data.len() as i64).sum();
        if held + adding > max_org_bytes {
            return Err(StoreError::Conflict(format!(
                "the organization holds {held} bytes of chunks not yet assembled; at most {max_org_bytes} may wait"
            )));
        }
        let stmt = tx
            .prepare(
                "INSERT INTO upload_chunks (organization_id, checksum, size, data, date_created) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (organization_id, checksum) DO UPDATE SET date_created = excluded.date_created",
            )
            .await
            .map_err(PgError::from)?;
        let now = now_us();
        for (checksum, data) in &chunks {
            tx.execute(&stmt, &[&organization_id, checksum, &(data.len() as i64), data, &now])
                .await
                .map_err(PgError::from)?;
        }
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }

    pub async fn missing_chunks(
        &self,
        organization_id: i64,
        checksums: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let present: Vec<String> = client
            .query(
                "SELECT checksum FROM upload_chunks WHERE organization_id = $1 AND checksum = ANY($2)",
                &[&organization_id, &checksums],
            )
            .await
            .map_err(PgError::from)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut missing: Vec<String> = Vec::new();
        for checksum in checksums {
            if !present.contains(&checksum) && !missing.contains(&checksum) {
                missing.push(checksum);
            }
        }
        Ok(missing)
    }

    pub async fn chunk_data(&self, organization_id: i64, checksums: Vec<String>) -> Result<Vec<Vec<u8>>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let stmt = client
            .prepare("SELECT data FROM upload_chunks WHERE organization_id = $1 AND checksum = $2")
            .await
            .map_err(PgError::from)?;
        let mut out = Vec::with_capacity(checksums.len());
        for checksum in &checksums {
            let row = client
                .query_opt(&stmt, &[&organization_id, checksum])
                .await
                .map_err(PgError::from)?
                .ok_or(StoreError::NotFound("chunk"))?;
            out.push(row.get(0));
        }
        Ok(out)
    }

    pub async fn bundle_by_checksum(&self, organization_id: i64, checksum: String) -> Result<Option<i64>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = client
            .query_opt(
                "SELECT id FROM artifact_bundles WHERE organization_id = $1 AND checksum = $2",
                &[&organization_id, &checksum],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn save_bundle(&self, bundle: NewBundle) -> Result<i64, StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let id = save_bundle(&tx, &bundle).await?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(id)
    }

    pub async fn artifact_bundles(&self, project_id: i64, limit: usize) -> Result<Vec<BundleInfo>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                "SELECT b.id, b.checksum, b.release, b.dist, b.file_count, b.size, b.date_created \
                 FROM artifact_bundles b WHERE b.id IN (SELECT bundle_id FROM artifact_files WHERE project_id = $1) \
                 ORDER BY b.id DESC LIMIT $2",
                &[&project_id, &(limit as i64)],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|r| BundleInfo {
                id: r.get(0),
                checksum: r.get(1),
                release: r.get(2),
                dist: r.get(3),
                file_count: r.get(4),
                size: r.get(5),
                date_created_us: r.get(6),
            })
            .collect())
    }

    pub async fn artifact_files(
        &self,
        project_id: i64,
        release: Option<String>,
        limit: usize,
    ) -> Result<Vec<ArtifactInfo>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                "SELECT id, bundle_id, kind, url, debug_id, sourcemap_ref, release, dist, size, date_created \
                 FROM artifact_files WHERE project_id = $1 AND ($2::TEXT IS NULL OR release = $2) \
                 ORDER BY id DESC LIMIT $3",
                &[&project_id, &release, &(limit as i64)],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|r| ArtifactInfo {
                id: r.get(0),
                bundle_id: r.get(1),
                kind: r.get(2),
                url: r.get(3),
                debug_id: r.get(4),
                sourcemap_ref: r.get(5),
                release: r.get(6),
                dist: r.get(7),
                size: r.get(8),
                date_created_us: r.get(9),
            })
            .collect())
    }

    pub async fn expire_artifacts(
        &self,
        chunk_cutoff_us: i64,
        bundle_cutoff_us: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let limit = limit as i64;
        let chunks = client
            .execute(
                "DELETE FROM upload_chunks WHERE (organization_id, checksum) IN \
                 (SELECT organization_id, checksum FROM upload_chunks WHERE date_created < $1 LIMIT $2)",
                &[&chunk_cutoff_us, &limit],
            )
            .await
            .map_err(PgError::from)?;
        let bundles = client
            .execute(
                "DELETE FROM artifact_bundles WHERE id IN (SELECT id FROM artifact_bundles \
                 WHERE date_created < $1 ORDER BY id LIMIT $2)",
                &[&bundle_cutoff_us, &limit],
            )
            .await
            .map_err(PgError::from)?;
        Ok((chunks + bundles) as usize)
    }
}

async fn save_bundle(tx: &Transaction<'_>, bundle: &NewBundle) -> Result<i64, StoreError> {
    let now = now_us();
    let adding: i64 = bundle.files.iter().map(|f| f.size).sum();
    for project_id in &bundle.project_ids {
        // Bundles for one project are saved one at a time, so the quota holds.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&(0x6172_7466_0000_0000_i64 ^ project_id)],
        )
        .await
        .map_err(PgError::from)?;
        let held: i64 = tx
            .query_one(
                "SELECT coalesce(sum(size), 0)::BIGINT FROM artifact_files WHERE project_id = $1",
                &[project_id],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        if held + adding > bundle.max_project_bytes {
            return Err(StoreError::Conflict(format!(
                "the project holds {held} bytes of uploaded files; this bundle would take it past {}",
                bundle.max_project_bytes
            )));
        }
    }
    let inserted = tx
        .query_opt(
            "INSERT INTO artifact_bundles (organization_id, checksum, release, dist, file_count, size, date_created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (organization_id, checksum) DO NOTHING RETURNING id",
            &[
                &bundle.organization_id,
                &bundle.checksum,
                &bundle.release,
                &bundle.dist,
                &(bundle.files.len() as i64),
                &bundle.size,
                &now,
            ],
        )
        .await
        .map_err(PgError::from)?;
    let bundle_id: i64 = match inserted {
        Some(row) => row.get(0),
        None => {
            return Ok(tx
                .query_one(
                    "SELECT id FROM artifact_bundles WHERE organization_id = $1 AND checksum = $2",
                    &[&bundle.organization_id, &bundle.checksum],
                )
                .await
                .map_err(PgError::from)?
                .get(0));
        }
    };
    let stmt = tx
        .prepare(
            "INSERT INTO artifact_files (bundle_id, project_id, kind, url, debug_id, sourcemap_ref, release, dist, \
             size, content, date_created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await
        .map_err(PgError::from)?;
    for project_id in &bundle.project_ids {
        for file in &bundle.files {
            tx.execute(
                &stmt,
                &[
                    &bundle_id,
                    project_id,
                    &file.kind.as_str(),
                    &file.url,
                    &file.debug_id_text(),
                    &file.sourcemap_ref,
                    &bundle.release,
                    &bundle.dist,
                    &file.size,
                    &file.compressed,
                    &now,
                ],
            )
            .await
            .map_err(PgError::from)?;
        }
    }
    tx.execute(
        "DELETE FROM upload_chunks WHERE organization_id = $1 AND checksum = ANY($2)",
        &[&bundle.organization_id, &bundle.chunks],
    )
    .await
    .map_err(PgError::from)?;
    Ok(bundle_id)
}
