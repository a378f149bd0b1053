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

/// A fresh random secret as 64 lowercase hex digits (32 bytes): only letters and digits, for
/// secrets that travel inside a URL's user and password (SimpleFIN's access URLs).
pub fn random_hex_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the database keeps of a token or client secret.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The key that seals secrets at rest (credentials, source sessions): AES-256-GCM.
///
/// A sealed value is `[version = 1][12-byte random nonce][ciphertext + tag]`, bound by its AAD to
/// the row and column it belongs to, so a ciphertext copied to another row does not open.
pub struct MasterKey(aes_gcm::Aes256Gcm);

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed or was not sealed with this key for this place")]
    Open,
    #[error("master key: {0}")]
    Key(String),
}

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, SealError> {
        use aes_gcm::KeyInit;
        aes_gcm::Aes256Gcm::new_from_slice(bytes)
            .map(MasterKey)
            .map_err(|_| SealError::Key(format!("expected 32 bytes, got {}", bytes.len())))
    }

    pub fn from_base64(text: &str) -> Result<MasterKey, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| SealError::Key(format!("not base64: {e}")))?;
        MasterKey::from_bytes(&bytes)
    }

    /// `BANKD_MASTER_KEY` if set, else `<data_dir>/master.key`; `None` when neither is there.
    pub fn load_existing(env_value: Option<&str>, data_dir: &std::path::Path) -> Result<Option<MasterKey>, SealError> {
        if let Some(text) = env_value {
            return MasterKey::from_base64(text).map(Some);
        }
        let path = data_dir.join("master.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => MasterKey::from_base64(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SealError::Key(format!("reading {}: {e}", path.display()))),
        }
    }

    /// `BANKD_MASTER_KEY` if set, else `<data_dir>/master.key`, generated (mode 0600) on first start.
    pub fn load(env_value: Option<&str>, data_dir: &std::path::Path) -> Result<MasterKey, SealError> {
        match MasterKey::load_existing(env_value, data_dir)? {
            Some(key) => Ok(key),
            None => {
                let path = data_dir.join("master.key");
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                match write_private(&path, &base64::engine::general_purpose::STANDARD.encode(bytes)) {
                    Ok(()) => {}
                    // Another process sharing the data dir wrote it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return MasterKey::load(None, data_dir),
                    Err(e) => return Err(SealError::Key(format!("writing {}: {e}", path.display()))),
                }
                tracing::warn!(
                    path = %path.display(),
                    "BANKD_MASTER_KEY is not set: generated a master key; back it up, without it stored credentials cannot be read"
                );
                MasterKey::from_bytes(&bytes)
            }
        }
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Vec<u8> {
        use aes_gcm::aead::{Aead, Payload};
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload { msg: plaintext, aad: aad.as_bytes() };
        // Encryption with a valid key and a 12-byte nonce cannot fail for inputs under 64 GiB.
        let ciphertext = self.0.encrypt((&nonce).into(), payload).expect("AES-GCM encryption");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        use aes_gcm::aead::{Aead, Payload};
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != SEAL_VERSION {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.0.decrypt(nonce.into(), Payload { msg: ciphertext, aad: aad.as_bytes() }).map_err(|_| SealError::Open)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_place() {
        let key = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = key.seal(b"password=1234", "connection/1/credentials");
        assert!(!sealed.windows(4).any(|w| w == b"1234"));
        assert_eq!(key.open(&sealed, "connection/1/credentials").unwrap(), b"password=1234");
        assert!(key.open(&sealed, "connection/2/credentials").is_err(), "bound to its row");
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(&sealed, "connection/1/credentials").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered, "connection/1/credentials").is_err());
        assert!(key.open(&[], "x").is_err());
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = MasterKey::load(None, dir.path()).unwrap();
        let sealed = first.seal(b"x", "a");
        let again = MasterKey::load(None, dir.path()).unwrap();
        assert_eq!(again.open(&sealed, "a").unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(MasterKey::load(Some("c2hvcnQ="), dir.path()).is_err(), "a short key is refused");
    }
}
