//! Releases on SQLite: releases with their projects, commits and deploys, repositories,
//! and the rows ingest writes for the releases events name (see `store::releases`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStore;
use crate::store::releases::{
    Commit, Deploy, MAX_COMMITS, MAX_DEPLOYS, NewDeploy, NewRelease, Release, ReleaseChange, ReleaseFilter,
    ReleaseProject, Repository, SeenRelease,
};
use crate::store::{StoreError, now_us};

const RELEASE_COLUMNS: &str = "id, organization_id, version, ref, url, date_created, date_started, date_released";

/// Writes, in the ingest batch's transaction, the releases its events named.
pub fn record_seen(tx: &Transaction, seen: &[SeenRelease]) -> Result<(), StoreError> {
    if seen.is_empty() {
        return Ok(());
    }
    let now = now_us();
    let mut create = tx.prepare_cached(
        "INSERT INTO releases (organization_id, version, date_created) \
         SELECT organization_id, ?2, ?3 FROM projects WHERE id = ?1 \
         ON CONFLICT (organization_id, version) DO NOTHING",
    )?;
    let mut link = tx.prepare_cached(
        "INSERT INTO release_projects (release_id, project_id, first_event, last_event) \
         SELECT r.id, p.id, ?3, ?4 FROM projects p JOIN releases r ON r.organization_id = p.organization_id \
         WHERE p.id = ?1 AND r.version = ?2 \
         ON CONFLICT (release_id, project_id) DO UPDATE SET \
         first_event = min(coalesce(first_event, excluded.first_event), excluded.first_event), \
         last_event = max(coalesce(last_event, excluded.last_event), excluded.last_event)",
    )?;
    for s in seen {
        create
            .execute(params![s.project_id, s.version, now])
            .map_err(super::from_write)?;
        link.execute(params![s.project_id, s.version, s.first_us, s.last_us])
            .map_err(super::from_write)?;
    }
    Ok(())
}

fn base(r: &rusqlite::Row) -> rusqlite::Result<Release> {
    Ok(Release {
        id: r.get(0)?,
        organization_id: r.get(1)?,
        version: r.get(2)?,
        reference: r.get(3)?,
        url: r.get(4)?,
        date_created_us: r.get(5)?,
        date_started_us: r.get(6)?,
        date_released_us: r.get(7)?,
        projects: vec![],
        new_groups: 0,
        commit_count: 0,
        last_commit: None,
        authors: vec![],
        deploy_count: 0,
        last_deploy: None,
    })
}

fn commit(r: &rusqlite::Row) -> rusqlite::Result<Commit> {
    Ok(Commit {
        repository: r.get(0)?,
        id: r.get(1)?,
        message: r.get(2)?,
        author_name: r.get(3)?,
        author_email: r.get(4)?,
        timestamp_us: r.get(5)?,
    })
}

const COMMIT_COLUMNS: &str = "repository, commit_key, message, author_name, author_email, timestamp";

fn deploy(r: &rusqlite::Row) -> rusqlite::Result<Deploy> {
    Ok(Deploy {
        id: r.get(0)?,
        environment: r.get(1)?,
        name: r.get(2)?,
        url: r.get(3)?,
        date_started_us: r.get(4)?,
        date_finished_us: r.get(5)?,
    })
}

const DEPLOY_COLUMNS: &str = "id, environment, name, url, date_started, date_finished";

