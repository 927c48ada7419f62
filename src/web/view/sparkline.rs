//! Sparklines as inline SVG built on the server: an issue's occurrences per bucket become
//! the `d` of one filled path, so the stream needs no JavaScript to draw them.

/// A sparkline ready for the template: `<svg viewBox="0 0 {width} {height}"><path d="{path}">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sparkline {
    pub width: u32,
    pub height: u32,
    /// The filled area under the counts, in SVG path syntax (digits, spaces, M, L, Z only).
    pub path: String,
    /// Total of the series, and what it covers ("24 hours"), for the accessible label.
    pub total: i64,
    pub label: String,
}

pub const WIDTH: u32 = 96;
pub const HEIGHT: u32 = 24;

/// Builds the sparkline of `counts` (oldest first). The tallest bucket touches the top;
/// an empty series is a flat line along the bottom.
pub fn sparkline(counts: &[i64], label: &str) -> Sparkline {
    let total = counts.iter().copied().map(|c| c.max(0)).sum();
    Sparkline {
        width: WIDTH,
        height: HEIGHT,
        path: area_path(counts, WIDTH, HEIGHT),
        total,
        label: label.to_owned(),
    }
}

/// A step area: each bucket is a bar of equal width whose height is its share of the
/// largest bucket (one pixel at least for a non-zero bucket, so a single event shows).
pub fn area_path(counts: &[i64], width: u32, height: u32) -> String {
    let h = i64::from(height);
    if counts.is_empty() {
        return format!("M0 {h} L{width} {h} Z");
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let n = counts.len() as i64;
    let x_at = |i: i64| i * i64::from(width) / n;
    let mut path = format!("M0 {h}");
    for (i, &count) in counts.iter().enumerate() {
        let i = i as i64;
        let bar = if count > 0 { (count * h / max).max(1) } else { 0 };
        let y = h - bar;
        path.push_str(&format!(" L{} {y} L{} {y}", x_at(i), x_at(i + 1)));
    }
    path.push_str(&format!(" L{width} {h} Z"));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_bucket_reaches_the_top_and_empty_ones_the_bottom() {
        let path = area_path(&[0, 2, 4], 30, 20);
        assert_eq!(path, "M0 20 L0 20 L10 20 L10 10 L20 10 L20 0 L30 0 L30 20 Z");
    }

    #[test]
    fn a_single_event_among_many_is_still_visible() {
        let path = area_path(&[1000, 1], 20, 10);
        assert!(path.contains("L10 9 L20 9"), "{path}");
    }

    #[test]
    fn an_empty_series_is_a_flat_line() {
        assert_eq!(area_path(&[], 10, 5), "M0 5 L10 5 Z");
        let zeros = sparkline(&[0; 24], "24 hours");
        assert_eq!(zeros.total, 0);
        assert!(!zeros.path.contains(" L0 0"));
    }

    #[test]
    fn the_path_holds_only_path_syntax() {
        let s = sparkline(&[3, 1, 4, 1, 5, 9, 2, 6], "14 days");
        assert_eq!(s.total, 31);
        assert!(s.path.chars().all(|c| c.is_ascii_digit() || " MLZ".contains(c)));
    }
}
