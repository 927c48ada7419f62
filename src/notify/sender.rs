//! The background sender: claims due notifications from the outbox, folds bursts into
//! digests, delivers each over HTTP or SMTP with its idempotency key, and records every
//! attempt. Concurrency is bounded overall and one channel is worked by one task at a time,
//! so a slow or dead receiver holds at most one slot and never delays the others.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::AsyncTransport;
use tokio::sync::{Notify, Semaphore};

use super::NotifyError;
use super::door::{AddressPolicy, GuardedResolver, Refusal};
use super::model::{Channel, ChannelId, ChannelKind, EmailChannel, Notification, NotificationId, SmtpSecurity};
use super::outbox::{AttemptRecord, Next, Outbox};
use super::policy::{self, AttemptOutcome, FailReason, RetryPolicy, Verdict};
use super::render::{self, Rendered};

/// The header that carries a notification's id on every attempt.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// How the sender works; `Default` is the documented configuration.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub retry: RetryPolicy,
    /// Per attempt, connection and answer together (10 s).
    pub attempt_timeout: Duration,
    /// Deliveries in flight at once, over all channels (16).
    pub concurrency: usize,
    /// Notifications claimed per round (500).
    pub batch: usize,
    /// A claimed notification is due again after this long if its sender died (5 min).
    pub lease: Duration,
    /// How often the outbox is polled when nobody wakes the sender (1 s).
    pub poll: Duration,
    /// This many fresh notifications due together for one channel become one digest (3).
    pub digest_threshold: usize,
    /// After a digest, a channel's new notifications wait this long and are folded into the
    /// next digest (5 min), so a long storm gives one message per window.
    pub storm_window: Duration,
    /// Which address ranges receivers may be in.
    pub addresses: AddressPolicy,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            retry: RetryPolicy::default(),
            attempt_timeout: Duration::from_secs(10),
            concurrency: 16,
            batch: 500,
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            digest_threshold: 3,
            storm_window: Duration::from_secs(300),
            addresses: AddressPolicy::default(),
        }
    }
}

/// Delivers what the outbox holds. Cheap to clone; clones share one state.
pub struct Sender<O: Outbox> {
    inner: Arc<Inner<O>>,
}

impl<O: Outbox> Clone for Sender<O> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<O> {
    outbox: Arc<O>,
    config: SenderConfig,
    http: reqwest::Client,
    resolver: GuardedResolver,
    policy: Arc<AddressPolicy>,
    permits: Arc<Semaphore>,
    /// Channels a task is working right now; not claimed again until it is done.
    busy: Mutex<HashSet<ChannelId>>,
    /// Per channel, until when new notifications are held for the next digest.
    storms: Mutex<HashMap<ChannelId, i64>>,
    wake: Arc<Notify>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<O: Outbox> Sender<O> {
    pub fn new(outbox: Arc<O>, config: SenderConfig) -> Result<Sender<O>, NotifyError> {
        let policy = Arc::new(config.addresses.clone());
        let resolver = GuardedResolver::new(policy.clone());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would connect on our behalf, past the door.
            .no_proxy()
            .dns_resolver(Arc::new(resolver.clone()))
            .timeout(config.attempt_timeout)
            .connect_timeout(config.attempt_timeout)
            .user_agent(concat!("Errata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client(e.to_string()))?;
        Ok(Sender {
            inner: Arc::new(Inner {
                outbox,
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                config,
                http,
                resolver,
                policy,
                busy: Mutex::new(HashSet::new()),
                storms: Mutex::new(HashMap::new()),
                wake: Arc::new(Notify::new()),
            }),
        })
    }

    /// Wakes the sender at once (the store calls it after committing new notifications).
    pub fn waker(&self) -> Arc<Notify> {
        self.inner.wake.clone()
    }

    /// Runs until `shutdown` completes: a round on every wake-up or poll interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "notification round failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(self.inner.config.poll) => {}
            }
        }
    }

