//! One typed configuration: embedded defaults, then an optional TOML file, then
//! `ERRATA_*` environment variables (one per setting, `ERRATA_LIMITS_*` for the
//! `[limits]` table), then command-line flags. Validated once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ingest::limits::Limits;

/// Prefix of every environment variable that sets a configuration value.
pub const ENV_PREFIX: &str = "ERRATA_";
/// Environment variables that are not settings (they select the file or are read by clap only).
const ENV_NOT_SETTINGS: &[&str] = &["ERRATA_CONFIG"];
/// Settings whose values are secrets: masked by `errata config`.
/// (A database URL may carry a password.)
const SECRET_SETTINGS: &[&str] = &["metrics_token", "database_url", "smtp_password"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the SQLite database.
    pub data_dir: PathBuf,
    /// PostgreSQL database shared by several nodes (`postgres://user:pass@host/db`); none =
    /// the embedded SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Base URL clients use to reach this server (in DSNs and links); default `http://{bind}`.
    pub public_url: Option<String>,
    /// Events that may wait for the writer before ingest answers 429.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub batch_max: usize,
    /// Read-only database connections for the API.
    pub read_pool_size: u32,
    /// `synchronous=FULL`: durable across power loss, at a cost in write speed.
    pub sync_full: bool,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Default rate limit per DSN key, events per minute (a key's own `rateLimit` wins); 0 = none.
    /// High enough that one busy service never hits it by accident, low enough that a runaway
    /// loop cannot take the whole server.
    pub default_rate_limit: u32,
    /// Delete events older than this many days; 0 = keep forever.
    pub retention_days: u32,
    /// Keep at most this many events per issue (the first, the latest and a sample); 0 = no cap.
    pub max_events_per_issue: u32,
    /// Delete the oldest events while the database holds more than this many MiB; 0 = no cap.
    pub max_database_mb: u64,
    /// Seconds between retention passes.
    pub retention_interval_secs: u64,
    /// Events deleted per retention transaction: small, so ingestion never waits long.
    pub retention_batch: usize,
    /// Bearer token required by `/metrics`; none = open.
    pub metrics_token: Option<String>,
    /// Seconds ingest keeps answering 503 (and `/ready` failing) after SIGTERM before the
    /// listener closes, so a load balancer can move traffic away.
    pub shutdown_grace_secs: u64,
    /// Seconds in-flight requests may take to finish at shutdown.
    pub shutdown_timeout_secs: u64,
    /// Size limits of the ingest edge.
    pub limits: Limits,
    /// Seconds a client may take to send a request body (408 after).
    pub body_timeout_secs: u64,
    /// Largest attachment kept with its event, bytes; larger ones are counted and dropped.
    pub max_stored_attachment_size: usize,
    /// HTTP worker threads, each with its own single-threaded runtime (blocking work runs
    /// on a separate pool, so two serve a two-core machine).
    pub workers: usize,
    /// Seconds a client may take to send a request's line and headers; a connection that
    /// has not by then is answered 408 and closed. 0 = no limit.
    pub client_request_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open; 0 = close after each response.
    pub keep_alive_secs: u64,
    /// Most open connections; past it the server stops accepting until some close.
    pub max_connections: usize,
    /// New connections per second; past it a connection's first request is answered 503
    /// and the connection closed. 0 = no limit.
    pub max_connection_rate: u32,
    /// Ingest requests handled at once; past it ingest answers 429 with `Retry-After`.
    pub ingest_concurrency: usize,
    /// Largest body, bytes as sent (compressed), read before the key is known, when the key
    /// is only inside the envelope (the `tunnel` case).
    pub max_unauthenticated_body_size: usize,
    /// Which address ranges alert channels may reach: a comma-separated list of `public`,
    /// `private`, `loopback`, `link-local`. Cloud metadata addresses are never reachable.
    pub notify_allow: String,
    /// Notification deliveries in flight at once, over all channels.
    pub notify_concurrency: usize,
    /// Most notifications waiting in the outbox; past it new ones are dropped and counted.
    pub notify_outbox_capacity: usize,
    /// First retry of a failed delivery after about this many seconds, doubling after.
    pub notify_retry_base_secs: u64,
    /// A delivery still failing this many hours after its notification was raised is given up.
    pub notify_max_age_hours: u64,
    /// A notification claimed by a sender that died comes due again after this many seconds.
    pub notify_lease_secs: u64,
    /// SMTP relay for e-mail channels made with `errata alert create --email`; none = no e-mail.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (465) or `none` (a relay on the same host or network).
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// The sender of alert mails (`Errata <errata@example.com>`).
    pub smtp_from: Option<String>,
    /// A web session unused this many seconds ends (the person signs in again).
    pub session_idle_secs: u64,
    /// A web session ends this many seconds after signing in, however much it is used.
    pub session_max_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the sign-in throttle and
    /// an event's inferred user address): comma-separated IP addresses and CIDR ranges.
    /// Empty = the TCP peer is the client, and the header is ignored.
    pub trusted_proxies: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            queue_capacity: 4096,
            batch_max: 1024,
            read_pool_size: 4,
            sync_full: false,
            log_json: false,
            default_rate_limit: 100_000,
            retention_days: 90,
            max_events_per_issue: 0,
            max_database_mb: 0,
            retention_interval_secs: 600,
            retention_batch: 500,
            metrics_token: None,
            shutdown_grace_secs: 0,
            shutdown_timeout_secs: 30,
            limits: Limits::default(),
            body_timeout_secs: 30,
            max_stored_attachment_size: 1024 * 1024,
            workers: 2,
            client_request_timeout_secs: 5,
            keep_alive_secs: 30,
            max_connections: 4096,
            max_connection_rate: 1000,
            ingest_concurrency: 64,
            max_unauthenticated_body_size: 1024 * 1024,
            notify_allow: "public,private,loopback".into(),
            notify_concurrency: 16,
            notify_outbox_capacity: crate::store::alerts::DEFAULT_OUTBOX_CAPACITY,
            notify_retry_base_secs: 30,
            notify_max_age_hours: 24,
            notify_lease_secs: 300,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_from: None,
            session_idle_secs: 7 * 24 * 3600,
            session_max_secs: 30 * 24 * 3600,
            trusted_proxies: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults overlaid with a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// This configuration overlaid with `ERRATA_*` variables from `vars`: `ERRATA_QUEUE_CAPACITY`
    /// sets `queue_capacity`, `ERRATA_LIMITS_MAX_EVENT_SIZE` sets `limits.max_event_size`.
    /// An `ERRATA_*` variable that names no setting is an error, so a typo cannot go unnoticed.
    pub fn with_env(self, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut table = toml::Table::try_from(&self).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut known = setting_names(&table);
        known.sort();
        for (name, raw) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let key = rest.to_ascii_lowercase();
            let env_error = |message: String| ConfigError::Env {
                name: name.clone(),
                message,
            };
            let (parent, leaf) = match key.strip_prefix("limits_") {
                Some(leaf) if table.get("limits").is_some_and(|l| l.get(leaf).is_some()) => (Some("limits"), leaf),
                _ => (None, key.as_str()),
            };
            if !known
                .iter()
                .any(|k| *k == format!("{}{leaf}", parent.map(|p| format!("{p}.")).unwrap_or_default()))
            {
                if is_service_link(rest) {
                    // Kubernetes and Docker name these after a service or link called
                    // `errata…`; they describe the network, not a setting.
                    continue;
                }
                return Err(env_error(unknown_setting(rest, &known)));
            }
            let value = parse_env_value(&raw, leaf).map_err(env_error)?;
            let target = match parent {
                Some(p) => table
                    .get_mut(p)
                    .and_then(toml::Value::as_table_mut)
                    .expect("limits is a table: checked above"),
                None => &mut table,
            };
            target.insert(leaf.to_string(), value);
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                name: "ERRATA_*".into(),
                message: e.message().to_string(),
            })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("errata.sqlite3")
    }

    /// Where the store keeps its data: PostgreSQL when a URL is set, else the SQLite file.
    pub fn database_location(&self) -> crate::store::Location {
        match &self.database_url {
            Some(url) => crate::store::Location::Postgres(url.clone()),
            None => crate::store::Location::Sqlite(self.database_path()),
        }
    }

    /// The store's queue, batch and pool tuning.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            queue_capacity: self.queue_capacity,
            batch_max: self.batch_max,
            read_pool_size: self.read_pool_size,
            synchronous_full: self.sync_full,
        }
    }

    /// How the notification sender works, from the `notify_*` settings.
    pub fn sender_config(&self) -> Result<crate::notify::SenderConfig, ConfigError> {
        let addresses = self
            .notify_allow
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("notify_allow: {e}")))?;
        let defaults = crate::notify::SenderConfig::default();
        Ok(crate::notify::SenderConfig {
            retry: crate::notify::policy::RetryPolicy {
                base: std::time::Duration::from_secs(self.notify_retry_base_secs),
                max_age: std::time::Duration::from_secs(self.notify_max_age_hours.saturating_mul(3600)),
                ..defaults.retry
            },
            concurrency: self.notify_concurrency,
            lease: std::time::Duration::from_secs(self.notify_lease_secs),
            addresses,
            ..defaults
        })
    }

    /// The proxies whose `X-Forwarded-For` is believed, from `trusted_proxies`.
    pub fn trusted_proxies(&self) -> Result<crate::client_addr::TrustedProxies, ConfigError> {
        self.trusted_proxies
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("trusted_proxies: {e}")))
    }

    /// How long web sessions live, as the store checks them.
    pub fn session_limits(&self) -> crate::store::users::SessionLimits {
        let us = |secs: u64| i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        crate::store::users::SessionLimits {
            idle_us: us(self.session_idle_secs),
            max_us: us(self.session_max_secs),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The effective configuration as TOML, with secret values masked.
    pub fn to_masked_toml(&self) -> String {
        let mut table = toml::Table::try_from(self).expect("the configuration serializes: plain values only");
        for name in SECRET_SETTINGS {
            if table.contains_key(*name) {
                table.insert(name.to_string(), toml::Value::String("********".into()));
            }
        }
        toml::to_string_pretty(&table).expect("a TOML table serializes")
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("queue_capacity", self.queue_capacity as u64),
            ("batch_max", self.batch_max as u64),
            ("read_pool_size", u64::from(self.read_pool_size)),
            ("retention_interval_secs", self.retention_interval_secs),
            ("retention_batch", self.retention_batch as u64),
            ("workers", self.workers as u64),
            ("max_connections", self.max_connections as u64),
            ("ingest_concurrency", self.ingest_concurrency as u64),
            (
                "max_unauthenticated_body_size",
                self.max_unauthenticated_body_size as u64,
            ),
            ("notify_concurrency", self.notify_concurrency as u64),
            ("notify_outbox_capacity", self.notify_outbox_capacity as u64),
            ("notify_retry_base_secs", self.notify_retry_base_secs),
            ("notify_max_age_hours", self.notify_max_age_hours),
            ("notify_lease_secs", self.notify_lease_secs),
            ("smtp_port", u64::from(self.smtp_port)),
            ("session_idle_secs", self.session_idle_secs),
            ("session_max_secs", self.session_max_secs),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        if self.max_events_per_issue == 1 || self.max_events_per_issue == 2 {
            return Err(ConfigError::Invalid(
                "max_events_per_issue must be 0 (no cap) or at least 3 (first, latest and a sample)".into(),
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "public_url must start with http:// or https://, got {url:?}"
            )));
        }
        if let Some(url) = &self.database_url
            && !crate::store::postgres::is_postgres_url(url)
        {
            // Never echo the value: it may hold a password.
            return Err(ConfigError::Invalid(
                "database_url must start with postgres:// or postgresql:// (leave it unset for SQLite)".into(),
            ));
        }
        self.notify_allow
            .parse::<crate::notify::AddressPolicy>()
            .map_err(|e| ConfigError::Invalid(format!("notify_allow: {e}")))?;
        self.smtp_security
            .parse::<crate::notify::model::SmtpSecurity>()
            .map_err(|e| ConfigError::Invalid(format!("smtp_security: {e}")))?;
        self.trusted_proxies()?;
        if self.metrics_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::Invalid("metrics_token must not be empty when set".into()));
        }
        Ok(())
    }
}

