//! People who sign in to the web UI, their sessions and their own API tokens, in Errata's
//! own types. Passwords arrive here already hashed (Argon2id, `crate::web::password`);
//! sessions are found by the SHA-256 of their id, never the id itself.

use super::{ApiToken, Store, StoreError, dispatch};

/// A person's role, granting the same scopes as the token level beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including people, keys and scrubbing settings (token level `admin`).
    Admin,
    /// Reads and triages (token level `write`).
    Member,
    /// Reads only (token level `read`).
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Viewer];

    /// Whether the role may change issues (resolve, ignore, merge…).
    pub fn can_write(self) -> bool {
        matches!(self, Role::Admin | Role::Member)
    }

    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The API token levels (see `crate::api::auth`) a person with this role may give a
    /// personal token: never wider than the role.
    pub fn token_levels(self) -> &'static [&'static str] {
        match self {
            Role::Admin => &["read", "write", "admin"],
            Role::Member => &["read", "write"],
            Role::Viewer => &["read"],
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(&s.to_ascii_lowercase()).ok_or_else(|| format!("no such role {s:?} (admin, member or viewer)"))
    }
}

/// Longest e-mail address kept (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// An e-mail address as people sign in with it: trimmed, bounded, one `@` with text on
/// both sides, no spaces or control characters. Compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, StoreError> {
        let email = raw.trim();
        let bad = |why: &str| Err(StoreError::Conflict(format!("invalid e-mail address: {why}")));
        if email.is_empty() || email.len() > MAX_EMAIL_LEN {
            return bad("between 1 and 254 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("no spaces");
        }
        match email.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {
                Ok(Email(email.to_string()))
            }
            _ => bad("expected name@domain"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unique key: the address in lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A person, without their password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// Microseconds since the epoch.
    pub date_created: i64,
}

/// A session found by its id's hash, with its person.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub csrf: String,
    pub created: i64,
    pub last_seen: i64,
}

/// How long sessions live, microseconds: since last seen, and since signing in.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle_us: i64,
    pub max_us: i64,
}

impl SessionLimits {
    /// Whether a session created and last seen at these times is still good at `now`.
    pub fn alive(&self, now: i64, created: i64, last_seen: i64) -> bool {
        now - last_seen < self.idle_us && now - created < self.max_us
    }
}