    /// One round: claims what is due for idle channels and starts one task per channel.
    /// Returns how many notifications were claimed.
    pub async fn round(&self) -> Result<usize, NotifyError> {
        let inner = &self.inner;
        let now = now_ms();
        let skip: Vec<ChannelId> = lock(&inner.busy).iter().copied().collect();
        let claimed = inner
            .outbox
            .claim(now, inner.config.batch, now + millis(inner.config.lease), &skip)
            .await?;
        let count = claimed.len();
        let mut by_channel: HashMap<ChannelId, Vec<Notification>> = HashMap::new();
        for n in claimed {
            by_channel.entry(n.channel).or_default().push(n);
        }
        for (channel_id, group) in by_channel {
            lock(&inner.busy).insert(channel_id);
            let this = self.clone();
            tokio::spawn(async move {
                // Frees the channel however the task ends, a panic included.
                let _busy = Busy {
                    inner: this.inner.clone(),
                    channel: channel_id,
                };
                if let Err(e) = this.work_channel(channel_id, group).await {
                    tracing::warn!(channel = channel_id.0, error = %e, "notification delivery failed to record");
                }
            });
        }
        Ok(count)
    }

    /// Delivers one channel's claimed notifications, one after another.
    async fn work_channel(&self, channel_id: ChannelId, group: Vec<Notification>) -> Result<(), NotifyError> {
        let outbox = &self.inner.outbox;
        let Some(channel) = outbox.channel(channel_id).await? else {
            for n in group {
                outbox.record(&n.id, None, Next::Failed(FailReason::Refused)).await?;
                count(&n, "none", "failed_no_channel");
            }
            return Ok(());
        };
        let group = self.storm_control(&channel, group).await?;
        // Once the receiver looks down, the rest wait for the same retry time unattempted.
        let mut down_until: Option<i64> = None;
        let max_age = millis(self.inner.config.retry.max_age);
        for n in group {
            // Past its maximum age (say, held back behind a receiver that stayed down): given
            // up without another attempt, so a long outage drains in one round.
            let deadline = n.created_at_ms.saturating_add(max_age);
            if now_ms() > deadline || down_until.is_some_and(|at| at > deadline) {
                count(&n, channel.kind.label(), FailReason::Expired.label());
                outbox.record(&n.id, None, Next::Failed(FailReason::Expired)).await?;
                continue;
            }
            if let Some(at) = down_until {
                outbox.record(&n.id, None, Next::RetryAt(at)).await?;
                continue;
            }
            let started = Instant::now();
            let at_ms = now_ms();
            let outcome = {
                let _permit = self.inner.permits.acquire().await.map_err(|_| NotifyError::Stopped)?;
                self.attempt(&channel, &n).await
            };
            let number = n.attempts + 1;
            let verdict = policy::judge(
                &self.inner.config.retry,
                &outcome,
                number,
                n.created_at_ms,
                now_ms(),
                rand::random::<f64>(),
            );
            let record = AttemptRecord {
                number,
                at_ms,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                outcome: outcome.label(),
            };
            tracing::info!(
                notification = %n.id,
                channel = channel.id.0,
                kind = channel.kind.label(),
                attempt = number,
                outcome = %record.outcome,
                "notification attempt"
            );
            let next = match verdict {
                Verdict::Delivered => {
                    count(&n, channel.kind.label(), "delivered");
                    Next::Delivered
                }
                Verdict::RetryAt(at) => {
                    count(&n, channel.kind.label(), "retry");
                    down_until = Some(at);
                    Next::RetryAt(at)
                }
                Verdict::Failed(reason) => {
                    count(&n, channel.kind.label(), reason.label());
                    Next::Failed(reason)
                }
            };
            outbox.record(&n.id, Some(record), next).await?;
        }
        Ok(())
    }

