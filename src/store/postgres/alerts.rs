//! Alerts on PostgreSQL: rules, channels, the outbox and the delivery history, as the
//! SQLite backend keeps them. Several nodes share the outbox: a claim takes due rows with
//! `FOR UPDATE SKIP LOCKED` and leases them in the same statement, so two nodes never send
//! the same notification at once. `enqueue` runs inside the ingest transaction.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::Row;

use super::{PgError, PgStore};
use crate::notify::model::{
    Channel, ChannelId, DEFAULT_GATHER_MS, Filters, IssueSnapshot, Item, Level, Notification, NotificationId, Reason,
    Rule, RuleId, Trigger, issue_link,
};
use crate::notify::outbox::{AttemptRecord, Next};
use crate::notify::policy::{self, EventFacts, Happening};
use crate::store::alerts::check_rule;
use crate::store::{AlertSettings, Delivery, DeliveryFilter, EventRecord, NewChannel, StoreError, Stored, now_us};

fn now_ms() -> i64 {
    now_us() / 1000
}

fn corrupt(e: impl std::fmt::Display) -> PgError {
    PgError::Corrupt(e.to_string())
}

fn to_channel(r: &Row) -> Result<Channel, PgError> {
    let config: String = r.get(3);
    Ok(Channel {
        id: ChannelId(r.get(0)),
        organization_id: r.get(1),
        name: r.get(2),
        kind: serde_json::from_str(&config).map_err(corrupt)?,
    })
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
    serde_json::to_string(&new.kind).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const RULE_COLUMNS: &str = "id, project_id, name, triggers, filters, interval_secs, enabled";

async fn to_rule(client: &impl deadpool_postgres::GenericClient, r: &Row) -> Result<Rule, PgError> {
    let id: i64 = r.get(0);
    let triggers: String = r.get(3);
    let filters: String = r.get(4);
    let interval: i64 = r.get(5);
    let enabled: i64 = r.get(6);
    let channels = client
        .query(
            "SELECT channel_id FROM alert_rule_channels WHERE rule_id = $1 ORDER BY channel_id",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| ChannelId(row.get(0)))
        .collect();
    Ok(Rule {
        id: RuleId(id),
        project_id: r.get(1),
        name: r.get(2),
        triggers: serde_json::from_str::<Vec<Trigger>>(&triggers).map_err(corrupt)?,
        filters: serde_json::from_str::<Filters>(&filters).map_err(corrupt)?,
        channels,
        interval_secs: u32::try_from(interval).unwrap_or(u32::MAX),
        enabled: enabled != 0,
    })
}

async fn rule_by_id(client: &impl deadpool_postgres::GenericClient, id: RuleId) -> Result<Rule, PgError> {
    let row = client
        .query_opt(
            &format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1"),
            &[&id.0],
        )
        .await?
        .ok_or(PgError::NotFound("rule"))?;
    to_rule(client, &row).await
}

async fn set_rule_channels(tx: &Transaction<'_>, rule: &Rule) -> Result<(), StoreError> {
    tx.execute("DELETE FROM alert_rule_channels WHERE rule_id = $1", &[&rule.id.0])
        .await
        .map_err(PgError::from)?;
    for channel in &rule.channels {
        let same_org: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM alert_channels c JOIN projects p ON p.organization_id = c.organization_id \
                 WHERE c.id = $1 AND p.id = $2)",
                &[&channel.0, &rule.project_id],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        if !same_org {
            return Err(StoreError::Conflict(format!(
                "channel {} does not exist in the project's organization",
                channel.0
            )));
        }
        tx.execute(
            "INSERT INTO alert_rule_channels (rule_id, channel_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&rule.id.0, &channel.0],
        )
        .await
        .map_err(PgError::from)?;
    }
    Ok(())
}

