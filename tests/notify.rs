//! The alert sender against real receivers started here on 127.0.0.1: one that fails then
//! recovers, one that answers 429 with Retry-After, one that hangs, one that redirects, a
//! Sentry-style receiver that checks the signature, and a real SMTP server (aiosmtpd).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use errata::notify::model::{
    Channel, ChannelId, ChannelKind, EmailChannel, IssueSnapshot, Item, Level, Notification, Reason, RuleId, Secret,
    SmtpSecurity,
};
use errata::notify::outbox::{MemoryOutbox, Outbox, Settled};
use errata::notify::policy::{FailReason, RetryPolicy};
use errata::notify::sender::{IDEMPOTENCY_HEADER, Sender, SenderConfig};
use errata::notify::{AddressPolicy, NotificationId};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every wait in these tests gives up after this long.
const BOUND: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// A receiver: a minimal HTTP/1.1 server that records each request and answers as scripted.

#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Clone)]
enum Answer {
    Status(u16, Vec<(&'static str, String)>),
    /// Read the request, then never answer.
    Hang,
}

struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts a receiver; `script(n)` answers the n-th request (0-based).
    async fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(script);
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move { serve(stream, log, script).await });
            }
        });
        Receiver { addr, received }
    }

    async fn always(code: u16) -> Receiver {
        Receiver::start(move |_| Answer::Status(code, vec![])).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    log: Arc<Mutex<Vec<Received>>>,
    script: Arc<dyn Fn(usize) -> Answer + Send + Sync>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[header_end..header_end + length].to_vec();
    let n = {
        let mut log = log.lock().unwrap();
        log.push(Received {
            at: Instant::now(),
            path,
            headers,
            body,
        });
        log.len() - 1
    };
    match script(n) {
        Answer::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
        Answer::Status(code, extra) => {
            let mut response = format!("HTTP/1.1 {code} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n");
            for (k, v) in extra {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Notifications, channels and a running sender.

fn snapshot(n: i64) -> IssueSnapshot {
    IssueSnapshot {
        issue_id: n,
        project_id: 1,
        project_slug: "backend".into(),
        organization_slug: "acme".into(),
        short_id: format!("BACKEND-{n}"),
        title: format!("ZeroDivisionError: division by zero #{n}"),
        culprit: Some("app.compute in divide".into()),
        level: Level::Error,
        platform: Some("python".into()),
        count: 1,
        user_count: 1,
        first_seen_us: 1_700_000_000_000_000,
        last_seen_us: 1_700_000_000_000_000,
        environment: Some("production".into()),
        release: Some("backend@1.0.0".into()),
        link: format!("http://errata.test/organizations/acme/issues/{n}/"),
    }
}

fn notification(channel: ChannelId, issue: i64) -> Notification {
    let now = chrono::Utc::now().timestamp_millis();
    Notification::new(
        channel,
        Item {
            rule: RuleId(1),
            reason: Reason::NewIssue,
            issue: snapshot(issue),
        },
        now,
        0,
    )
}

fn channel(id: i64, kind: ChannelKind) -> Channel {
    Channel {
        id: ChannelId(id),
        organization_id: 1,
        name: format!("channel {id}"),
        kind,
    }
}

fn webhook(id: i64, url: &str, secret: &str) -> Channel {
    channel(
        id,
        ChannelKind::Webhook {
            url: url.parse().expect("receiver URL"),
            secret: Secret::new(secret),
        },
    )
}

fn slack(id: i64, url: &str) -> Channel {
    channel(
        id,
        ChannelKind::Slack {
            url: url.parse().expect("receiver URL"),
        },
    )
}

/// Quick retries so a test sees several attempts in well under a second.
fn fast_config() -> SenderConfig {
    SenderConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_age: Duration::from_secs(120),
        },
        attempt_timeout: Duration::from_secs(2),
        poll: Duration::from_millis(50),
        storm_window: Duration::from_secs(30),
        ..SenderConfig::default()
    }
}

/// A sender running in the background until the returned guard is dropped.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn run(outbox: &Arc<MemoryOutbox>, config: SenderConfig) -> Running {
    let sender = Sender::new(outbox.clone(), config).expect("sender");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sender.run(async move {
        let _ = stopped.await;
    }));
    Running { stop: Some(stop) }
}

