//! An issue's tags as bars: each key with its top values and their share of the key's
//! events, widths in whole percent so the template needs no arithmetic.

use crate::store::TagValue;

/// Top values shown per key.
pub const TOP_VALUES: usize = 5;
/// Most keys shown.
const MAX_KEYS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSummary {
    pub key: String,
    pub total: i64,
    pub distinct: usize,
    pub values: Vec<TagBar>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagBar {
    pub value: String,
    pub count: i64,
    /// Share of the key's events, 0–100.
    pub percent: i64,
}

/// Keys in first-seen order of `tags`, values by count (then value), top `TOP_VALUES`.
pub fn summarize(tags: &[TagValue]) -> Vec<TagSummary> {
    let mut keys: Vec<(&str, Vec<&TagValue>)> = Vec::new();
    for tag in tags {
        match keys.iter_mut().find(|(k, _)| *k == tag.key) {
            Some((_, values)) => values.push(tag),
            None => keys.push((&tag.key, vec![tag])),
        }
    }
    keys.sort_by(|a, b| a.0.cmp(b.0));
    keys.into_iter()
        .take(MAX_KEYS)
        .map(|(key, mut values)| {
            values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            let total: i64 = values.iter().map(|v| v.count.max(0)).sum();
            TagSummary {
                key: key.to_owned(),
                total,
                distinct: values.len(),
                values: values
                    .iter()
                    .take(TOP_VALUES)
                    .map(|v| TagBar {
                        value: v.value.clone(),
                        count: v.count,
                        percent: if total > 0 { v.count.max(0) * 100 / total } else { 0 },
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str, count: i64) -> TagValue {
        TagValue {
            key: key.into(),
            value: value.into(),
            count,
            first_seen: 0,
            last_seen: 0,
        }
    }

    #[test]
    fn values_are_ranked_with_their_share() {
        let tags = vec![tag("os", "linux", 1), tag("browser", "firefox", 1), tag("os", "mac", 3)];
        let s = summarize(&tags);
        assert_eq!(s[0].key, "browser");
        assert_eq!(s[1].key, "os");
        assert_eq!(s[1].total, 4);
        assert_eq!(s[1].values[0].value, "mac");
        assert_eq!(s[1].values[0].percent, 75);
        assert_eq!(s[1].values[1].percent, 25);
    }

    #[test]
    fn only_the_top_values_are_kept() {
        let tags: Vec<TagValue> = (0..9).map(|i| tag("k", &format!("v{i}"), i + 1)).collect();
        let s = summarize(&tags);
        assert_eq!(s[0].distinct, 9);
        assert_eq!(s[0].values.len(), TOP_VALUES);
        assert_eq!(s[0].values[0].value, "v8");
    }
}
