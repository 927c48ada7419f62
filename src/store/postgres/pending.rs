//! The interface methods the PostgreSQL backend does not implement yet. Each answers with a
//! clear "not available" error (503 over HTTP) instead of a wrong result; `errata serve`
//! refuses a PostgreSQL URL until this file is empty.

/// Names of the methods still missing, for the refusal message and its test.
pub const PENDING: &[&str] = &[];
