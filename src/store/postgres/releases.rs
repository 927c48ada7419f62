//! Releases on PostgreSQL, as on SQLite (see `store::releases`): releases with their
//! projects, commits and deploys, repositories, and the rows ingest writes for the
//! releases events name.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::{PgError, PgStore};
use crate::store::releases::{
    Commit, Deploy, MAX_COMMITS, MAX_DEPLOYS, NewDeploy, NewRelease, Release, ReleaseChange, ReleaseFilter,
    ReleaseProject, Repository, SeenRelease,
};
use crate::store::{StoreError, now_us};

fn db(e: tokio_postgres::Error) -> StoreError {
    PgError::from(e).into()
}

const RELEASE_COLUMNS: &str = "id, organization_id, version, ref, url, date_created, date_started, date_released";
const COMMIT_COLUMNS: &str = "repository, commit_key, message, author_name, author_email, timestamp";
const DEPLOY_COLUMNS: &str = "id, environment, name, url, date_started, date_finished";

/// Writes, in the ingest batch's transaction, the releases its events named.
pub async fn record_seen(tx: &Transaction<'_>, seen: &[SeenRelease]) -> Result<(), PgError> {
    if seen.is_empty() {
        return Ok(());
    }
    let now = now_us();
    let create = tx
        .prepare_cached(
            "INSERT INTO releases (organization_id, version, date_created) \
             SELECT organization_id, $2, $3 FROM projects WHERE id = $1 \
             ON CONFLICT (organization_id, version) DO NOTHING",
        )
        .await?;
    let link = tx
        .prepare_cached(
            "INSERT INTO release_projects (release_id, project_id, first_event, last_event) \
             SELECT r.id, p.id, $3, $4 FROM projects p JOIN releases r ON r.organization_id = p.organization_id \
             WHERE p.id = $1 AND r.version = $2 \
             ON CONFLICT (release_id, project_id) DO UPDATE SET \
             first_event = LEAST(release_projects.first_event, excluded.first_event), \
             last_event = GREATEST(release_projects.last_event, excluded.last_event)",
        )
        .await?;
    for s in seen {
        // Pipelined: the server runs the link after the create, in one round trip.
        futures_util::future::try_join(
            tx.execute(&create, &[&s.project_id, &s.version, &now]),
            tx.execute(&link, &[&s.project_id, &s.version, &s.first_us, &s.last_us]),
        )
        .await?;
    }
    Ok(())
}

fn base(r: &Row) -> Release {
    Release {
        id: r.get(0),
        organization_id: r.get(1),
        version: r.get(2),
        reference: r.get(3),
        url: r.get(4),
        date_created_us: r.get(5),
        date_started_us: r.get(6),
        date_released_us: r.get(7),
        projects: vec![],
        new_groups: 0,
        commit_count: 0,
        last_commit: None,
        authors: vec![],
        deploy_count: 0,
        last_deploy: None,
    }
}

fn commit(r: &Row) -> Commit {
    Commit {
        repository: r.get(0),
        id: r.get(1),
        message: r.get(2),
        author_name: r.get(3),
        author_email: r.get(4),
        timestamp_us: r.get(5),
    }
}

fn deploy(r: &Row) -> Deploy {
    Deploy {
        id: r.get(0),
        environment: r.get(1),
        name: r.get(2),
        url: r.get(3),
        date_started_us: r.get(4),
        date_finished_us: r.get(5),
    }
}

fn repository(r: &Row) -> Repository {
    Repository {
        id: r.get(0),
        name: r.get(1),
        url: r.get(2),
        provider: r.get(3),
        date_created_us: r.get(4),
    }
}

