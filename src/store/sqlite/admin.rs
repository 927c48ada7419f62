//! Administrative writes and lookups over one connection: organizations,
//! projects, DSN keys, API tokens, issue status, merge and unmerge. Writes run
//! on the writer thread (`SqliteStore` queues them), lookups on read connections.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::ids::IssueStatus;

use super::{
    ApiToken, Bootstrap, DEFAULT_ORG_SLUG, DEFAULT_PROJECT_SLUG, ORG_TOKEN_MARKER, Organization, Project, ProjectKey,
    StoreError, Unmerged, now_us, token_hash, valid_slug,
};

/// On an empty database: one organization, project 1 with a DSN key, and an admin token.
pub fn bootstrap_if_empty(conn: &Connection) -> Result<Option<Bootstrap>, StoreError> {
    let orgs: i64 = conn.query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))?;
    if orgs > 0 {
        return Ok(None);
    }
    let organization = create_organization(conn, DEFAULT_ORG_SLUG, "Errata")?;
    let project = create_project(conn, organization.id, DEFAULT_PROJECT_SLUG, "Default", None)?;
    let key = create_key(conn, project.id, "Default")?;
    let token = create_token(conn, "initial admin token", &["admin"])?;
    Ok(Some(Bootstrap {
        organization,
        project,
        key,
        token,
    }))
}

pub fn create_organization(conn: &Connection, slug: &str, name: &str) -> Result<Organization, StoreError> {
    let now = now_us();
    conn.execute(
        "INSERT INTO organizations (slug, name, date_created) VALUES (?1, ?2, ?3)",
        params![slug, name, now],
    )?;
    Ok(Organization {
        id: conn.last_insert_rowid(),
        slug: slug.into(),
        name: name.into(),
        date_created: now,
    })
}

pub fn organizations(conn: &Connection) -> Result<Vec<Organization>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, slug, name, date_created FROM organizations ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Organization {
            id: r.get(0)?,
            slug: r.get(1)?,
            name: r.get(2)?,
            date_created: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An organization by slug or numeric id.
pub fn organization(conn: &Connection, slug_or_id: &str) -> Result<Organization, StoreError> {
    organizations(conn)?
        .into_iter()
        .find(|o| o.slug == slug_or_id || o.id.to_string() == slug_or_id)
        .ok_or(StoreError::NotFound("organization"))
}

pub fn create_project(
    conn: &Connection,
    organization_id: i64,
    slug: &str,
    name: &str,
    platform: Option<&str>,
) -> Result<Project, StoreError> {
    if !valid_slug(slug) {
        return Err(StoreError::Conflict(format!(
            "invalid project slug {slug:?}: use lower-case letters, digits, '-' and '_'"
        )));
    }
    let taken: Option<i64> = conn
        .query_row(
            "SELECT id FROM projects WHERE organization_id = ?1 AND slug = ?2",
            params![organization_id, slug],
            |r| r.get(0),
        )
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "a project with the slug {slug:?} already exists"
        )));
    }
    conn.execute(
        "INSERT INTO projects (organization_id, slug, name, platform, date_created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![organization_id, slug, name, platform, now_us()],
    )?;
    project_by_id(conn, conn.last_insert_rowid())
}

const PROJECT_COLUMNS: &str = "p.id, p.organization_id, o.slug, p.slug, p.name, p.platform, p.date_created, p.settings";

fn project_from_row(r: &rusqlite::Row) -> rusqlite::Result<Project> {
    let settings: String = r.get(7)?;
    Ok(Project {
        id: r.get(0)?,
        organization_id: r.get(1)?,
        organization_slug: r.get(2)?,
        slug: r.get(3)?,
        name: r.get(4)?,
        platform: r.get(5)?,
        date_created: r.get(6)?,
        settings: serde_json::from_str(&settings).unwrap_or_else(|_| json!({})),
    })
}

pub fn project_by_id(conn: &Connection, id: i64) -> Result<Project, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p JOIN organizations o ON o.id = p.organization_id WHERE p.id = ?1"
    ))?
    .query_row(params![id], project_from_row)
    .optional()?
    .ok_or(StoreError::NotFound("project"))
}

