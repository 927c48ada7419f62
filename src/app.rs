//! Builds the HTTP application (routes, middleware, shared state) and runs it on actix-web.
//! `Server::start` is used by `main` and by every integration test.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, Error, HttpRequest, HttpServer, web};
use futures_util::FutureExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::errors::ApiError;
use crate::http::{HeaderValue, IntoResponse, Method, RawQuery, Response, State, StatusCode, header};
pub use crate::state::AppState;
use crate::store::{Bootstrap, Store};

/// A running server: its address, and how to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    housekeeping: tokio::task::JoinHandle<()>,
    notifier: Notifier,
}

/// The running notification sender and how to stop it.
struct Notifier {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens the store, binds the listener (port 0 picks a free port) and starts serving.
    pub async fn start(
        config: Config,
        metrics: Option<PrometheusHandle>,
    ) -> anyhow::Result<(Server, Option<Bootstrap>)> {
        config.validate()?;
        let store = Store::connect(&config.database_location(), config.store_options()).await?;
        let bootstrap = store.bootstrap_if_empty().await?;
        let listener = std::net::TcpListener::bind(config.bind)?;
        let addr = listener.local_addr()?;
        let mut config = config;
        if config.bind.port() == 0 && config.public_url.is_none() {
            config.public_url = Some(format!("http://{addr}"));
        }
        store
            .alert_settings()
            .set(&config.base_url(), config.notify_outbox_capacity);
        let sender = crate::notify::Sender::new(Arc::new(store.clone()), config.sender_config()?)?;
        let state = AppState::new(store, config, metrics);
        let _ = state.notifier.set(sender.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let notifier = Notifier {
            stop,
            task: tokio::spawn(sender.run(async {
                let _ = stopped.await;
            })),
        };
        let housekeeping = tokio::spawn(crate::ops::retention::run(state.clone()));
        let server = http_server(state.clone(), listener)?;
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok((
            Server {
                addr,
                state,
                handle,
                task,
                housekeeping,
                notifier,
            },
            bootstrap,
        ))
    }

    /// Stops accepting events (503 with `Retry-After`), keeps answering so for the grace
    /// period, closes the listener, lets in-flight requests get their commit, then drains the
    /// write queue. Every event answered 200 is committed before this returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.state.begin_shutdown();
        self.housekeeping.abort();
        let _ = self.housekeeping.await;
        // No new rounds; deliveries in flight finish or are retried after a restart with the
        // same idempotency key (their claims are leases).
        let _ = self.notifier.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.notifier.task).await;
        let grace = Duration::from_secs(self.state.config.shutdown_grace_secs);
        if !grace.is_zero() {
            tokio::time::sleep(grace).await;
        }
        // In-flight requests finish (actix drops them after `shutdown_timeout_secs`); the
        // outer bound is a second later, so a stuck worker cannot hold shutdown forever.
        let timeout = Duration::from_secs(self.state.config.shutdown_timeout_secs + 1);
        let stopped = async {
            self.handle.stop(true).await;
            let _ = self.task.await;
        };
        if tokio::time::timeout(timeout, stopped).await.is_err() {
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

/// The actix server with the connection-level limits of the configuration. Workers each run
/// a single-threaded runtime; blocking work goes to the blocking pool, never onto them, and
/// so does pure work on a large input (small events are processed where they were read).
fn http_server(state: AppState, listener: std::net::TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let config = state.config.clone();
    let workers = config.workers.max(1);
    // `max_connections` is per worker in actix: share the configured total among them.
    let per_worker = config.max_connections.div_ceil(workers).max(1);
    let rate = NonZeroU32::new(config.max_connection_rate).map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))));
    let server = HttpServer::new(move || app(state.clone()))
        .workers(workers)
        .max_connections(per_worker)
        .keep_alive(keep_alive(config.keep_alive_secs))
        .client_request_timeout(Duration::from_secs(config.client_request_timeout_secs))
        // No lingering read after an early answer: the rest of an unwanted body is not drained.
        .client_disconnect_timeout(Duration::ZERO)
        .shutdown_timeout(config.shutdown_timeout_secs)
        .disable_signals()
        .on_connect(move |_, extensions| mark_over_rate(rate.as_deref(), extensions))
        .listen(listener)?
        .run();
    Ok(server)
}

