//! Projects, keys and tokens on PostgreSQL: the first start's bootstrap and what it needs.
//! Administrative writes run on any pooled connection (not through the writer): the
//! database serializes them against every node's batches.

use deadpool_postgres::Pool;
use serde_json::json;

use super::PgError;
use crate::store::rules::{DEFAULT_ORG_SLUG, DEFAULT_PROJECT_SLUG, token_hash};
use crate::store::{Bootstrap, Organization, Project, ProjectKey, now_us};

/// Advisory lock key of the first start's bootstrap (ASCII "errata" and 2).
const BOOTSTRAP_LOCK: i64 = 0x6572_7261_7461_0002;

fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// On an empty database: one organization, a project with a DSN key, and an admin token.
/// Under an advisory lock, so of several nodes started together exactly one bootstraps.
pub async fn bootstrap_if_empty(pool: &Pool) -> Result<Option<Bootstrap>, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BOOTSTRAP_LOCK])
        .await?;
    let orgs: i64 = tx.query_one("SELECT count(*) FROM organizations", &[]).await?.get(0);
    if orgs > 0 {
        return Ok(None);
    }
    let now = now_us();
    let org_id: i64 = tx
        .query_one(
            "INSERT INTO organizations (slug, name, date_created) VALUES ($1, 'Errata', $2) RETURNING id",
            &[&DEFAULT_ORG_SLUG, &now],
        )
        .await?
        .get(0);
    let project_id: i64 = tx
        .query_one(
            "INSERT INTO projects (organization_id, slug, name, date_created) VALUES ($1, $2, 'Default', $3) \
             RETURNING id",
            &[&org_id, &DEFAULT_PROJECT_SLUG, &now],
        )
        .await?
        .get(0);
    let (public_key, secret_key) = (random_hex32(), random_hex32());
    let key_id: i64 = tx
        .query_one(
            "INSERT INTO project_keys (project_id, public_key, secret_key, label, date_created) \
             VALUES ($1, $2, $3, 'Default', $4) RETURNING id",
            &[&project_id, &public_key, &secret_key, &now],
        )
        .await?
        .get(0);
    let token = format!("sntryu_{}{}", random_hex32(), random_hex32());
    tx.execute(
        "INSERT INTO api_tokens (name, token_hash, scopes, date_created) VALUES ('initial admin token', $1, 'admin', $2)",
        &[&token_hash(&token), &now],
    )
    .await?;
    tx.commit().await?;
    let organization = Organization {
        id: org_id,
        slug: DEFAULT_ORG_SLUG.into(),
        name: "Errata".into(),
        date_created: now,
    };
    Ok(Some(Bootstrap {
        project: Project {
            id: project_id,
            organization_id: org_id,
            organization_slug: organization.slug.clone(),
            slug: DEFAULT_PROJECT_SLUG.into(),
            name: "Default".into(),
            platform: None,
            date_created: now,
            settings: json!({}),
        },
        key: ProjectKey {
            id: key_id,
            project_id,
            public_key,
            secret_key,
            label: "Default".into(),
            is_active: true,
            rate_limit_count: None,
            rate_limit_window: None,
            allowed_origins: "*".into(),
            date_created: now,
        },
        organization,
        token,
    }))
}

/// A project by id, with its organization's slug.
pub async fn project_by_id(pool: &Pool, id: i64) -> Result<Project, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT p.id, p.organization_id, o.slug, p.slug, p.name, p.platform, p.date_created, p.settings \
             FROM projects p JOIN organizations o ON o.id = p.organization_id WHERE p.id = $1",
            &[&id],
        )
        .await?
        .ok_or(PgError::NotFound("project"))?;
    let settings: String = row.get(7);
    Ok(Project {
        id: row.get(0),
        organization_id: row.get(1),
        organization_slug: row.get(2),
        slug: row.get(3),
        name: row.get(4),
        platform: row.get(5),
        date_created: row.get(6),
        settings: serde_json::from_str(&settings).unwrap_or_else(|_| json!({})),
    })
}

/// A DSN key by its public part.
pub async fn key_by_public(pool: &Pool, public_key: &str) -> Result<Option<ProjectKey>, PgError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT id, project_id, public_key, secret_key, label, is_active, rate_limit_count, \
             rate_limit_window, allowed_origins, date_created FROM project_keys WHERE public_key = $1",
            &[&public_key],
        )
        .await?;
    Ok(row.map(|r| ProjectKey {
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
    }))
}
