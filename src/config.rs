//! One typed configuration: embedded defaults, then an optional TOML file, then
//! `ERRATA_*` environment variables, then command-line flags (the last two via clap).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ingest::limits::Limits;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the SQLite database.
    pub data_dir: PathBuf,
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
    /// Size limits of the ingest edge.
    pub limits: Limits,
    /// Seconds a client may take to send a request body (408 after).
    pub body_timeout_secs: u64,
    /// Largest attachment kept with its event, bytes; larger ones are counted and dropped.
    pub max_stored_attachment_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            queue_capacity: 4096,
            batch_max: 1024,
            read_pool_size: 4,
            sync_full: false,
            log_json: false,
            default_rate_limit: 100_000,
            retention_days: 90,
            limits: Limits::default(),
            body_timeout_secs: 30,
            max_stored_attachment_size: 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
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

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("errata.sqlite3")
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.queue_capacity == 0 {
            return Err(ConfigError::Invalid("queue_capacity must be at least 1".into()));
        }
        if self.batch_max == 0 {
            return Err(ConfigError::Invalid("batch_max must be at least 1".into()));
        }
        if self.read_pool_size == 0 {
            return Err(ConfigError::Invalid("read_pool_size must be at least 1".into()));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "public_url must start with http:// or https://, got {url:?}"
                )));
            }
        }
        Ok(())
    }
}