fn to_notification(r: &Row) -> Result<Notification, PgError> {
    let id: String = r.get(0);
    let items: String = r.get(2);
    let attempts: i64 = r.get(3);
    Ok(Notification {
        id: id.parse().map_err(corrupt)?,
        channel: ChannelId(r.get(1)),
        items: serde_json::from_str(&items).map_err(corrupt)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at_ms: r.get(4),
        next_attempt_at_ms: r.get(5),
    })
}

async fn insert(tx: &Transaction<'_>, n: &Notification, project_id: Option<i64>) -> Result<(), PgError> {
    let items = serde_json::to_string(&n.items).map_err(corrupt)?;
    tx.execute(
        "INSERT INTO notifications (id, channel_id, project_id, items, attempts, state, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
        &[
            &n.id.as_str(),
            &n.channel.0,
            &project_id,
            &items,
            &i64::from(n.attempts),
            &n.created_at_ms,
            &n.next_attempt_at_ms,
        ],
    )
    .await?;
    Ok(())
}

async fn depth(client: &impl deadpool_postgres::GenericClient) -> Result<i64, PgError> {
    Ok(client
        .query_one("SELECT count(*) FROM notifications WHERE state = 'pending'", &[])
        .await?
        .get(0))
}

impl PgStore {
    pub fn alert_settings(&self) -> &AlertSettings {
        &self.alerts
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }

