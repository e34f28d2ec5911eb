//! Per-source rate limiting in front of the webhook endpoints: a token bucket per endpoint
//! family and one per client IP. A request takes one token from its IP's bucket and one from its
//! family's bucket; if either is empty it is refused (429) with the time until a token is back.
//!
//! Memory is bounded: at most `max_tracked_ips` IP buckets exist. A bucket that has refilled to
//! its burst holds no information (a new bucket would be identical), so when the table is full
//! those are dropped first; if every tracked IP is active, a new IP is let through untracked
//! (its requests still count against the family bucket) until a later sweep frees room.
//!
//! The current time is a parameter of every call, so tests drive the buckets with a fake clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rapport_runtime::config::RateLimitConfig;

/// How often a full IP table may be swept for idle buckets; bounds the cost of a sweep that
/// frees nothing under a flood of distinct addresses.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A token bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    per_sec: f64,
    burst: f64,
}

impl Rate {
    fn new(per_sec: f64, burst: u32) -> Option<Rate> {
        (per_sec > 0.0).then_some(Rate {
            per_sec,
            burst: f64::from(burst.max(1)),
        })
    }

    fn full(self, now: Instant) -> Bucket {
        Bucket {
            tokens: self.burst,
            updated: now,
        }
    }

    fn refill(self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(self.burst);
        bucket.updated = bucket.updated.max(now);
    }

    /// Would this bucket be full at `now`? (Then forgetting it changes nothing.)
    fn is_idle(self, bucket: &Bucket, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens + elapsed * self.per_sec >= self.burst
    }

    /// Time until the (refilled) bucket holds one token again.
    fn wait(self, bucket: &Bucket) -> Duration {
        let missing = (1.0 - bucket.tokens).max(0.0);
        Duration::from_secs_f64(missing / self.per_sec)
    }
}

/// Which bucket refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Platform,
    Ip,
}

/// A refusal: which bucket, and when a retry can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub by: Limited,
    pub retry_after: Duration,
}

