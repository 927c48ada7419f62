//! The issue stream's address: what its query string asks for (search text, status tab,
//! sort, project, environment, sparkline period, cursor) and the links that change one
//! of them. The search text is parsed by the API's own parser (`api::query`).

use crate::store::IssueSort;

/// Issues per page of the stream.
pub const PAGE_SIZE: usize = 25;
/// The stream's search when the address has none, as in Sentry.
pub const DEFAULT_QUERY: &str = "is:unresolved";
/// A status tab counts its issues up to this many and shows "1,000+" past it, so a huge
/// table costs no more than a bounded scan per tab.
pub const TAB_COUNT_CAP: usize = 1_000;
/// Longest search text accepted (the parser bounds the rest).
pub const MAX_QUERY: usize = 1_000;

/// The status tabs, each a search term.
pub const TABS: [(&str, &str); 4] = [
    ("Unresolved", "is:unresolved"),
    ("Resolved", "is:resolved"),
    ("Ignored", "is:ignored"),
    ("All", ""),
];

pub const SORTS: [(&str, &str); 4] = [
    ("Last seen", "date"),
    ("First seen", "new"),
    ("Events", "freq"),
    ("Users", "user"),
];

/// The sparkline period: the last 24 hours by hour, or 14 days by day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    TwoWeeks,
}

impl Period {
    pub fn key(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::TwoWeeks => "14d",
        }
    }

    /// (bucket hours, buckets)
    pub fn buckets(self) -> (i64, usize) {
        match self {
            Period::Day => (1, 24),
            Period::TwoWeeks => (24, 14),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "last 24 hours",
            Period::TwoWeeks => "last 14 days",
        }
    }
}

/// What the stream's address asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamQuery {
    pub query: String,
    pub sort: IssueSort,
    pub period: Period,
    /// Project ids or slugs, as given.
    pub projects: Vec<String>,
    pub environment: String,
    pub cursor: String,
}

/// A parameter the stream does not understand the value of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadStreamQuery(pub String);

impl StreamQuery {
    pub fn parse(params: &[(String, String)]) -> Result<StreamQuery, BadStreamQuery> {
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim());
        let query = get("query").unwrap_or(DEFAULT_QUERY).to_owned();
        if query.len() > MAX_QUERY {
            return Err(BadStreamQuery(format!(
                "The search is longer than {MAX_QUERY} characters."
            )));
        }
        let sort = match get("sort").unwrap_or("date") {
            "date" | "" => IssueSort::Date,
            "new" => IssueSort::New,
            "freq" => IssueSort::Freq,
            "user" => IssueSort::User,
            other => return Err(BadStreamQuery(format!("Unknown sort {other:?}."))),
        };
        let period = match get("statsPeriod").unwrap_or("24h") {
            "24h" | "" => Period::Day,
            "14d" => Period::TwoWeeks,
            other => return Err(BadStreamQuery(format!("Unknown period {other:?}."))),
        };
        let projects = params
            .iter()
            .filter(|(k, v)| k == "project" && !v.is_empty() && v != "-1")
            .map(|(_, v)| v.clone())
            .take(100)
            .collect();
        Ok(StreamQuery {
            query,
            sort,
            period,
            projects,
            environment: get("environment").unwrap_or("").chars().take(200).collect(),
            cursor: get("cursor").unwrap_or("").to_owned(),
        })
    }

    pub fn sort_key(&self) -> &'static str {
        match self.sort {
            IssueSort::Date => "date",
            IssueSort::New => "new",
            IssueSort::Freq => "freq",
            IssueSort::User => "user",
        }
    }

    /// The status tab the search selects ("" for All when it names no status).
    pub fn tab(&self) -> &str {
        status_terms(&self.query).last().copied().unwrap_or("")
    }

    /// The search without its status terms (what the search box shows beside the tabs).
    pub fn text(&self) -> String {
        without_status(&self.query)
    }

    /// This stream's address with the given changes, always from the first page.
    fn href_with(&self, query: &str, sort: &str, period: &str, cursor: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("query", query), ("sort", sort), ("statsPeriod", period)];
        for p in &self.projects {
            pairs.push(("project", p));
        }
        if !self.environment.is_empty() {
            pairs.push(("environment", &self.environment));
        }
        if !cursor.is_empty() {
            pairs.push(("cursor", cursor));
        }
        format!("?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    }

    /// The search of a status tab (`term` from `TABS`): the rest of this search under it.
    pub fn tab_query(&self, term: &str) -> String {
        join(term, &self.text())
    }

    /// The link of a status tab (`term` from `TABS`), keeping the rest of the search.
    pub fn tab_href(&self, term: &str) -> String {
        self.href_with(&self.tab_query(term), self.sort_key(), self.period.key(), "")
    }

    pub fn sort_href(&self, sort: &str) -> String {
        self.href_with(&self.query, sort, self.period.key(), "")
    }

    pub fn period_href(&self, period: Period) -> String {
        self.href_with(&self.query, self.sort_key(), period.key(), "")
    }

    pub fn cursor_href(&self, cursor: &str) -> String {
        self.href_with(&self.query, self.sort_key(), self.period.key(), cursor)
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a} {b}"),
    }
}

