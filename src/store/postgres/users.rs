//! People, sessions and personal tokens on PostgreSQL, as `sqlite/users.rs` keeps them.
//! Role changes and removals lock the admins' rows, so two nodes cannot both demote one of
//! the last two admins.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use super::projects::{Pg, is_unique_violation};
use crate::store::users::{Email, Role, SessionUser, User, check_last_admin, token_exceeds, user_from_parts};
use crate::store::{ApiToken, StoreError, now_us};

const USER_COLUMNS: &str = "id, email, role, date_created";

fn to_user(r: &Row) -> Result<User, StoreError> {
    user_from_parts(r.get(0), r.get(1), r.get::<_, &str>(2), r.get(3))
}

async fn user(c: &impl GenericClient, id: i64) -> Result<User, StoreError> {
    let row = c
        .query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id])
        .await
        .pg()?
        .ok_or(StoreError::NotFound("user"))?;
    to_user(&row)
}

/// The number of admins, with their rows locked until the transaction ends.
async fn lock_admins(c: &impl GenericClient) -> Result<i64, StoreError> {
    let rows = c
        .query("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE", &[])
        .await
        .pg()?;
    Ok(rows.len() as i64)
}

async fn user_tokens(c: &impl GenericClient, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
    let rows = c
        .query(
            "SELECT id, name, scopes, date_created, last_used, organization_id FROM api_tokens \
             WHERE user_id = $1 ORDER BY id",
            &[&user_id],
        )
        .await
        .pg()?;
    Ok(rows
        .iter()
        .map(|r| {
            let scopes: String = r.get(2);
            ApiToken {
                id: r.get(0),
                name: r.get(1),
                scopes: scopes.split_whitespace().map(String::from).collect(),
                date_created: r.get(3),
                last_used: r.get(4),
                organization_id: r.get(5),
                projects: None,
            }
        })
        .collect())
}

impl PgStore {
    pub async fn create_user(&self, email: Email, role: Role, hash: String) -> Result<User, StoreError> {
        let client = self.pool.get().await.pg()?;
        let inserted = client
            .query_one(
                &format!(
                    "INSERT INTO users (email, email_key, role, password_hash, date_created) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
                ),
                &[&email.as_str(), &email.key(), &role.as_str(), &hash, &now_us()],
            )
            .await;
        match inserted {
            Ok(row) => to_user(&row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "{} already has an account",
                email.as_str()
            ))),
            Err(e) => Err(e).pg(),
        }
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let rows = client
            .query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"), &[])
            .await
            .pg()?;
        rows.iter().map(to_user).collect()
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        let client = self.pool.get().await.pg()?;
        user(&client, id).await
    }

    pub async fn user_by_email_key(&self, key: String) -> Result<Option<(User, String)>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let row = client
            .query_opt(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email_key = $1"),
                &[&key],
            )
            .await
            .pg()?;
        row.map(|r| Ok((to_user(&r)?, r.get(4)))).transpose()
    }

    pub async fn password_hash(&self, user_id: i64) -> Result<String, StoreError> {
        let client = self.pool.get().await.pg()?;
        let row = client
            .query_opt("SELECT password_hash FROM users WHERE id = $1", &[&user_id])
            .await
            .pg()?
            .ok_or(StoreError::NotFound("user"))?;
        Ok(row.get(0))
    }

    pub async fn set_user_role(&self, user_id: i64, role: Role) -> Result<User, StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let admins = lock_admins(&tx).await?;
        let current = user(&tx, user_id).await?;
        check_last_admin(admins, current.role, Some(role))?;
        tx.execute("UPDATE users SET role = $2 WHERE id = $1", &[&user_id, &role.as_str()])
            .await
            .pg()?;
        for token in user_tokens(&tx, user_id).await? {
            if token_exceeds(role, &token.scopes) {
                tx.execute("DELETE FROM api_tokens WHERE id = $1", &[&token.id])
                    .await
                    .pg()?;
            }
        }
        let updated = user(&tx, user_id).await?;
        tx.commit().await.pg()?;
        Ok(updated)
    }

    pub async fn set_password(&self, user_id: i64, hash: String, keep: Option<String>) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let n = tx
            .execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user_id, &hash])
            .await
            .pg()?;
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        tx.execute(
            "DELETE FROM sessions WHERE user_id = $1 AND id_hash IS DISTINCT FROM $2",
            &[&user_id, &keep],
        )
        .await
        .pg()?;
        tx.commit().await.pg()
    }

    pub async fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        let admins = lock_admins(&tx).await?;
        let current = user(&tx, user_id).await?;
        check_last_admin(admins, current.role, None)?;
        // Foreign keys remove the sessions and tokens with the person.
        tx.execute("DELETE FROM users WHERE id = $1", &[&user_id]).await.pg()?;
        tx.commit().await.pg()
    }

    pub async fn create_session(
        &self,
        id_hash: String,
        user_id: i64,
        csrf: String,
        now: i64,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, created, last_seen) VALUES ($1, $2, $3, $4, $4)",
                &[&id_hash, &user_id, &csrf, &now],
            )
            .await
            .pg()?;
        Ok(())
    }

    pub async fn session(&self, id_hash: String) -> Result<Option<SessionUser>, StoreError> {
        let client = self.pool.get().await.pg()?;
        let row = client
            .query_opt(
                "SELECT u.id, u.email, u.role, u.date_created, s.csrf, s.created, s.last_seen \
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
                &[&id_hash],
            )
            .await
            .pg()?;
        row.map(|r| {
            Ok(SessionUser {
                user: to_user(&r)?,
                csrf: r.get(4),
                created: r.get(5),
                last_seen: r.get(6),
            })
        })
        .transpose()
    }

    pub async fn touch_session(&self, id_hash: String, now: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .execute(
                "UPDATE sessions SET last_seen = $2 WHERE id_hash = $1",
                &[&id_hash, &now],
            )
            .await
            .pg()?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: String) -> Result<(), StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])
            .await
            .pg()?;
        Ok(())
    }

    pub async fn prune_sessions(&self, idle_before: i64, created_before: i64) -> Result<u64, StoreError> {
        let client = self.pool.get().await.pg()?;
        client
            .execute(
                "DELETE FROM sessions WHERE last_seen <= $1 OR created <= $2",
                &[&idle_before, &created_before],
            )
            .await
            .pg()
    }

    pub async fn create_user_token(
        &self,
        user_id: i64,
        name: String,
        scopes: Vec<String>,
    ) -> Result<String, StoreError> {
        let mut client = self.pool.get().await.pg()?;
        let tx = client.transaction().await.pg()?;
        user(&tx, user_id).await?;
        let token = super::tokens::user_token();
        tx.execute(
            "INSERT INTO api_tokens (name, token_hash, scopes, date_created, user_id) VALUES ($1, $2, $3, $4, $5)",
            &[
                &name,
                &crate::store::token_hash(&token),
                &scopes.join(" "),
                &now_us(),
                &user_id,
            ],
        )
        .await
        .pg()?;
        tx.commit().await.pg()?;
        Ok(token)
    }

    pub async fn user_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        let client = self.pool.get().await.pg()?;
        user_tokens(&client, user_id).await
    }

    pub async fn revoke_user_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await.pg()?;
        let n = client
            .execute(
                "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
                &[&token_id, &user_id],
            )
            .await
            .pg()?;
        if n == 0 {
            return Err(StoreError::NotFound("token"));
        }
        Ok(())
    }
}