pub fn projects(conn: &Connection, organization_id: Option<i64>) -> Result<Vec<Project>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p JOIN organizations o ON o.id = p.organization_id \
         WHERE ?1 IS NULL OR p.organization_id = ?1 ORDER BY p.id"
    ))?;
    let rows = stmt.query_map(params![organization_id], project_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A project of an organization by slug or numeric id.
pub fn project(conn: &Connection, organization_id: i64, slug_or_id: &str) -> Result<Project, StoreError> {
    projects(conn, Some(organization_id))?
        .into_iter()
        .find(|p| p.slug == slug_or_id || p.id.to_string() == slug_or_id)
        .ok_or(StoreError::NotFound("project"))
}

pub fn update_project_settings(conn: &Connection, project_id: i64, settings: &Value) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE projects SET settings = ?2 WHERE id = ?1",
        params![project_id, settings.to_string()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("project"));
    }
    Ok(())
}

pub fn delete_project(conn: &Connection, project_id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM issue_hashes WHERE project_id = ?1", params![project_id])?;
    let n = conn.execute("DELETE FROM projects WHERE id = ?1", params![project_id])?;
    if n == 0 {
        return Err(StoreError::NotFound("project"));
    }
    Ok(())
}

fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn create_key(conn: &Connection, project_id: i64, label: &str) -> Result<ProjectKey, StoreError> {
    let public_key = random_hex32();
    let secret_key = random_hex32();
    conn.execute(
        "INSERT INTO project_keys (project_id, public_key, secret_key, label, date_created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![project_id, public_key, secret_key, label, now_us()],
    )?;
    key_by_public(conn, &public_key)?.ok_or(StoreError::NotFound("key"))
}

const KEY_COLUMNS: &str = "id, project_id, public_key, secret_key, label, is_active, rate_limit_count, \
                           rate_limit_window, allowed_origins, date_created";

fn key_from_row(r: &rusqlite::Row) -> rusqlite::Result<ProjectKey> {
    Ok(ProjectKey {
        id: r.get(0)?,
        project_id: r.get(1)?,
        public_key: r.get(2)?,
        secret_key: r.get(3)?,
        label: r.get(4)?,
        is_active: r.get(5)?,
        rate_limit_count: r.get(6)?,
        rate_limit_window: r.get(7)?,
        allowed_origins: r.get(8)?,
        date_created: r.get(9)?,
    })
}

pub fn key_by_public(conn: &Connection, public_key: &str) -> Result<Option<ProjectKey>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM project_keys WHERE public_key = ?1"))?
        .query_row(params![public_key], key_from_row)
        .optional()?)
}

pub fn keys(conn: &Connection, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM project_keys WHERE project_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![project_id], key_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn update_key(
    conn: &Connection,
    project_id: i64,
    public_key: &str,
    label: Option<&str>,
    is_active: Option<bool>,
    rate_limit: Option<Option<(i64, i64)>>,
) -> Result<ProjectKey, StoreError> {
    let key = key_by_public(conn, public_key)?
        .filter(|k| k.project_id == project_id)
        .ok_or(StoreError::NotFound("key"))?;
    if let Some(label) = label {
        conn.execute(
            "UPDATE project_keys SET label = ?2 WHERE id = ?1",
            params![key.id, label],
        )?;
    }
    if let Some(active) = is_active {
        conn.execute(
            "UPDATE project_keys SET is_active = ?2 WHERE id = ?1",
            params![key.id, active],
        )?;
    }
    if let Some(limit) = rate_limit {
        let (count, window) = match limit {
            Some((c, w)) => (Some(c), Some(w)),
            None => (None, None),
        };
        conn.execute(
            "UPDATE project_keys SET rate_limit_count = ?2, rate_limit_window = ?3 WHERE id = ?1",
            params![key.id, count, window],
        )?;
    }
    key_by_public(conn, public_key)?.ok_or(StoreError::NotFound("key"))
}

pub fn delete_key(conn: &Connection, project_id: i64, public_key: &str) -> Result<(), StoreError> {
    let n = conn.execute(
        "DELETE FROM project_keys WHERE project_id = ?1 AND public_key = ?2",
        params![project_id, public_key],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("key"));
    }
    Ok(())
}