/// Polls `done` until it holds, failing the test after `BOUND`.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn settled(outbox: &MemoryOutbox, id: &NotificationId) -> Option<Settled> {
    outbox.settled(id)
}

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_retries_with_one_idempotency_key_until_it_succeeds() {
    let receiver = Receiver::start(|n| {
        if n < 3 {
            Answer::Status(500, vec![])
        } else {
            Answer::Status(200, vec![])
        }
    })
    .await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(webhook(1, &receiver.url("/hook"), "k"));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    assert!(outbox.push(n));
    let _sender = run(&outbox, fast_config());

    wait_for("delivery", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Delivered));
    let requests = receiver.all();
    assert_eq!(requests.len(), 4, "three failures then one success");
    for r in &requests {
        assert_eq!(r.header(IDEMPOTENCY_HEADER), Some(id.as_str()));
    }
    let outcomes: Vec<String> = outbox.attempts(&id).into_iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, ["500", "500", "500", "200"]);
    let numbers: Vec<u32> = outbox.attempts(&id).into_iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signature_verifies_as_a_sentry_receiver_would() {
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(webhook(1, &receiver.url("/sentry"), "integration-client-secret"));
    let n = notification(ChannelId(1), 7);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("delivery", || settled(&outbox, &id).is_some()).await;

    let requests = receiver.all();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    // What a Sentry integration does: HMAC-SHA256 of the raw body with the client secret.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"integration-client-secret").unwrap();
    mac.update(&r.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(r.header("sentry-hook-signature"), Some(expected.as_str()));
    assert_eq!(r.header("sentry-hook-resource"), Some("issue"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let ts: i64 = r.header("sentry-hook-timestamp").unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 600);
    // A wrong secret does not verify.
    let mut wrong = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"other").unwrap();
    wrong.update(&r.body);
    assert_ne!(hex::encode(wrong.finalize().into_bytes()), expected);

    let body = r.json();
    assert_eq!(body["action"], "created");
    assert_eq!(body["data"]["issue"]["shortId"], "BACKEND-7");
    assert_eq!(
        body["data"]["issue"]["web_url"],
        "http://errata.test/organizations/acme/issues/7/"
    );
    assert!(body["installation"]["uuid"].is_string());
    assert!(!String::from_utf8_lossy(&r.body).contains("integration-client-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_429_is_honoured() {
    let receiver = Receiver::start(|n| {
        if n == 0 {
            Answer::Status(429, vec![("retry-after", "2".into())])
        } else {
            Answer::Status(200, vec![])
        }
    })
    .await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &receiver.url("/slack")));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("delivery", || settled(&outbox, &id).is_some()).await;

    assert_eq!(settled(&outbox, &id), Some(Settled::Delivered));
    let requests = receiver.all();
    assert_eq!(requests.len(), 2);
    // The backoff alone would have retried after 50–100 ms; the receiver asked for 2 s.
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "retried after {gap:?}, before Retry-After"
    );
    assert_eq!(
        requests[0].header(IDEMPOTENCY_HEADER),
        requests[1].header(IDEMPOTENCY_HEADER)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_and_does_not_hold_up_others() {
    let hanging = Receiver::start(|_| Answer::Hang).await;
    let healthy = Receiver::always(204).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &hanging.url("/hang")));
    outbox.add_channel(slack(2, &healthy.url("/ok")));
    let stuck = notification(ChannelId(1), 1);
    let fine = notification(ChannelId(2), 2);
    let (stuck_id, fine_id) = (stuck.id.clone(), fine.id.clone());
    outbox.push(stuck);
    outbox.push(fine);
    let config = SenderConfig {
        attempt_timeout: Duration::from_secs(3),
        ..fast_config()
    };
    let _sender = run(&outbox, config);

    wait_for("the healthy channel's delivery", || {
        settled(&outbox, &fine_id).is_some()
    })
    .await;
    assert_eq!(settled(&outbox, &fine_id), Some(Settled::Delivered));
    wait_for("the hanging attempt to time out", || {
        !outbox.attempts(&stuck_id).is_empty()
    })
    .await;
    let first = &outbox.attempts(&stuck_id)[0];
    assert_eq!(first.outcome, "timeout");
    // Bounded by the per-attempt timeout (plus the backstop second), not by the receiver.
    assert!(first.duration_ms < 5_000, "attempt took {} ms", first.duration_ms);
    assert_eq!(settled(&outbox, &stuck_id), None, "a timeout is retried, not given up");
    assert!(hanging.count() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_4xx_answers_are_permanent_failures() {
    let receiver = Receiver::always(404).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &receiver.url("/gone")));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("the failure to settle", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Failed(FailReason::Rejected)));
    // Several backoff periods later, still the one request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(outbox.attempts(&id).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let target = Receiver::always(200).await;
    let target_url = target.url("/elsewhere");
    let redirecting = Receiver::start(move |_| Answer::Status(302, vec![("location", target_url.clone())])).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(webhook(1, &redirecting.url("/hook"), "k"));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("the redirect to settle", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Failed(FailReason::Rejected)));
    assert_eq!(redirecting.count(), 1);
    assert_eq!(target.count(), 0, "the redirect target must never be contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_metadata_is_refused_whatever_the_configuration() {
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(webhook(1, "http://169.254.169.254/latest/meta-data/", "k"));
    outbox.add_channel(slack(2, "http://[fd00:ec2::254]/"));
    outbox.add_channel(slack(3, "http://[::ffff:169.254.169.254]/"));
    let ids: Vec<NotificationId> = (1..=3)
        .map(|c| {
            let n = notification(ChannelId(c), c);
            let id = n.id.clone();
            outbox.push(n);
            id
        })
        .collect();
    let config = SenderConfig {
        addresses: "public,private,loopback,link-local".parse().unwrap(),
        ..fast_config()
    };
    let _sender = run(&outbox, config);
    for id in &ids {
        wait_for("the refusal", || settled(&outbox, id).is_some()).await;
        assert_eq!(settled(&outbox, id), Some(Settled::Failed(FailReason::Refused)));
        assert_eq!(outbox.attempts(id)[0].outcome, "refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_is_checked_on_the_address_it_resolves_to() {
    // A live receiver on loopback, reached by name, with loopback not allowed.
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &format!("http://localhost:{}/x", receiver.addr.port())));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    outbox.push(n);
    let config = SenderConfig {
        addresses: "public".parse::<AddressPolicy>().unwrap(),
        ..fast_config()
    };
    let _sender = run(&outbox, config);
    wait_for("the refusal", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Failed(FailReason::Refused)));
    assert_eq!(receiver.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_200_new_issues_becomes_one_digest() {
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(1000));
    outbox.add_channel(slack(1, &receiver.url("/slack")));
    let ids: Vec<NotificationId> = (1..=200)
        .map(|i| {
            let n = notification(ChannelId(1), i);
            let id = n.id.clone();
            assert!(outbox.push(n));
            id
        })
        .collect();
    let _sender = run(&outbox, fast_config());
    wait_for("the storm to settle", || outbox.pending() == 0 && receiver.count() >= 1).await;
    // Time for any stray second message to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let requests = receiver.all();
    assert_eq!(requests.len(), 1, "one digest, not {} messages", requests.len());
    let body = requests[0].json();
    assert_eq!(body["text"], "200 new issues in backend");
    let text = body.to_string();
    assert!(text.contains("…and ") && text.contains(" more"), "{text}");
    let digest_ids: std::collections::HashSet<NotificationId> = ids
        .iter()
        .map(|id| match settled(&outbox, id) {
            Some(Settled::Folded(digest)) => digest,
            other => panic!("{id} ended as {other:?}"),
        })
        .collect();
    assert_eq!(digest_ids.len(), 1);
    let digest = digest_ids.into_iter().next().unwrap();
    assert_eq!(settled(&outbox, &digest), Some(Settled::Delivered));
    assert_eq!(requests[0].header(IDEMPOTENCY_HEADER), Some(digest.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_storm_gives_one_digest_per_window() {
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(1000));
    outbox.add_channel(slack(1, &receiver.url("/slack")));
    for i in 1..=10 {
        outbox.push(notification(ChannelId(1), i));
    }
    let config = SenderConfig {
        storm_window: Duration::from_secs(2),
        ..fast_config()
    };
    let _sender = run(&outbox, config);
    wait_for("the first digest", || receiver.count() == 1).await;
    // The storm goes on: these arrive inside the window and wait for it to end.
    for i in 11..=30 {
        outbox.push(notification(ChannelId(1), i));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1, "held back while the window lasts");
    wait_for("the second digest", || receiver.count() == 2).await;
    wait_for("the outbox to drain", || outbox.pending() == 0).await;

    let requests = receiver.all();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].json()["text"], "10 new issues in backend");
    assert_eq!(requests[1].json()["text"], "20 new issues in backend");
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(1900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_issues_are_sent_one_by_one_and_webhooks_never_digest() {
    let chat = Receiver::always(200).await;
    let hook = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &chat.url("/slack")));
    outbox.add_channel(webhook(2, &hook.url("/hook"), "k"));
    for i in 1..=2 {
        outbox.push(notification(ChannelId(1), i));
    }
    for i in 1..=5 {
        outbox.push(notification(ChannelId(2), i));
    }
    let _sender = run(&outbox, fast_config());
    wait_for("all deliveries", || outbox.pending() == 0).await;
    assert_eq!(chat.count(), 2);
    assert_eq!(hook.count(), 5, "each Sentry-shaped webhook names one issue");
    let mut short_ids: Vec<String> = hook
        .all()
        .iter()
        .map(|r| r.json()["data"]["issue"]["shortId"].as_str().unwrap().to_string())
        .collect();
    short_ids.sort();
    assert_eq!(
        short_ids,
        ["BACKEND-1", "BACKEND-2", "BACKEND-3", "BACKEND-4", "BACKEND-5"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_gets_json_at_the_server_root_with_its_token() {
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(channel(
        1,
        ChannelKind::Ntfy {
            url: receiver.url("/ntfy/errata-alerts").parse().unwrap(),
            token: Some(Secret::new("tk_secret")),
        },
    ));
    let n = notification(ChannelId(1), 3);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("delivery", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Delivered));
    let r = &receiver.all()[0];
    assert_eq!(r.path, "/ntfy/");
    assert_eq!(r.header("authorization"), Some("Bearer tk_secret"));
    let body = r.json();
    assert_eq!(body["topic"], "errata-alerts");
    assert_eq!(body["click"], "http://errata.test/organizations/acme/issues/3/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_dead_sender_is_delivered_with_the_same_key() {
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &receiver.url("/slack")));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    outbox.push(n);
    // A sender claims it with a short lease and dies before sending.
    let now = chrono::Utc::now().timestamp_millis();
    let claimed = outbox.claim(now, 10, now + 300, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        outbox.claim(now, 10, now + 300, &[]).await.unwrap().is_empty(),
        "leased, not due"
    );

    let _sender = run(&outbox, fast_config());
    wait_for("delivery after the lease", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Delivered));
    assert_eq!(receiver.all()[0].header(IDEMPOTENCY_HEADER), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_past_its_maximum_age_is_given_up_unsent() {
    let receiver = Receiver::always(200).await;
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(slack(1, &receiver.url("/slack")));
    let mut old = notification(ChannelId(1), 1);
    // fast_config's maximum age is two minutes.
    old.created_at_ms -= 180_000;
    let id = old.id.clone();
    outbox.push(old);
    let _sender = run(&outbox, fast_config());
    wait_for("the expiry", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Failed(FailReason::Expired)));
    assert_eq!(receiver.count(), 0);
}

#[test]
fn a_full_outbox_drops_and_counts() {
    let outbox = MemoryOutbox::new(2);
    assert!(outbox.push(notification(ChannelId(1), 1)));
    assert!(outbox.push(notification(ChannelId(1), 2)));
    assert!(!outbox.push(notification(ChannelId(1), 3)));
    assert_eq!(outbox.dropped(), 1);
    assert_eq!(outbox.pending(), 2);
}

// ---------------------------------------------------------------------------------------
// E-mail through a real SMTP server.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server_as_text_and_html() {
    let smtp = tokio::task::spawn_blocking(common::smtp::Smtp::start).await.unwrap();
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(channel(
        1,
        ChannelKind::Email(EmailChannel {
            host: "localhost".into(),
            port: smtp.port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Errata <errata@example.com>".into(),
            to: vec!["oncall@example.com".into(), "lead@example.com".into()],
        }),
    ));
    let n = notification(ChannelId(1), 12);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("the mail to be accepted", || settled(&outbox, &id).is_some()).await;
    assert_eq!(
        settled(&outbox, &id),
        Some(Settled::Delivered),
        "attempts: {:?}",
        outbox.attempts(&id)
    );
    wait_for("the mail in the maildir", || !smtp.mails().is_empty()).await;

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    // Long headers are folded onto continuation lines; unfold them to read.
    let mail = &mails[0].replace("\r\n", "\n").replace("\n ", " ");
    assert!(
        mail.contains("Subject: [Errata] New issue BACKEND-12: ZeroDivisionError: division by zero #12"),
        "{mail}"
    );
    assert!(mail.contains(&format!("Message-ID: <{id}@example.com>")), "{mail}");
    assert!(mail.contains("oncall@example.com") && mail.contains("lead@example.com"));
    assert!(mail.contains("multipart/alternative"));
    assert!(mail.contains("text/plain") && mail.contains("text/html"));
    assert!(mail.contains("http://errata.test/organizations/acme/issues/12/"));
    assert!(mail.contains("backend@1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_on_a_metadata_address_is_refused() {
    let outbox = Arc::new(MemoryOutbox::new(100));
    outbox.add_channel(channel(
        1,
        ChannelKind::Email(EmailChannel {
            host: "169.254.169.254".into(),
            port: 25,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: "errata@example.com".into(),
            to: vec!["oncall@example.com".into()],
        }),
    ));
    let n = notification(ChannelId(1), 1);
    let id = n.id.clone();
    outbox.push(n);
    let _sender = run(&outbox, fast_config());
    wait_for("the refusal", || settled(&outbox, &id).is_some()).await;
    assert_eq!(settled(&outbox, &id), Some(Settled::Failed(FailReason::Refused)));
}
