//! One page of an issue list and the cursors of the pages either side, in Sentry's cursor
//! format (`api::pagination`): shared by the API's issue lists and the web UI's stream, so
//! both page the same way. Orders whose values only grow as events arrive (last seen,
//! first seen) page by value, so a page neither repeats nor skips rows while events come
//! in; counts page by offset.

use super::pagination::Cursor;
use crate::store::{Issue, IssueFilter, IssueSort, Store, StoreError};

/// A page of issues in list order and its neighbours' cursors.
#[derive(Debug, Clone)]
pub struct IssuePage {
    pub issues: Vec<Issue>,
    pub prev: Neighbour,
    pub next: Neighbour,
}

/// The cursor of the page before or after this one, and whether that page has rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub cursor: String,
    pub exists: bool,
}

/// The page of `filter` that `cursor` points at; `filter.limit` is the page size and its
/// offset is the cursor's.
pub async fn issue_page(store: &Store, filter: IssueFilter, cursor: Cursor) -> Result<IssuePage, StoreError> {
    let limit = filter.limit;
    // One extra row tells whether a further page exists.
    let filter = IssueFilter {
        limit: limit + 1,
        offset: cursor.offset,
        ..filter
    };
    let sort = filter.sort;
    // A plain offset cursor (`0:<n>:…`) on a value order is an old link: it still pages by offset.
    if !value_paged(sort) || (cursor.value == 0 && cursor.offset > 0) {
        let mut issues = store.issues(filter).await?;
        let more = issues.len() > limit;
        issues.truncate(limit);
        let (prev, next) = offset_neighbours(cursor.offset, limit, more);
        return Ok(IssuePage { issues, prev, next });
    }
    let start = (cursor.value > 0).then_some(cursor.value);
    let is_prev = cursor.is_prev && start.is_some();
    let mut issues = match start {
        Some(value) => store.issues_by_value(filter, value, is_prev).await?,
        None => store.issues(IssueFilter { offset: 0, ..filter }).await?,
    };
    let more = issues.len() > limit;
    if more {
        // Going back the extra row is the furthest from where we came from: the first.
        if is_prev {
            issues.remove(0);
        } else {
            issues.truncate(limit);
        }
    }
    let (prev, next) = value_neighbours(sort, &issues, cursor, more);
    Ok(IssuePage { issues, prev, next })
}

/// Orders whose values only grow as events arrive page by value (Sentry's value cursors).
pub fn value_paged(sort: IssueSort) -> bool {
    matches!(sort, IssueSort::Date | IssueSort::New)
}

/// The neighbours of a page read by offset: `limit` rows from `offset`, `more` if rows follow.
pub fn offset_neighbours(offset: usize, limit: usize, more: bool) -> (Neighbour, Neighbour) {
    (
        Neighbour {
            cursor: format!("0:{}:1", offset.saturating_sub(limit)),
            exists: offset > 0,
        },
        Neighbour {
            cursor: format!("0:{}:0", offset + limit),
            exists: more,
        },
    )
}

/// The neighbours of `page` (list order), read by value with `cursor`; `more` says whether
/// the store had a row beyond the page in the direction read. Each cursor starts at the
/// value of the row at the page's edge and skips the rows of this page that share it.
pub fn value_neighbours(sort: IssueSort, page: &[Issue], cursor: Cursor, more: bool) -> (Neighbour, Neighbour) {
    let start = (cursor.value > 0).then_some(cursor.value);
    let is_prev = cursor.is_prev && start.is_some();
    // Going forward, `more` says whether a next page exists and any cursor means one before;
    // going back, `more` says whether an earlier page exists and the page we came from follows.
    let (has_prev, has_next) = if is_prev { (more, true) } else { (start.is_some(), more) };
    let ties = |value: i64| page.iter().filter(|i| sort.value_of(i) == value).count();
    let next = match page.last() {
        Some(last) => {
            let value = sort.value_of(last);
            let mut offset = ties(value);
            // A page that began inside this run of ties skips those already shown too.
            if !is_prev && start == Some(value) {
                offset += cursor.offset;
            }
            format!("{value}:{offset}:0")
        }
        None => format!("{}:{}:0", cursor.value, cursor.offset),
    };
    let prev = match page.first() {
        Some(first) => {
            let value = sort.value_of(first);
            format!("{value}:{}:1", ties(value))
        }
        None => format!("{}:{}:1", cursor.value, cursor.offset),
    };
    (
        Neighbour {
            cursor: prev,
            exists: has_prev,
        },
        Neighbour {
            cursor: next,
            exists: has_next,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(id: i64, last_seen: i64) -> Issue {
        Issue {
            id,
            project_id: 1,
            short_id: id,
            title: String::new(),
            culprit: None,
            location: None,
            level: "error".into(),
            kind: "error".into(),
            platform: None,
            metadata: serde_json::Value::Null,
            status: crate::ids::IssueStatus::Unresolved,
            substatus: None,
            status_details: serde_json::Value::Null,
            first_seen: 0,
            last_seen,
            times_seen: 1,
            user_count: 0,
            first_release: None,
            last_release: None,
            grouping_config: String::new(),
        }
    }

    fn cursor(raw: &str) -> Cursor {
        Cursor::parse(Some(raw)).expect("a valid cursor")
    }

    #[test]
    fn the_first_page_by_value_has_only_a_next_page_counting_ties_at_its_edge() {
        let page = [issue(1, 30), issue(2, 20), issue(3, 20)];
        let (prev, next) = value_neighbours(IssueSort::Date, &page, Cursor::default(), true);
        assert!(!prev.exists);
        assert_eq!(next.cursor, "20:2:0");
        assert!(next.exists);
    }

    #[test]
    fn a_page_inside_a_run_of_ties_skips_the_ones_shown_before() {
        let page = [issue(4, 20)];
        let (prev, next) = value_neighbours(IssueSort::Date, &page, cursor("20:2:0"), false);
        assert_eq!(next.cursor, "20:3:0");
        assert!(!next.exists);
        assert_eq!(prev.cursor, "20:1:1");
        assert!(prev.exists);
    }

    #[test]
    fn going_back_always_has_the_page_we_came_from_after_it() {
        let page = [issue(1, 30), issue(2, 20)];
        let (prev, next) = value_neighbours(IssueSort::Date, &page, cursor("10:1:1"), false);
        assert!(!prev.exists, "no row beyond the first page");
        assert!(next.exists);
        assert_eq!(next.cursor, "20:1:0");
    }

    #[test]
    fn offset_pages_step_by_the_page_size() {
        let (prev, next) = offset_neighbours(50, 25, true);
        assert_eq!((prev.cursor.as_str(), prev.exists), ("0:25:1", true));
        assert_eq!((next.cursor.as_str(), next.exists), ("0:75:0", true));
        let (prev, next) = offset_neighbours(0, 25, false);
        assert!(!prev.exists && !next.exists);
        assert!(value_paged(IssueSort::New) && !value_paged(IssueSort::Freq));
    }
}