/// Mints a user token (`sntryu_` + 64 hex, the format sentry-cli recognises) and stores its hash.
pub fn create_token(conn: &Connection, name: &str, scopes: &[&str]) -> Result<String, StoreError> {
    let token = format!("sntryu_{}{}", random_hex32(), random_hex32());
    conn.execute(
        "INSERT INTO api_tokens (name, token_hash, scopes, date_created) VALUES (?1, ?2, ?3, ?4)",
        params![name, token_hash(&token), scopes.join(" "), now_us()],
    )?;
    Ok(token)
}

const TOKEN_COLUMNS: &str = "id, name, scopes, date_created, last_used, organization_id, project_bound";

/// A token row; its project list (when bound) is read by `with_projects`.
fn token_from_row(r: &rusqlite::Row) -> rusqlite::Result<ApiToken> {
    let scopes: String = r.get(2)?;
    let bound: bool = r.get(6)?;
    Ok(ApiToken {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: scopes.split_whitespace().map(String::from).collect(),
        date_created: r.get(3)?,
        last_used: r.get(4)?,
        organization_id: r.get(5)?,
        projects: bound.then(Vec::new),
    })
}

fn with_projects(conn: &Connection, mut token: ApiToken) -> Result<ApiToken, StoreError> {
    if let Some(projects) = &mut token.projects {
        let mut stmt =
            conn.prepare_cached("SELECT project_id FROM api_token_projects WHERE token_id = ?1 ORDER BY project_id")?;
        *projects = stmt
            .query_map(params![token.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
    }
    Ok(token)
}

pub fn tokens(conn: &Connection) -> Result<Vec<ApiToken>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"))?;
    let rows: Vec<ApiToken> = stmt.query_map([], token_from_row)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(|t| with_projects(conn, t)).collect()
}

/// Looks a token up by its hash (an indexed equality on a hash: no timing signal about the token).
pub fn token_by_hash(conn: &Connection, hash: &str) -> Result<Option<ApiToken>, StoreError> {
    let token = conn
        .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?1"))?
        .query_row(params![hash], token_from_row)
        .optional()?;
    token.map(|t| with_projects(conn, t)).transpose()
}

/// A token and its stored hash, looked up by that hash, so the caller can compare the two
/// in constant time.
pub fn token_and_hash(conn: &Connection, hash: &str) -> Result<Option<(ApiToken, String)>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS}, token_hash FROM api_tokens WHERE token_hash = ?1"
        ))?
        .query_row(params![hash], |r| Ok((token_from_row(r)?, r.get::<_, String>(7)?)))
        .optional()?;
    found.map(|(t, h)| Ok((with_projects(conn, t)?, h))).transpose()
}

/// Binds a token to an organization and, when `projects` is given, to those of its projects
/// only (each must belong to the organization).
pub fn bind_token(conn: &Connection, token: &str, org_id: i64, projects: Option<&[i64]>) -> Result<(), StoreError> {
    let id: i64 = conn
        .query_row(
            "SELECT id FROM api_tokens WHERE token_hash = ?1",
            params![token_hash(token)],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NotFound("token"))?;
    conn.execute(
        "UPDATE api_tokens SET organization_id = ?2, project_bound = ?3 WHERE id = ?1",
        params![id, org_id, projects.is_some()],
    )?;
    for project in projects.unwrap_or_default() {
        let in_org: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM projects WHERE id = ?1 AND organization_id = ?2)",
            params![project, org_id],
            |r| r.get(0),
        )?;
        if !in_org {
            return Err(StoreError::NotFound("project"));
        }
        conn.execute(
            "INSERT OR IGNORE INTO api_token_projects (token_id, project_id) VALUES (?1, ?2)",
            params![id, project],
        )?;
    }
    Ok(())
}

