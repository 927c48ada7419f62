//! The issue search (`IssueFilter`) as PostgreSQL SQL: a pure translation, no I/O, the twin
//! of SQLite's in `sqlite/read.rs`. Both must select the same issues in the same order, so
//! the differences of the two databases are bridged here:
//! - SQLite's `LIKE` ignores the case of ASCII letters only; PostgreSQL's `LIKE` is
//!   case-sensitive and `ILIKE` folds every letter by the database's locale. Both sides
//!   are therefore folded to ASCII lower case (`translate`) and compared with `LIKE`.
//! - Text is ordered by bytes (`COLLATE "C"`), as SQLite's default collation does.
//! - Booleans are `TRUE`/`FALSE`, parameters `$n`; values are always parameters.

use crate::store::{Cmp, Condition, IssueFilter, IssueSort};

/// `col` with ASCII letters lower-cased and every other character kept, as SQLite's `LIKE`
/// compares.
fn ascii_fold(column: &str) -> String {
    format!("translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
}

/// Escapes a LIKE pattern (`\` is the escape character) and turns `*` into `%`.
pub fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' => out.push('%'),
            c => out.push(c),
        }
    }
    out
}

fn cmp_sql(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Eq => "=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
    }
}

/// The issue column an order sorts by (descending; ties by id, descending).
pub fn sort_column(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::Date => "i.last_seen",
        IssueSort::New => "i.first_seen",
        IssueSort::Freq => "i.times_seen",
        IssueSort::User => "i.user_count",
    }
}

/// A parameter holding `pattern` folded as `ascii_fold` folds the column; its placeholder.
fn push_pattern(args: &mut Vec<String>, pattern: String) -> String {
    args.push(pattern.to_ascii_lowercase());
    format!("${}", args.len())
}

fn like(column: &str, placeholder: &str) -> String {
    format!("{} LIKE {placeholder} ESCAPE '\\'", ascii_fold(column))
}

fn in_list(column: &str, values: &[String], negate: bool, args: &mut Vec<String>) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| {
            let p = push_pattern(args, like_pattern(v));
            like(column, &p)
        })
        .collect();
    let any = format!(
        "({})",
        if parts.is_empty() {
            "FALSE".to_string()
        } else {
            parts.join(" OR ")
        }
    );
    if negate { format!("NOT {any}") } else { any }
}

fn tag_exists(key: &str, values: Option<&[String]>, negate: bool, args: &mut Vec<String>) -> String {
    // The key is compared exactly (SQLite's `=` is case-sensitive too).
    args.push(key.to_string());
    let key_arg = args.len();
    let value_clause = match values {
        Some(values) => format!(" AND {}", in_list("t.value", values, false, args)),
        None => String::new(),
    };
    let exists =
        format!("EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = i.id AND t.key = ${key_arg}{value_clause})");
    if negate { format!("NOT {exists}") } else { exists }
}

/// The `WHERE` condition of `filter` over `issues i`, its parameters (all text) appended
/// to `args` and numbered from there.
pub fn where_clause(filter: &IssueFilter, args: &mut Vec<String>) -> String {
    let mut clauses = vec!["TRUE".to_string()];
    if !filter.project_ids.is_empty() {
        let ids: Vec<String> = filter.project_ids.iter().map(|id| id.to_string()).collect();
        clauses.push(format!("i.project_id IN ({})", ids.join(",")));
    }
    if !filter.issue_ids.is_empty() {
        let ids: Vec<String> = filter.issue_ids.iter().map(|id| id.to_string()).collect();
        clauses.push(format!("i.id IN ({})", ids.join(",")));
    }
    for c in &filter.conditions {
        let clause = match c {
            Condition::Status { values, negate } => in_list("i.status", values, *negate, args),
            Condition::Level { values, negate } => in_list("i.level", values, *negate, args),
            Condition::Release { values, negate } => tag_exists("release", Some(values), *negate, args),
            Condition::Environment { values, negate } => tag_exists("environment", Some(values), *negate, args),
            Condition::FirstSeen { cmp, at_us } => format!("i.first_seen {} {at_us}", cmp_sql(*cmp)),
            Condition::LastSeen { cmp, at_us } => format!("i.last_seen {} {at_us}", cmp_sql(*cmp)),
            Condition::TimesSeen { cmp, count } => format!("i.times_seen {} {count}", cmp_sql(*cmp)),
            Condition::UserCount { cmp, count } => format!("i.user_count {} {count}", cmp_sql(*cmp)),
            Condition::Tag { key, values, negate } => tag_exists(key, Some(values), *negate, args),
            Condition::Has { key, negate } => tag_exists(key, None, *negate, args),
            Condition::Text { text, negate } => {
                let p = push_pattern(args, format!("%{}%", like_pattern(text)));
                let any = format!(
                    "({} OR {} OR {})",
                    like("i.title", &p),
                    like("coalesce(i.culprit, '')", &p),
                    like("i.metadata", &p)
                );
                if *negate { format!("NOT {any}") } else { any }
            }
        };
        clauses.push(clause);
    }
    clauses.join(" AND ")
}

