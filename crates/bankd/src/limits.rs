//! Rate limits on the routes that take secrets (`/auth/*`, code and token exchanges, the SimpleFIN
//! claim, the webview's link and credential forms): per client address and per client
//! application, so that guessing a secret, a code or a person's bank password costs time.
//!
//! GCRA through `governor`: each key's allowance refills evenly over the window, so a refused
//! client learns exactly when its next attempt is let through (`Retry-After`). The limits are
//! per process: several bankd processes each allow their own.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitSettings;

/// Keys kept before the ones whose allowance is full again are forgotten: an attacker cycling
/// through addresses or client ids cannot grow the tables without bound.
const KEYS_BEFORE_CLEANUP: usize = 100_000;

/// A refused attempt: how long until the next one is let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// For `Retry-After`: whole seconds, rounded up, at least one.
    pub fn retry_after_seconds(&self) -> u64 {
        let started_second = u64::from(self.retry_after.subsec_nanos() > 0);
        (self.retry_after.as_secs() + started_second).max(1)
    }
}

pub struct RateLimits {
    /// `None`: that limit is off (set to 0).
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_client: Option<DefaultKeyedRateLimiter<i64>>,
    trusted_proxies: Vec<IpAddr>,
}

impl RateLimits {
    pub fn new(settings: &LimitSettings) -> RateLimits {
        let window = Duration::from_secs(settings.rate_limit_window_seconds.max(1));
        RateLimits {
            per_ip: limiter(settings.rate_limit_per_ip, window),
            per_client: limiter(settings.rate_limit_per_client, window),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// Counts an attempt from `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Throttled> {
        check(self.per_ip.as_ref(), &address)
    }

    /// Counts an attempt on behalf of the client application `id_client`.
    pub fn check_client(&self, id_client: i64) -> Result<(), Throttled> {
        check(self.per_client.as_ref(), &id_client)
    }

    /// Who is calling, for the limits: the peer, unless it is a trusted proxy, whose last
    /// `X-Forwarded-For` entry (the address it saw; earlier ones are the client's own claims)
    /// names the client.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let last = forwarded_for.and_then(|header| header.rsplit(',').next());
        last.and_then(|ip| ip.trim().parse().ok()).unwrap_or(peer)
    }
}

/// `per_window` attempts per `window`, refilled one at a time; `None` when `per_window` is 0.
fn limiter<K: std::hash::Hash + Eq + Clone>(per_window: u32, window: Duration) -> Option<DefaultKeyedRateLimiter<K>> {
    let burst = NonZeroU32::new(per_window)?;
    let quota = Quota::with_period(window / per_window)?.allow_burst(burst);
    Some(RateLimiter::keyed(quota))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Throttled> {
    let Some(limiter) = limiter else { return Ok(()) };
    if limiter.len() > KEYS_BEFORE_CLEANUP {
        limiter.retain_recent();
    }
    limiter
        .check_key(key)
        .map_err(|not_until| Throttled { retry_after: not_until.wait_time_from(DefaultClock::default().now()) })
}
