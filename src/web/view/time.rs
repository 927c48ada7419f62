//! Times as pages show them: UTC, and "3 hours ago" relative to the page's now.

/// `HH:MM:SS` in UTC.
pub fn clock(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn datetime(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// How long before `now_us` the time `us` was, in the largest whole unit.
pub fn ago(now_us: i64, us: i64) -> String {
    let secs = (now_us - us).max(0) / 1_000_000;
    let (n, unit) = match secs {
        s if s < 60 => return "just now".to_owned(),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s if s < 30 * 86_400 => (s / 86_400, "day"),
        s if s < 365 * 86_400 => (s / (30 * 86_400), "month"),
        s => (s / (365 * 86_400), "year"),
    };
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        let now = 1_704_164_645 * S;
        assert_eq!(ago(now, now - 5 * S), "just now");
        assert_eq!(ago(now, now - 60 * S), "1 minute ago");
        assert_eq!(ago(now, now - 7_200 * S), "2 hours ago");
        assert_eq!(ago(now, now - 3 * 86_400 * S), "3 days ago");
        assert_eq!(ago(now, now + 10 * S), "just now");
    }

    #[test]
    fn absolute_times_are_utc() {
        assert_eq!(datetime(1_704_164_645 * S), "2024-01-02 03:04:05 UTC");
        assert_eq!(clock(1_704_164_645 * S), "03:04:05");
    }
}
