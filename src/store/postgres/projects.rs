//! Organizations, projects and DSN keys on PostgreSQL, with the same results as
//! `sqlite/admin.rs`: same orderings, NotFound cases and conflict messages. Each change runs
//! in one transaction that also announces itself to every node's caches (`config_watch`).
//!
//! A slug taken at the same moment by two nodes is caught by the unique constraint, not only
//! by a check beforehand, and answered with the same conflict as the check.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{PgError, PgStore, config_watch};
use crate::store::{
    KeyChange, NewProject, Organization, Project, ProjectChange, ProjectKey, StoreError, now_us, valid_slug,
};

/// Turns any driver or pool error into the store's error.
pub(super) trait Pg<T> {
    fn pg(self) -> Result<T, StoreError>;
}

impl<T, E: Into<PgError>> Pg<T> for Result<T, E> {
    fn pg(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::from(e.into()))
    }
}

/// Whether a database error is a unique-constraint violation.
pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn slug_taken(slug: &str) -> StoreError {
    StoreError::Conflict(format!("a project with the slug {slug:?} already exists"))
}

fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

const PROJECT_COLUMNS: &str = "p.id, p.organization_id, o.slug, p.slug, p.name, p.platform, p.date_created, p.settings";
const PROJECT_FROM: &str = "projects p JOIN organizations o ON o.id = p.organization_id";

fn project_from_row(r: &Row) -> Project {
    let settings: String = r.get(7);
    Project {
        id: r.get(0),
        organization_id: r.get(1),
        organization_slug: r.get(2),
        slug: r.get(3),
        name: r.get(4),
        platform: r.get(5),
        date_created: r.get(6),
        settings: serde_json::from_str(&settings).unwrap_or_else(|_| json!({})),
    }
}

const KEY_COLUMNS: &str = "id, project_id, public_key, secret_key, label, is_active, rate_limit_count, \
                           rate_limit_window, allowed_origins, date_created";

fn key_from_row(r: &Row) -> ProjectKey {
    ProjectKey {
        id: r.get(0),
        project_id: r.get(1),
        public_key: r.get(2),
        secret_key: r.get(3),
        label: r.get(4),
        is_active: r.get(5),
        rate_limit_count: r.get(6),
        rate_limit_window: r.get(7),
        allowed_origins: r.get(8),
        date_created: r.get(9),
    }
}

fn organization_from_row(r: &Row) -> Organization {
    Organization {
        id: r.get(0),
        slug: r.get(1),
        name: r.get(2),
        date_created: r.get(3),
    }
}

async fn project_in(c: &impl GenericClient, id: i64) -> Result<Project, StoreError> {
    c.query_opt(
        &format!("SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} WHERE p.id = $1"),
        &[&id],
    )
    .await
    .pg()?
    .map(|r| project_from_row(&r))
    .ok_or(StoreError::NotFound("project"))
}

async fn key_in(c: &impl GenericClient, public_key: &str) -> Result<Option<ProjectKey>, StoreError> {
    Ok(c.query_opt(
        &format!("SELECT {KEY_COLUMNS} FROM project_keys WHERE public_key = $1"),
        &[&public_key],
    )
    .await
    .pg()?
    .map(|r| key_from_row(&r)))
}

/// Inserts a DSN key with fresh random parts.
async fn insert_key(c: &impl GenericClient, project_id: i64, label: &str) -> Result<ProjectKey, StoreError> {
    let row = c
        .query_one(
            &format!(
                "INSERT INTO project_keys (project_id, public_key, secret_key, label, date_created) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
            ),
            &[&project_id, &random_hex32(), &random_hex32(), &label, &now_us()],
        )
        .await
        .pg()?;
    Ok(key_from_row(&row))
}

