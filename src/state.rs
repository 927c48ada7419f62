//! The state every handler shares: the store, the configuration, the ingest caches and
//! the operational counters. A leaf module, so handlers never import the composition root.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::client_addr::TrustedProxies;
use crate::config::Config;
use crate::ingest::cache::IngestCache;
use crate::store::Store;

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub cache: Arc<IngestCache>,
    pub metrics: Option<PrometheusHandle>,
    pub ops: Arc<crate::ops::OpsState>,
    /// Bounds the ingest requests in progress (`ingest_concurrency`).
    pub ingest_permits: Arc<tokio::sync::Semaphore>,
    /// The notification sender, once started (the API's "send a test notification" uses it).
    pub notifier: Arc<std::sync::OnceLock<crate::notify::Sender<Store>>>,
    /// Failed sign-ins per e-mail and client address (`crate::web::throttle`).
    pub sign_in_throttle: Arc<crate::web::throttle::Throttle>,
    /// Proxies whose `X-Forwarded-For` names the client (`trusted_proxies`).
    pub trusted_proxies: Arc<TrustedProxies>,
    shutting_down: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(store: Store, config: Config, metrics: Option<PrometheusHandle>) -> AppState {
        let permits = config.ingest_concurrency.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        // Checked by `Config::validate` before a server starts; a list that still does not
        // parse trusts nobody, which keeps the header from being believed.
        let trusted_proxies = config.trusted_proxies().unwrap_or_default();
        AppState {
            ingest_permits: Arc::new(tokio::sync::Semaphore::new(permits)),
            store,
            config: Arc::new(config),
            cache: Arc::new(IngestCache::default()),
            metrics,
            ops: Arc::default(),
            notifier: Arc::default(),
            sign_in_throttle: Arc::default(),
            trusted_proxies: Arc::new(trusted_proxies),
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// From now on ingest answers 503 and `/ready` fails.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    pub fn base_url(&self) -> String {
        self.config.base_url()
    }
}
