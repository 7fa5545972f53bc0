//! Throttled guessing: counts failed authentications per key id and per
//! client address in fixed one-minute windows. Once a key id has failed 10
//! times, or an address 50 times, in its window, every further attempt for
//! it — right or wrong — is refused with `429` until the window has passed,
//! so a guesser learns nothing from a throttled attempt. Other callers are
//! unaffected.
//!
//! Why not `governor`: its GCRA limiter answers "may this cell pass?" by
//! consuming it, and a throttle must be consulted *before* the credential
//! is checked (so a right guess during the lock-out still gets `429`) but
//! charged only when the check failed. A window counter does both with a
//! map look-up, and says exactly when the window ends (`Retry-After`).
//!
//! Memory is bounded: at most [`MAX_TRACKED`] keys per counter; when full,
//! expired windows are dropped, and if none has expired a new key is not
//! tracked (the address counter still is, and the overflow is logged).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per key id within a window.
pub const KEY_ID_LIMIT: u32 = 10;
/// Failed attempts allowed per client address within a window.
pub const ADDRESS_LIMIT: u32 = 50;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked per counter at most.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Failures of one kind of key (key ids, addresses) in fixed windows.
#[derive(Debug)]
pub struct Counter<K> {
    limit: u32,
    window: Duration,
    max: usize,
    map: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    /// A counter allowing `limit` failures per `window`, tracking at most
    /// `max` keys.
    pub fn new(limit: u32, window: Duration, max: usize) -> Self {
        Self {
            limit,
            window,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` is still locked out at `now`, if it is.
    pub fn locked(&self, key: &K, now: Instant) -> Option<Duration> {
        let map = self.map.lock().ok()?;
        let w = map.get(key)?;
        let ends = w.start + self.window;
        (w.failures >= self.limit && now < ends).then(|| ends - now)
    }

    /// Counts a failure of `key` at `now`; whether it is now locked out.
    pub fn fail(&self, key: &K, now: Instant) -> bool {
        let Ok(mut map) = self.map.lock() else {
            return false;
        };
        if let Some(w) = map.get_mut(key) {
            if now >= w.start + self.window {
                *w = Window {
                    start: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
            return w.failures >= self.limit;
        }
        if map.len() >= self.max {
            let window = self.window;
            map.retain(|_, w| now < w.start + window);
            if map.len() >= self.max {
                tracing::warn!(
                    tracked = map.len(),
                    "failed-authentication counter is full; not tracking a new key"
                );
                return false;
            }
        }
        map.insert(
            key.clone(),
            Window {
                start: now,
                failures: 1,
            },
        );
        1 >= self.limit
    }

    /// Keys tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Both counters of a server.
#[derive(Debug)]
pub struct Throttle {
    /// By key id (the public part of a key, a token's `client_id`).
    pub key_ids: Counter<String>,
    /// By client address.
    pub addresses: Counter<IpAddr>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(KEY_ID_LIMIT, ADDRESS_LIMIT)
    }
}

impl Throttle {
    /// Counters allowing `per_key_id` and `per_address` failures a window.
    pub fn new(per_key_id: u32, per_address: u32) -> Self {
        Self {
            key_ids: Counter::new(per_key_id, WINDOW, MAX_TRACKED),
            addresses: Counter::new(per_address, WINDOW, MAX_TRACKED),
        }
    }

    /// How long an attempt for `key_id` from `address` must wait, if it
    /// must: the longer of the two lock-outs.
    pub fn locked(
        &self,
        key_id: Option<&str>,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Option<Duration> {
        let by_key = key_id.and_then(|k| self.key_ids.locked(&k.to_owned(), now));
        let by_addr = address.and_then(|a| self.addresses.locked(&a, now));
        by_key.max(by_addr)
    }

    /// Counts a failed attempt.
    pub fn fail(&self, key_id: Option<&str>, address: Option<IpAddr>, now: Instant) {
        if let Some(k) = key_id {
            self.key_ids.fail(&k.to_owned(), now);
        }
        if let Some(a) = address {
            self.addresses.fail(&a, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_until_the_window_ends() {
        let c = Counter::new(3, Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let k = "abc".to_owned();
        assert!(!c.fail(&k, t0));
        assert!(!c.fail(&k, t0));
        assert_eq!(c.locked(&k, t0), None);
        assert!(c.fail(&k, t0 + Duration::from_secs(10)));
        assert_eq!(
            c.locked(&k, t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(40))
        );
        assert_eq!(c.locked(&"other".to_owned(), t0), None);
        assert_eq!(c.locked(&k, t0 + Duration::from_secs(60)), None);
        // A new window starts from zero.
        assert!(!c.fail(&k, t0 + Duration::from_secs(61)));
        assert_eq!(c.locked(&k, t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn memory_is_bounded_and_expired_windows_make_room() {
        let c = Counter::new(2, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for k in 0..3u32 {
            c.fail(&k, t0);
        }
        c.fail(&99, t0);
        assert_eq!(c.tracked(), 3, "a full counter tracks no new key");
        c.fail(&100, t0 + Duration::from_secs(61));
        assert_eq!(c.tracked(), 1, "expired windows were dropped to make room");
    }

    #[test]
    fn the_longer_lock_out_wins() {
        let t = Throttle {
            key_ids: Counter::new(1, Duration::from_secs(60), 10),
            addresses: Counter::new(1, Duration::from_secs(30), 10),
        };
        let now = Instant::now();
        let ip: IpAddr = [10, 0, 0, 1].into();
        t.fail(Some("k"), Some(ip), now);
        assert_eq!(
            t.locked(Some("k"), Some(ip), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(t.locked(None, Some(ip), now), Some(Duration::from_secs(30)));
        assert_eq!(t.locked(Some("j"), None, now), None);
    }
}
