-- Errata schema, version 5: alerts — channels, rules, the outbox and its delivery history.
-- Never edit once landed.

-- Where notifications go, configured once per organization. `config` is the channel's JSON
-- (URL, secret, SMTP password included): the API shows it back masked, never in full.
CREATE TABLE alert_channels (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    config          TEXT NOT NULL,
    date_created    INTEGER NOT NULL
);
CREATE INDEX alert_channels_by_org ON alert_channels (organization_id);

-- When a project's issues are worth telling someone about.
CREATE TABLE alert_rules (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    triggers      TEXT NOT NULL,
    filters       TEXT NOT NULL,
    interval_secs INTEGER NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1,
    date_created  INTEGER NOT NULL
);
CREATE INDEX alert_rules_by_project ON alert_rules (project_id);

CREATE TABLE alert_rule_channels (
    rule_id    INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, channel_id)
) WITHOUT ROWID;
CREATE INDEX alert_rule_channels_by_channel ON alert_rule_channels (channel_id);

-- Storm control: when a rule last notified about an issue, per reason (new_issue,
-- regression, escalation), in unix ms.
CREATE TABLE alert_rule_issues (
    rule_id       INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    issue_id      INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    reason        TEXT NOT NULL,
    last_notified INTEGER NOT NULL,
    PRIMARY KEY (rule_id, issue_id, reason)
) WITHOUT ROWID;
CREATE INDEX alert_rule_issues_by_issue ON alert_rule_issues (issue_id);

-- The outbox: one row per message to one channel, written in the ingest transaction. The id
-- is the idempotency key sent on every attempt. state: pending, delivered, failed, folded
-- (into the digest named by `outcome`); `outcome` also holds why a failed one failed.
-- Times in unix milliseconds.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    project_id      INTEGER,
    items           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL DEFAULT 'pending',
    outcome         TEXT,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    settled_at      INTEGER
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_by_channel ON notifications (channel_id, created_at);
CREATE INDEX notifications_settled ON notifications (settled_at) WHERE settled_at IS NOT NULL;

-- The delivery history: each attempt's status, never what the receiver said beyond it.
CREATE TABLE notification_attempts (
    notification_id TEXT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    number          INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    PRIMARY KEY (notification_id, number)
) WITHOUT ROWID;