    /// Folds a burst of fresh notifications into one digest, and holds new ones back while
    /// the channel is in a storm window.
    async fn storm_control(
        &self,
        channel: &Channel,
        group: Vec<Notification>,
    ) -> Result<Vec<Notification>, NotifyError> {
        if !channel.kind.digests() {
            return Ok(group);
        }
        let now = now_ms();
        let (fresh, mut rest): (Vec<Notification>, Vec<Notification>) =
            group.into_iter().partition(|n| n.attempts == 0 && !n.is_digest());
        let storm_until = lock(&self.inner.storms).get(&channel.id).copied().filter(|&t| t > now);
        if let Some(until) = storm_until {
            for n in &fresh {
                self.inner.outbox.record(&n.id, None, Next::RetryAt(until)).await?;
            }
            return Ok(rest);
        }
        if fresh.len() < self.inner.config.digest_threshold.max(2) {
            rest.extend(fresh);
            return Ok(rest);
        }
        let digest = Notification {
            id: NotificationId::random(),
            channel: channel.id,
            created_at_ms: fresh.iter().map(|n| n.created_at_ms).min().unwrap_or(now),
            items: fresh.iter().flat_map(|n| n.items.iter().cloned()).collect(),
            attempts: 0,
            next_attempt_at_ms: now + millis(self.inner.config.lease),
        };
        let members: Vec<NotificationId> = fresh.iter().map(|n| n.id.clone()).collect();
        self.inner.outbox.fold(&members, digest.clone()).await?;
        lock(&self.inner.storms).insert(channel.id, now + millis(self.inner.config.storm_window));
        tracing::info!(
            channel = channel.id.0,
            issues = digest.items.len(),
            "burst folded into one digest"
        );
        rest.push(digest);
        Ok(rest)
    }

    /// One attempt to deliver `n` through `channel`; also what "send a test notification"
    /// uses. Never returns the receiver's body.
    pub async fn attempt(&self, channel: &Channel, n: &Notification) -> AttemptOutcome {
        let rendered = render::render(&channel.kind, n, chrono::Utc::now().timestamp());
        match (&channel.kind, rendered) {
            (ChannelKind::Email(email), Rendered::Email(content)) => self.send_email(email, n, content).await,
            (kind, Rendered::Http(message)) => {
                let url = match kind {
                    ChannelKind::Webhook { url, .. }
                    | ChannelKind::Slack { url }
                    | ChannelKind::Discord { url }
                    | ChannelKind::Teams { url } => url.expose().clone(),
                    ChannelKind::Ntfy { url, .. } => render::ntfy_publish_url(url.expose()),
                    ChannelKind::Email(_) => return AttemptOutcome::Misconfigured,
                };
                self.send_http(url, n, message).await
            }
            (_, Rendered::Email(_)) => AttemptOutcome::Misconfigured,
        }
    }

