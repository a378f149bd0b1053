//! Rate limits on the routes that take secrets (`/auth/*`, code and token exchanges, the SimpleFIN
//! claim, the webauth callback, the webview's link and credential forms): per client address and per client
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, per_client: u32) -> RateLimits {
        RateLimits::new(&LimitSettings {
            rate_limit_per_ip: per_ip,
            rate_limit_per_client: per_client,
            rate_limit_window_seconds: 60,
            ..LimitSettings::default()
        })
    }

    #[test]
    fn the_address_behind_a_trusted_proxy_is_the_last_it_forwarded() {
        let limits = limits(1, 1);
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let seen = |header| limits.client_address(proxy, header).to_string();
        assert_eq!(seen(Some("198.51.100.9, 203.0.113.4")), "203.0.113.4", "the first one is the client's own claim");
        assert_eq!(seen(Some("garbage")), "127.0.0.1");
        assert_eq!(seen(None), "127.0.0.1");
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limits.client_address(stranger, Some("203.0.113.4")), stranger, "not a trusted proxy");
    }

    #[test]
    fn a_refusal_says_when_to_come_back_in_whole_seconds() {
        let limits = limits(2, 0);
        let address: IpAddr = "203.0.113.4".parse().unwrap();
        assert!(limits.check_address(address).is_ok() && limits.check_address(address).is_ok());
        let refused = limits.check_address(address).unwrap_err();
        // Two a minute: the next one comes back within 30 seconds.
        assert!((29..=30).contains(&refused.retry_after_seconds()), "{refused:?}");
        assert!(limits.check_client(7).is_ok() && limits.check_client(7).is_ok(), "0: no client limit");
        let short = Throttled { retry_after: Duration::from_millis(1) };
        assert_eq!(short.retry_after_seconds(), 1);
        assert_eq!(Throttled { retry_after: Duration::from_secs(2) }.retry_after_seconds(), 2);
    }
}