/// Fills in what is kept beside the release row.
fn complete(c: &Connection, mut release: Release) -> Result<Release, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT project_id, first_event, last_event FROM release_projects WHERE release_id = ?1 ORDER BY project_id",
    )?;
    release.projects = stmt
        .query_map([release.id], |r| {
            Ok(ReleaseProject {
                project_id: r.get(0)?,
                first_event_us: r.get(1)?,
                last_event_us: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    release.new_groups = c.query_row(
        "SELECT count(*) FROM issues WHERE first_release = ?1 AND project_id IN \
         (SELECT project_id FROM release_projects WHERE release_id = ?2)",
        params![release.version, release.id],
        |r| r.get(0),
    )?;
    release.commit_count = c.query_row(
        "SELECT count(*) FROM release_commits WHERE release_id = ?1",
        [release.id],
        |r| r.get(0),
    )?;
    release.last_commit = c
        .query_row(
            &format!("SELECT {COMMIT_COLUMNS} FROM release_commits WHERE release_id = ?1 ORDER BY position LIMIT 1"),
            [release.id],
            commit,
        )
        .optional()?;
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT author_name, author_email FROM release_commits WHERE release_id = ?1 \
         AND (author_name IS NOT NULL OR author_email IS NOT NULL) ORDER BY author_email, author_name LIMIT 100",
    )?;
    release.authors = stmt
        .query_map([release.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    release.deploy_count = c.query_row(
        "SELECT count(*) FROM deploys WHERE release_id = ?1",
        [release.id],
        |r| r.get(0),
    )?;
    release.last_deploy = c
        .query_row(
            &format!("SELECT {DEPLOY_COLUMNS} FROM deploys WHERE release_id = ?1 ORDER BY id DESC LIMIT 1"),
            [release.id],
            deploy,
        )
        .optional()?;
    Ok(release)
}

fn release_row(c: &Connection, organization_id: i64, version: &str) -> Result<Release, StoreError> {
    c.query_row(
        &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE organization_id = ?1 AND version = ?2"),
        params![organization_id, version],
        base,
    )
    .optional()?
    .ok_or(StoreError::NotFound("release"))
}

fn release(c: &Connection, organization_id: i64, version: &str) -> Result<Release, StoreError> {
    let row = release_row(c, organization_id, version)?;
    complete(c, row)
}

fn link_projects(
    tx: &Transaction,
    release_id: i64,
    organization_id: i64,
    project_ids: &[i64],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO release_projects (release_id, project_id) SELECT ?1, id FROM projects \
         WHERE id = ?2 AND organization_id = ?3 ON CONFLICT DO NOTHING",
    )?;
    for project_id in project_ids {
        stmt.execute(params![release_id, project_id, organization_id])
            .map_err(super::from_write)?;
    }
    Ok(())
}

fn create_release(tx: &Transaction, new: &NewRelease) -> Result<(Release, bool), StoreError> {
    let created = tx
        .execute(
            "INSERT INTO releases (organization_id, version, ref, url, date_created, date_started, date_released) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (organization_id, version) DO NOTHING",
            params![
                new.organization_id,
                new.version,
                new.reference,
                new.url,
                now_us(),
                new.date_started_us,
                new.date_released_us
            ],
        )
        .map_err(super::from_write)?
        == 1;
    let row = release_row(tx, new.organization_id, &new.version)?;
    link_projects(tx, row.id, new.organization_id, &new.project_ids)?;
    Ok((complete(tx, row)?, created))
}

fn update_release(
    tx: &Transaction,
    organization_id: i64,
    version: &str,
    change: &ReleaseChange,
) -> Result<Release, StoreError> {
    let row = release_row(tx, organization_id, version)?;
    tx.execute(
        "UPDATE releases SET ref = coalesce(?2, ref), url = coalesce(?3, url), \
         date_started = coalesce(?4, date_started), date_released = coalesce(?5, date_released) WHERE id = ?1",
        params![
            row.id,
            change.reference,
            change.url,
            change.date_started_us,
            change.date_released_us
        ],
    )
    .map_err(super::from_write)?;
    if let Some(project_ids) = &change.project_ids {
        link_projects(tx, row.id, organization_id, project_ids)?;
    }
    if let Some(commits) = &change.commits {
        tx.execute("DELETE FROM release_commits WHERE release_id = ?1", [row.id])?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO release_commits (release_id, position, repository, commit_key, message, author_name, \
             author_email, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (position, c) in commits.iter().take(MAX_COMMITS).enumerate() {
            stmt.execute(params![
                row.id,
                position as i64,
                c.repository,
                c.id,
                c.message,
                c.author_name,
                c.author_email,
                c.timestamp_us
            ])
            .map_err(super::from_write)?;
        }
    }
    release(tx, organization_id, version)
}

fn delete_release(tx: &Transaction, organization_id: i64, version: &str) -> Result<(), StoreError> {
    let row = release_row(tx, organization_id, version)?;
    let seen: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM release_projects WHERE release_id = ?1 AND first_event IS NOT NULL) \
         OR EXISTS (SELECT 1 FROM issues WHERE (first_release = ?2 OR last_release = ?2) AND project_id IN \
         (SELECT id FROM projects WHERE organization_id = ?3))",
        params![row.id, version, organization_id],
        |r| r.get(0),
    )?;
    if seen {
        return Err(StoreError::Conflict(
            "This release is referenced by active issues and cannot be removed.".into(),
        ));
    }
    tx.execute(
        "DELETE FROM artifact_files WHERE release = ?1 AND project_id IN \
         (SELECT id FROM projects WHERE organization_id = ?2)",
        params![version, organization_id],
    )?;
    tx.execute(
        "DELETE FROM artifact_bundles WHERE organization_id = ?1 AND release = ?2 \
         AND NOT EXISTS (SELECT 1 FROM artifact_files f WHERE f.bundle_id = artifact_bundles.id)",
        params![organization_id, version],
    )?;
    tx.execute("DELETE FROM releases WHERE id = ?1", [row.id])?;
    Ok(())
}

impl SqliteStore {
    pub async fn create_release(&self, new: NewRelease) -> Result<(Release, bool), StoreError> {
        self.writer.maintain(move |tx| create_release(tx, &new)).await
    }

    pub async fn releases(&self, filter: ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        self.read(move |c| {
            let projects = filter
                .project_ids
                .as_ref()
                .map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
            let mut stmt = c.prepare(&format!(
                "SELECT {RELEASE_COLUMNS} FROM releases WHERE organization_id = ?1 \
                 AND (?2 IS NULL OR id IN (SELECT release_id FROM release_projects WHERE project_id IN \
                 (SELECT value FROM json_each(?2)))) \
                 AND (?3 IS NULL OR instr(version, ?3) > 0) ORDER BY date_created DESC, id DESC LIMIT ?4 OFFSET ?5"
            ))?;
            let rows: Vec<Release> = stmt
                .query_map(
                    params![
                        filter.organization_id,
                        projects,
                        filter.query,
                        filter.limit as i64,
                        filter.offset as i64
                    ],
                    base,
                )?
                .collect::<Result<_, _>>()?;
            rows.into_iter().map(|r| complete(c, r)).collect()
        })
        .await
    }

    pub async fn release(&self, organization_id: i64, version: String) -> Result<Release, StoreError> {
        self.read(move |c| release(c, organization_id, &version)).await
    }

    pub async fn update_release(
        &self,
        organization_id: i64,
        version: String,
        change: ReleaseChange,
    ) -> Result<Release, StoreError> {
        self.writer
            .maintain(move |tx| update_release(tx, organization_id, &version, &change))
            .await
    }

    pub async fn delete_release(&self, organization_id: i64, version: String) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| delete_release(tx, organization_id, &version))
            .await
    }

    pub async fn release_commits(&self, organization_id: i64, version: String) -> Result<Vec<Commit>, StoreError> {
        self.read(move |c| {
            let row = release_row(c, organization_id, &version)?;
            let mut stmt = c.prepare(&format!(
                "SELECT {COMMIT_COLUMNS} FROM release_commits WHERE release_id = ?1 ORDER BY position"
            ))?;
            Ok(stmt.query_map([row.id], commit)?.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn previous_release_with_commits(
        &self,
        organization_id: i64,
        version: String,
    ) -> Result<Option<Release>, StoreError> {
        self.read(move |c| {
            let current = release_row(c, organization_id, &version)?;
            let previous = c
                .query_row(
                    &format!(
                        "SELECT {RELEASE_COLUMNS} FROM releases r WHERE organization_id = ?1 AND id <> ?2 \
                         AND (date_created < ?3 OR (date_created = ?3 AND id < ?2)) \
                         AND EXISTS (SELECT 1 FROM release_commits WHERE release_id = r.id) \
                         ORDER BY date_created DESC, id DESC LIMIT 1"
                    ),
                    params![organization_id, current.id, current.date_created_us],
                    base,
                )
                .optional()?;
            previous.map(|r| complete(c, r)).transpose()
        })
        .await
    }

    pub async fn create_deploy(
        &self,
        organization_id: i64,
        version: String,
        new: NewDeploy,
    ) -> Result<Deploy, StoreError> {
        self.writer
            .maintain(move |tx| {
                let row = release_row(tx, organization_id, &version)?;
                tx.execute(
                    "INSERT INTO deploys (release_id, environment, name, url, date_started, date_finished) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        row.id,
                        new.environment,
                        new.name,
                        new.url,
                        new.date_started_us,
                        new.date_finished_us
                    ],
                )
                .map_err(super::from_write)?;
                Ok(Deploy {
                    id: tx.last_insert_rowid(),
                    environment: new.environment,
                    name: new.name,
                    url: new.url,
                    date_started_us: new.date_started_us,
                    date_finished_us: new.date_finished_us,
                })
            })
            .await
    }

    pub async fn deploys(&self, organization_id: i64, version: String) -> Result<Vec<Deploy>, StoreError> {
        self.read(move |c| {
            let row = release_row(c, organization_id, &version)?;
            let mut stmt = c.prepare(&format!(
                "SELECT {DEPLOY_COLUMNS} FROM deploys WHERE release_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            Ok(stmt
                .query_map(params![row.id, MAX_DEPLOYS as i64], deploy)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn repositories(&self, organization_id: i64) -> Result<Vec<Repository>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, name, url, provider, date_created FROM repositories WHERE organization_id = ?1 \
                 ORDER BY name LIMIT 1000",
            )?;
            Ok(stmt
                .query_map([organization_id], repository)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn create_repository(
        &self,
        organization_id: i64,
        name: String,
        url: Option<String>,
        provider: String,
    ) -> Result<Repository, StoreError> {
        self.writer
            .maintain(move |tx| {
                tx.execute(
                    "INSERT INTO repositories (organization_id, name, url, provider, date_created) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (organization_id, name) DO NOTHING",
                    params![organization_id, name, url, provider, now_us()],
                )
                .map_err(super::from_write)?;
                Ok(tx.query_row(
                    "SELECT id, name, url, provider, date_created FROM repositories \
                     WHERE organization_id = ?1 AND name = ?2",
                    params![organization_id, name],
                    repository,
                )?)
            })
            .await
    }
}

fn repository(r: &rusqlite::Row) -> rusqlite::Result<Repository> {
    Ok(Repository {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        provider: r.get(3)?,
        date_created_us: r.get(4)?,
    })
}