/// Dotted names of every setting (`limits.max_event_size` for the nested table).
fn setting_names(table: &toml::Table) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (key, value) in table {
        match value.as_table() {
            Some(inner) => names.extend(inner.keys().map(|k| format!("{key}.{k}"))),
            None => names.push(key.clone()),
        }
    }
    // Optional settings are absent from the serialized defaults.
    for optional in [
        "public_url",
        "metrics_token",
        "database_url",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "smtp_from",
    ] {
        if !names.iter().any(|n| n == optional) {
            names.push(optional.into());
        }
    }
    names
}

/// Whether `rest` (a variable name after `ERRATA_`) has the shape of a service-link variable:
/// Kubernetes sets `{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT`, `{SVC}_SERVICE_PORT_{NAME}`,
/// `{SVC}_PORT`, `{SVC}_PORT_{N}_{PROTO}` and `…_{PROTO}_ADDR|PORT|PROTO` for every Service
/// (`errata`, `errata-db`…); Docker links add `{ALIAS}_NAME` and `{ALIAS}_ENV_{VAR}`. No
/// setting is named like these.
pub fn is_service_link(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('_').collect();
    let is_port = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let is_proto = |p: &str| matches!(p, "TCP" | "UDP" | "SCTP");
    // Where the service's own name ends: the suffix starts at one of these words.
    (0..parts.len()).any(|start| match &parts[start..] {
        ["SERVICE", "HOST"] | ["SERVICE", "PORT"] | ["PORT"] | ["NAME"] => true,
        ["SERVICE", "PORT", name @ ..] => !name.is_empty() && name.iter().all(|p| !p.is_empty()),
        ["PORT", n, proto] => is_port(n) && is_proto(proto),
        ["PORT", n, proto, field] => is_port(n) && is_proto(proto) && matches!(*field, "ADDR" | "PORT" | "PROTO"),
        ["ENV", var @ ..] => !var.is_empty(),
        _ => false,
    })
}