async fn complete(c: &impl GenericClient, mut release: Release) -> Result<Release, StoreError> {
    release.projects = c
        .query(
            "SELECT project_id, first_event, last_event FROM release_projects WHERE release_id = $1 ORDER BY project_id",
            &[&release.id],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| ReleaseProject {
            project_id: r.get(0),
            first_event_us: r.get(1),
            last_event_us: r.get(2),
        })
        .collect();
    release.new_groups = c
        .query_one(
            "SELECT count(*) FROM issues WHERE first_release = $1 AND project_id IN \
             (SELECT project_id FROM release_projects WHERE release_id = $2)",
            &[&release.version, &release.id],
        )
        .await
        .map_err(db)?
        .get(0);
    release.commit_count = c
        .query_one(
            "SELECT count(*) FROM release_commits WHERE release_id = $1",
            &[&release.id],
        )
        .await
        .map_err(db)?
        .get(0);
    release.last_commit = c
        .query_opt(
            &format!("SELECT {COMMIT_COLUMNS} FROM release_commits WHERE release_id = $1 ORDER BY position LIMIT 1"),
            &[&release.id],
        )
        .await
        .map_err(db)?
        .as_ref()
        .map(commit);
    release.authors = c
        .query(
            "SELECT DISTINCT author_name, author_email FROM release_commits WHERE release_id = $1 \
             AND (author_name IS NOT NULL OR author_email IS NOT NULL) ORDER BY author_email, author_name LIMIT 100",
            &[&release.id],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    release.deploy_count = c
        .query_one("SELECT count(*) FROM deploys WHERE release_id = $1", &[&release.id])
        .await
        .map_err(db)?
        .get(0);
    release.last_deploy = c
        .query_opt(
            &format!("SELECT {DEPLOY_COLUMNS} FROM deploys WHERE release_id = $1 ORDER BY id DESC LIMIT 1"),
            &[&release.id],
        )
        .await
        .map_err(db)?
        .as_ref()
        .map(deploy);
    Ok(release)
}

async fn release_row(c: &impl GenericClient, organization_id: i64, version: &str) -> Result<Release, StoreError> {
    c.query_opt(
        &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE organization_id = $1 AND version = $2"),
        &[&organization_id, &version],
    )
    .await
    .map_err(db)?
    .as_ref()
    .map(base)
    .ok_or(StoreError::NotFound("release"))
}

async fn link_projects(
    tx: &Transaction<'_>,
    release_id: i64,
    organization_id: i64,
    project_ids: &[i64],
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO release_projects (release_id, project_id) SELECT $1, id FROM projects \
         WHERE id = ANY($2) AND organization_id = $3 ON CONFLICT DO NOTHING",
        &[&release_id, &project_ids, &organization_id],
    )
    .await
    .map_err(db)?;
    Ok(())
}

