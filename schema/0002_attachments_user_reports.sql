-- Errata schema, version 2: what SDKs send beside events. Never edit once landed.

-- Files sent with an event (logs, screenshots, minidumps…), size-capped at ingest.
-- They live and die with their event.
CREATE TABLE event_attachments (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    content_type    TEXT,
    attachment_type TEXT NOT NULL,
    size            INTEGER NOT NULL,
    data            BLOB NOT NULL,
    date_created    INTEGER NOT NULL,
    FOREIGN KEY (project_id, event_id) REFERENCES events (project_id, event_id) ON DELETE CASCADE
);
CREATE INDEX event_attachments_by_event ON event_attachments (project_id, event_id);

-- What users wrote about an event (user_report items, feedback with an associated event).
-- Kept even when the event is unknown (it may arrive later or have been dropped).
CREATE TABLE user_reports (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    comments     TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    UNIQUE (project_id, event_id)
);
