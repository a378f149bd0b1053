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

#[cfg(test)]
mod tests {
    use chrono::{Duration as Span, Utc};

    use super::*;

    fn token(kind: TokenKind) -> Token {
        Token { id: 1, id_user: 7, kind, single_use: false }
    }

    fn hash(n: u8) -> Vec<u8> {
        vec![n; 32]
    }

    #[test]
    fn a_valid_token_is_believed_until_a_revocation() {
        let cache = TokenCache::new(Duration::from_secs(60));
        cache.put(hash(1), &token(TokenKind::Permanent), None, cache.generation());
        assert_eq!(cache.get(&hash(1)).map(|t| t.id_user), Some(7));
        assert!(cache.get(&hash(2)).is_none(), "another secret");
        cache.revoke();
        assert!(cache.get(&hash(1)).is_none(), "forgotten at once");
    }

    #[test]
    fn a_lookup_that_raced_a_revocation_puts_nothing_back() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let read_under = cache.generation(); // the lookup starts, then a revocation ends
        cache.revoke();
        cache.put(hash(1), &token(TokenKind::Permanent), None, read_under);
        assert!(cache.get(&hash(1)).is_none());
    }

    #[test]
    fn nothing_is_believed_past_the_ttl_or_the_tokens_expiry() {
        let cache = TokenCache::new(Duration::from_millis(30));
        cache.put(hash(1), &token(TokenKind::Temporary), None, cache.generation());
        cache.put(hash(2), &token(TokenKind::Temporary), Some(Utc::now() - Span::seconds(1)), cache.generation());
        assert!(cache.get(&hash(1)).is_some());
        assert!(cache.get(&hash(2)).is_none(), "already expired: never believed");
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&hash(1)).is_none(), "past the TTL");
    }

    #[test]
    fn codes_and_a_zero_ttl_cache_nothing() {
        let cache = TokenCache::new(Duration::from_secs(60));
        cache.put(hash(1), &token(TokenKind::Code), None, cache.generation());
        assert!(cache.get(&hash(1)).is_none(), "codes are spent by exchange: always looked up");
        let off = TokenCache::new(Duration::ZERO);
        off.put(hash(1), &token(TokenKind::Permanent), None, off.generation());
        assert!(off.get(&hash(1)).is_none());
    }
}
