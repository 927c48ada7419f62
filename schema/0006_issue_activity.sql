-- Errata schema, version 6: an issue's activity (notes and status changes) and trace lookups.
-- Never edit once landed.

-- What happened to an issue, newest last: `kind` is Sentry's activity type (`note`,
-- `set_resolved`, `set_unresolved`, `set_ignored`, …), `data` its JSON (a note's text),
-- `actor` the JSON of the user who did it (null when unknown), times in unix µs.
CREATE TABLE issue_activity (
    id           INTEGER PRIMARY KEY,
    issue_id     INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    data         TEXT NOT NULL,
    actor        TEXT,
    date_created INTEGER NOT NULL
);
CREATE INDEX issue_activity_by_issue ON issue_activity (issue_id, id);

-- The errors of one trace, for the trace lookups.
CREATE INDEX events_by_trace ON events (trace_id) WHERE trace_id IS NOT NULL;
