-- Errata schema, version 4: API tokens bound to an organization and to projects.
-- Never edit once landed.

-- NULL: an instance-wide token (the bootstrap admin token, tokens made before version 4).
ALTER TABLE api_tokens ADD COLUMN organization_id INTEGER REFERENCES organizations(id) ON DELETE CASCADE;
-- 1: the token sees only the projects listed in api_token_projects (none left: nothing).
ALTER TABLE api_tokens ADD COLUMN project_bound INTEGER NOT NULL DEFAULT 0;

CREATE TABLE api_token_projects (
    token_id   INTEGER NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, project_id)
) WITHOUT ROWID;
CREATE INDEX api_token_projects_by_project ON api_token_projects (project_id);