/// Whether removing or demoting `target` would leave no admin.
fn refuse_last_admin(admins: i64, target_is_admin: bool) -> Result<(), StoreError> {
    if target_is_admin && admins <= 1 {
        return Err(StoreError::Conflict(
            "this is the last admin; make someone else admin first".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_last_admin(admins: i64, current: Role, new: Option<Role>) -> Result<(), StoreError> {
    let losing_admin = current == Role::Admin && new != Some(Role::Admin);
    refuse_last_admin(admins, losing_admin)
}

fn role_from_db(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown role {s:?}")))
}

pub(crate) fn user_from_parts(id: i64, email: String, role: &str, date_created: i64) -> Result<User, StoreError> {
    Ok(User {
        id,
        email,
        role: role_from_db(role)?,
        date_created,
    })
}

/// The token levels a token of a person with `role` may keep (wider ones are revoked when
/// the role narrows).
pub(crate) fn token_exceeds(role: Role, scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| matches!(s.as_str(), "read" | "write" | "admin") && !role.token_levels().contains(&s.as_str()))
}

impl Store {
    // ---------------------------------------------------------------- people

    /// Creates a person; Conflict when the address is taken (in any case).
    pub async fn create_user(&self, email: &Email, role: Role, password_hash: &str) -> Result<User, StoreError> {
        let (email, hash) = (email.clone(), password_hash.to_owned());
        dispatch!(self, b => b.create_user(email, role, hash).await)
    }

    /// Everyone, in the order they were added.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        dispatch!(self, b => b.users().await)
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        dispatch!(self, b => b.user(id).await)
    }

    /// A person and their password hash, by address (in any case).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>, StoreError> {
        let key = email.trim().to_lowercase();
        dispatch!(self, b => b.user_by_email_key(key).await)
    }

    /// The password hash of a person (to check their current password).
    pub async fn password_hash(&self, user_id: i64) -> Result<String, StoreError> {
        dispatch!(self, b => b.password_hash(user_id).await)
    }

    /// Changes a role. Refuses to demote the last admin; revokes the person's tokens that
    /// the new role would not allow.
    pub async fn set_user_role(&self, user_id: i64, role: Role) -> Result<User, StoreError> {
        dispatch!(self, b => b.set_user_role(user_id, role).await)
    }

    /// Sets a new password hash and ends every session of the person except `keep`.
    pub async fn set_password(&self, user_id: i64, hash: &str, keep: Option<&str>) -> Result<(), StoreError> {
        let (hash, keep) = (hash.to_owned(), keep.map(str::to_owned));
        dispatch!(self, b => b.set_password(user_id, hash, keep).await)
    }

    /// Removes a person with their sessions and tokens. Refuses to remove the last admin.
    pub async fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_user(user_id).await)
    }

    // ---------------------------------------------------------------- sessions

    /// Stores a new session under the hash of its id.
    pub async fn create_session(&self, id_hash: &str, user_id: i64, csrf: &str, now: i64) -> Result<(), StoreError> {
        let (id_hash, csrf) = (id_hash.to_owned(), csrf.to_owned());
        dispatch!(self, b => b.create_session(id_hash, user_id, csrf, now).await)
    }

    /// The session stored under `id_hash`, if it is alive at `now` (an expired one is
    /// deleted); its last use is recorded when older than a minute.
    pub async fn session(
        &self,
        id_hash: &str,
        now: i64,
        limits: SessionLimits,
    ) -> Result<Option<SessionUser>, StoreError> {
        let found = dispatch!(self, b => b.session(id_hash.to_owned()).await)?;
        let Some(session) = found else {
            return Ok(None);
        };
        if !limits.alive(now, session.created, session.last_seen) {
            self.delete_session(id_hash).await?;
            return Ok(None);
        }
        if now - session.last_seen > 60_000_000 {
            dispatch!(self, b => b.touch_session(id_hash.to_owned(), now).await)?;
        }
        Ok(Some(session))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        dispatch!(self, b => b.delete_session(id_hash.to_owned()).await)
    }

    /// Deletes sessions no longer alive at `now`; returns how many.
    pub async fn prune_sessions(&self, now: i64, limits: SessionLimits) -> Result<u64, StoreError> {
        let idle_before = now - limits.idle_us;
        let created_before = now - limits.max_us;
        dispatch!(self, b => b.prune_sessions(idle_before, created_before).await)
    }

    // ---------------------------------------------------------------- a person's tokens

    /// Mints a token owned by `user_id` (shown once; only its hash is kept).
    pub async fn create_user_token(&self, user_id: i64, name: &str, scopes: &[&str]) -> Result<String, StoreError> {
        let name = name.to_owned();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        dispatch!(self, b => b.create_user_token(user_id, name, scopes).await)
    }

    /// The tokens `user_id` owns, oldest first.
    pub async fn user_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        dispatch!(self, b => b.user_tokens(user_id).await)
    }

    /// Revokes one of `user_id`'s own tokens; NotFound for anyone else's.
    pub async fn revoke_user_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError> {
        dispatch!(self, b => b.revoke_user_token(user_id, token_id).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_bounded_and_keyed_without_case() {
        let e = Email::parse("  Ada@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "Ada@Example.COM");
        assert_eq!(e.key(), "ada@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "a b@example.com", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@x.y", "a".repeat(260))).is_err());
    }

    #[test]
    fn a_session_dies_when_idle_or_old() {
        let limits = SessionLimits {
            idle_us: 10,
            max_us: 100,
        };
        assert!(limits.alive(50, 0, 45));
        assert!(!limits.alive(50, 0, 40));
        assert!(!limits.alive(100, 0, 99));
    }

    #[test]
    fn the_last_admin_stays() {
        assert!(check_last_admin(1, Role::Admin, Some(Role::Member)).is_err());
        assert!(check_last_admin(1, Role::Admin, None).is_err());
        assert!(check_last_admin(1, Role::Admin, Some(Role::Admin)).is_ok());
        assert!(check_last_admin(2, Role::Admin, None).is_ok());
        assert!(check_last_admin(1, Role::Member, None).is_ok());
    }

    #[test]
    fn tokens_wider_than_the_role_are_found() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(token_exceeds(Role::Viewer, &s(&["write"])));
        assert!(!token_exceeds(Role::Member, &s(&["read", "write"])));
        assert!(token_exceeds(Role::Member, &s(&["admin"])));
        assert!(!token_exceeds(Role::Admin, &s(&["admin"])));
    }
}
