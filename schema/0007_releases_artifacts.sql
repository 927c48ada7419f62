-- Errata schema, version 7: releases (with their projects, commits, deploys and the
-- organization's repositories) and what sentry-cli uploads for them: chunks waiting to be
-- assembled, artifact bundles and the files they hold. Never edit once landed.

-- A version of an organization's code. Times in unix microseconds.
CREATE TABLE releases (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    version         TEXT NOT NULL,
    ref             TEXT,
    url             TEXT,
    date_created    INTEGER NOT NULL,
    date_started    INTEGER,
    date_released   INTEGER,
    UNIQUE (organization_id, version)
);

-- Which projects a release belongs to, with what events said about it there.
CREATE TABLE release_projects (
    release_id  INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    first_event INTEGER,
    last_event  INTEGER,
    PRIMARY KEY (release_id, project_id)
) WITHOUT ROWID;
CREATE INDEX release_projects_by_project ON release_projects (project_id);

-- Where an organization's code lives (named by sentry-cli's `--commit REPO@SHA`).
CREATE TABLE repositories (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    url             TEXT,
    provider        TEXT NOT NULL,
    date_created    INTEGER NOT NULL,
    UNIQUE (organization_id, name)
);

-- The commits of a release, in the order given (newest first).
CREATE TABLE release_commits (
    release_id   INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    repository   TEXT,
    commit_key   TEXT NOT NULL,
    message      TEXT,
    author_name  TEXT,
    author_email TEXT,
    timestamp    INTEGER,
    PRIMARY KEY (release_id, position)
) WITHOUT ROWID;

CREATE TABLE deploys (
    id            INTEGER PRIMARY KEY,
    release_id    INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    environment   TEXT NOT NULL,
    name          TEXT,
    url           TEXT,
    date_started  INTEGER,
    date_finished INTEGER NOT NULL
);
CREATE INDEX deploys_by_release ON deploys (release_id);

-- Uploaded pieces of a file, by their SHA-1, until a bundle is assembled from them
-- (retention prunes those never assembled). `data` is as uploaded, uncompressed.
CREATE TABLE upload_chunks (
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    checksum        TEXT NOT NULL,
    size            INTEGER NOT NULL,
    data            BLOB NOT NULL,
    date_created    INTEGER NOT NULL,
    PRIMARY KEY (organization_id, checksum)
) WITHOUT ROWID;

-- An assembled upload: a zip with a manifest, by the SHA-1 of the whole.
CREATE TABLE artifact_bundles (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    checksum        TEXT NOT NULL,
    release         TEXT,
    dist            TEXT,
    file_count      INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    date_created    INTEGER NOT NULL,
    UNIQUE (organization_id, checksum)
);

-- One file of a bundle, once per project it was uploaded for. `content` is zstd.
CREATE TABLE artifact_files (
    id            INTEGER PRIMARY KEY,
    bundle_id     INTEGER NOT NULL REFERENCES artifact_bundles(id) ON DELETE CASCADE,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    url           TEXT,
    debug_id      TEXT,
    sourcemap_ref TEXT,
    release       TEXT,
    dist          TEXT,
    size          INTEGER NOT NULL,
    content       BLOB NOT NULL,
    date_created  INTEGER NOT NULL
);
CREATE INDEX artifact_files_by_debug_id ON artifact_files (project_id, debug_id, kind);
CREATE INDEX artifact_files_by_url ON artifact_files (project_id, release, url);
CREATE INDEX artifact_files_by_bundle ON artifact_files (bundle_id);