fn keep_alive(secs: u64) -> actix_web::http::KeepAlive {
    if secs == 0 {
        actix_web::http::KeepAlive::Disabled
    } else {
        actix_web::http::KeepAlive::Timeout(Duration::from_secs(secs))
    }
}

/// A connection opened past `max_connection_rate`: its first request is answered 503 and
/// the connection closed, before any routing or body reading.
#[derive(Clone, Copy)]
struct OverConnectionRate;

fn mark_over_rate(rate: Option<&DefaultDirectRateLimiter>, extensions: &mut Extensions) {
    if rate.is_some_and(|r| r.check().is_err()) {
        extensions.insert(OverConnectionRate);
    }
}

/// The application: routes, middleware, shared state. Built once per worker.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let limits = &state.config.limits;
    let body_limit = limits.max_envelope_size.max(limits.max_event_size);
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(body_limit))
        .configure(crate::ingest::routes::configure)
        .configure(crate::api::configure)
        .configure(crate::ops::configure)
        .configure(crate::ingest::routes::configure_unsupported)
        .configure(crate::web::configure)
        .default_service(web::to(fallback))
        .wrap(from_fn(catch_panic))
        .wrap(from_fn(connection_rate_gate))
        .wrap(from_fn(crate::ops::request::observe))
        // Sentry's paths end in `/`; clients that omit it get the same route.
        .wrap(NormalizePath::new(TrailingSlash::Always))
}

/// Answers the first request of a connection opened past the connection rate with 503.
async fn connection_rate_gate(request: ServiceRequest, next: Next<BoxBody>) -> Result<ServiceResponse<BoxBody>, Error> {
    if request.conn_data::<OverConnectionRate>().is_some() {
        let response = Response::build(StatusCode::SERVICE_UNAVAILABLE)
            .insert_header((header::RETRY_AFTER, HeaderValue::from(1)))
            .force_close()
            .json(serde_json::json!({"detail": "too many new connections; retry shortly"}));
        return Ok(request.into_response(response));
    }
    next.call(request).await
}

/// A panic in a handler is a bug: log it and answer a JSON 500 instead of dropping the
/// connection. (The request cannot be kept aside for the answer: routing needs it unshared,
/// so the 500 travels as an error that the connection turns into the response.)
async fn catch_panic(request: ServiceRequest, next: Next<BoxBody>) -> Result<ServiceResponse<BoxBody>, Error> {
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| next.call(request)));
    let outcome = match call {
        Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    outcome.unwrap_or_else(|_| {
        tracing::error!("a request handler panicked");
        Err(ApiError::Internal.into())
    })
}

/// Ingest under a path prefix, else a 404: an HTML page for a browser outside `/api/`,
/// JSON for everyone else.
async fn fallback(
    State(state): State<AppState>,
    http: HttpRequest,
    RawQuery(query): RawQuery,
    body: web::Payload,
) -> Response {
    if let Some((project, endpoint)) = crate::ingest::routes::match_prefixed(http.path()) {
        let client = crate::http::client_ip(&http, &state.trusted_proxies);
        let method: &Method = http.method();
        let mut response = crate::ingest::routes::prefixed(
            &state,
            &project,
            endpoint,
            client,
            method,
            query.as_deref(),
            http.headers(),
            body,
        )
        .await;
        crate::ingest::routes::add_cors_headers(response.headers_mut());
        return response;
    }
    if crate::web::wants_page(&http) {
        return crate::web::WebError::NotFound.into_response();
    }
    ApiError::NotFound.into_response()
}
