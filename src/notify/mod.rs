//! Alerts: rules that decide when an issue is worth telling someone about, channels that say
//! where (a Sentry-shaped webhook, Slack, Discord, Teams, ntfy, e-mail), and a sender that
//! delivers what the outbox holds — retried with backoff, one idempotency key per
//! notification, bursts folded into digests, and outgoing requests kept behind a door.
//!
//! `model` and `policy` and `render` are pure; `door` decides which addresses may be
//! reached; `outbox` is what the sender needs from storage; `sender` does the I/O.

pub mod door;
pub mod manage;
pub mod model;
pub mod outbox;
pub mod policy;
pub mod render;
pub mod sender;

pub use door::{AddressPolicy, ReceiverUrl};
pub use model::{Channel, ChannelId, ChannelKind, Notification, NotificationId, Rule, RuleId, Trigger};
pub use outbox::{MemoryOutbox, Outbox};
pub use sender::{Sender, SenderConfig};

/// What can go wrong in alerts, as the API will map it: `Invalid` is the client's mistake
/// (a 400); the others are the server's.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    #[error("the sender is stopping")]
    Stopped,
}
