-- Errata schema: people who sign in to the web UI, their sessions, and the API tokens they
-- own. Never edit once landed.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    -- as the person typed it; email_key (lower case) is what makes it unique
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    -- Argon2id, PHC string format
    password_hash TEXT NOT NULL,
    date_created  INTEGER NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the random session id, hex; the id itself is only in the browser's cookie
    id_hash   TEXT PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf      TEXT NOT NULL,
    created   INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen);

-- A person's own tokens; NULL for tokens made from the command line. Removing the person
-- revokes them.
ALTER TABLE api_tokens ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
