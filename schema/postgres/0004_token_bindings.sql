-- Errata schema for PostgreSQL, version 4: API tokens bound to an organization and to
-- projects, as schema/0004_token_bindings.sql. Never edit once landed.

-- NULL: an instance-wide token (the bootstrap admin token, tokens made before version 4).
ALTER TABLE api_tokens ADD COLUMN organization_id BIGINT REFERENCES organizations(id) ON DELETE CASCADE;
-- 1: the token sees only the projects listed in api_token_projects (none left: nothing).
-- An integer, as SQLite keeps it, so a copy between the two is exact.
ALTER TABLE api_tokens ADD COLUMN project_bound BIGINT NOT NULL DEFAULT 0;

CREATE TABLE api_token_projects (
    token_id   BIGINT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, project_id)
);
CREATE INDEX api_token_projects_by_project ON api_token_projects (project_id);