fn status_terms(query: &str) -> Vec<&str> {
    query.split_whitespace().filter(|t| t.starts_with("is:")).collect()
}

fn without_status(query: &str) -> String {
    query
        .split_whitespace()
        .filter(|t| !t.starts_with("is:") && !t.starts_with("!is:"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A status tab's count: exact up to `cap`, "1,000+" past it (the store counts no further).
pub fn count_label(count: usize, cap: usize) -> String {
    if count > cap {
        format!("{}+", thousands(cap))
    } else {
        thousands(count)
    }
}

/// `n` with a comma between each group of three digits.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_empty_address_is_the_unresolved_tab_by_last_seen() {
        let q = StreamQuery::parse(&[]).expect("defaults parse");
        assert_eq!(q.query, "is:unresolved");
        assert_eq!(q.tab(), "is:unresolved");
        assert_eq!(q.sort, IssueSort::Date);
        assert_eq!(q.period, Period::Day);
    }

    #[test]
    fn tabs_keep_the_search_and_the_filters() {
        let q = StreamQuery::parse(&params(&[
            ("query", "is:unresolved level:error"),
            ("sort", "freq"),
            ("project", "web"),
            ("environment", "prod"),
            ("cursor", "0:25:0"),
        ]))
        .expect("parses");
        assert_eq!(q.text(), "level:error");
        let href = q.tab_href("is:resolved");
        assert_eq!(
            href,
            "?query=is%3Aresolved+level%3Aerror&sort=freq&statsPeriod=24h&project=web&environment=prod"
        );
        assert_eq!(
            q.tab_href(""),
            "?query=level%3Aerror&sort=freq&statsPeriod=24h&project=web&environment=prod"
        );
        assert!(q.cursor_href("0:50:0").ends_with("&cursor=0%3A50%3A0"));
    }

    #[test]
    fn unknown_sorts_and_periods_are_refused() {
        assert!(StreamQuery::parse(&params(&[("sort", "random")])).is_err());
        assert!(StreamQuery::parse(&params(&[("statsPeriod", "1y")])).is_err());
        assert!(StreamQuery::parse(&params(&[("query", &"x".repeat(MAX_QUERY + 1))])).is_err());
    }

    #[test]
    fn tab_counts_are_grouped_by_thousands_and_capped() {
        assert_eq!(count_label(0, 1000), "0");
        assert_eq!(count_label(999, 1000), "999");
        assert_eq!(count_label(1000, 1000), "1,000");
        assert_eq!(count_label(1001, 1000), "1,000+");
        assert_eq!(count_label(1_234_567, 10_000_000), "1,234,567");
    }

    #[test]
    fn a_tab_query_swaps_the_status_and_keeps_the_rest() {
        let q = StreamQuery::parse(&params(&[("query", "is:ignored level:error")])).expect("parses");
        assert_eq!(q.tab_query("is:unresolved"), "is:unresolved level:error");
        assert_eq!(q.tab_query(""), "level:error");
    }
}
