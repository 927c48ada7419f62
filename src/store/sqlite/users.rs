//! People, sessions and personal tokens in SQLite (see `store::users`).

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, admin};
use crate::store::users::{Email, Role, SessionUser, User, check_last_admin, token_exceeds, user_from_parts};
use crate::store::{ApiToken, StoreError, now_us};

const USER_COLUMNS: &str = "id, email, role, date_created";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_user((id, email, role, created): (i64, String, String, i64)) -> Result<User, StoreError> {
    user_from_parts(id, email, &role, created)
}

fn user(conn: &Connection, id: i64) -> Result<User, StoreError> {
    let row = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row(params![id], user_row)
        .optional()?
        .ok_or(StoreError::NotFound("user"))?;
    to_user(row)
}

fn admins(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM users WHERE role = 'admin'", [], |r| r.get(0))?)
}

/// Revokes the person's tokens whose levels `role` no longer allows.
fn revoke_wider_tokens(conn: &Connection, user_id: i64, role: Role) -> Result<(), StoreError> {
    for token in user_tokens(conn, user_id)? {
        if token_exceeds(role, &token.scopes) {
            conn.execute("DELETE FROM api_tokens WHERE id = ?1", params![token.id])?;
        }
    }
    Ok(())
}

fn user_tokens(conn: &Connection, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM api_tokens WHERE user_id = ?1 ORDER BY id")?
        .query_map(params![user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let all = admin::tokens(conn)?;
    Ok(all.into_iter().filter(|t| ids.contains(&t.id)).collect())
}

impl SqliteStore {
    pub async fn create_user(&self, email: Email, role: Role, hash: String) -> Result<User, StoreError> {
        self.writer
            .maintain(move |tx| {
                let taken: Option<i64> = tx
                    .query_row("SELECT id FROM users WHERE email_key = ?1", params![email.key()], |r| r.get(0))
                    .optional()?;
                if taken.is_some() {
                    return Err(StoreError::Conflict(format!("{} already has an account", email.as_str())));
                }
                tx.execute(
                    "INSERT INTO users (email, email_key, role, password_hash, date_created) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![email.as_str(), email.key(), role.as_str(), hash, now_us()],
                )?;
                user(tx, tx.last_insert_rowid())
            })
            .await
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|c| {
            let rows: Vec<_> = c
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?
                .query_map([], user_row)?
                .collect::<Result<_, _>>()?;
            rows.into_iter().map(to_user).collect()
        })
        .await
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        self.read(move |c| user(c, id)).await
    }

    pub async fn user_by_email_key(&self, key: String) -> Result<Option<(User, String)>, StoreError> {
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email_key = ?1"
                ))?
                .query_row(params![key], |r| Ok((user_row(r)?, r.get::<_, String>(4)?)))
                .optional()?;
            row.map(|(u, h)| Ok((to_user(u)?, h))).transpose()
        })
        .await
    }

    pub async fn password_hash(&self, user_id: i64) -> Result<String, StoreError> {
        self.read(move |c| {
            c.query_row("SELECT password_hash FROM users WHERE id = ?1", params![user_id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    pub async fn set_user_role(&self, user_id: i64, role: Role) -> Result<User, StoreError> {
        self.writer
            .maintain(move |tx| {
                let current = user(tx, user_id)?;
                check_last_admin(admins(tx)?, current.role, Some(role))?;
                tx.execute(
                    "UPDATE users SET role = ?2 WHERE id = ?1",
                    params![user_id, role.as_str()],
                )?;
                revoke_wider_tokens(tx, user_id, role)?;
                user(tx, user_id)
            })
            .await
    }

    pub async fn set_password(&self, user_id: i64, hash: String, keep: Option<String>) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                let n = tx.execute(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![user_id, hash],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("user"));
                }
                tx.execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND id_hash IS NOT ?2",
                    params![user_id, keep],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                let current = user(tx, user_id)?;
                check_last_admin(admins(tx)?, current.role, None)?;
                // Foreign keys remove the sessions and tokens with the person.
                tx.execute("DELETE FROM users WHERE id = ?1", params![user_id])?;
                Ok(())
            })
            .await
    }

    pub async fn create_session(
        &self,
        id_hash: String,
        user_id: i64,
        csrf: String,
        now: i64,
    ) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                tx.execute(
                    "INSERT INTO sessions (id_hash, user_id, csrf, created, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![id_hash, user_id, csrf, now],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn session(&self, id_hash: String) -> Result<Option<SessionUser>, StoreError> {
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT u.id, u.email, u.role, u.date_created, s.csrf, s.created, s.last_seen \
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?1",
                )?
                .query_row(params![id_hash], |r| {
                    Ok((
                        user_row(r)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })
                .optional()?;
            row.map(|(u, csrf, created, last_seen)| {
                Ok(SessionUser {
                    user: to_user(u)?,
                    csrf,
                    created,
                    last_seen,
                })
            })
            .transpose()
        })
        .await
    }

    pub async fn touch_session(&self, id_hash: String, now: i64) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                tx.execute(
                    "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1",
                    params![id_hash, now],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn delete_session(&self, id_hash: String) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                tx.execute("DELETE FROM sessions WHERE id_hash = ?1", params![id_hash])?;
                Ok(())
            })
            .await
    }

    pub async fn prune_sessions(&self, idle_before: i64, created_before: i64) -> Result<u64, StoreError> {
        self.writer
            .maintain(move |tx| {
                let n = tx.execute(
                    "DELETE FROM sessions WHERE last_seen <= ?1 OR created <= ?2",
                    params![idle_before, created_before],
                )?;
                Ok(n as u64)
            })
            .await
    }

    pub async fn create_user_token(
        &self,
        user_id: i64,
        name: String,
        scopes: Vec<String>,
    ) -> Result<String, StoreError> {
        self.writer
            .maintain(move |tx| {
                user(tx, user_id)?;
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                let token = admin::create_token(tx, &name, &scopes)?;
                tx.execute(
                    "UPDATE api_tokens SET user_id = ?1 WHERE token_hash = ?2",
                    params![user_id, crate::store::token_hash(&token)],
                )?;
                Ok(token)
            })
            .await
    }

    pub async fn user_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        self.read(move |c| user_tokens(c, user_id)).await
    }

    pub async fn revoke_user_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError> {
        self.writer
            .maintain(move |tx| {
                let n = tx.execute(
                    "DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2",
                    params![token_id, user_id],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("token"));
                }
                Ok(())
            })
            .await
    }
}
