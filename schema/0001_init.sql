-- Errata schema, version 1. Never edit once landed: add 0002_….sql instead.
-- Times are INTEGER microseconds since the Unix epoch, UTC.

CREATE TABLE organizations (
    id           INTEGER PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    date_created INTEGER NOT NULL
);

CREATE TABLE projects (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    slug            TEXT NOT NULL,
    name            TEXT NOT NULL,
    platform        TEXT,
    date_created    INTEGER NOT NULL,
    -- next per-project issue number, rendered as the short id (WEB-1A)
    next_short_id   INTEGER NOT NULL DEFAULT 1,
    -- scrubbing settings and grouping rules, JSON
    settings        TEXT NOT NULL DEFAULT '{}',
    UNIQUE (organization_id, slug)
);

CREATE TABLE project_keys (
    id                INTEGER PRIMARY KEY,
    project_id        INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    public_key        TEXT NOT NULL UNIQUE,
    secret_key        TEXT NOT NULL,
    label             TEXT NOT NULL,
    is_active         INTEGER NOT NULL DEFAULT 1,
    rate_limit_count  INTEGER,
    rate_limit_window INTEGER,
    allowed_origins   TEXT NOT NULL DEFAULT '*',
    date_created      INTEGER NOT NULL
);

CREATE TABLE issues (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    short_id        INTEGER NOT NULL,
    title           TEXT NOT NULL,
    culprit         TEXT,
    location        TEXT,
    level           TEXT NOT NULL,
    type            TEXT NOT NULL,
    platform        TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'unresolved',
    substatus       TEXT DEFAULT 'new',
    status_details  TEXT NOT NULL DEFAULT '{}',
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    times_seen      INTEGER NOT NULL DEFAULT 0,
    user_count      INTEGER NOT NULL DEFAULT 0,
    first_release   TEXT,
    last_release    TEXT,
    grouping_config TEXT NOT NULL,
    UNIQUE (project_id, short_id)
);
CREATE INDEX issues_by_last_seen ON issues (project_id, last_seen DESC);

-- Every fingerprint hash that maps to an issue: grouping can change version
-- without splitting history, and issues can be merged.
CREATE TABLE issue_hashes (
    project_id      INTEGER NOT NULL,
    hash            TEXT NOT NULL,
    issue_id        INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    grouping_config TEXT NOT NULL,
    PRIMARY KEY (project_id, hash)
) WITHOUT ROWID;
CREATE INDEX issue_hashes_by_issue ON issue_hashes (issue_id);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    issue_id        INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    timestamp       INTEGER NOT NULL,
    received        INTEGER NOT NULL,
    level           TEXT NOT NULL,
    release         TEXT,
    environment     TEXT,
    trace_id        TEXT,
    user_key        TEXT,
    primary_hash    TEXT NOT NULL,
    grouping_config TEXT NOT NULL,
    size            INTEGER NOT NULL,
    -- the scrubbed, normalized event JSON, zstd-compressed
    payload         BLOB NOT NULL,
    UNIQUE (project_id, event_id)
);
CREATE INDEX events_by_issue ON events (issue_id, timestamp DESC, id DESC);
CREATE INDEX events_by_project ON events (project_id, timestamp DESC, id DESC);

CREATE TABLE issue_tags (
    issue_id   INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    times_seen INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key, value)
) WITHOUT ROWID;

CREATE TABLE issue_users (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    user_key TEXT NOT NULL,
    PRIMARY KEY (issue_id, user_key)
) WITHOUT ROWID;

-- Occurrences per issue and hour (Unix hour number), for stats and "last 24 h".
CREATE TABLE issue_hourly (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    hour     INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (issue_id, hour)
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    -- SHA-256 of the token, hex; the token itself is never stored
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    last_used    INTEGER
);

-- How many items were accepted, filtered, rate limited, rejected… per project and day.
CREATE TABLE outcomes (
    project_id INTEGER NOT NULL,
    day        TEXT NOT NULL,
    category   TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    quantity   INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, category, outcome, reason)
) WITHOUT ROWID;