/// A page size or offset as PostgreSQL's `bigint` takes it (anything larger is "all").
fn bigint(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One page of `filter` in its sort order: the query and its parameters.
pub fn issues_query(columns: &str, filter: &IssueFilter) -> (String, Vec<String>) {
    let mut args = Vec::new();
    let clause = where_clause(filter, &mut args);
    let column = sort_column(filter.sort);
    let sql = format!(
        "SELECT {columns} FROM issues i WHERE {clause} ORDER BY {column} DESC, i.id DESC LIMIT {} OFFSET {}",
        bigint(filter.limit),
        bigint(filter.offset)
    );
    (sql, args)
}

/// One page positioned by the sort column's value (see `sqlite::read::issues_by_value`):
/// forward, values at most `value`, descending; back (`is_prev`), at least `value`,
/// ascending — the caller reverses that page into list order.
pub fn issues_by_value_query(columns: &str, filter: &IssueFilter, value: i64, is_prev: bool) -> (String, Vec<String>) {
    let mut args = Vec::new();
    let clause = where_clause(filter, &mut args);
    let column = sort_column(filter.sort);
    let (bound, dir) = if is_prev { (">=", "ASC") } else { ("<=", "DESC") };
    let sql = format!(
        "SELECT {columns} FROM issues i WHERE {clause} AND {column} {bound} {value} \
         ORDER BY {column} {dir}, i.id {dir} LIMIT {} OFFSET {}",
        bigint(filter.limit),
        bigint(filter.offset)
    );
    (sql, args)
}

/// How many issues match `filter`, counted no further than `cap + 1` (its page and order
/// are ignored): the query and its parameters.
pub fn count_issues_query(filter: &IssueFilter, cap: usize) -> (String, Vec<String>) {
    let mut args = Vec::new();
    let clause = where_clause(filter, &mut args);
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM issues i WHERE {clause} LIMIT {}) AS matching",
        bigint(cap.saturating_add(1))
    );
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(conditions: Vec<Condition>) -> IssueFilter {
        IssueFilter {
            conditions,
            limit: 25,
            ..IssueFilter::default()
        }
    }

    #[test]
    fn like_pattern_escapes_and_expands_wildcards() {
        assert_eq!(like_pattern("a_b%*\\"), "a\\_b\\%%\\\\");
    }

    #[test]
    fn no_condition_selects_everything_in_date_order() {
        let (sql, args) = issues_query("i.id", &filter(vec![]));
        assert_eq!(
            sql,
            "SELECT i.id FROM issues i WHERE TRUE ORDER BY i.last_seen DESC, i.id DESC LIMIT 25 OFFSET 0"
        );
        assert!(args.is_empty());
    }

    #[test]
    fn values_are_parameters_folded_to_ascii_lower_case() {
        let mut args = Vec::new();
        let sql = where_clause(
            &filter(vec![Condition::Tag {
                key: "Browser".into(),
                values: vec!["Chr*_É".into()],
                negate: true,
            }]),
            &mut args,
        );
        assert_eq!(args, vec!["Browser".to_string(), "chr%\\_É".to_string()]);
        assert!(sql.contains("NOT EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = i.id AND t.key = $1 AND"));
        assert!(sql.contains(
            "translate(t.value, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE $2 ESCAPE '\\'"
        ));
    }

    #[test]
    fn an_empty_value_list_matches_nothing_and_its_negation_everything() {
        let mut args = Vec::new();
        let sql = where_clause(
            &filter(vec![
                Condition::Status {
                    values: vec![],
                    negate: false,
                },
                Condition::Level {
                    values: vec![],
                    negate: true,
                },
            ]),
            &mut args,
        );
        assert_eq!(sql, "TRUE AND (FALSE) AND NOT (FALSE)");
    }

    #[test]
    fn text_searches_title_culprit_and_metadata_with_one_parameter() {
        let mut args = Vec::new();
        let sql = where_clause(
            &filter(vec![Condition::Text {
                text: "Key%Error".into(),
                negate: false,
            }]),
            &mut args,
        );
        assert_eq!(args, vec!["%key\\%error%".to_string()]);
        assert_eq!(sql.matches("$1").count(), 3);
        assert!(sql.contains("coalesce(i.culprit, '')"));
    }

    #[test]
    fn comparisons_and_scopes_are_inlined_integers() {
        let mut f = filter(vec![
            Condition::FirstSeen {
                cmp: Cmp::Ge,
                at_us: 10,
            },
            Condition::LastSeen {
                cmp: Cmp::Lt,
                at_us: 20,
            },
            Condition::TimesSeen { cmp: Cmp::Eq, count: 3 },
            Condition::UserCount { cmp: Cmp::Gt, count: 1 },
        ]);
        f.project_ids = vec![1, 2];
        f.issue_ids = vec![7];
        let mut args = Vec::new();
        assert_eq!(
            where_clause(&f, &mut args),
            "TRUE AND i.project_id IN (1,2) AND i.id IN (7) AND i.first_seen >= 10 AND i.last_seen < 20 \
             AND i.times_seen = 3 AND i.user_count > 1"
        );
        assert!(args.is_empty());
    }

    #[test]
    fn an_unbounded_page_stays_within_bigint() {
        let f = IssueFilter {
            limit: usize::MAX,
            ..IssueFilter::default()
        };
        let (sql, _) = issues_query("i.id", &f);
        assert!(sql.ends_with(&format!("LIMIT {} OFFSET 0", i64::MAX)), "{sql}");
    }

    #[test]
    fn a_value_page_going_back_is_ascending_from_the_value() {
        let f = IssueFilter {
            sort: IssueSort::Freq,
            limit: 5,
            offset: 1,
            ..IssueFilter::default()
        };
        let (sql, _) = issues_by_value_query("i.id", &f, 42, true);
        assert!(
            sql.ends_with("AND i.times_seen >= 42 ORDER BY i.times_seen ASC, i.id ASC LIMIT 5 OFFSET 1"),
            "{sql}"
        );
        let (sql, _) = issues_by_value_query("i.id", &f, 42, false);
        assert!(
            sql.ends_with("AND i.times_seen <= 42 ORDER BY i.times_seen DESC, i.id DESC LIMIT 5 OFFSET 1"),
            "{sql}"
        );
    }

    #[test]
    fn a_count_stops_one_past_its_cap_and_ignores_the_page() {
        let f = IssueFilter {
            conditions: vec![Condition::Level {
                values: vec!["error".into()],
                negate: false,
            }],
            limit: 25,
            offset: 50,
            ..IssueFilter::default()
        };
        let (sql, args) = count_issues_query(&f, 1000);
        assert!(
            sql.starts_with("SELECT count(*) FROM (SELECT 1 FROM issues i WHERE TRUE AND "),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT 1001) AS matching"), "{sql}");
        assert!(!sql.contains("OFFSET") && !sql.contains("ORDER BY"), "{sql}");
        assert_eq!(args, ["error"]);
    }
}