/// Mints an organization token (`sntrys_<base64 JSON>_<base64 secret>`, the format sentry-cli
/// reads its URL and organization from) and stores its hash. Its scopes carry the marker
/// `org-token` so the API answers `user: null` for it, as Sentry does.
pub fn create_org_token(
    conn: &Connection,
    name: &str,
    scopes: &[&str],
    base_url: &str,
    org_slug: &str,
) -> Result<String, StoreError> {
    use base64::Engine;
    let claims = json!({"iat": now_us() / 1_000_000, "url": base_url, "region_url": base_url, "org": org_slug});
    let secret: Vec<u8> = hex::decode(format!("{}{}", random_hex32(), random_hex32())).unwrap_or_default();
    let token = format!(
        "sntrys_{}_{}",
        base64::engine::general_purpose::STANDARD.encode(claims.to_string()),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret)
    );
    let mut all: Vec<&str> = scopes.to_vec();
    all.push(ORG_TOKEN_MARKER);
    conn.execute(
        "INSERT INTO api_tokens (name, token_hash, scopes, date_created) VALUES (?1, ?2, ?3, ?4)",
        params![name, token_hash(&token), all.join(" "), now_us()],
    )?;
    Ok(token)
}

pub fn touch_token(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE api_tokens SET last_used = ?2 WHERE id = ?1",
        params![id, now_us()],
    )?;
    Ok(())
}

pub fn revoke_token(conn: &Connection, id: i64) -> Result<(), StoreError> {
    let n = conn.execute("DELETE FROM api_tokens WHERE id = ?1", params![id])?;
    if n == 0 {
        return Err(StoreError::NotFound("token"));
    }
    Ok(())
}

/// Sets an issue's status; `details` is Sentry's `statusDetails` as the API stores it.
pub fn set_issue_status(
    conn: &Connection,
    issue_id: i64,
    status: IssueStatus,
    substatus: Option<&str>,
    details: &Value,
) -> Result<(), StoreError> {
    let mut details = details.clone();
    if status == IssueStatus::Ignored {
        let times_seen: i64 = conn
            .query_row("SELECT times_seen FROM issues WHERE id = ?1", params![issue_id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(StoreError::NotFound("issue"))?;
        if let Some(obj) = details.as_object_mut() {
            obj.insert("timesSeenAtIgnore".into(), json!(times_seen));
        }
    }
    let n = conn.execute(
        "UPDATE issues SET status = ?2, substatus = ?3, status_details = ?4 WHERE id = ?1",
        params![issue_id, status, substatus, details.to_string()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("issue"));
    }
    Ok(())
}

pub fn delete_issue(conn: &Connection, issue_id: i64) -> Result<(), StoreError> {
    let n = conn.execute("DELETE FROM issues WHERE id = ?1", params![issue_id])?;
    if n == 0 {
        return Err(StoreError::NotFound("issue"));
    }
    Ok(())
}

pub fn update_project_fields(
    conn: &Connection,
    project_id: i64,
    name: Option<&str>,
    slug: Option<&str>,
    platform: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(slug) = slug {
        let org: i64 = conn.query_row(
            "SELECT organization_id FROM projects WHERE id = ?1",
            params![project_id],
            |r| r.get(0),
        )?;
        let taken: Option<i64> = conn
            .query_row(
                "SELECT id FROM projects WHERE organization_id = ?1 AND slug = ?2 AND id != ?3",
                params![org, slug, project_id],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "a project with the slug {slug:?} already exists"
            )));
        }
        conn.execute("UPDATE projects SET slug = ?2 WHERE id = ?1", params![project_id, slug])?;
    }
    if let Some(name) = name {
        conn.execute("UPDATE projects SET name = ?2 WHERE id = ?1", params![project_id, name])?;
    }
    if let Some(platform) = platform {
        conn.execute(
            "UPDATE projects SET platform = ?2 WHERE id = ?1",
            params![project_id, platform],
        )?;
    }
    Ok(())
}

