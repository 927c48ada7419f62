//! The HTTP-level suites once more, on PostgreSQL: the same test bodies as their SQLite
//! binaries, with every `spawn_server*` of `tests/common` starting its server on a fresh
//! database of this binary's throwaway cluster (`common::POSTGRES` is true in this binary).
//! Tests about the SQLite file itself are wrapped in `crate::common::sqlite_only!` in their
//! suite and left out here by the definition below.
//!
//! Not compiled here: hardening (file permissions, a full disk: the SQLite file's own
//! properties), hardening_quotas (reads the SQLite file and its WAL bytes for planted
//! secrets), reliability (SIGKILL and restart on the SQLite file; the PostgreSQL
//! counterparts are tests/multinode.rs and tests/postgres.rs), the e2e_* and openapi suites
//! (real SDKs and schemathesis: minutes each, and nothing backend-specific in what they
//! drive), notify (no store), config_env (configuration only).

// Each suite brings its own `mod common;`: one copy per suite, as in its own binary.
#![allow(clippy::duplicate_mod)]

/// Stands in for `tests/common`'s `sqlite_only!` in this binary: drops what it wraps.
mod common {
    macro_rules! sqlite_only {
        ($($item:item)*) => {};
    }
    pub(crate) use sqlite_only;
}

#[allow(dead_code, unused_imports)]
#[path = "ingest.rs"]
mod ingest;

#[allow(dead_code, unused_imports)]
#[path = "api.rs"]
mod api;

#[allow(dead_code, unused_imports)]
#[path = "grouping.rs"]
mod grouping;

#[allow(dead_code, unused_imports)]
#[path = "scrubbing.rs"]
mod scrubbing;

#[allow(dead_code, unused_imports)]
#[path = "operations.rs"]
mod operations;

#[allow(dead_code, unused_imports)]
#[path = "settings_apply.rs"]
mod settings_apply;

#[allow(dead_code, unused_imports)]
#[path = "hardening_bounds.rs"]
mod hardening_bounds;

#[allow(dead_code, unused_imports)]
#[path = "tokens.rs"]
mod tokens;

#[allow(dead_code, unused_imports)]
#[path = "edge.rs"]
mod edge;

#[allow(dead_code, unused_imports)]
#[path = "alerts.rs"]
mod alerts;

#[allow(dead_code, unused_imports)]
#[path = "discover.rs"]
mod discover;

#[allow(dead_code, unused_imports)]
#[path = "tools_api.rs"]
mod tools_api;

#[allow(dead_code, unused_imports)]
#[path = "integrations.rs"]
mod integrations;

#[allow(dead_code, unused_imports)]
#[path = "releases.rs"]
mod releases;

#[allow(dead_code, unused_imports)]
#[path = "sourcemaps.rs"]
mod sourcemaps;

#[allow(dead_code, unused_imports)]
#[path = "web_auth.rs"]
mod web_auth;

#[allow(dead_code, unused_imports)]
#[path = "web_pages.rs"]
mod web_pages;

#[allow(dead_code, unused_imports)]
#[path = "web_alerts.rs"]
mod web_alerts;
