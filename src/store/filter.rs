//! The issue search as a typed filter: what the API parses a `query` into and every
//! backend turns into its own query. Pure data, no I/O.

use super::Issue;

/// How an issue list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    /// Last seen, newest first.
    #[default]
    Date,
    /// First seen, newest first.
    New,
    /// Most events first.
    Freq,
    /// Most users first.
    User,
}

/// A comparison in an issue query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One term of an issue query, already parsed and typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `is:` — any of these statuses.
    Status {
        values: Vec<String>,
        negate: bool,
    },
    Level {
        values: Vec<String>,
        negate: bool,
    },
    /// Any event of the issue has one of these releases.
    Release {
        values: Vec<String>,
        negate: bool,
    },
    Environment {
        values: Vec<String>,
        negate: bool,
    },
    FirstSeen {
        cmp: Cmp,
        at_us: i64,
    },
    LastSeen {
        cmp: Cmp,
        at_us: i64,
    },
    TimesSeen {
        cmp: Cmp,
        count: i64,
    },
    UserCount {
        cmp: Cmp,
        count: i64,
    },
    /// Tag `key` has one of these values (`*` wildcards allowed).
    Tag {
        key: String,
        values: Vec<String>,
        negate: bool,
    },
    /// Tag `key` is present at all.
    Has {
        key: String,
        negate: bool,
    },
    /// Case-insensitive substring of title, culprit or message.
    Text {
        text: String,
        negate: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct IssueFilter {
    /// Empty means every project.
    pub project_ids: Vec<i64>,
    /// Empty means no restriction.
    pub issue_ids: Vec<i64>,
    pub conditions: Vec<Condition>,
    pub sort: IssueSort,
    pub limit: usize,
    pub offset: usize,
}

impl IssueSort {
    /// The value of this order's column for one issue (what a value cursor carries).
    pub fn value_of(self, issue: &Issue) -> i64 {
        match self {
            IssueSort::Date => issue.last_seen,
            IssueSort::New => issue.first_seen,
            IssueSort::Freq => issue.times_seen,
            IssueSort::User => issue.user_count,
        }
    }
}

/// Which end of an issue's event list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrder {
    NewestFirst,
    OldestFirst,
}