/// Merges issues into the one with the most events; counts, users, tags, hourly
/// stats and first/last seen stay exact. Returns the surviving issue.
pub fn merge_issues(conn: &Connection, ids: &[i64]) -> Result<i64, StoreError> {
    let mut issues = Vec::new();
    for &id in ids {
        let row: Option<(i64, i64)> = conn
            .query_row(
                "SELECT times_seen, project_id FROM issues WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (times_seen, project_id) = row.ok_or(StoreError::NotFound("issue"))?;
        issues.push((id, times_seen, project_id));
    }
    if issues.is_empty() {
        return Err(StoreError::Conflict("name at least one issue to merge".into()));
    }
    if issues.iter().any(|i| i.2 != issues[0].2) {
        return Err(StoreError::Conflict("only issues of one project can be merged".into()));
    }
    issues.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let parent = issues[0].0;
    for &(child, _, _) in &issues[1..] {
        if child == parent {
            continue;
        }
        conn.execute(
            "UPDATE events SET issue_id = ?1 WHERE issue_id = ?2",
            params![parent, child],
        )?;
        conn.execute(
            "UPDATE issue_activity SET issue_id = ?1 WHERE issue_id = ?2",
            params![parent, child],
        )?;
        conn.execute(
            "UPDATE issue_hashes SET issue_id = ?1 WHERE issue_id = ?2",
            params![parent, child],
        )?;
        conn.execute(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) \
             SELECT ?1, key, value, times_seen, first_seen, last_seen FROM issue_tags WHERE issue_id = ?2 \
             ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + excluded.times_seen, \
             first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            params![parent, child],
        )?;
        conn.execute(
            "INSERT OR IGNORE INTO issue_users (issue_id, user_key) SELECT ?1, user_key FROM issue_users WHERE issue_id = ?2",
            params![parent, child],
        )?;
        conn.execute(
            "INSERT INTO issue_hourly (issue_id, hour, count) SELECT ?1, hour, count FROM issue_hourly WHERE issue_id = ?2 \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
            params![parent, child],
        )?;
        conn.execute(
            "UPDATE issues SET times_seen = times_seen + (SELECT times_seen FROM issues WHERE id = ?2), \
             first_seen = min(first_seen, (SELECT first_seen FROM issues WHERE id = ?2)), \
             last_seen = max(last_seen, (SELECT last_seen FROM issues WHERE id = ?2)) WHERE id = ?1",
            params![parent, child],
        )?;
        conn.execute("DELETE FROM issues WHERE id = ?1", params![child])?;
    }
    conn.execute(
        "UPDATE issues SET user_count = (SELECT count(*) FROM issue_users WHERE issue_id = ?1) WHERE id = ?1",
        params![parent],
    )?;
    Ok(parent)
}

/// One moved event's share of an issue's aggregates.
struct MovedEvent {
    timestamp: i64,
    release: Option<String>,
    user_key: Option<String>,
    tags: Vec<(String, String)>,
}

