//! The interface methods the PostgreSQL backend does not implement yet: none are left.
//! `errata serve` refuses a PostgreSQL URL until this list is empty.

/// Names of the methods not implemented on PostgreSQL yet, for the refusal message and its test.
pub const PENDING: &[&str] = &[];