    pub async fn alert_channels(&self, organization_id: i64) -> Result<Vec<Channel>, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                "SELECT id, organization_id, name, config FROM alert_channels WHERE organization_id = $1 ORDER BY id",
                &[&organization_id],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(to_channel).collect::<Result<_, _>>()?)
    }

    pub async fn alert_channel(&self, id: ChannelId) -> Result<Channel, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        let row = client
            .query_opt(
                "SELECT id, organization_id, name, config FROM alert_channels WHERE id = $1",
                &[&id.0],
            )
            .await
            .map_err(PgError::from)?
            .ok_or(StoreError::NotFound("channel"))?;
        Ok(to_channel(&row)?)
    }

    pub async fn create_alert_channel(&self, new: NewChannel) -> Result<Channel, StoreError> {
        let config = check_channel(&new)?;
        let client = self.pool().get().await.map_err(PgError::from)?;
        let row = client
            .query_one(
                "INSERT INTO alert_channels (organization_id, name, kind, config, date_created) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id, organization_id, name, config",
                &[
                    &new.organization_id,
                    &new.name.trim(),
                    &new.kind.label(),
                    &config,
                    &now_us(),
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(to_channel(&row)?)
    }

    pub async fn update_alert_channel(&self, id: ChannelId, new: NewChannel) -> Result<Channel, StoreError> {
        let config = check_channel(&new)?;
        let client = self.pool().get().await.map_err(PgError::from)?;
        let row = client
            .query_opt(
                "UPDATE alert_channels SET name = $2, kind = $3, config = $4 WHERE id = $1 \
                 RETURNING id, organization_id, name, config",
                &[&id.0, &new.name.trim(), &new.kind.label(), &config],
            )
            .await
            .map_err(PgError::from)?
            .ok_or(StoreError::NotFound("channel"))?;
        Ok(to_channel(&row)?)
    }

    pub async fn delete_alert_channel(&self, id: ChannelId) -> Result<(), StoreError> {
        let mut client = self.pool().get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        // Rules left without any channel would fire into nothing: they go too.
        tx.execute(
            "DELETE FROM alert_rules r WHERE r.id IN (SELECT rule_id FROM alert_rule_channels WHERE channel_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM alert_rule_channels c WHERE c.rule_id = r.id AND c.channel_id <> $1)",
            &[&id.0],
        )
        .await
        .map_err(PgError::from)?;
        let n = tx
            .execute("DELETE FROM alert_channels WHERE id = $1", &[&id.0])
            .await
            .map_err(PgError::from)?;
        if n == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }

    pub async fn alert_rules(&self, project_id: i64) -> Result<Vec<Rule>, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                &format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = $1 ORDER BY id"),
                &[&project_id],
            )
            .await
            .map_err(PgError::from)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(to_rule(&client, row).await?);
        }
        Ok(out)
    }

    pub async fn alert_rule(&self, id: RuleId) -> Result<Rule, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        Ok(rule_by_id(&client, id).await?)
    }

    pub async fn create_alert_rule(&self, rule: Rule) -> Result<Rule, StoreError> {
        check_rule(&rule)?;
        let mut client = self.pool().get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let triggers = serde_json::to_string(&rule.triggers).map_err(corrupt)?;
        let filters = serde_json::to_string(&rule.filters).map_err(corrupt)?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO alert_rules (project_id, name, triggers, filters, interval_secs, enabled, date_created) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &rule.project_id,
                    &rule.name.trim(),
                    &triggers,
                    &filters,
                    &i64::from(rule.interval_secs),
                    &i64::from(rule.enabled),
                    &now_us(),
                ],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        let stored = Rule { id: RuleId(id), ..rule };
        set_rule_channels(&tx, &stored).await?;
        let out = rule_by_id(&tx, stored.id).await?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(out)
    }

    pub async fn update_alert_rule(&self, rule: Rule) -> Result<Rule, StoreError> {
        check_rule(&rule)?;
        let mut client = self.pool().get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let triggers = serde_json::to_string(&rule.triggers).map_err(corrupt)?;
        let filters = serde_json::to_string(&rule.filters).map_err(corrupt)?;
        let n = tx
            .execute(
                "UPDATE alert_rules SET name = $2, triggers = $3, filters = $4, interval_secs = $5, enabled = $6 \
                 WHERE id = $1 AND project_id = $7",
                &[
                    &rule.id.0,
                    &rule.name.trim(),
                    &triggers,
                    &filters,
                    &i64::from(rule.interval_secs),
                    &i64::from(rule.enabled),
                    &rule.project_id,
                ],
            )
            .await
            .map_err(PgError::from)?;
        if n == 0 {
            return Err(StoreError::NotFound("rule"));
        }
        set_rule_channels(&tx, &rule).await?;
        let out = rule_by_id(&tx, rule.id).await?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(out)
    }

    pub async fn delete_alert_rule(&self, id: RuleId) -> Result<(), StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        let n = client
            .execute("DELETE FROM alert_rules WHERE id = $1", &[&id.0])
            .await
            .map_err(PgError::from)?;
        if n == 0 {
            return Err(StoreError::NotFound("rule"));
        }
        Ok(())
    }

    pub async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        let rows = client
            .query(
                "SELECT n.id, n.channel_id, n.project_id, n.state, n.outcome, n.items, n.created_at, n.next_attempt_at \
                 FROM notifications n JOIN alert_channels c ON c.id = n.channel_id \
                 WHERE c.organization_id = $1 AND ($2::bigint IS NULL OR n.project_id = $2) \
                 ORDER BY n.created_at DESC, n.id LIMIT $3",
                &[&filter.organization_id, &filter.project_id, &(filter.limit as i64)],
            )
            .await
            .map_err(PgError::from)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.get(0);
            let items: String = r.get(5);
            let items: Vec<Item> = serde_json::from_str(&items).map_err(corrupt)?;
            let attempts = client
                .query(
                    "SELECT number, at, duration_ms, outcome FROM notification_attempts WHERE notification_id = $1 \
                     ORDER BY number",
                    &[&id],
                )
                .await
                .map_err(PgError::from)?
                .iter()
                .map(|a| AttemptRecord {
                    number: u32::try_from(a.get::<_, i64>(0)).unwrap_or(0),
                    at_ms: a.get(1),
                    duration_ms: u64::try_from(a.get::<_, i64>(2)).unwrap_or(0),
                    outcome: a.get(3),
                })
                .collect();
            out.push(Delivery {
                id: id.parse().map_err(corrupt)?,
                channel_id: ChannelId(r.get(1)),
                project_id: r.get(2),
                state: r.get(3),
                outcome: r.get(4),
                issue_ids: items.iter().map(|i| i.issue.issue_id).collect(),
                created_at_ms: r.get(6),
                next_attempt_at_ms: r.get(7),
                attempts,
            });
        }
        Ok(out)
    }

    pub async fn outbox_claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_until_ms: i64,
        skip: Vec<ChannelId>,
    ) -> Result<Vec<Notification>, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        let skip: Vec<i64> = skip.iter().map(|c| c.0).collect();
        // Rows another node holds are skipped, not waited for; the lease is taken in the
        // same statement, so once committed no other node claims them until it ends.
        let rows = client
            .query(
                "UPDATE notifications SET next_attempt_at = $3 WHERE id IN (SELECT id FROM notifications \
                 WHERE state = 'pending' AND next_attempt_at <= $1 AND NOT (channel_id = ANY($4)) \
                 ORDER BY next_attempt_at, created_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, channel_id, items, attempts, created_at, next_attempt_at",
                &[&now_ms, &(limit as i64), &lease_until_ms, &skip],
            )
            .await
            .map_err(PgError::from)?;
        let mut out: Vec<Notification> = rows.iter().map(to_notification).collect::<Result<_, _>>()?;
        out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(out)
    }

    pub async fn outbox_fold(&self, members: Vec<NotificationId>, digest: Notification) -> Result<(), StoreError> {
        let mut client = self.pool().get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let ids: Vec<&str> = members.iter().map(NotificationId::as_str).collect();
        let project_id: Option<i64> = tx
            .query(
                "UPDATE notifications SET state = 'folded', outcome = $2, settled_at = $3 \
                 WHERE id = ANY($1) AND state = 'pending' RETURNING project_id",
                &[&ids, &digest.id.as_str(), &now_ms()],
            )
            .await
            .map_err(PgError::from)?
            .iter()
            .find_map(|r| r.get::<_, Option<i64>>(0));
        insert(&tx, &digest, project_id).await?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }

    pub async fn outbox_record(
        &self,
        id: NotificationId,
        attempt: Option<AttemptRecord>,
        next: Next,
    ) -> Result<(), StoreError> {
        let mut client = self.pool().get().await.map_err(PgError::from)?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        if let Some(a) = &attempt {
            tx.execute(
                "INSERT INTO notification_attempts (notification_id, number, at, duration_ms, outcome) \
                 SELECT id, $2, $3, $4, $5 FROM notifications WHERE id = $1 \
                 ON CONFLICT (notification_id, number) DO UPDATE SET at = excluded.at, \
                 duration_ms = excluded.duration_ms, outcome = excluded.outcome",
                &[
                    &id.as_str(),
                    &i64::from(a.number),
                    &a.at_ms,
                    &i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                    &a.outcome,
                ],
            )
            .await
            .map_err(PgError::from)?;
        }
        let bump = i64::from(attempt.is_some());
        let now = now_ms();
        let id = id.as_str();
        match next {
            Next::Delivered => {
                tx.execute(
                    "UPDATE notifications SET attempts = attempts + $2, state = 'delivered', settled_at = $3 \
                     WHERE id = $1 AND state = 'pending'",
                    &[&id, &bump, &now],
                )
                .await
            }
            Next::RetryAt(at) => {
                tx.execute(
                    "UPDATE notifications SET attempts = attempts + $2, next_attempt_at = $3 \
                     WHERE id = $1 AND state = 'pending'",
                    &[&id, &bump, &at],
                )
                .await
            }
            Next::Failed(reason) => {
                tx.execute(
                    "UPDATE notifications SET attempts = attempts + $2, state = 'failed', outcome = $3, settled_at = $4 \
                     WHERE id = $1 AND state = 'pending'",
                    &[&id, &bump, &reason.label(), &now],
                )
                .await
            }
        }
        .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }

    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        let client = self.pool().get().await.map_err(PgError::from)?;
        Ok(depth(&client).await?)
    }
}