impl Refusal {
    /// Whole seconds for `Retry-After`, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

struct IpTable {
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

/// The limiter of one ingest process. `F` platform buckets are indexed by the caller's family
/// index (`0..families`).
pub struct RateLimiter {
    platform_rate: Option<Rate>,
    platforms: Vec<Mutex<Bucket>>,
    ip_rate: Option<Rate>,
    max_ips: usize,
    ips: Mutex<IpTable>,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig, families: usize, now: Instant) -> RateLimiter {
        let platform_rate = Rate::new(config.per_platform, config.platform_burst);
        let ip_rate = Rate::new(config.per_ip, config.ip_burst);
        let start = platform_rate.map_or(
            Bucket {
                tokens: 0.0,
                updated: now,
            },
            |r| r.full(now),
        );
        RateLimiter {
            platform_rate,
            platforms: (0..families).map(|_| Mutex::new(start)).collect(),
            ip_rate,
            max_ips: config.max_tracked_ips,
            ips: Mutex::new(IpTable {
                buckets: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Admit one request of `family` from `ip` (unknown IP: only the family bucket applies).
    /// A request refused by its IP bucket takes nothing from the family bucket, so one noisy
    /// client cannot spend a platform's allowance.
    pub fn check(&self, family: usize, ip: Option<IpAddr>, now: Instant) -> Result<(), Refusal> {
        let ip_taken = match (self.ip_rate, ip) {
            (Some(rate), Some(ip)) => self.take_ip(rate, ip, now)?,
            _ => None,
        };
        let Some(rate) = self.platform_rate else {
            return Ok(());
        };
        let Some(slot) = self.platforms.get(family) else {
            return Ok(());
        };
        let mut bucket = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rate.refill(&mut bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let retry_after = rate.wait(&bucket);
        drop(bucket);
        // The request is not served: give its IP token back.
        if let (Some(ip), Some(())) = (ip, ip_taken) {
            let mut table = self.ips.lock().unwrap_or_else(|p| p.into_inner());
            if let (Some(b), Some(r)) = (table.buckets.get_mut(&ip), self.ip_rate) {
                b.tokens = (b.tokens + 1.0).min(r.burst);
            }
        }
        Err(Refusal {
            by: Limited::Platform,
            retry_after,
        })
    }

    /// `Ok(Some(()))` when a token was taken from a tracked bucket, `Ok(None)` when the IP could
    /// not be tracked (table full of active clients).
    fn take_ip(&self, rate: Rate, ip: IpAddr, now: Instant) -> Result<Option<()>, Refusal> {
        let mut table = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if !table.buckets.contains_key(&ip) && table.buckets.len() >= self.max_ips {
            let due = table
                .last_sweep
                .is_none_or(|last| now.saturating_duration_since(last) >= SWEEP_INTERVAL);
            if due {
                table.buckets.retain(|_, b| !rate.is_idle(b, now));
                table.last_sweep = Some(now);
            }
            if table.buckets.len() >= self.max_ips {
                return Ok(None);
            }
        }
        let bucket = table.buckets.entry(ip).or_insert_with(|| rate.full(now));
        rate.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(Some(()))
        } else {
            Err(Refusal {
                by: Limited::Ip,
                retry_after: rate.wait(bucket),
            })
        }
    }

    /// Client IPs currently tracked.
    pub fn tracked_ips(&self) -> usize {
        self.ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn config(
        per_platform: f64,
        platform_burst: u32,
        per_ip: f64,
        ip_burst: u32,
    ) -> RateLimitConfig {
        RateLimitConfig {
            per_platform,
            platform_burst,
            per_ip,
            ip_burst,
            max_tracked_ips: 4,
            client_ip_header: None,
        }
    }

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(&config(10.0, 5, 0.0, 0), 2, t0);
        for _ in 0..5 {
            limiter.check(0, None, t0).expect("within the burst");
        }
        let refused = limiter.check(0, None, t0).unwrap_err();
        assert_eq!(refused.by, Limited::Platform);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        assert_eq!(refused.retry_after_secs(), 1);
        // The other family has its own bucket.
        limiter.check(1, None, t0).expect("family 1 untouched");
        // 250 ms at 10/s: two tokens back, not three.
        let t1 = t0 + Duration::from_millis(250);
        limiter.check(0, None, t1).expect("refilled 1");
        limiter.check(0, None, t1).expect("refilled 2");
        assert!(limiter.check(0, None, t1).is_err());
        // A long pause refills to the burst and no further.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..5 {
            limiter.check(0, None, t2).expect("full again");
        }
        assert!(limiter.check(0, None, t2).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(&config(0.4, 1, 0.0, 0), 1, t0);
        limiter.check(0, None, t0).expect("burst of one");
        let refused = limiter.check(0, None, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(2500));
        assert_eq!(refused.retry_after_secs(), 3);
    }

    #[test]
    fn one_noisy_ip_is_refused_without_spending_the_platform_allowance() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(&config(1.0, 10, 1.0, 3), 1, t0);
        for _ in 0..3 {
            limiter.check(0, ip(1), t0).expect("ip burst");
        }
        for _ in 0..20 {
            let refused = limiter.check(0, ip(1), t0).unwrap_err();
            assert_eq!(refused.by, Limited::Ip);
        }
        // 3 of the 10 platform tokens are spent; the other 7 are there for other clients.
        for n in 2..9 {
            limiter.check(0, ip(n), t0).expect("other clients");
        }
        let refused = limiter.check(0, ip(9), t0).unwrap_err();
        assert_eq!(refused.by, Limited::Platform);
    }

    #[test]
    fn a_platform_refusal_gives_the_ip_token_back() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(&config(1.0, 1, 1.0, 2), 1, t0);
        limiter.check(0, ip(1), t0).expect("first");
        assert_eq!(
            limiter.check(0, ip(1), t0).unwrap_err().by,
            Limited::Platform
        );
        // The IP still has its second token: only the platform bucket is empty.
        let t1 = t0 + Duration::from_secs(1);
        limiter
            .check(0, ip(1), t1)
            .expect("platform refilled, ip token kept");
    }

    #[test]
    fn the_ip_table_is_bounded_and_forgets_idle_clients_first() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(&config(0.0, 0, 1.0, 2), 1, t0);
        for n in 1..=4 {
            limiter.check(0, ip(n), t0).expect("tracked");
        }
        assert_eq!(limiter.tracked_ips(), 4);
        // Table full of active clients: a fifth is let through untracked, not remembered.
        limiter.check(0, ip(5), t0).expect("untracked");
        assert_eq!(limiter.tracked_ips(), 4);
        // Client 1 keeps sending; 2..4 go quiet and their buckets refill.
        let t1 = t0 + Duration::from_secs(2);
        limiter.check(0, ip(1), t1).expect("1");
        limiter.check(0, ip(1), t1).expect("1 again");
        // A new client triggers a sweep: the three idle buckets go, the active one stays.
        limiter.check(0, ip(6), t1).expect("6 tracked");
        assert_eq!(limiter.tracked_ips(), 2);
        assert_eq!(limiter.check(0, ip(1), t1).unwrap_err().by, Limited::Ip);
        // Sweeps are rate limited themselves: a full table of active clients is not rescanned
        // on every request.
        for n in 7..=8 {
            limiter.check(0, ip(n), t1).expect("tracked");
        }
        assert_eq!(limiter.tracked_ips(), 4);
        limiter
            .check(0, ip(9), t1)
            .expect("untracked, no sweep yet");
        assert_eq!(limiter.tracked_ips(), 4);
    }

    #[test]
    fn a_zero_rate_turns_a_bucket_off() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(&config(0.0, 0, 0.0, 0), 4, t0);
        for _ in 0..10_000 {
            limiter.check(3, ip(1), t0).expect("no limits");
        }
        assert_eq!(limiter.tracked_ips(), 0);
    }

    #[test]
    fn a_clock_going_backwards_neither_panics_nor_mints_tokens() {
        let t1 = Instant::now() + Duration::from_secs(10);
        let limiter = RateLimiter::new(&config(1.0, 1, 0.0, 0), 1, t1);
        limiter.check(0, None, t1).expect("burst");
        let earlier = t1 - Duration::from_secs(5);
        assert!(limiter.check(0, None, earlier).is_err());
        limiter
            .check(0, None, t1 + Duration::from_secs(1))
            .expect("refilled by real elapsed time");
    }
}
