//! API tokens on PostgreSQL, as `sqlite/admin.rs` keeps them: only the SHA-256 of a token
//! is stored; a bound token is minted with its binding in one transaction. Tokens are not
//! cached by any node (every request looks its token up), so a revocation on one node holds
//! on all at once.

use deadpool_postgres::GenericClient;
use serde_json::json;
use tokio_postgres::Row;

use super::PgStore;
use super::projects::Pg;
use crate::store::{ApiToken, NewToken, ORG_TOKEN_MARKER, StoreError, now_us, token_hash};

fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

const TOKEN_COLUMNS: &str = "id, name, scopes, date_created, last_used, organization_id, project_bound";

/// A token row; its project list (when bound) is read by `with_projects`.
fn token_from_row(r: &Row) -> ApiToken {
    let scopes: String = r.get(2);
    let bound: i64 = r.get(6);
    ApiToken {
        id: r.get(0),
        name: r.get(1),
        scopes: scopes.split_whitespace().map(String::from).collect(),
        date_created: r.get(3),
        last_used: r.get(4),
        organization_id: r.get(5),
        projects: (bound != 0).then(Vec::new),
    }
}

async fn with_projects(c: &impl GenericClient, mut token: ApiToken) -> Result<ApiToken, StoreError> {
    if let Some(projects) = &mut token.projects {
        *projects = c
            .query(
                "SELECT project_id FROM api_token_projects WHERE token_id = $1 ORDER BY project_id",
                &[&token.id],
            )
            .await
            .pg()?
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
    Ok(token)
}

/// A user token: `sntryu_` and 64 hex digits, the format sentry-cli recognises.
pub(super) fn user_token() -> String {
    format!("sntryu_{}{}", random_hex32(), random_hex32())
}

/// An organization token: `sntrys_<base64 JSON>_<base64 secret>`, the format sentry-cli
/// reads its URL and organization from.
fn org_token(base_url: &str, org_slug: &str) -> String {
    use base64::Engine;
    let claims = json!({"iat": now_us() / 1_000_000, "url": base_url, "region_url": base_url, "org": org_slug});
    let secret: Vec<u8> = hex::decode(format!("{}{}", random_hex32(), random_hex32())).unwrap_or_default();
    format!(
        "sntrys_{}_{}",
        base64::engine::general_purpose::STANDARD.encode(claims.to_string()),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret)
    )
}

/// Stores a token's hash with its scopes; returns the row id.
async fn insert_token(c: &impl GenericClient, name: &str, token: &str, scopes: &[&str]) -> Result<i64, StoreError> {
    Ok(c.query_one(
        "INSERT INTO api_tokens (name, token_hash, scopes, date_created) VALUES ($1, $2, $3, $4) RETURNING id",
        &[&name, &token_hash(token), &scopes.join(" "), &now_us()],
    )
    .await
    .pg()?
    .get(0))
}

/// Binds a token to an organization and, when `projects` is given, to those of its projects
/// only (each must belong to the organization, or the whole mint is NotFound).
async fn bind(c: &impl GenericClient, id: i64, org_id: i64, projects: Option<&[i64]>) -> Result<(), StoreError> {
    let bound: i64 = projects.is_some().into();
    c.execute(
        "UPDATE api_tokens SET organization_id = $2, project_bound = $3 WHERE id = $1",
        &[&id, &org_id, &bound],
    )
    .await
    .pg()?;
    for project in projects.unwrap_or_default() {
        let in_org: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND organization_id = $2)",
                &[project, &org_id],
            )
            .await
            .pg()?
            .get(0);
        if !in_org {
            return Err(StoreError::NotFound("project"));
        }
        c.execute(
            "INSERT INTO api_token_projects (token_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, project],
        )
        .await
        .pg()?;
    }
    Ok(())
}

impl PgStore {
    pub async fn create_token(&self, name: &str, scopes: &[&str]) -> Result<String, StoreError> {
        let client = self.pool.get().await.pg()?;
        let token = user_token();
        insert_token(&client, name, &token, scopes).await?;
        Ok(token)
    }

    /// Its scopes carry the marker `org-token`, so the API answers `user: null` for it.
    pub async fn create_org_token(
        &self,
        name: &str,
        scopes: &[&str],
        base_url: &str,
        org_slug: &str,
    ) -> Result<String, StoreError> {
        let client = self.pool.get().await.pg()?;
        let token = org_token(base_url, org_slug);
        let mut all: Vec<&str> = scopes.to_vec();
        all.push(ORG_TOKEN_MARKER);
        insert_token(&client, name, &token, &all).await?;
        Ok(token)
    }

    pub async fn create_bound_token(&self, new: NewToken) -> Result<String, StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let mut scopes: Vec<&str> = new.scopes.iter().map(String::as_str).collect();
        let token = match &new.org_claims {
            Some((base_url, org_slug)) => {
                scopes.push(ORG_TOKEN_MARKER);
                org_token(base_url, org_slug)
            }
            None => user_token(),
        };
        let id = insert_token(&tx, &new.name, &token, &scopes).await?;
        if let Some((org_id, projects)) = &new.binding {
            bind(&tx, id, *org_id, projects.as_deref()).await?;
        }
        tx.commit().await.pg()?;
        Ok(token)
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"), &[])
            .await
            .pg()?;
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            tokens.push(with_projects(&client, token_from_row(row)).await?);
        }
        Ok(tokens)
    }

    /// The token stored under `hash` and that hash (an indexed equality on a hash: no
    /// timing signal about the token; the caller compares in constant time).
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, String)>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let row = client
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS}, token_hash FROM api_tokens WHERE token_hash = $1"),
                &[&hash],
            )
            .await
            .pg()?;
        match row {
            Some(row) => {
                let token = with_projects(&client, token_from_row(&row)).await?;
                Ok(Some((token, row.get(7))))
            }
            None => Ok(None),
        }
    }

    pub async fn touch_token(&self, id: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .execute("UPDATE api_tokens SET last_used = $2 WHERE id = $1", &[&id, &now_us()])
            .await
            .pg()?;
        Ok(())
    }

    pub async fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await.pg()?;
        let n = client
            .execute("DELETE FROM api_tokens WHERE id = $1", &[&id])
            .await
            .pg()?;
        if n == 0 {
            return Err(StoreError::NotFound("token"));
        }
        Ok(())
    }
}