// ---------------------------------------------------------------- ingest

struct Noted<'a> {
    happening: Happening,
    record: &'a EventRecord,
}

fn rank(h: Happening) -> u8 {
    match h {
        Happening::Created => 2,
        Happening::Regressed => 1,
        Happening::SeenAgain => 0,
    }
}

fn reason_label(reason: Reason) -> &'static str {
    match reason {
        Reason::NewIssue => "new_issue",
        Reason::Regression => "regression",
        Reason::Escalation => "escalation",
    }
}

/// Writes the notifications a committed-to-be batch calls for, inside its transaction (see
/// the SQLite backend's `enqueue`): `created` and `regressed` say what each stored event
/// did to its issue.
pub async fn enqueue(
    tx: &Transaction<'_>,
    settings: &AlertSettings,
    records: &[&EventRecord],
    results: &[Option<Result<Stored, PgError>>],
    created: &[bool],
    regressed: &[i64],
) -> Result<(), PgError> {
    let active: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM alert_rules WHERE enabled = 1)", &[])
        .await?
        .get(0);
    if !active {
        return Ok(());
    }
    let mut noted: HashMap<i64, Noted> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let Some(Ok(stored)) = &results[index] else {
            continue;
        };
        if stored.duplicate {
            continue;
        }
        let happening = if created[index] {
            Happening::Created
        } else if regressed.contains(&stored.issue_id) {
            Happening::Regressed
        } else {
            Happening::SeenAgain
        };
        if noted
            .get(&stored.issue_id)
            .is_some_and(|n| rank(n.happening) >= rank(happening))
        {
            continue;
        }
        noted.insert(stored.issue_id, Noted { happening, record });
    }
    let public_url = settings.public_url();
    let now = now_ms();
    let mut rules_of: HashMap<i64, Vec<Rule>> = HashMap::new();
    let mut room: Option<i64> = None;
    let mut burst_due: HashMap<ChannelId, i64> = HashMap::new();
    for (issue_id, n) in &noted {
        let r = n.record;
        if let std::collections::hash_map::Entry::Vacant(slot) = rules_of.entry(r.project_id) {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = $1 AND enabled = 1 ORDER BY id"
                    ),
                    &[&r.project_id],
                )
                .await?;
            let mut rules = Vec::new();
            for row in &rows {
                match to_rule(tx, row).await {
                    Ok(rule) => rules.push(rule),
                    Err(PgError::Corrupt(e)) => tracing::warn!(error = %e, "alert rule does not parse; skipped"),
                    Err(e) => return Err(e),
                }
            }
            slot.insert(rules);
        }
        let rules = &rules_of[&r.project_id];
        // Escalation windows are counted up front (the policy is pure and synchronous).
        let cap = i64::from(policy::escalation_cap(rules));
        let mut seen: HashMap<u32, u64> = HashMap::new();
        for rule in rules {
            for t in &rule.triggers {
                if let Trigger::Escalation { minutes, .. } = t
                    && n.happening != Happening::Created
                    && !seen.contains_key(minutes)
                {
                    // Exactly, from the events index, and only as far as any trigger asks
                    // (hourly counters would count a whole hour for a ten-minute window).
                    let from = now_us() - i64::from(*minutes) * 60_000_000;
                    let count: i64 = tx
                        .query_one(
                            "SELECT count(*) FROM (SELECT 1 FROM events WHERE issue_id = $1 AND timestamp >= $2 \
                             LIMIT $3) AS recent",
                            &[issue_id, &from, &cap],
                        )
                        .await?
                        .get(0);
                    seen.insert(*minutes, u64::try_from(count).unwrap_or(0));
                }
            }
        }
        let level: Level = r.level.parse().unwrap_or(Level::Error);
        let facts = EventFacts {
            level,
            environment: r.environment.as_deref(),
            release: r.release.as_deref(),
            tags: &r.tags,
        };
        let mut told: HashSet<ChannelId> = HashSet::new();
        let mut snap: Option<IssueSnapshot> = None;
        for rule in rules {
            let Some(reason) = policy::fires(rule, n.happening, &facts, |m| seen.get(&m).copied().unwrap_or(0)) else {
                continue;
            };
            let last: Option<i64> = tx
                .query_opt(
                    "SELECT last_notified FROM alert_rule_issues WHERE rule_id = $1 AND issue_id = $2 AND reason = $3",
                    &[&rule.id.0, issue_id, &reason_label(reason)],
                )
                .await?
                .map(|row| row.get(0));
            if !policy::throttle_allows(rule, last, now) {
                continue;
            }
            if snap.is_none() {
                snap = tx
                    .query_opt(
                        "SELECT i.short_id, i.title, i.culprit, i.level, i.platform, i.times_seen, i.user_count, \
                         i.first_seen, i.last_seen, p.slug, o.slug, i.project_id FROM issues i \
                         JOIN projects p ON p.id = i.project_id JOIN organizations o ON o.id = p.organization_id \
                         WHERE i.id = $1",
                        &[issue_id],
                    )
                    .await?
                    .map(|row| {
                        let project_slug: String = row.get(9);
                        let organization_slug: String = row.get(10);
                        let level: String = row.get(3);
                        IssueSnapshot {
                            issue_id: *issue_id,
                            project_id: row.get(11),
                            short_id: crate::ids::ShortId::new(&project_slug, row.get(0)).to_string(),
                            title: row.get(1),
                            culprit: row.get(2),
                            level: level.parse().unwrap_or(Level::Error),
                            platform: row.get(4),
                            count: u64::try_from(row.get::<_, i64>(5)).unwrap_or(0),
                            user_count: u64::try_from(row.get::<_, i64>(6)).unwrap_or(0),
                            first_seen_us: row.get(7),
                            last_seen_us: row.get(8),
                            environment: r.environment.clone(),
                            release: r.release.clone(),
                            link: issue_link(&public_url, &organization_slug, *issue_id),
                            project_slug,
                            organization_slug,
                        }
                    });
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
                    None => (settings.capacity() as i64) - depth(tx).await?,
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
                let mut notification = Notification::new(*channel, item, now, DEFAULT_GATHER_MS);
                let due = match burst_due.get(channel) {
                    Some(due) => *due,
                    None => {
                        let gathering: Option<i64> = tx
                            .query_one(
                                "SELECT min(next_attempt_at) FROM notifications WHERE channel_id = $1 \
                                 AND state = 'pending' AND attempts = 0 AND next_attempt_at > $2 AND next_attempt_at <= $3",
                                &[&channel.0, &now, &(now + DEFAULT_GATHER_MS)],
                            )
                            .await?
                            .get(0);
                        let due = gathering.unwrap_or(notification.next_attempt_at_ms);
                        burst_due.insert(*channel, due);
                        due
                    }
                };
                notification.next_attempt_at_ms = due;
                insert(tx, &notification, Some(r.project_id)).await?;
            }
            tx.execute(
                "INSERT INTO alert_rule_issues (rule_id, issue_id, reason, last_notified) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (rule_id, issue_id, reason) DO UPDATE SET last_notified = excluded.last_notified",
                &[&rule.id.0, issue_id, &reason_label(reason), &now],
            )
            .await?;
        }
    }
    Ok(())
}

/// Retention: up to `limit` settled notifications (with their attempts) settled before
/// `cutoff_ms`; returns how many went.
pub async fn prune_history(
    client: &impl deadpool_postgres::GenericClient,
    cutoff_ms: i64,
    limit: usize,
) -> Result<u64, PgError> {
    Ok(client
        .execute(
            "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications \
             WHERE settled_at IS NOT NULL AND settled_at < $1 ORDER BY settled_at LIMIT $2)",
            &[&cutoff_ms, &(limit as i64)],
        )
        .await?)
}
