//! Cross-node freshness of configuration caches: a change to projects, settings or keys made
//! on one node reaches every other node's caches (`ingest/cache.rs`) within moments.
//!
//! Each change sends `NOTIFY errata_config` in its own transaction; PostgreSQL delivers it
//! to every listening session only when that transaction commits (never for a rollback), so
//! a node that hears it and re-reads sees the change. Each node keeps one connection
//! (outside the pool) listening, and bumps its `generation` on every notification; cache
//! entries stamped with an older generation refetch.
//!
//! Chosen over a `config_generation` row polled every second: no schema (and no migration on
//! both backends) for one counter, no query per second per node, and a change arrives at
//! commit instead of up to a poll interval later. What LISTEN cannot do — hear what was sent
//! while its connection was down, or work through a transaction-pooling proxy such as
//! PgBouncer in transaction mode — is covered twice: the generation is bumped on every
//! (re)connect, and cache entries are trusted for at most 2 s anyway (`MAX_AGE` in
//! `ingest/cache.rs`), so no node serves a change more than a few seconds late.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::{AsyncMessage, NoTls};

use super::projects::Pg;
use crate::store::StoreError;

/// The notification channel of configuration changes.
pub const CHANNEL: &str = "errata_config";

/// How long to wait before listening again after the connection was lost.
const RECONNECT: Duration = Duration::from_secs(1);

/// The listening session's `application_name`, so an operator can tell it apart in
/// `pg_stat_activity` (it stays idle for as long as the node runs).
pub const APPLICATION_NAME: &str = "errata config watch";

/// Tells every node, at commit of `tx`, that configuration changed.
pub async fn announce(tx: &impl GenericClient) -> Result<(), StoreError> {
    tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await.pg()?;
    Ok(())
}

/// Listens for configuration changes until aborted, bumping `generation` on each (and on
/// each (re)connect, for what may have been missed meanwhile).
pub fn spawn(mut config: tokio_postgres::Config, generation: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    config.application_name(APPLICATION_NAME);
    tokio::spawn(async move {
        loop {
            match listen(&config, &generation).await {
                Ok(()) => tracing::warn!("the configuration change listener lost its connection; reconnecting"),
                Err(e) => tracing::warn!(error = %e, "cannot listen for configuration changes; retrying"),
            }
            generation.fetch_add(1, Ordering::AcqRel);
            tokio::time::sleep(RECONNECT).await;
        }
    })
}

/// One listening session: returns when its connection ends.
async fn listen(config: &tokio_postgres::Config, generation: &Arc<AtomicU64>) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection yields notifications only while it is polled: a task of its own drives it.
    let heard = generation.clone();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    heard.fetch_add(1, Ordering::AcqRel);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "configuration listener connection ended");
                    return;
                }
                None => return,
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    // Anything changed before LISTEN took effect was not heard.
    generation.fetch_add(1, Ordering::AcqRel);
    let _ = driver.await;
    drop(client);
    Ok(())
}
