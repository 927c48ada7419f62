//! Alerts in SQLite: rules and channels, the outbox (claimed with a lease, so a sender that
//! dies leaves its claims to come due again) and the delivery history — and `enqueue`, which
//! the writer runs inside the ingest transaction, so a notification exists exactly when the
//! issue it is about was committed.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use crate::notify::model::{
    Channel, ChannelId, ChannelKind, DEFAULT_GATHER_MS, Filters, IssueSnapshot, Item, Level, Notification,
    NotificationId, Reason, Rule, RuleId, Trigger, issue_link,
};
use crate::notify::outbox::{AttemptRecord, Next};
use crate::notify::policy::{self, EventFacts, Happening};
use crate::store::alerts::{AlertSettings, Delivery, DeliveryFilter, NewChannel, check_rule};
use crate::store::{EventRecord, now_us};

fn now_ms() -> i64 {
    now_us() / 1000
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// ---------------------------------------------------------------- channels

fn channel_from_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_channel((id, organization_id, name, config): (i64, i64, String, String)) -> Result<Channel, StoreError> {
    let kind: ChannelKind = serde_json::from_str(&config).map_err(corrupt)?;
    Ok(Channel {
        id: ChannelId(id),
        organization_id,
        name,
        kind,
    })
}

pub fn channels(conn: &Connection, organization_id: i64) -> Result<Vec<Channel>, StoreError> {
    let rows: Vec<_> = conn
        .prepare_cached(
            "SELECT id, organization_id, name, config FROM alert_channels WHERE organization_id = ?1 ORDER BY id",
        )?
        .query_map(params![organization_id], channel_from_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(to_channel).collect()
}

pub fn channel(conn: &Connection, id: ChannelId) -> Result<Channel, StoreError> {
    let row = conn
        .prepare_cached("SELECT id, organization_id, name, config FROM alert_channels WHERE id = ?1")?
        .query_row(params![id.0], channel_from_row)
        .optional()?
        .ok_or(StoreError::NotFound("channel"))?;
    to_channel(row)
}

fn check_channel(new: &NewChannel) -> Result<String, StoreError> {
    Channel {
        id: ChannelId(0),
        organization_id: new.organization_id,
        name: new.name.clone(),
        kind: new.kind.clone(),
    }
    .validate()
    .map_err(|e| StoreError::Conflict(e.to_string()))?;
    serde_json::to_string(&new.kind).map_err(corrupt)
}

pub fn create_channel(tx: &Transaction, new: &NewChannel) -> Result<Channel, StoreError> {
    let config = check_channel(new)?;
    tx.prepare_cached(
        "INSERT INTO alert_channels (organization_id, name, kind, config, date_created) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        new.organization_id,
        new.name.trim(),
        new.kind.label(),
        config,
        now_us()
    ])?;
    channel(tx, ChannelId(tx.last_insert_rowid()))
}

pub fn update_channel(tx: &Transaction, id: ChannelId, new: &NewChannel) -> Result<Channel, StoreError> {
    let config = check_channel(new)?;
    let n = tx
        .prepare_cached("UPDATE alert_channels SET name = ?2, kind = ?3, config = ?4 WHERE id = ?1")?
        .execute(params![id.0, new.name.trim(), new.kind.label(), config])?;
    if n == 0 {
        return Err(StoreError::NotFound("channel"));
    }
    channel(tx, id)
}

pub fn delete_channel(tx: &Transaction, id: ChannelId) -> Result<(), StoreError> {
    // Rules left without any channel would fire into nothing: they go too.
    tx.execute(
        "DELETE FROM alert_rules WHERE id IN (SELECT rule_id FROM alert_rule_channels WHERE channel_id = ?1) \
         AND NOT EXISTS (SELECT 1 FROM alert_rule_channels c WHERE c.rule_id = alert_rules.id AND c.channel_id != ?1)",
        params![id.0],
    )?;
    let n = tx.execute("DELETE FROM alert_channels WHERE id = ?1", params![id.0])?;
    if n == 0 {
        return Err(StoreError::NotFound("channel"));
    }
    Ok(())
}

// ---------------------------------------------------------------- rules

type RuleRow = (i64, i64, String, String, String, i64, i64);

fn rule_from_row(r: &rusqlite::Row) -> rusqlite::Result<RuleRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

const RULE_COLUMNS: &str = "id, project_id, name, triggers, filters, interval_secs, enabled";

fn to_rule(conn: &Connection, row: RuleRow) -> Result<Rule, StoreError> {
    let (id, project_id, name, triggers, filters, interval, enabled) = row;
    let triggers: Vec<Trigger> = serde_json::from_str(&triggers).map_err(corrupt)?;
    let filters: Filters = serde_json::from_str(&filters).map_err(corrupt)?;
    let channels = conn
        .prepare_cached("SELECT channel_id FROM alert_rule_channels WHERE rule_id = ?1 ORDER BY channel_id")?
        .query_map(params![id], |r| r.get::<_, i64>(0).map(ChannelId))?
        .collect::<Result<_, _>>()?;
    Ok(Rule {
        id: RuleId(id),
        project_id,
        name,
        triggers,
        filters,
        channels,
        interval_secs: u32::try_from(interval).unwrap_or(u32::MAX),
        enabled: enabled != 0,
    })
}

pub fn rules(conn: &Connection, project_id: i64) -> Result<Vec<Rule>, StoreError> {
    let rows: Vec<RuleRow> = conn
        .prepare_cached(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = ?1 ORDER BY id"
        ))?
        .query_map(params![project_id], rule_from_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(|r| to_rule(conn, r)).collect()
}

pub fn rule(conn: &Connection, id: RuleId) -> Result<Rule, StoreError> {
    let row = conn
        .prepare_cached(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1"))?
        .query_row(params![id.0], rule_from_row)
        .optional()?
        .ok_or(StoreError::NotFound("rule"))?;
    to_rule(conn, row)
}

/// Writes the rule's channels after checking each belongs to the project's organization.
fn set_rule_channels(tx: &Transaction, rule: &Rule) -> Result<(), StoreError> {
    tx.execute("DELETE FROM alert_rule_channels WHERE rule_id = ?1", params![rule.id.0])?;
    for channel in &rule.channels {
        let same_org: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alert_channels c JOIN projects p ON p.organization_id = c.organization_id \
                 WHERE c.id = ?1 AND p.id = ?2)",
            )?
            .query_row(params![channel.0, rule.project_id], |r| r.get(0))?;
        if !same_org {
            return Err(StoreError::Conflict(format!(
                "channel {} does not exist in the project's organization",
                channel.0
            )));
        }
        tx.prepare_cached("INSERT OR IGNORE INTO alert_rule_channels (rule_id, channel_id) VALUES (?1, ?2)")?
            .execute(params![rule.id.0, channel.0])?;
    }
    Ok(())
}

