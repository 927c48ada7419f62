//! The outbox as the sender sees it: a trait the store implements over its table (rows
//! written in the ingest transaction), and an in-memory implementation for tests.
//!
//! The store's side, in outline: a `notifications` table (id, channel, the items as JSON,
//! attempts, created and next-attempt times, state pending / delivered / failed / folded,
//! the digest a row was folded into) and a `notification_attempts` table (notification,
//! number, time, duration, outcome label) for the delivery history. The ingest transaction
//! inserts rows (bounded: past a limit it counts a drop instead); `claim` is one
//! `UPDATE … SET next_attempt_at = lease … RETURNING`, so claims survive a crash as leases.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;

use super::model::{Channel, ChannelId, Notification, NotificationId};
use super::policy::FailReason;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox storage failed: {0}")]
    Storage(String),
}

/// One attempt as the delivery history keeps it: when, how long, and the status — never
/// what the receiver said beyond that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// 1 for the first attempt.
    pub number: u32,
    pub at_ms: i64,
    pub duration_ms: u64,
    /// `200`, `429`, `timeout`, `refused`, `smtp_550`…
    pub outcome: String,
}

/// What follows an attempt (or a decision not to attempt yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Due again at this time (unix ms).
    RetryAt(i64),
    Failed(FailReason),
}

/// Where notifications wait. Every method is one atomic step for the implementation.
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` due notifications (next attempt ≤ `now_ms`) not for a channel in `skip`,
    /// oldest first, each leased until `lease_until_ms`: one claimed by a sender that then
    /// dies comes due again, to be sent with the same idempotency key.
    fn claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_until_ms: i64,
        skip: &[ChannelId],
    ) -> impl Future<Output = Result<Vec<Notification>, OutboxError>> + Send;

    /// Replaces the waiting `members` by one `digest` that lists them all.
    fn fold(
        &self,
        members: &[NotificationId],
        digest: Notification,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;

    /// Records an attempt (`None` when the notification was put off without one) and what
    /// follows it.
    fn record(
        &self,
        id: &NotificationId,
        attempt: Option<AttemptRecord>,
        next: Next,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;

    /// A channel's current configuration; `None` once deleted.
    fn channel(&self, id: ChannelId) -> impl Future<Output = Result<Option<Channel>, OutboxError>> + Send;
}

/// Final state of a notification in the in-memory outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    Failed(FailReason),
    /// Folded into the digest with this id.
    Folded(NotificationId),
}

#[derive(Default)]
struct State {
    pending: BTreeMap<NotificationId, Notification>,
    settled: HashMap<NotificationId, (Notification, Settled)>,
    history: Vec<(NotificationId, AttemptRecord)>,
    channels: HashMap<ChannelId, Channel>,
    dropped: u64,
}

/// An outbox in memory, bounded: what does not fit is dropped and counted.
pub struct MemoryOutbox {
    capacity: usize,
    state: Mutex<State>,
}

impl MemoryOutbox {
    pub fn new(capacity: usize) -> MemoryOutbox {
        MemoryOutbox {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data that is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_channel(&self, channel: Channel) {
        self.lock().channels.insert(channel.id, channel);
    }

    /// Queues a notification; false (and counted) when the outbox is full.
    pub fn push(&self, notification: Notification) -> bool {
        let mut state = self.lock();
        if state.pending.len() >= self.capacity {
            state.dropped += 1;
            return false;
        }
        state.pending.insert(notification.id.clone(), notification);
        true
    }

    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    /// How a notification ended, if it has.
    pub fn settled(&self, id: &NotificationId) -> Option<Settled> {
        self.lock().settled.get(id).map(|(_, s)| s.clone())
    }

    /// Every settled notification with its end.
    pub fn all_settled(&self) -> Vec<(Notification, Settled)> {
        self.lock().settled.values().cloned().collect()
    }

    /// The attempts made for one notification, in order.
    pub fn attempts(&self, id: &NotificationId) -> Vec<AttemptRecord> {
        self.lock()
            .history
            .iter()
            .filter(|(i, _)| i == id)
            .map(|(_, a)| a.clone())
            .collect()
    }
}

impl Outbox for MemoryOutbox {
    async fn claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_until_ms: i64,
        skip: &[ChannelId],
    ) -> Result<Vec<Notification>, OutboxError> {
        let mut state = self.lock();
        let mut due: Vec<&mut Notification> = state
            .pending
            .values_mut()
            .filter(|n| n.next_attempt_at_ms <= now_ms && !skip.contains(&n.channel))
            .collect();
        due.sort_by_key(|n| (n.next_attempt_at_ms, n.created_at_ms));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|n| {
                n.next_attempt_at_ms = lease_until_ms;
                n.clone()
            })
            .collect())
    }

    async fn fold(&self, members: &[NotificationId], digest: Notification) -> Result<(), OutboxError> {
        let mut state = self.lock();
        for id in members {
            if let Some(n) = state.pending.remove(id) {
                state
                    .settled
                    .insert(id.clone(), (n, Settled::Folded(digest.id.clone())));
            }
        }
        state.pending.insert(digest.id.clone(), digest);
        Ok(())
    }

    async fn record(&self, id: &NotificationId, attempt: Option<AttemptRecord>, next: Next) -> Result<(), OutboxError> {
        let mut state = self.lock();
        let attempted = attempt.is_some();
        if let Some(a) = attempt {
            state.history.push((id.clone(), a));
        }
        let Some(mut n) = state.pending.remove(id) else {
            return Err(OutboxError::Storage(format!("notification {id} is not pending")));
        };
        if attempted {
            n.attempts += 1;
        }
        match next {
            Next::RetryAt(at) => {
                n.next_attempt_at_ms = at;
                state.pending.insert(id.clone(), n);
            }
            Next::Delivered => {
                state.settled.insert(id.clone(), (n, Settled::Delivered));
            }
            Next::Failed(reason) => {
                state.settled.insert(id.clone(), (n, Settled::Failed(reason)));
            }
        }
        Ok(())
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>, OutboxError> {
        Ok(self.lock().channels.get(&id).cloned())
    }
}
