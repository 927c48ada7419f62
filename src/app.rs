//! Builds the HTTP application (routes, middleware, shared state) and runs it.
//! `Server::start` is used by `main` and by every integration test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::config::Config;
use crate::errors::ApiError;
use crate::ingest::cache::IngestCache;
use crate::store::{Bootstrap, Store};

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub cache: Arc<IngestCache>,
    pub metrics: Option<PrometheusHandle>,
    pub ops: Arc<crate::ops::OpsState>,
    shutting_down: Arc<AtomicBool>,
}

impl AppState {
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    pub fn base_url(&self) -> String {
        self.config.base_url()
    }
}

/// A running server: its address, and how to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    housekeeping: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens the store, binds the listener (port 0 picks a free port) and starts serving.
    pub async fn start(
        config: Config,
        metrics: Option<PrometheusHandle>,
    ) -> anyhow::Result<(Server, Option<Bootstrap>)> {
        config.validate()?;
        let store = Store::open(&config.database_location(), config.store_options())?;
        let bootstrap = store.bootstrap_if_empty().await?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let mut config = config;
        if config.bind.port() == 0 && config.public_url.is_none() {
            config.public_url = Some(format!("http://{addr}"));
        }
        let state = AppState {
            store,
            config: Arc::new(config),
            cache: Arc::new(IngestCache::default()),
            metrics,
            ops: Arc::default(),
            shutting_down: Arc::new(AtomicBool::new(false)),
        };
        let housekeeping = tokio::spawn(crate::ops::retention::run(state.clone()));
        // Sentry's paths end in `/`; clients that omit it get the same route.
        let app = NormalizePathLayer::append_trailing_slash().layer(router(state.clone()));
        let (shutdown, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
        });
        Ok((
            Server {
                addr,
                state,
                shutdown,
                task,
                housekeeping,
            },
            bootstrap,
        ))
    }

    /// Stops accepting events (503 with `Retry-After`), keeps answering so for the grace
    /// period, closes the listener, lets in-flight requests get their commit, then drains the
    /// write queue. Every event answered 200 is committed before this returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.state.shutting_down.store(true, Ordering::Release);
        self.housekeeping.abort();
        let _ = self.housekeeping.await;
        let grace = Duration::from_secs(self.state.config.shutdown_grace_secs);
        if !grace.is_zero() {
            tokio::time::sleep(grace).await;
        }
        let _ = self.shutdown.send(true);
        // In-flight requests finish; a stuck client cannot hold shutdown forever.
        let timeout = Duration::from_secs(self.state.config.shutdown_timeout_secs);
        if tokio::time::timeout(timeout, self.task).await.is_err() {
            tracing::warn!("in-flight requests did not finish in time; closing them");
        }
        // Outcomes and rate-limited counts still in memory go to disk before the writer stops.
        let _ = self.state.cache.flush(&self.state.store).await;
        let store = self.state.store.clone();
        let depth = store.queue_depth();
        tokio::task::spawn_blocking(move || store.shutdown()).await?;
        tracing::info!(drained = depth, "write queue drained; stopped");
        Ok(())
    }

    /// Runs until `signal` completes, then stops gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        signal.await;
        tracing::info!("shutting down: refusing new events, draining the write queue");
        self.stop().await
    }
}

pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let body_limit = limits.max_envelope_size.max(limits.max_event_size);
    let ingest = crate::ingest::routes::router()
        .layer(middleware::from_fn(cors))
        .layer(DefaultBodyLimit::max(body_limit));
    Router::new()
        .merge(ingest)
        .merge(crate::api::router())
        .merge(crate::ops::router())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(crate::ops::request::observe))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// A panic in a handler is a bug: log it and answer a JSON 500 instead of dropping the connection.
fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::Internal.into_response()
}

/// CORS for browser SDKs, on every ingest response including errors.
async fn cors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    add_cors_headers(response.headers_mut());
    response
}

fn add_cors_headers(h: &mut HeaderMap) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
}

/// Ingest under a path prefix, else a JSON 404.
async fn fallback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Some((project, endpoint)) = crate::ingest::routes::match_prefixed(uri.path()) {
        let mut response =
            crate::ingest::routes::prefixed(&state, &project, endpoint, peer, &method, uri.query(), &headers, body)
                .await;
        add_cors_headers(response.headers_mut());
        return response;
    }
    ApiError::NotFound.into_response()
}