/// Moves `hashes` of an issue to a new issue, with the events whose primary hash they
/// are; later events with those hashes follow because the hashes now point there.
/// Counts, users, tags, hourly stats, releases and first/last seen stay exact on both
/// issues: the moved events' share is computed from their stored payloads (`tags_of`
/// derives an event's tags exactly as ingest did) and taken off the old issue.
pub fn unmerge_hashes(
    conn: &Connection,
    issue_id: i64,
    hashes: &[String],
    tags_of: &dyn Fn(&Value) -> Vec<(String, String)>,
) -> Result<Unmerged, StoreError> {
    let old = super::read::issue(conn, issue_id)?;
    let owned: Vec<String> = super::read::issue_hashes(conn, issue_id)?
        .into_iter()
        .map(|h| h.hash)
        .collect();
    if hashes.is_empty() {
        return Err(StoreError::Conflict("name at least one hash to unmerge".into()));
    }
    if let Some(foreign) = hashes.iter().find(|h| !owned.contains(h)) {
        return Err(StoreError::Conflict(format!(
            "hash {foreign} does not belong to this issue"
        )));
    }
    if owned.iter().all(|h| hashes.contains(h)) {
        return Err(StoreError::Conflict(
            "an issue keeps at least one of its hashes; leave one out".into(),
        ));
    }

    // The moved events, oldest first; payloads are decoded one at a time.
    let mut moved: Vec<(i64, MovedEvent)> = Vec::new();
    let mut latest_payload: Option<Value> = None;
    {
        let mut stmt = conn.prepare(
            "SELECT id, timestamp, release, user_key, payload, primary_hash FROM events \
             WHERE issue_id = ?1 ORDER BY timestamp, id",
        )?;
        let mut rows = stmt.query(params![issue_id])?;
        while let Some(row) = rows.next()? {
            let hash: String = row.get(5)?;
            if !hashes.contains(&hash) {
                continue;
            }
            let blob: Vec<u8> = row.get(4)?;
            let payload = super::decode_payload(&blob)?;
            moved.push((
                row.get(0)?,
                MovedEvent {
                    timestamp: row.get(1)?,
                    release: row.get(2)?,
                    user_key: row.get(3)?,
                    tags: tags_of(&payload),
                },
            ));
            latest_payload = Some(payload);
        }
    }

    // The new issue reads like its newest event.
    let summary = latest_payload
        .as_ref()
        .map(|payload| crate::event::group::summarize(&payload.into()));
    let short_id: i64 = conn.query_row(
        "UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = ?1 RETURNING next_short_id - 1",
        params![old.project_id],
        |r| r.get(0),
    )?;
    let first_seen = moved.first().map_or(old.first_seen, |(_, e)| e.timestamp);
    let last_seen = moved.last().map_or(old.last_seen, |(_, e)| e.timestamp);
    let first_release = moved.iter().find_map(|(_, e)| e.release.clone());
    let last_release = moved.iter().rev().find_map(|(_, e)| e.release.clone());
    let text = |key: &str| latest_payload.as_ref().and_then(|p| p.get(key)).and_then(Value::as_str);
    conn.execute(
        "INSERT INTO issues (project_id, short_id, title, culprit, location, level, type, platform, metadata, \
         status, substatus, first_seen, last_seen, times_seen, first_release, last_release, grouping_config) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'unresolved', 'new', ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            old.project_id,
            short_id,
            summary.as_ref().map_or(old.title.clone(), |s| s.title.clone()),
            summary.as_ref().map_or(old.culprit.clone(), |s| s.culprit.clone()),
            summary.as_ref().map_or(old.location.clone(), |s| s.location.clone()),
            text("level").unwrap_or(&old.level),
            summary.as_ref().map_or(old.kind.as_str(), |s| s.kind),
            text("platform").or(old.platform.as_deref()),
            summary
                .as_ref()
                .map_or(old.metadata.to_string(), |s| s.metadata.to_string()),
            first_seen,
            last_seen,
            moved.len() as i64,
            first_release,
            last_release,
            text("grouping_config").unwrap_or(&old.grouping_config),
        ],
    )?;
    let new_id = conn.last_insert_rowid();

    for hash in hashes {
        conn.execute(
            "UPDATE issue_hashes SET issue_id = ?1 WHERE issue_id = ?2 AND hash = ?3",
            params![new_id, issue_id, hash],
        )?;
    }
    let mut tag_shares: std::collections::BTreeMap<(String, String), (i64, i64, i64)> = Default::default();
    let mut hour_shares: std::collections::BTreeMap<i64, i64> = Default::default();
    let mut users: std::collections::BTreeSet<String> = Default::default();
    for (id, event) in &moved {
        conn.execute("UPDATE events SET issue_id = ?1 WHERE id = ?2", params![new_id, id])?;
        *hour_shares
            .entry(event.timestamp.div_euclid(3_600_000_000))
            .or_default() += 1;
        if let Some(user) = &event.user_key {
            users.insert(user.clone());
        }
        for tag in &event.tags {
            let share = tag_shares
                .entry(tag.clone())
                .or_insert((0, event.timestamp, event.timestamp));
            share.0 += 1;
            share.1 = share.1.min(event.timestamp);
            share.2 = share.2.max(event.timestamp);
        }
    }

    // The new issue: exactly the moved events.
    for (hour, count) in &hour_shares {
        conn.execute(
            "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, ?3)",
            params![new_id, hour, count],
        )?;
    }
    for ((key, value), (count, first, last)) in &tag_shares {
        conn.execute(
            "INSERT INTO issue_tags (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![new_id, key, value, count, first, last],
        )?;
    }
    for user in &users {
        conn.execute(
            "INSERT INTO issue_users (issue_id, user_key) VALUES (?1, ?2)",
            params![new_id, user],
        )?;
    }
    conn.execute(
        "UPDATE issues SET user_count = ?2 WHERE id = ?1",
        params![new_id, users.len() as i64],
    )?;

    // The old issue: its moved share taken off.
    for (hour, count) in &hour_shares {
        conn.execute(
            "UPDATE issue_hourly SET count = count - ?3 WHERE issue_id = ?1 AND hour = ?2",
            params![issue_id, hour, count],
        )?;
    }
    conn.execute(
        "DELETE FROM issue_hourly WHERE issue_id = ?1 AND count <= 0",
        params![issue_id],
    )?;
    for ((key, value), (count, _, _)) in &tag_shares {
        conn.execute(
            "UPDATE issue_tags SET times_seen = times_seen - ?4 WHERE issue_id = ?1 AND key = ?2 AND value = ?3",
            params![issue_id, key, value, count],
        )?;
    }
    conn.execute(
        "DELETE FROM issue_tags WHERE issue_id = ?1 AND times_seen <= 0",
        params![issue_id],
    )?;
    for user in &users {
        conn.execute(
            "DELETE FROM issue_users WHERE issue_id = ?1 AND user_key = ?2 AND NOT EXISTS \
             (SELECT 1 FROM events WHERE issue_id = ?1 AND user_key = ?2)",
            params![issue_id, user],
        )?;
    }
    let remaining: Option<(i64, i64)> = conn.query_row(
        "SELECT min(timestamp), max(timestamp) FROM events WHERE issue_id = ?1",
        params![issue_id],
        |r| Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?)),
    )?;
    conn.execute(
        "UPDATE issues SET times_seen = max(times_seen - ?2, 0), \
         user_count = (SELECT count(*) FROM issue_users WHERE issue_id = ?1) WHERE id = ?1",
        params![issue_id, moved.len() as i64],
    )?;
    if let Some((first, last)) = remaining {
        conn.execute(
            "UPDATE issues SET first_seen = ?2, last_seen = ?3, \
             first_release = coalesce((SELECT release FROM events WHERE issue_id = ?1 AND release IS NOT NULL \
                                        ORDER BY timestamp, id LIMIT 1), first_release), \
             last_release = coalesce((SELECT release FROM events WHERE issue_id = ?1 AND release IS NOT NULL \
                                       ORDER BY timestamp DESC, id DESC LIMIT 1), last_release) WHERE id = ?1",
            params![issue_id, first, last],
        )?;
        refresh_tag_times(conn, issue_id, &tag_shares, tags_of)?;
    }
    Ok(Unmerged {
        new_issue_id: new_id,
        events: moved.len() as i64,
    })
}

