//! Bearer tokens recently found valid, so that most API calls need no query to learn who calls.
//!
//! Every call presents a token; looking it up was one database round trip per request, on the
//! hottest routes the most expensive part after the listing itself. An entry is believed for a
//! short time (`BANKD_TOKEN_CACHE_SECONDS`) and never past the token's own expiry.
//!
//! Revocation: this process forgets every entry at once when it removes a token (revoke, renew,
//! user deletion). Other processes on the same database learn of it within the time an entry is
//! believed, as they would from any other cache with a TTL; that bound is the setting's documented
//! cost. Entries carry the generation they were read under, so a lookup that raced a revocation
//! cannot put back a token the revocation had already forgotten.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::users::{Token, TokenKind};

/// Tokens held at most; a larger working set evicts the least used (quick_cache's CLOCK-Pro).
const CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    token: Token,
    fresh_until: Instant,
    generation: u64,
}

#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: quick_cache::sync::Cache<Vec<u8>, Entry>,
    /// Bumped on every revocation: entries of an older generation are stale.
    generation: AtomicU64,
}

impl TokenCache {
    /// A cache believing an entry for `ttl`; `Duration::ZERO` caches nothing.
    pub fn new(ttl: Duration) -> TokenCache {
        TokenCache { ttl, entries: quick_cache::sync::Cache::new(CAPACITY), generation: AtomicU64::new(0) }
    }

    /// The token whose secret hashes to `hash`, when it was found valid recently enough.
    pub fn get(&self, hash: &[u8]) -> Option<Token> {
        let entry = self.entries.get(hash)?;
        let current = entry.generation == self.generation.load(Ordering::Acquire) && Instant::now() < entry.fresh_until;
        current.then_some(entry.token)
    }

    /// The generation to pass to [`TokenCache::put`]: read it before the database is.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a token the database said was valid under `generation`, until `expires_at` at
    /// the latest. Codes are spent by exchange and last minutes: they are always looked up.
    pub fn put(&self, hash: Vec<u8>, token: &Token, expires_at: Option<DateTime<Utc>>, generation: u64) {
        if self.ttl.is_zero() || token.kind == TokenKind::Code || generation != self.generation() {
            return;
        }
        let left = expires_at.map_or(self.ttl, |at| (at - Utc::now()).to_std().unwrap_or_default());
        let fresh_until = Instant::now() + self.ttl.min(left);
        self.entries.insert(hash, Entry { token: token.clone(), fresh_until, generation });
    }

    /// Forgets every token: one was removed (which one does not matter, revocations are rare).
    pub fn revoke(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}