impl PgStore {
    pub async fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(
                "SELECT id, slug, name, date_created FROM organizations ORDER BY id",
                &[],
            )
            .await
            .pg()?;
        Ok(rows.iter().map(organization_from_row).collect())
    }

    /// An organization by slug or numeric id; of several matches, the lowest id (as SQLite).
    pub async fn organization(&self, slug_or_id: &str) -> Result<Organization, StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .query_opt(
                "SELECT id, slug, name, date_created FROM organizations \
                 WHERE slug = $1 OR id::text = $1 ORDER BY id LIMIT 1",
                &[&slug_or_id],
            )
            .await
            .pg()?
            .map(|r| organization_from_row(&r))
            .ok_or(StoreError::NotFound("organization"))
    }

    /// A project of an organization by slug or numeric id; of several matches, the lowest id.
    pub async fn project(&self, organization_id: i64, slug_or_id: &str) -> Result<Project, StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .query_opt(
                &format!(
                    "SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} \
                     WHERE p.organization_id = $1 AND (p.slug = $2 OR p.id::text = $2) ORDER BY p.id LIMIT 1"
                ),
                &[&organization_id, &slug_or_id],
            )
            .await
            .pg()?
            .map(|r| project_from_row(&r))
            .ok_or(StoreError::NotFound("project"))
    }

    /// Several projects by id. As on SQLite, an id with no project is NotFound.
    pub async fn projects_by_id(&self, ids: Vec<i64>) -> Result<HashMap<i64, Project>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(
                &format!("SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} WHERE p.id = ANY($1)"),
                &[&ids],
            )
            .await
            .pg()?;
        let projects: HashMap<i64, Project> = rows.iter().map(project_from_row).map(|p| (p.id, p)).collect();
        if ids.iter().any(|id| !projects.contains_key(id)) {
            return Err(StoreError::NotFound("project"));
        }
        Ok(projects)
    }

    pub async fn projects(&self, organization_id: Option<i64>) -> Result<Vec<Project>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PROJECT_COLUMNS} FROM {PROJECT_FROM} \
                     WHERE $1::BIGINT IS NULL OR p.organization_id = $1 ORDER BY p.id"
                ),
                &[&organization_id],
            )
            .await
            .pg()?;
        Ok(rows.iter().map(project_from_row).collect())
    }

    pub async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey), StoreError> {
        if !valid_slug(&new.slug) {
            return Err(StoreError::Conflict(format!(
                "invalid project slug {:?}: use lower-case letters, digits, '-' and '_'",
                new.slug
            )));
        }
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let id: Option<i64> = tx
            .query_opt(
                "INSERT INTO projects (organization_id, slug, name, platform, date_created) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organization_id, slug) DO NOTHING RETURNING id",
                &[&new.organization_id, &new.slug, &new.name, &new.platform, &now_us()],
            )
            .await
            .pg()?
            .map(|r| r.get(0));
        let id = id.ok_or_else(|| slug_taken(&new.slug))?;
        let project = project_in(&tx, id).await?;
        let key = insert_key(&tx, id, &new.key_label).await?;
        config_watch::announce(&tx).await?;
        tx.commit().await.pg()?;
        self.config_changed();
        Ok((project, key))
    }

    /// Changes a project's settings and fields in one transaction; a slug another project
    /// of the organization has is a conflict, as on SQLite.
    pub async fn update_project(&self, project_id: i64, change: ProjectChange) -> Result<Project, StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        // Locks the row, so that a concurrent change on another node waits for this one.
        let org: i64 = tx
            .query_opt(
                "SELECT organization_id FROM projects WHERE id = $1 FOR UPDATE",
                &[&project_id],
            )
            .await
            .pg()?
            .ok_or(StoreError::NotFound("project"))?
            .get(0);
        if let Some(settings) = &change.settings {
            tx.execute(
                "UPDATE projects SET settings = $2 WHERE id = $1",
                &[&project_id, &settings.to_string()],
            )
            .await
            .pg()?;
        }
        if let Some(slug) = &change.slug {
            let taken = tx
                .query_opt(
                    "SELECT id FROM projects WHERE organization_id = $1 AND slug = $2 AND id != $3",
                    &[&org, slug, &project_id],
                )
                .await
                .pg()?;
            if taken.is_some() {
                return Err(slug_taken(slug));
            }
            if let Err(e) = tx
                .execute("UPDATE projects SET slug = $2 WHERE id = $1", &[&project_id, slug])
                .await
            {
                return Err(if is_unique_violation(&e) {
                    slug_taken(slug)
                } else {
                    PgError::from(e).into()
                });
            }
        }
        if let Some(name) = &change.name {
            tx.execute("UPDATE projects SET name = $2 WHERE id = $1", &[&project_id, name])
                .await
                .pg()?;
        }
        if let Some(platform) = &change.platform {
            tx.execute(
                "UPDATE projects SET platform = $2 WHERE id = $1",
                &[&project_id, platform],
            )
            .await
            .pg()?;
        }
        let project = project_in(&tx, project_id).await?;
        config_watch::announce(&tx).await?;
        tx.commit().await.pg()?;
        self.config_changed();
        Ok(project)
    }

    /// Deletes a project; its keys, issues, events, attachments, reports and token bindings
    /// go with it (foreign keys), as on SQLite. Its outcome rows stay until retention.
    pub async fn delete_project(&self, project_id: i64) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        tx.execute("DELETE FROM issue_hashes WHERE project_id = $1", &[&project_id])
            .await
            .pg()?;
        let n = tx
            .execute("DELETE FROM projects WHERE id = $1", &[&project_id])
            .await
            .pg()?;
        if n == 0 {
            return Err(StoreError::NotFound("project"));
        }
        config_watch::announce(&tx).await?;
        tx.commit().await.pg()?;
        self.config_changed();
        Ok(())
    }

    pub async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM project_keys WHERE project_id = $1 ORDER BY id"),
                &[&project_id],
            )
            .await
            .pg()?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    pub async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey, StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let key = insert_key(&tx, project_id, label).await?;
        config_watch::announce(&tx).await?;
        tx.commit().await.pg()?;
        self.config_changed();
        Ok(key)
    }

    pub async fn update_key(
        &self,
        project_id: i64,
        public_key: &str,
        change: KeyChange,
    ) -> Result<ProjectKey, StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let id: i64 = tx
            .query_opt(
                "SELECT id FROM project_keys WHERE public_key = $1 AND project_id = $2 FOR UPDATE",
                &[&public_key, &project_id],
            )
            .await
            .pg()?
            .ok_or(StoreError::NotFound("key"))?
            .get(0);
        if let Some(label) = &change.label {
            tx.execute("UPDATE project_keys SET label = $2 WHERE id = $1", &[&id, label])
                .await
                .pg()?;
        }
        if let Some(active) = change.is_active {
            tx.execute("UPDATE project_keys SET is_active = $2 WHERE id = $1", &[&id, &active])
                .await
                .pg()?;
        }
        if let Some(limit) = change.rate_limit {
            let (count, window) = match limit {
                Some((c, w)) => (Some(c), Some(w)),
                None => (None, None),
            };
            tx.execute(
                "UPDATE project_keys SET rate_limit_count = $2, rate_limit_window = $3 WHERE id = $1",
                &[&id, &count, &window],
            )
            .await
            .pg()?;
        }
        if let Some(origins) = &change.allowed_origins {
            tx.execute(
                "UPDATE project_keys SET allowed_origins = $2 WHERE id = $1",
                &[&id, origins],
            )
            .await
            .pg()?;
        }
        let key = key_in(&tx, public_key).await?.ok_or(StoreError::NotFound("key"))?;
        config_watch::announce(&tx).await?;
        tx.commit().await.pg()?;
        self.config_changed();
        Ok(key)
    }

    pub async fn delete_key(&self, project_id: i64, public_key: &str) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let n = tx
            .execute(
                "DELETE FROM project_keys WHERE project_id = $1 AND public_key = $2",
                &[&project_id, &public_key],
            )
            .await
            .pg()?;
        if n == 0 {
            return Err(StoreError::NotFound("key"));
        }
        config_watch::announce(&tx).await?;
        tx.commit().await.pg()?;
        self.config_changed();
        Ok(())
    }
}
