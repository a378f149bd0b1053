//! Secrets: bearer tokens and client secrets (random, stored only as SHA-256) and sealing of
//! credentials at rest.
//!
//! Tokens carry 256 bits of entropy, so a fast hash is enough to make the stored column useless to
//! a thief, and lookups by hash stay O(1); a slow password hash would cost every request dearly.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh random secret: 32 bytes from the OS generator, base64url without padding (43 chars).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token or client secret.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}