/// After events left an issue, the first/last seen of the tag values they carried may
/// have been theirs: recompute those from the events that stayed.
fn refresh_tag_times(
    conn: &Connection,
    issue_id: i64,
    moved: &std::collections::BTreeMap<(String, String), (i64, i64, i64)>,
    tags_of: &dyn Fn(&Value) -> Vec<(String, String)>,
) -> Result<(), StoreError> {
    let mut stale: std::collections::BTreeMap<(String, String), Option<(i64, i64)>> = Default::default();
    for ((key, value), (_, first, last)) in moved {
        let row: Option<(i64, i64)> = conn
            .query_row(
                "SELECT first_seen, last_seen FROM issue_tags WHERE issue_id = ?1 AND key = ?2 AND value = ?3",
                params![issue_id, key, value],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if row.is_some_and(|(f, l)| f == *first || l == *last) {
            stale.insert((key.clone(), value.clone()), None);
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare("SELECT timestamp, payload FROM events WHERE issue_id = ?1")?;
    let mut rows = stmt.query(params![issue_id])?;
    while let Some(row) = rows.next()? {
        let timestamp: i64 = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        for tag in tags_of(&super::decode_payload(&blob)?) {
            if let Some(seen) = stale.get_mut(&tag) {
                let (first, last) = seen.get_or_insert((timestamp, timestamp));
                *first = (*first).min(timestamp);
                *last = (*last).max(timestamp);
            }
        }
    }
    for ((key, value), seen) in stale {
        if let Some((first, last)) = seen {
            conn.execute(
                "UPDATE issue_tags SET first_seen = ?4, last_seen = ?5 WHERE issue_id = ?1 AND key = ?2 AND value = ?3",
                params![issue_id, key, value, first, last],
            )?;
        }
    }
    Ok(())
}
