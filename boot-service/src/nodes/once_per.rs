//! Say a thing at most once per period per key: a flood (spoofed DHCP with a new MAC per packet) would
//! otherwise write one log line per packet. The keys are few (one per configured subnet).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct OncePer<K> {
    every: Duration,
    last: Mutex<HashMap<K, Instant>>,
}

impl<K: Eq + Hash> OncePer<K> {
    pub fn new(every: Duration) -> Self {
        Self { every, last: Mutex::new(HashMap::new()) }
    }

    /// Whether `key` may be said at `now`: the first time, and once `every` has passed since it last was.
    pub fn due(&self, key: K, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match last.get(&key) {
            Some(said) if now.saturating_duration_since(*said) < self.every => false,
            _ => {
                last.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_said_once_per_period_and_keys_are_apart() {
        let once = OncePer::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(once.due("rack a", t0));
        assert!(!once.due("rack a", t0 + Duration::from_secs(1)));
        assert!(!once.due("rack a", t0 + Duration::from_secs(59)));
        assert!(once.due("rack b", t0 + Duration::from_secs(1)), "another subnet has its own period");
        assert!(once.due("rack a", t0 + Duration::from_secs(60)));
        assert!(!once.due("rack a", t0 + Duration::from_secs(61)));
    }
}