/// The error for an `ERRATA_*` variable that names no setting: the closest setting when the
/// name looks like a misspelling of one, else every setting.
fn unknown_setting(rest: &str, known: &[String]) -> String {
    let wanted = rest.to_ascii_lowercase();
    let env_name = |k: &str| format!("{ENV_PREFIX}{}", k.replace('.', "_").to_ascii_uppercase());
    let closest = known
        .iter()
        .map(|k| (edit_distance(&wanted, &k.replace('.', "_")), k))
        .min_by_key(|(d, _)| *d);
    match closest {
        Some((distance, name)) if distance <= 2.max(wanted.len() / 4) => {
            format!("no such setting; did you mean {}?", env_name(name))
        }
        _ => format!(
            "no such setting (known: {})",
            known.iter().map(|k| env_name(k)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Levenshtein distance between two short ASCII names.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// An environment value as the TOML value its setting expects: integers and booleans by
/// their spelling, everything else a string (paths, addresses, URLs, tokens).
fn parse_env_value(raw: &str, key: &str) -> Result<toml::Value, String> {
    const STRINGS: &[&str] = &[
        "data_dir",
        "database_url",
        "bind",
        "public_url",
        "metrics_token",
        "notify_allow",
        "smtp_host",
        "smtp_security",
        "smtp_username",
        "smtp_password",
        "smtp_from",
        "trusted_proxies",
    ];
    if STRINGS.contains(&key) {
        return Ok(toml::Value::String(raw.to_string()));
    }
    if is_bool(key) {
        return match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" | "" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        };
    }
    raw.trim()
        .parse::<i64>()
        .map(toml::Value::Integer)
        .map_err(|_| format!("expected a whole number, got {raw:?}"))
}

fn is_bool(key: &str) -> bool {
    matches!(key, "sync_full" | "log_json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_sets_top_level_and_limits_settings() {
        let config = Config::default()
            .with_env(env(&[
                ("ERRATA_QUEUE_CAPACITY", "12"),
                ("ERRATA_SYNC_FULL", "true"),
                ("ERRATA_METRICS_TOKEN", "s3cret"),
                ("ERRATA_LIMITS_MAX_EVENT_SIZE", "2048"),
                ("ERRATA_DATA_DIR", "/var/lib/errata"),
                ("PATH", "/usr/bin"),
            ]))
            .expect("valid environment");
        assert_eq!(config.queue_capacity, 12);
        assert!(config.sync_full);
        assert_eq!(config.metrics_token.as_deref(), Some("s3cret"));
        assert_eq!(config.limits.max_event_size, 2048);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/errata"));
    }

    #[test]
    fn a_misspelt_variable_is_refused_by_name() {
        let err = Config::default()
            .with_env(env(&[("ERRATA_QUEUE_CAPACITI", "12")]))
            .expect_err("unknown setting");
        assert!(err.to_string().contains("ERRATA_QUEUE_CAPACITI"), "{err}");
    }

    /// Exactly what Kubernetes injects into every pod of a namespace with a Service named
    /// `errata` (port 8000, named `http`) and one named `errata-db`, plus a Docker link.
    const KUBERNETES: &[(&str, &str)] = &[
        ("ERRATA_PORT", "tcp://10.96.12.34:8000"),
        ("ERRATA_PORT_8000_TCP", "tcp://10.96.12.34:8000"),
        ("ERRATA_PORT_8000_TCP_ADDR", "10.96.12.34"),
        ("ERRATA_PORT_8000_TCP_PORT", "8000"),
        ("ERRATA_PORT_8000_TCP_PROTO", "tcp"),
        ("ERRATA_SERVICE_HOST", "10.96.12.34"),
        ("ERRATA_SERVICE_PORT", "8000"),
        ("ERRATA_SERVICE_PORT_HTTP", "8000"),
        ("ERRATA_DB_PORT", "tcp://10.96.0.7:5432"),
        ("ERRATA_DB_PORT_5432_TCP", "tcp://10.96.0.7:5432"),
        ("ERRATA_DB_PORT_5432_TCP_ADDR", "10.96.0.7"),
        ("ERRATA_DB_PORT_5432_TCP_PORT", "5432"),
        ("ERRATA_DB_PORT_5432_TCP_PROTO", "tcp"),
        ("ERRATA_DB_SERVICE_HOST", "10.96.0.7"),
        ("ERRATA_DB_SERVICE_PORT", "5432"),
        ("ERRATA_PORT_9000_UDP_ADDR", "10.96.12.34"),
        ("ERRATA_NAME", "/web/errata"),
        ("ERRATA_ENV_RUST_LOG", "info"),
    ];

    #[test]
    fn service_link_variables_are_not_settings_and_do_not_stop_start_up() {
        let mut vars = env(KUBERNETES);
        vars.push(("ERRATA_QUEUE_CAPACITY".into(), "12".into()));
        let config = Config::default().with_env(vars).expect("service links are ignored");
        assert_eq!(config.queue_capacity, 12, "real settings still apply beside them");
        assert_eq!(
            config.bind,
            Config::default().bind,
            "ERRATA_PORT does not move the listener"
        );
    }

    #[test]
    fn near_misses_of_settings_are_refused_with_the_closest_name() {
        for (typo, meant) in [
            ("ERRATA_QUEUE_CAPACITI", "ERRATA_QUEUE_CAPACITY"),
            ("ERRATA_RETENTON_DAYS", "ERRATA_RETENTION_DAYS"),
            ("ERRATA_METRICS_TOKENS", "ERRATA_METRICS_TOKEN"),
            ("ERRATA_LIMITS_MAX_EVENT_SIZ", "ERRATA_LIMITS_MAX_EVENT_SIZE"),
            ("ERRATA_DATADIR", "ERRATA_DATA_DIR"),
            ("ERRATA_BIND_", "ERRATA_BIND"),
        ] {
            let err = Config::default()
                .with_env(env(&[(typo, "1")]))
                .expect_err("a near miss is refused");
            let text = err.to_string();
            assert!(text.contains(typo), "{text}");
            assert!(text.contains(&format!("did you mean {meant}?")), "{typo}: {text}");
        }
        let err = Config::default()
            .with_env(env(&[("ERRATA_SOMETHING_ELSE_ENTIRELY", "1")]))
            .expect_err("an unknown name is refused");
        assert!(
            err.to_string().contains("ERRATA_QUEUE_CAPACITY"),
            "lists the settings: {err}"
        );
    }

    #[test]
    fn only_the_link_shapes_count_as_service_links() {
        for name in KUBERNETES.iter().map(|(n, _)| n) {
            assert!(is_service_link(&name[ENV_PREFIX.len()..]), "{name}");
        }
        for rest in [
            "QUEUE_CAPACITY",
            "PORT_8000",
            "PORT_8000_TCP_HOST",
            "PORT_X_TCP",
            "SERVICE",
            "SERVICE_PORT_",
            "ENV",
            "LIMITS_MAX_EVENT_SIZE",
        ] {
            assert!(!is_service_link(rest), "{rest}");
        }
    }

    #[test]
    fn a_malformed_number_is_refused_with_the_expected_type() {
        let err = Config::default()
            .with_env(env(&[("ERRATA_RETENTION_DAYS", "ninety")]))
            .expect_err("not a number");
        assert!(err.to_string().contains("whole number"), "{err}");
        let err = Config::default()
            .with_env(env(&[("ERRATA_LOG_JSON", "maybe")]))
            .expect_err("not a boolean");
        assert!(err.to_string().contains("true or false"), "{err}");
    }

    #[test]
    fn masked_output_hides_the_metrics_token_only() {
        let config = Config {
            metrics_token: Some("s3cret".into()),
            ..Config::default()
        };
        let text = config.to_masked_toml();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("metrics_token = \"********\""), "{text}");
        assert!(text.contains("queue_capacity = 4096"), "{text}");
    }

    #[test]
    fn a_database_url_selects_postgres_and_stays_out_of_printed_config() {
        let config = Config::default()
            .with_env(env(&[("ERRATA_DATABASE_URL", "postgres://errata:pw0rd@db/errata")]))
            .expect("valid");
        config.validate().expect("a postgres URL is valid");
        assert_eq!(
            config.database_location(),
            crate::store::Location::Postgres("postgres://errata:pw0rd@db/errata".into())
        );
        assert!(!config.to_masked_toml().contains("pw0rd"));
        assert!(!config.database_location().describe().contains("pw0rd"));
        assert_eq!(
            Config::default().database_location(),
            crate::store::Location::Sqlite(PathBuf::from("data/errata.sqlite3"))
        );
        let config = Config {
            database_url: Some("mysql://root:pw0rd@db/errata".into()),
            ..Config::default()
        };
        let err = config.validate().expect_err("not postgres").to_string();
        assert!(err.contains("database_url") && !err.contains("pw0rd"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_a_list_of_addresses_and_ranges() {
        let config = Config::default()
            .with_env(env(&[("ERRATA_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]))
            .expect("valid");
        config.validate().expect("valid proxies");
        let proxies = config.trusted_proxies().expect("parses");
        assert!(proxies.contains("10.2.3.4".parse().expect("ip")));
        assert!(!proxies.contains("192.168.0.1".parse().expect("ip")));
        assert!(Config::default().trusted_proxies().expect("empty").is_empty());
        let config = Config {
            trusted_proxies: "10.0.0.0/40".into(),
            ..Config::default()
        };
        let err = config.validate().expect_err("a bad range").to_string();
        assert!(err.contains("trusted_proxies") && err.contains("10.0.0.0/40"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let config = Config {
            queue_capacity: 0,
            ..Config::default()
        };
        assert!(
            config
                .validate()
                .expect_err("zero queue")
                .to_string()
                .contains("queue_capacity")
        );
        let config = Config {
            max_events_per_issue: 2,
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
