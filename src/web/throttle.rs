//! Sign-in throttling: at most `limit` failed attempts per e-mail address and per client
//! address in a window; past that, sign-in answers 429 without checking the password. The
//! table is bounded: when full, expired entries go, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per key and window.
pub const SIGN_IN_LIMIT: u32 = 10;
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most (an address and an e-mail per attempt).
pub const MAX_KEYS: usize = 20_000;

#[derive(Debug)]
pub struct Throttle {
    limit: u32,
    window: Duration,
    max_keys: usize,
    /// Key → (failures, start of its window).
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(SIGN_IN_LIMIT, SIGN_IN_WINDOW, MAX_KEYS)
    }
}

impl Throttle {
    pub fn new(limit: u32, window: Duration, max_keys: usize) -> Throttle {
        Throttle {
            limit,
            window,
            max_keys: max_keys.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether every key may try again now.
    pub fn allows(&self, keys: &[&str], now: Instant) -> bool {
        let Ok(table) = self.failures.lock() else {
            return false;
        };
        keys.iter().all(|k| match table.get(*k) {
            Some((n, start)) if now.duration_since(*start) < self.window => *n < self.limit,
            _ => true,
        })
    }

    /// Counts a failed attempt against every key.
    pub fn failed(&self, keys: &[&str], now: Instant) {
        let Ok(mut table) = self.failures.lock() else {
            return;
        };
        for key in keys {
            if !table.contains_key(*key) && table.len() >= self.max_keys {
                self.make_room(&mut table, now);
            }
            let entry = table.entry((*key).to_string()).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 = entry.0.saturating_add(1);
        }
    }

    /// Forgets a key's failures (after a successful sign-in for that e-mail).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut table) = self.failures.lock() {
            table.remove(key);
        }
    }

    fn make_room(&self, table: &mut HashMap<String, (u32, Instant)>, now: Instant) {
        table.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        if table.len() >= self.max_keys {
            let oldest = table
                .iter()
                .min_by_key(|(_, (_, start))| *start)
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                table.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.failures.lock().map(|t| t.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_the_limit_until_its_window_passes() {
        let t = Throttle::new(3, Duration::from_secs(60), 100);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.allows(&["a", "b"], now));
            t.failed(&["a", "b"], now);
        }
        assert!(!t.allows(&["a"], now));
        assert!(!t.allows(&["c", "b"], now));
        assert!(t.allows(&["c"], now));
        assert!(t.allows(&["a"], now + Duration::from_secs(61)));
        t.succeeded("a");
        assert!(t.allows(&["a"], now));
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::new(3, Duration::from_secs(60), 10);
        let now = Instant::now();
        for i in 0..1000 {
            t.failed(&[&format!("k{i}")], now + Duration::from_millis(i));
        }
        assert!(t.len() <= 10);
    }
}
