//! What an organization-wide event search reads: the events of some projects in a time
//! range, newest first, bounded. Pure data; each backend answers it the same way.

/// Which events a discover scan reads.
#[derive(Debug, Clone, Default)]
pub struct EventScan {
    /// Must not be empty: a scan always names its projects.
    pub project_ids: Vec<i64>,
    /// Event timestamps in `[since_us, until_us)`.
    pub since_us: i64,
    pub until_us: i64,
    /// Empty means every environment.
    pub environments: Vec<String>,
    /// Most events read.
    pub limit: usize,
}