pub fn create_rule(tx: &Transaction, rule: &Rule) -> Result<Rule, StoreError> {
    check_rule(rule)?;
    tx.prepare_cached(
        "INSERT INTO alert_rules (project_id, name, triggers, filters, interval_secs, enabled, date_created) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        rule.project_id,
        rule.name.trim(),
        serde_json::to_string(&rule.triggers).map_err(corrupt)?,
        serde_json::to_string(&rule.filters).map_err(corrupt)?,
        rule.interval_secs,
        rule.enabled,
        now_us()
    ])?;
    let mut stored = rule.clone();
    stored.id = RuleId(tx.last_insert_rowid());
    set_rule_channels(tx, &stored)?;
    self::rule(tx, stored.id)
}

pub fn update_rule(tx: &Transaction, rule: &Rule) -> Result<Rule, StoreError> {
    check_rule(rule)?;
    let n = tx
        .prepare_cached(
            "UPDATE alert_rules SET name = ?2, triggers = ?3, filters = ?4, interval_secs = ?5, enabled = ?6 \
             WHERE id = ?1 AND project_id = ?7",
        )?
        .execute(params![
            rule.id.0,
            rule.name.trim(),
            serde_json::to_string(&rule.triggers).map_err(corrupt)?,
            serde_json::to_string(&rule.filters).map_err(corrupt)?,
            rule.interval_secs,
            rule.enabled,
            rule.project_id
        ])?;
    if n == 0 {
        return Err(StoreError::NotFound("rule"));
    }
    set_rule_channels(tx, rule)?;
    self::rule(tx, rule.id)
}

