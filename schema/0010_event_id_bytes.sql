-- Errata schema: event ids kept as their 16 bytes instead of 32 hex characters, so the
-- rows and the (project_id, event_id) indexes that find an event, its attachments and its
-- user report take half the space. Never edit once landed.
--
-- SQLite cannot change a column's type in place: each table is rebuilt (create the new
-- shape, copy, drop the old, rename) with every index, constraint and trigger it had.
-- unhex() reads the stored hex in either case; every id Errata wrote is 32 hex digits, and
-- the CHECK makes anything else fail the migration (which then leaves the database as it
-- was) rather than be stored as a different id.
-- Foreign keys are on while migrating, and dropping a parent table deletes its children
-- through ON DELETE CASCADE: so the new attachments reference the new events table, and
-- the old tables go children first.

DROP TRIGGER events_delete_user_reports;

CREATE TABLE events_v10 (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    issue_id        INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    event_id        BLOB NOT NULL CHECK (length(event_id) = 16),
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
INSERT INTO events_v10 (id, project_id, issue_id, event_id, timestamp, received, level, release, environment,
                        trace_id, user_key, primary_hash, grouping_config, size, payload)
    SELECT id, project_id, issue_id, unhex(event_id), timestamp, received, level, release, environment,
           trace_id, user_key, primary_hash, grouping_config, size, payload
    FROM events;

CREATE TABLE event_attachments_v10 (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL,
    event_id        BLOB NOT NULL CHECK (length(event_id) = 16),
    name            TEXT NOT NULL,
    content_type    TEXT,
    attachment_type TEXT NOT NULL,
    size            INTEGER NOT NULL,
    data            BLOB NOT NULL,
    date_created    INTEGER NOT NULL,
    FOREIGN KEY (project_id, event_id) REFERENCES events_v10 (project_id, event_id) ON DELETE CASCADE
);
INSERT INTO event_attachments_v10 (id, project_id, event_id, name, content_type, attachment_type, size, data,
                                   date_created)
    SELECT id, project_id, unhex(event_id), name, content_type, attachment_type, size, data, date_created
    FROM event_attachments;

CREATE TABLE user_reports_v10 (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id     BLOB NOT NULL CHECK (length(event_id) = 16),
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    comments     TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    UNIQUE (project_id, event_id)
);
INSERT INTO user_reports_v10 (id, project_id, event_id, name, email, comments, date_created)
    SELECT id, project_id, unhex(event_id), name, email, comments, date_created
    FROM user_reports;

DROP TABLE event_attachments;
DROP TABLE user_reports;
DROP TABLE events;

-- Renaming also points the attachments' foreign key at `events`.
ALTER TABLE events_v10 RENAME TO events;
ALTER TABLE event_attachments_v10 RENAME TO event_attachments;
ALTER TABLE user_reports_v10 RENAME TO user_reports;

CREATE INDEX events_by_issue ON events (issue_id, timestamp DESC, id DESC);
CREATE INDEX events_by_project ON events (project_id, timestamp DESC, id DESC);
CREATE INDEX events_by_trace ON events (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX event_attachments_by_event ON event_attachments (project_id, event_id);
CREATE INDEX user_reports_by_date ON user_reports (date_created);

-- A user report lives and dies with its event, as attachments do through their foreign key.
CREATE TRIGGER events_delete_user_reports AFTER DELETE ON events
BEGIN
    DELETE FROM user_reports WHERE project_id = OLD.project_id AND event_id = OLD.event_id;
END;