impl PgStore {
    pub async fn create_release(&self, new: NewRelease) -> Result<(Release, bool), StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(db)?;
        let created = tx
            .execute(
                "INSERT INTO releases (organization_id, version, ref, url, date_created, date_started, date_released) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (organization_id, version) DO NOTHING",
                &[
                    &new.organization_id,
                    &new.version,
                    &new.reference,
                    &new.url,
                    &now_us(),
                    &new.date_started_us,
                    &new.date_released_us,
                ],
            )
            .await
            .map_err(db)?
            == 1;
        let row = release_row(&tx, new.organization_id, &new.version).await?;
        link_projects(&tx, row.id, new.organization_id, &new.project_ids).await?;
        let release = complete(&tx, row).await?;
        tx.commit().await.map_err(db)?;
        Ok((release, created))
    }

    pub async fn releases(&self, filter: ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE organization_id = $1 \
                     AND ($2::BIGINT[] IS NULL OR id IN (SELECT release_id FROM release_projects WHERE project_id = ANY($2))) \
                     AND ($3::TEXT IS NULL OR strpos(version, $3) > 0) \
                     ORDER BY date_created DESC, id DESC LIMIT $4 OFFSET $5"
                ),
                &[
                    &filter.organization_id,
                    &filter.project_ids,
                    &filter.query,
                    &(filter.limit as i64),
                    &(filter.offset as i64),
                ],
            )
            .await
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(complete(&client, base(row)).await?);
        }
        Ok(out)
    }

    pub async fn release(&self, organization_id: i64, version: String) -> Result<Release, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = release_row(&client, organization_id, &version).await?;
        complete(&client, row).await
    }

    pub async fn update_release(
        &self,
        organization_id: i64,
        version: String,
        change: ReleaseChange,
    ) -> Result<Release, StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(db)?;
        let row = release_row(&tx, organization_id, &version).await?;
        tx.execute(
            "UPDATE releases SET ref = coalesce($2, ref), url = coalesce($3, url), \
             date_started = coalesce($4, date_started), date_released = coalesce($5, date_released) WHERE id = $1",
            &[
                &row.id,
                &change.reference,
                &change.url,
                &change.date_started_us,
                &change.date_released_us,
            ],
        )
        .await
        .map_err(db)?;
        if let Some(project_ids) = &change.project_ids {
            link_projects(&tx, row.id, organization_id, project_ids).await?;
        }
        if let Some(commits) = &change.commits {
            tx.execute("DELETE FROM release_commits WHERE release_id = $1", &[&row.id])
                .await
                .map_err(db)?;
            let stmt = tx
                .prepare(
                    "INSERT INTO release_commits (release_id, position, repository, commit_key, message, \
                     author_name, author_email, timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .await
                .map_err(db)?;
            for (position, c) in commits.iter().take(MAX_COMMITS).enumerate() {
                tx.execute(
                    &stmt,
                    &[
                        &row.id,
                        &(position as i64),
                        &c.repository,
                        &c.id,
                        &c.message,
                        &c.author_name,
                        &c.author_email,
                        &c.timestamp_us,
                    ],
                )
                .await
                .map_err(db)?;
            }
        }
        let row = release_row(&tx, organization_id, &version).await?;
        let release = complete(&tx, row).await?;
        tx.commit().await.map_err(db)?;
        Ok(release)
    }

    pub async fn delete_release(&self, organization_id: i64, version: String) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(db)?;
        let row = release_row(&tx, organization_id, &version).await?;
        let seen: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM release_projects WHERE release_id = $1 AND first_event IS NOT NULL) \
                 OR EXISTS (SELECT 1 FROM issues WHERE (first_release = $2 OR last_release = $2) AND project_id IN \
                 (SELECT id FROM projects WHERE organization_id = $3))",
                &[&row.id, &version, &organization_id],
            )
            .await
            .map_err(db)?
            .get(0);
        if seen {
            return Err(StoreError::Conflict(
                "This release is referenced by active issues and cannot be removed.".into(),
            ));
        }
        tx.execute(
            "DELETE FROM artifact_files WHERE release = $1 AND project_id IN \
             (SELECT id FROM projects WHERE organization_id = $2)",
            &[&version, &organization_id],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "DELETE FROM artifact_bundles b WHERE organization_id = $1 AND release = $2 \
             AND NOT EXISTS (SELECT 1 FROM artifact_files f WHERE f.bundle_id = b.id)",
            &[&organization_id, &version],
        )
        .await
        .map_err(db)?;
        tx.execute("DELETE FROM releases WHERE id = $1", &[&row.id])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    pub async fn release_commits(&self, organization_id: i64, version: String) -> Result<Vec<Commit>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = release_row(&client, organization_id, &version).await?;
        Ok(client
            .query(
                &format!("SELECT {COMMIT_COLUMNS} FROM release_commits WHERE release_id = $1 ORDER BY position"),
                &[&row.id],
            )
            .await
            .map_err(db)?
            .iter()
            .map(commit)
            .collect())
    }

    pub async fn previous_release_with_commits(
        &self,
        organization_id: i64,
        version: String,
    ) -> Result<Option<Release>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let current = release_row(&client, organization_id, &version).await?;
        let previous = client
            .query_opt(
                &format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases r WHERE organization_id = $1 AND id <> $2 \
                     AND (date_created < $3 OR (date_created = $3 AND id < $2)) \
                     AND EXISTS (SELECT 1 FROM release_commits WHERE release_id = r.id) \
                     ORDER BY date_created DESC, id DESC LIMIT 1"
                ),
                &[&organization_id, &current.id, &current.date_created_us],
            )
            .await
            .map_err(db)?;
        match previous {
            Some(row) => Ok(Some(complete(&client, base(&row)).await?)),
            None => Ok(None),
        }
    }

    pub async fn create_deploy(
        &self,
        organization_id: i64,
        version: String,
        new: NewDeploy,
    ) -> Result<Deploy, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = release_row(&client, organization_id, &version).await?;
        let id: i64 = client
            .query_one(
                "INSERT INTO deploys (release_id, environment, name, url, date_started, date_finished) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &row.id,
                    &new.environment,
                    &new.name,
                    &new.url,
                    &new.date_started_us,
                    &new.date_finished_us,
                ],
            )
            .await
            .map_err(db)?
            .get(0);
        Ok(Deploy {
            id,
            environment: new.environment,
            name: new.name,
            url: new.url,
            date_started_us: new.date_started_us,
            date_finished_us: new.date_finished_us,
        })
    }

    pub async fn deploys(&self, organization_id: i64, version: String) -> Result<Vec<Deploy>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        let row = release_row(&client, organization_id, &version).await?;
        Ok(client
            .query(
                &format!("SELECT {DEPLOY_COLUMNS} FROM deploys WHERE release_id = $1 ORDER BY id DESC LIMIT $2"),
                &[&row.id, &(MAX_DEPLOYS as i64)],
            )
            .await
            .map_err(db)?
            .iter()
            .map(deploy)
            .collect())
    }

    pub async fn repositories(&self, organization_id: i64) -> Result<Vec<Repository>, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        Ok(client
            .query(
                "SELECT id, name, url, provider, date_created FROM repositories WHERE organization_id = $1 \
                 ORDER BY name LIMIT 1000",
                &[&organization_id],
            )
            .await
            .map_err(db)?
            .iter()
            .map(repository)
            .collect())
    }

    pub async fn create_repository(
        &self,
        organization_id: i64,
        name: String,
        url: Option<String>,
        provider: String,
    ) -> Result<Repository, StoreError> {
        let client = self.pool.get().await.map_err(PgError::from)?;
        client
            .execute(
                "INSERT INTO repositories (organization_id, name, url, provider, date_created) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organization_id, name) DO NOTHING",
                &[&organization_id, &name, &url, &provider, &now_us()],
            )
            .await
            .map_err(db)?;
        let row = client
            .query_one(
                "SELECT id, name, url, provider, date_created FROM repositories \
                 WHERE organization_id = $1 AND name = $2",
                &[&organization_id, &name],
            )
            .await
            .map_err(db)?;
        Ok(repository(&row))
    }
}