pub fn delete_rule(tx: &Transaction, id: RuleId) -> Result<(), StoreError> {
    if tx.execute("DELETE FROM alert_rules WHERE id = ?1", params![id.0])? == 0 {
        return Err(StoreError::NotFound("rule"));
    }
    Ok(())
}

// ---------------------------------------------------------------- outbox

fn notification_from_row(r: &rusqlite::Row) -> rusqlite::Result<(String, i64, String, i64, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn to_notification(
    (id, channel, items, attempts, created, next): (String, i64, String, i64, i64, i64),
) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: id.parse().map_err(corrupt)?,
        channel: ChannelId(channel),
        items: serde_json::from_str(&items).map_err(corrupt)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at_ms: created,
        next_attempt_at_ms: next,
    })
}

/// Writes a new pending notification.
pub fn insert(tx: &Transaction, n: &Notification, project_id: Option<i64>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO notifications (id, channel_id, project_id, items, attempts, state, created_at, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
    )?
    .execute(params![
        n.id.as_str(),
        n.channel.0,
        project_id,
        serde_json::to_string(&n.items).map_err(corrupt)?,
        n.attempts,
        n.created_at_ms,
        n.next_attempt_at_ms
    ])?;
    Ok(())
}

pub fn claim(
    tx: &Transaction,
    now_ms: i64,
    limit: usize,
    lease_until_ms: i64,
    skip: &[ChannelId],
) -> Result<Vec<Notification>, StoreError> {
    let skip = serde_json::to_string(&skip.iter().map(|c| c.0).collect::<Vec<_>>()).map_err(corrupt)?;
    let rows: Vec<_> = tx
        .prepare_cached(
            "UPDATE notifications SET next_attempt_at = ?3 WHERE id IN (SELECT id FROM notifications \
             WHERE state = 'pending' AND next_attempt_at <= ?1 AND channel_id NOT IN (SELECT value FROM json_each(?4)) \
             ORDER BY next_attempt_at, created_at LIMIT ?2) \
             RETURNING id, channel_id, items, attempts, created_at, next_attempt_at",
        )?
        .query_map(
            params![now_ms, limit as i64, lease_until_ms, skip],
            notification_from_row,
        )?
        .collect::<Result<_, _>>()?;
    let mut out: Vec<Notification> = rows.into_iter().map(to_notification).collect::<Result<_, _>>()?;
    out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    Ok(out)
}

pub fn fold(tx: &Transaction, members: &[NotificationId], digest: &Notification) -> Result<(), StoreError> {
    let now = now_ms();
    let mut project_id = None;
    for id in members {
        let p: Option<Option<i64>> = tx
            .prepare_cached(
                "UPDATE notifications SET state = 'folded', outcome = ?2, settled_at = ?3 \
                 WHERE id = ?1 AND state = 'pending' RETURNING project_id",
            )?
            .query_row(params![id.as_str(), digest.id.as_str(), now], |r| r.get(0))
            .optional()?;
        project_id = project_id.or(p.flatten());
    }
    insert(tx, digest, project_id)
}

