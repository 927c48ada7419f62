//! What the store keeps for alerts, in Errata's own types: rules and channels as the API
//! manages them, the delivery history, and the outbox the sender works from (the `Outbox`
//! trait, implemented here for every backend through `Store`).

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::notify::model::{Channel, ChannelId, Notification, NotificationId, Rule};
use crate::notify::outbox::{AttemptRecord, Next, Outbox, OutboxError};

use super::{Store, StoreError};

/// Most notifications waiting in the outbox before new ones are dropped (and counted).
pub const DEFAULT_OUTBOX_CAPACITY: usize = 10_000;

/// What the ingest transaction needs to write notifications: set once at start-up.
#[derive(Debug)]
pub struct AlertSettings {
    capacity: AtomicUsize,
    public_url: RwLock<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            capacity: AtomicUsize::new(DEFAULT_OUTBOX_CAPACITY),
            public_url: RwLock::new("http://127.0.0.1:8000".into()),
        }
    }
}

impl AlertSettings {
    pub fn set(&self, public_url: &str, capacity: usize) {
        self.capacity.store(capacity, Ordering::Release);
        if let Ok(mut url) = self.public_url.write() {
            *url = public_url.trim_end_matches('/').to_string();
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Acquire)
    }

    pub fn public_url(&self) -> String {
        self.public_url.read().map(|u| u.clone()).unwrap_or_default()
    }
}

/// A channel to create or replace (the id is the store's to give).
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub organization_id: i64,
    pub name: String,
    pub kind: crate::notify::ChannelKind,
}

/// One notification as the delivery history shows it: where, about what, how it ended, and
/// each attempt's status.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: NotificationId,
    pub channel_id: ChannelId,
    pub project_id: Option<i64>,
    /// pending, delivered, failed, folded.
    pub state: String,
    /// Why a failed one failed; the digest a folded one went into.
    pub outcome: Option<String>,
    pub issue_ids: Vec<i64>,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub attempts: Vec<AttemptRecord>,
}

/// Which deliveries to list, newest first.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryFilter {
    pub organization_id: i64,
    pub project_id: Option<i64>,
    pub limit: usize,
}

/// The rule's fields checked once, at the edge: a name, at least one trigger, channels of
/// the project's organization (checked by the store).
pub fn check_rule(rule: &Rule) -> Result<(), StoreError> {
    if rule.name.trim().is_empty() {
        return Err(StoreError::Conflict("a rule needs a name".into()));
    }
    if rule.triggers.is_empty() {
        return Err(StoreError::Conflict("a rule needs at least one trigger".into()));
    }
    if rule.channels.is_empty() {
        return Err(StoreError::Conflict("a rule needs at least one channel".into()));
    }
    Ok(())
}

fn outbox_error(e: StoreError) -> OutboxError {
    OutboxError::Storage(e.to_string())
}

impl Outbox for Store {
    async fn claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_until_ms: i64,
        skip: &[ChannelId],
    ) -> Result<Vec<Notification>, OutboxError> {
        self.outbox_claim(now_ms, limit, lease_until_ms, skip.to_vec())
            .await
            .map_err(outbox_error)
    }

    async fn fold(&self, members: &[NotificationId], digest: Notification) -> Result<(), OutboxError> {
        self.outbox_fold(members.to_vec(), digest).await.map_err(outbox_error)
    }

    async fn record(&self, id: &NotificationId, attempt: Option<AttemptRecord>, next: Next) -> Result<(), OutboxError> {
        self.outbox_record(id.clone(), attempt, next)
            .await
            .map_err(outbox_error)
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>, OutboxError> {
        match self.alert_channel(id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(outbox_error(e)),
        }
    }
}