    async fn send_http(&self, url: reqwest::Url, n: &Notification, message: render::HttpMessage) -> AttemptOutcome {
        if self.inner.policy.check_url(&url).is_err() {
            return AttemptOutcome::Refused;
        }
        let mut request = self.inner.http.post(url).header(IDEMPOTENCY_HEADER, n.id.as_str());
        for (name, value) in message.headers {
            request = request.header(name, value);
        }
        let send = request.body(message.body).send();
        // The client's own timeout bounds the attempt; this one is a backstop.
        let answer = tokio::time::timeout(self.inner.config.attempt_timeout + Duration::from_secs(1), send).await;
        match answer {
            Err(_) => AttemptOutcome::Timeout,
            Ok(Err(e)) => classify_http_error(&e),
            Ok(Ok(response)) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| policy::parse_retry_after(v, now_ms()));
                // The body is never read: nothing a receiver says is kept or shown.
                AttemptOutcome::Status {
                    code: response.status().as_u16(),
                    retry_after,
                }
            }
        }
    }

    async fn send_email(
        &self,
        email: &EmailChannel,
        n: &Notification,
        content: render::EmailContent,
    ) -> AttemptOutcome {
        let Ok(message) = build_email(email, n, content) else {
            return AttemptOutcome::Misconfigured;
        };
        let addrs = match self.inner.resolver.resolve(&email.host, email.port).await {
            Ok(addrs) => addrs,
            Err(Refusal::Unresolved(_)) => return AttemptOutcome::Connection,
            Err(_) => return AttemptOutcome::Refused,
        };
        // Like the HTTP client, try the next address when one cannot be connected to (a name
        // may resolve to ::1 and 127.0.0.1 with the server on only one of them).
        let attempts = async {
            let mut outcome = AttemptOutcome::Refused;
            for addr in addrs.iter().take(3) {
                outcome = self.smtp_once(email, *addr, message.clone()).await;
                if outcome != AttemptOutcome::Connection {
                    break;
                }
            }
            outcome
        };
        tokio::time::timeout(self.inner.config.attempt_timeout, attempts)
            .await
            .unwrap_or(AttemptOutcome::Timeout)
    }

    /// One SMTP session with the checked address `addr`.
    async fn smtp_once(
        &self,
        email: &EmailChannel,
        addr: std::net::SocketAddr,
        message: lettre::Message,
    ) -> AttemptOutcome {
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        // Connect to the checked address; TLS still verifies the certificate for the host name.
        let tls = match email.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => match TlsParameters::new(email.host.clone()) {
                Ok(p) => Tls::Required(p),
                Err(_) => return AttemptOutcome::Misconfigured,
            },
            SmtpSecurity::Tls => match TlsParameters::new(email.host.clone()) {
                Ok(p) => Tls::Wrapper(p),
                Err(_) => return AttemptOutcome::Misconfigured,
            },
        };
        let mut builder =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(email.port)
                .tls(tls)
                .timeout(Some(self.inner.config.attempt_timeout));
        if let Some(user) = &email.username {
            let password = email
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                user.clone(),
                password,
            ));
        }
        match builder.build().send(message).await {
            Ok(_) => AttemptOutcome::Status {
                code: 250,
                retry_after: None,
            },
            Err(e) => {
                let code = e
                    .status()
                    .map(|c| c.to_string().parse::<u16>().unwrap_or(0))
                    .unwrap_or(0);
                if e.is_permanent() {
                    AttemptOutcome::Smtp { code, permanent: true }
                } else if e.is_transient() {
                    AttemptOutcome::Smtp { code, permanent: false }
                } else if e.is_timeout() {
                    AttemptOutcome::Timeout
                } else {
                    AttemptOutcome::Connection
                }
            }
        }
    }
}

/// The mail itself: plain text and HTML alternatives, and a Message-ID made from the
/// notification id so a retried mail is recognisably the same one.
fn build_email(
    email: &EmailChannel,
    n: &Notification,
    content: render::EmailContent,
) -> Result<lettre::Message, NotifyError> {
    let bad = |e: &dyn std::fmt::Display| NotifyError::Invalid(e.to_string());
    let from: lettre::message::Mailbox = email.from.parse().map_err(|e| bad(&e))?;
    let domain = from.email.domain().to_string();
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(content.subject)
        .message_id(Some(format!("<{}@{}>", n.id, domain)));
    for to in &email.to {
        builder = builder.to(to.parse().map_err(|e| bad(&e))?);
    }
    builder
        .multipart(lettre::message::MultiPart::alternative_plain_html(
            content.text,
            content.html,
        ))
        .map_err(|e| bad(&e))
}

/// Sorts a client error into timeout, refused by the door, or a connection failure.
fn classify_http_error(e: &reqwest::Error) -> AttemptOutcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<Refusal>().is_some() {
            return AttemptOutcome::Refused;
        }
        source = err.source();
    }
    if e.is_timeout() {
        AttemptOutcome::Timeout
    } else if e.is_builder() {
        AttemptOutcome::Misconfigured
    } else {
        AttemptOutcome::Connection
    }
}

/// Marks a channel as worked while alive; on drop frees it and wakes the sender, so what the
/// channel left due goes out now rather than at the next poll.
struct Busy<O> {
    inner: Arc<Inner<O>>,
    channel: ChannelId,
}

impl<O> Drop for Busy<O> {
    fn drop(&mut self) {
        lock(&self.inner.busy).remove(&self.channel);
        self.inner.wake.notify_one();
    }
}

fn count(n: &Notification, kind: &'static str, outcome: &'static str) {
    let kind_label = if n.is_digest() { "digest" } else { "single" };
    metrics::counter!("errata_notifications_total", "channel" => kind, "outcome" => outcome, "shape" => kind_label)
        .increment(1);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