pub fn record(
    tx: &Transaction,
    id: &NotificationId,
    attempt: Option<&AttemptRecord>,
    next: &Next,
) -> Result<(), StoreError> {
    if let Some(a) = attempt {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO notification_attempts (notification_id, number, at, duration_ms, outcome) \
             SELECT id, ?2, ?3, ?4, ?5 FROM notifications WHERE id = ?1",
        )?
        .execute(params![
            id.as_str(),
            a.number,
            a.at_ms,
            i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
            a.outcome
        ])?;
    }
    let bump = i64::from(attempt.is_some());
    let now = now_ms();
    // A row deleted meanwhile (its channel went) is simply gone: nothing to record.
    match next {
        Next::Delivered => tx
            .prepare_cached(
                "UPDATE notifications SET attempts = attempts + ?2, state = 'delivered', settled_at = ?3 \
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id.as_str(), bump, now])?,
        Next::RetryAt(at) => tx
            .prepare_cached(
                "UPDATE notifications SET attempts = attempts + ?2, next_attempt_at = ?3 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id.as_str(), bump, at])?,
        Next::Failed(reason) => tx
            .prepare_cached(
                "UPDATE notifications SET attempts = attempts + ?2, state = 'failed', outcome = ?3, settled_at = ?4 \
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id.as_str(), bump, reason.label(), now])?,
    };
    Ok(())
}

pub fn depth(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM notifications WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

pub fn deliveries(conn: &Connection, filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
    type Row = (String, i64, Option<i64>, String, Option<String>, String, i64, i64);
    let rows: Vec<Row> = conn
        .prepare_cached(
            "SELECT n.id, n.channel_id, n.project_id, n.state, n.outcome, n.items, n.created_at, n.next_attempt_at \
             FROM notifications n JOIN alert_channels c ON c.id = n.channel_id \
             WHERE c.organization_id = ?1 AND (?2 IS NULL OR n.project_id = ?2) \
             ORDER BY n.created_at DESC, n.id LIMIT ?3",
        )?
        .query_map(
            params![filter.organization_id, filter.project_id, filter.limit as i64],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, channel, project_id, state, outcome, items, created, next) in rows {
        let items: Vec<Item> = serde_json::from_str(&items).map_err(corrupt)?;
        let attempts = conn
            .prepare_cached(
                "SELECT number, at, duration_ms, outcome FROM notification_attempts WHERE notification_id = ?1 \
                 ORDER BY number",
            )?
            .query_map(params![id], |r| {
                Ok(AttemptRecord {
                    number: r.get(0)?,
                    at_ms: r.get(1)?,
                    duration_ms: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    outcome: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        out.push(Delivery {
            id: id.parse().map_err(corrupt)?,
            channel_id: ChannelId(channel),
            project_id,
            state,
            outcome,
            issue_ids: items.iter().map(|i| i.issue.issue_id).collect(),
            created_at_ms: created,
            next_attempt_at_ms: next,
            attempts,
        });
    }
    Ok(out)
}

/// Retention: up to `limit` settled notifications (with their attempts) settled before
/// `cutoff_ms`; returns how many went.
pub fn prune_history(tx: &Transaction, cutoff_ms: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached(
            "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications \
             WHERE settled_at IS NOT NULL AND settled_at < ?1 ORDER BY settled_at LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, limit as i64])?)
}

// ---------------------------------------------------------------- ingest

/// What happened to one issue in a batch, with the event that made it happen.
struct Noted {
    happening: Happening,
    project_id: i64,
    level: Level,
    environment: Option<String>,
    release: Option<String>,
    tags: Vec<(String, String)>,
}

/// What a batch did to issues, gathered while it is folded; empty (and free) when no
/// project has an enabled rule.
#[derive(Default)]
pub struct Happenings {
    active: bool,
    issues: HashMap<i64, Noted>,
}

fn rank(h: Happening) -> u8 {
    match h {
        Happening::Created => 2,
        Happening::Regressed => 1,
        Happening::SeenAgain => 0,
    }
}

impl Happenings {
    /// Whether any enabled rule exists: one indexed look-up per batch.
    pub fn start(tx: &Transaction) -> Result<Happenings, StoreError> {
        let active: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM alert_rules WHERE enabled = 1)")?
            .query_row([], |r| r.get(0))?;
        Ok(Happenings {
            active,
            issues: HashMap::new(),
        })
    }

    /// Notes that `r` created, regressed or was seen again on `issue_id`; the strongest
    /// happening of the batch wins, with its event's facts.
    pub fn note(&mut self, issue_id: i64, happening: Happening, r: &EventRecord) {
        if !self.active {
            return;
        }
        if self
            .issues
            .get(&issue_id)
            .is_some_and(|n| rank(n.happening) >= rank(happening))
        {
            return;
        }
        self.issues.insert(
            issue_id,
            Noted {
                happening,
                project_id: r.project_id,
                level: r.level.parse().unwrap_or(Level::Error),
                environment: r.environment.clone(),
                release: r.release.clone(),
                tags: r.tags.clone(),
            },
        );
    }
}

/// The issue as a message tells it, read after the batch's counters are written.
fn snapshot(
    tx: &Transaction,
    issue_id: i64,
    public_url: &str,
    noted: &Noted,
) -> Result<Option<IssueSnapshot>, StoreError> {
    tx.prepare_cached(
        "SELECT i.short_id, i.title, i.culprit, i.level, i.platform, i.times_seen, i.user_count, i.first_seen, \
         i.last_seen, p.slug, o.slug, i.project_id FROM issues i JOIN projects p ON p.id = i.project_id \
         JOIN organizations o ON o.id = p.organization_id WHERE i.id = ?1",
    )?
    .query_row(params![issue_id], |r| {
        let project_slug: String = r.get(9)?;
        let organization_slug: String = r.get(10)?;
        let level: String = r.get(3)?;
        Ok(IssueSnapshot {
            issue_id,
            project_id: r.get(11)?,
            short_id: crate::ids::ShortId::new(&project_slug, r.get(0)?).to_string(),
            title: r.get(1)?,
            culprit: r.get(2)?,
            level: level.parse().unwrap_or(Level::Error),
            platform: r.get(4)?,
            count: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            user_count: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
            first_seen_us: r.get(7)?,
            last_seen_us: r.get(8)?,
            environment: noted.environment.clone(),
            release: noted.release.clone(),
            link: issue_link(public_url, &organization_slug, issue_id),
            project_slug,
            organization_slug,
        })
    })
    .optional()
    .map_err(Into::into)
}

/// Events of an issue received with a timestamp in the last `minutes` minutes, counted
/// exactly from the events index (hourly counters would count a whole hour for a window
/// of ten minutes), and only up to `cap`, the most any trigger asks for, so a hot issue
/// costs at most that many index entries.
fn seen_within(tx: &Transaction, issue_id: i64, minutes: u32, now_us: i64, cap: u32) -> u64 {
    let from = now_us - i64::from(minutes) * 60_000_000;
    tx.prepare_cached("SELECT count(*) FROM (SELECT 1 FROM events WHERE issue_id = ?1 AND timestamp >= ?2 LIMIT ?3)")
        .and_then(|mut s| s.query_row(params![issue_id, from, cap], |r| r.get::<_, i64>(0)))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

/// Writes the notifications a batch's happenings call for, inside the batch's transaction:
/// each enabled rule of the issue's project that fires and that storm control lets through
/// adds one notification per channel (once per issue and channel). Past the outbox's bound
/// a notification is dropped and counted. Returns how many were written.
pub fn enqueue(tx: &Transaction, happenings: Happenings, settings: &AlertSettings) -> Result<usize, StoreError> {
    if happenings.issues.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let now_micros = now_us();
    let public_url = settings.public_url();
    let mut rules_of: HashMap<i64, Vec<Rule>> = HashMap::new();
    let mut room: Option<i64> = None;
    let mut burst_due: HashMap<ChannelId, i64> = HashMap::new();
    let mut written = 0;
    for (issue_id, noted) in &happenings.issues {
        let rules = match rules_of.entry(noted.project_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(enabled_rules(tx, noted.project_id)?),
        };
        let rules: &Vec<Rule> = rules;
        let cap = policy::escalation_cap(rules);
        let facts = EventFacts {
            level: noted.level,
            environment: noted.environment.as_deref(),
            release: noted.release.as_deref(),
            tags: &noted.tags,
        };
        let mut told: HashSet<ChannelId> = HashSet::new();
        let mut snap: Option<IssueSnapshot> = None;
        for rule in rules {
            let Some(reason) = policy::fires(rule, noted.happening, &facts, |m| {
                seen_within(tx, *issue_id, m, now_micros, cap)
            }) else {
                continue;
            };
            let reason_key = reason_label(reason);
            let last: Option<i64> = tx
                .prepare_cached(
                    "SELECT last_notified FROM alert_rule_issues WHERE rule_id = ?1 AND issue_id = ?2 AND reason = ?3",
                )?
                .query_row(params![rule.id.0, issue_id, reason_key], |r| r.get(0))
                .optional()?;
            if !policy::throttle_allows(rule, last, now) {
                continue;
            }
            if snap.is_none() {
                snap = snapshot(tx, *issue_id, &public_url, noted)?;
            }
            let Some(issue) = &snap else {
                break;
            };
            for channel in &rule.channels {
                if !told.insert(*channel) {
                    continue;
                }
                let left = match room {
                    Some(left) => left,
                    None => (settings.capacity() as i64) - depth(tx)?,
                };
                if left <= 0 {
                    room = Some(0);
                    metrics::counter!("errata_notifications_dropped_total").increment(1);
                    tracing::warn!(issue = issue_id, "outbox full: notification dropped");
                    continue;
                }
                room = Some(left - 1);
                let item = Item {
                    rule: rule.id,
                    reason,
                    issue: issue.clone(),
                };
                let mut n = Notification::new(*channel, item, now, DEFAULT_GATHER_MS);
                // A burst in progress for this channel: join it, so the sender finds the
                // whole burst due together and folds it into one digest.
                let due = match burst_due.get(channel) {
                    Some(due) => *due,
                    None => {
                        let due = gathering_since(tx, *channel, now)?.unwrap_or(n.next_attempt_at_ms);
                        burst_due.insert(*channel, due);
                        due
                    }
                };
                n.next_attempt_at_ms = due;
                insert(tx, &n, Some(noted.project_id))?;
                written += 1;
            }
            tx.prepare_cached(
                "INSERT INTO alert_rule_issues (rule_id, issue_id, reason, last_notified) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (rule_id, issue_id, reason) DO UPDATE SET last_notified = excluded.last_notified",
            )?
            .execute(params![rule.id.0, issue_id, reason_key, now])?;
        }
    }
    Ok(written)
}

fn reason_label(reason: Reason) -> &'static str {
    match reason {
        Reason::NewIssue => "new_issue",
        Reason::Regression => "regression",
        Reason::Escalation => "escalation",
    }
}

/// When the fresh notifications already gathering for `channel` fall due, if any are.
fn gathering_since(tx: &Transaction, channel: ChannelId, now_ms: i64) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT min(next_attempt_at) FROM notifications WHERE channel_id = ?1 AND state = 'pending' \
             AND attempts = 0 AND next_attempt_at > ?2 AND next_attempt_at <= ?3",
        )?
        .query_row(params![channel.0, now_ms, now_ms + DEFAULT_GATHER_MS], |r| r.get(0))?)
}

/// A project's enabled rules; one that no longer parses is skipped (and logged), never
/// allowed to fail the ingest transaction.
fn enabled_rules(tx: &Transaction, project_id: i64) -> Result<Vec<Rule>, StoreError> {
    let rows: Vec<RuleRow> = tx
        .prepare_cached(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = ?1 AND enabled = 1 ORDER BY id"
        ))?
        .query_map(params![project_id], rule_from_row)?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.0;
        match to_rule(tx, row) {
            Ok(rule) => out.push(rule),
            Err(StoreError::Corrupt(e)) => tracing::warn!(rule = id, error = %e, "alert rule does not parse; skipped"),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
