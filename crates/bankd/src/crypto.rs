//! Secrets: bearer tokens and client secrets (random, stored only as SHA-256) and sealing of
//! credentials at rest.
//!
//! Tokens carry 256 bits of entropy, so a fast hash is enough to make the stored column useless to
//! a thief, and lookups by hash stay O(1); a slow password hash would cost every request dearly.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

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

/// The key that seals secrets at rest (credentials, source sessions, job payloads, webhook
/// secrets): AES-256-GCM.
///
/// A sealed value is `[version = 2][8-byte key id][12-byte random nonce][ciphertext + tag]`, bound by
/// its AAD to the row and column it belongs to, so a ciphertext copied to another row does not open.
/// Version 1 (no key id) is still read.
///
/// It is a key ring: during a rotation (`bankd rotate-key`) the next key seals and both open. A ring
/// loaded from the data dir looks at its key files again before each use (two `stat`s, against
/// dozens of milliseconds of bank round trip per sync), so a running server follows a rotation without
/// a restart.
pub struct MasterKey {
    ring: RwLock<Arc<Keyring>>,
    /// Where the ring came from, to follow a rotation; `None` for a key given as bytes.
    origin: Option<KeyOrigin>,
}

/// The keys in use: `primary` seals; every key opens.
struct Keyring {
    primary: Key,
    /// The key a rotation is moving away from: opens, never seals.
    retiring: Option<Key>,
}

/// One AES-256-GCM key and the id that names it inside what it sealed.
struct Key {
    id: [u8; KEY_ID_LEN],
    cipher: aes_gcm::Aes256Gcm,
}

/// `BANKD_MASTER_KEY` or `<data_dir>/master.key`, plus `<data_dir>/master.key.next` while a rotation
/// runs, and what their files looked like when the ring was read.
struct KeyOrigin {
    env_value: Option<String>,
    data_dir: PathBuf,
    seen: Mutex<Vec<Option<(std::time::SystemTime, u64)>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed or was not sealed with this key for this place")]
    Open,
    #[error("master key: {0}")]
    Key(String),
}

const NONCE_LEN: usize = 12;
const KEY_ID_LEN: usize = 8;
const KEY_FILE: &str = "master.key";
/// The key a rotation moves to, present from the rotation's start to its end.
const NEXT_KEY_FILE: &str = "master.key.next";

impl Key {
    fn new(bytes: &[u8]) -> Result<Key, SealError> {
        use aes_gcm::KeyInit;
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(bytes)
            .map_err(|_| SealError::Key(format!("expected 32 bytes, got {}", bytes.len())))?;
        // A one-way name for the key: it tells which key sealed a value and nothing about the key.
        let digest = Sha256::new().chain_update(b"bankd master key id\0").chain_update(bytes).finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Ok(Key { id, cipher })
    }

    fn decode(text: &str) -> Result<Key, SealError> {
        Key::new(&decode_key(text)?)
    }

    fn seal(&self, plaintext: &[u8], aad: &str) -> Vec<u8> {
        use aes_gcm::aead::{Aead, Payload};
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload { msg: plaintext, aad: aad.as_bytes() };
        // Encryption with a valid key and a 12-byte nonce cannot fail for inputs under 64 GiB.
        let ciphertext = self.cipher.encrypt((&nonce).into(), payload).expect("AES-GCM encryption");
        let mut sealed = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ciphertext.len());
        sealed.push(2);
        sealed.extend_from_slice(&self.id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    fn open(&self, nonce_and_ciphertext: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        use aes_gcm::aead::{Aead, Payload};
        if nonce_and_ciphertext.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = nonce_and_ciphertext.split_at(NONCE_LEN);
        self.cipher.decrypt(nonce.into(), Payload { msg: ciphertext, aad: aad.as_bytes() }).map_err(|_| SealError::Open)
    }
}

/// What a sealed value says of itself: the key that sealed it (version 2), and the rest.
fn parse_sealed(sealed: &[u8]) -> Result<(Option<&[u8]>, &[u8]), SealError> {
    match sealed.split_first() {
        Some((1, rest)) => Ok((None, rest)),
        Some((2, rest)) if rest.len() >= KEY_ID_LEN => Ok((Some(&rest[..KEY_ID_LEN]), &rest[KEY_ID_LEN..])),
        _ => Err(SealError::Open),
    }
}

impl Keyring {
    fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.primary).chain(&self.retiring)
    }

    fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        let (id, rest) = parse_sealed(sealed)?;
        let mut keys = self.keys().filter(|key| id.is_none_or(|id| id == key.id));
        keys.find_map(|key| key.open(rest, aad).ok()).ok_or(SealError::Open)
    }
}

impl KeyOrigin {
    fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.data_dir.join(NEXT_KEY_FILE)];
        if self.env_value.is_none() {
            files.push(self.data_dir.join(KEY_FILE));
        }
        files
    }

    fn stamps(&self) -> Vec<Option<(std::time::SystemTime, u64)>> {
        let stamp = |path: &PathBuf| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        self.files().iter().map(stamp).collect()
    }

    /// The ring as the files say now; `None` when no key is there.
    fn read(&self) -> Result<Option<Keyring>, SealError> {
        let current = match &self.env_value {
            Some(text) => Some(Key::decode(text)?),
            None => read_key_file(&self.data_dir.join(KEY_FILE))?,
        };
        let next = read_key_file(&self.data_dir.join(NEXT_KEY_FILE))?;
        Ok(match (next, current) {
            (Some(next), current) => {
                let retiring = current.filter(|current| current.id != next.id);
                Some(Keyring { primary: next, retiring })
            }
            (None, Some(current)) => Some(Keyring { primary: current, retiring: None }),
            (None, None) => None,
        })
    }
}

fn decode_key(text: &str) -> Result<Vec<u8>, SealError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| SealError::Key(format!("not base64: {e}")))
}

fn read_key_file(path: &Path) -> Result<Option<Key>, SealError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Key::decode(&text).map(Some).map_err(|e| SealError::Key(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SealError::Key(format!("reading {}: {e}", path.display()))),
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, SealError> {
        let ring = Keyring { primary: Key::new(bytes)?, retiring: None };
        Ok(MasterKey { ring: RwLock::new(Arc::new(ring)), origin: None })
    }

    pub fn from_base64(text: &str) -> Result<MasterKey, SealError> {
        MasterKey::from_bytes(&decode_key(text)?)
    }

    /// `BANKD_MASTER_KEY` if set, else `<data_dir>/master.key` (and `master.key.next` during a
    /// rotation); `None` when no key is there.
    pub fn load_existing(env_value: Option<&str>, data_dir: &Path) -> Result<Option<MasterKey>, SealError> {
        let origin = KeyOrigin {
            env_value: env_value.map(str::to_owned),
            data_dir: data_dir.to_owned(),
            seen: Mutex::default(),
        };
        let seen = origin.stamps();
        let Some(ring) = origin.read()? else { return Ok(None) };
        *origin.seen.lock().unwrap_or_else(|e| e.into_inner()) = seen;
        Ok(Some(MasterKey { ring: RwLock::new(Arc::new(ring)), origin: Some(origin) }))
    }

    /// `BANKD_MASTER_KEY` if set, else `<data_dir>/master.key`, generated (mode 0600) on first start.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<MasterKey, SealError> {
        if let Some(key) = MasterKey::load_existing(env_value, data_dir)? {
            return Ok(key);
        }
        let path = data_dir.join(KEY_FILE);
        match write_private(&path, &random_key()) {
            Ok(()) => {}
            // Another process sharing the data dir wrote it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(SealError::Key(format!("writing {}: {e}", path.display()))),
        }
        tracing::warn!(
            path = %path.display(),
            "BANKD_MASTER_KEY is not set: generated a master key; back it up, without it stored credentials cannot be read"
        );
        MasterKey::load_existing(None, data_dir)?.ok_or_else(|| SealError::Key(format!("{} vanished", path.display())))
    }

    /// The ring to use now: read again when its files changed since it was read. A file being
    /// rewritten can read short for an instant; the ring in hand is kept then, and read next time.
    fn ring(&self) -> Arc<Keyring> {
        let current = self.ring.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(origin) = &self.origin else { return current };
        let stamps = origin.stamps();
        let mut seen = origin.seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == stamps {
            return current;
        }
        match origin.read() {
            Ok(Some(ring)) => {
                tracing::info!(rotating = ring.retiring.is_some(), "master key files changed: key ring reloaded");
                let ring = Arc::new(ring);
                *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring.clone();
                *seen = stamps;
                ring
            }
            Ok(None) | Err(_) => current,
        }
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Vec<u8> {
        self.ring().primary.seal(plaintext, aad)
    }

    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        self.ring().open(sealed, aad)
    }

    /// `sealed` under the sealing key: `None` when it already is, else opened and sealed again.
    pub fn reseal(&self, sealed: &[u8], aad: &str) -> Result<Option<Vec<u8>>, SealError> {
        let ring = self.ring();
        if parse_sealed(sealed)?.0 == Some(&ring.primary.id[..]) {
            return Ok(None);
        }
        Ok(Some(ring.primary.seal(&ring.open(sealed, aad)?, aad)))
    }
}

/// A new master key, base64 as the key files and `BANKD_MASTER_KEY` hold it.
pub fn random_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A rotation to a new master key. It starts by writing `master.key.next`, which every process
/// sharing the data dir seals with from then on; it ends, once every sealed value is under the new
/// key (the caller's part), by making that file the master key.
pub struct Rotation {
    data_dir: PathBuf,
    from_env: bool,
}

impl Rotation {
    /// Starts a rotation to `new_key` (base64), or resumes the one under way to the same key;
    /// returns it with the ring that seals with the new key and opens with both.
    pub fn begin(env_value: Option<&str>, data_dir: &Path, new_key: &str) -> Result<(Rotation, MasterKey), SealError> {
        let new = Key::decode(new_key)?;
        let current = match env_value {
            Some(text) => Key::decode(text)?,
            None => read_key_file(&data_dir.join(KEY_FILE))?
                .ok_or_else(|| SealError::Key(format!("no master key in {}", data_dir.display())))?,
        };
        if current.id == new.id {
            return Err(SealError::Key("the new key is the master key already".into()));
        }
        let next_path = data_dir.join(NEXT_KEY_FILE);
        match read_key_file(&next_path)? {
            Some(next) if next.id == new.id => tracing::info!("resuming the rotation under way"),
            Some(_) => {
                return Err(SealError::Key(format!(
                    "{} holds another key: a rotation to it is under way, finish it first",
                    next_path.display()
                )));
            }
            None => write_private(&next_path, new_key.trim())
                .map_err(|e| SealError::Key(format!("writing {}: {e}", next_path.display())))?,
        }
        let ring = MasterKey::load_existing(env_value, data_dir)?
            .ok_or_else(|| SealError::Key(format!("{} vanished", next_path.display())))?;
        Ok((Rotation { data_dir: data_dir.to_owned(), from_env: env_value.is_some() }, ring))
    }

    /// Makes the new key the master key: `master.key.next` becomes `master.key`, in one rename every
    /// process sees at once. A key from `BANKD_MASTER_KEY` cannot be replaced from here: then the
    /// file stays (and seals) until the operator has set the new key, and `false` says so.
    pub fn finish(self) -> Result<bool, SealError> {
        if self.from_env {
            return Ok(false);
        }
        let (next, current) = (self.data_dir.join(NEXT_KEY_FILE), self.data_dir.join(KEY_FILE));
        std::fs::rename(&next, &current).map_err(|e| SealError::Key(format!("renaming {}: {e}", next.display())))?;
        Ok(true)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
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

    #[test]
    fn version_1_values_still_open() {
        let key = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let v2 = key.seal(b"secret", "here");
        let v1: Vec<u8> = std::iter::once(1).chain(v2[1 + KEY_ID_LEN..].iter().copied()).collect();
        assert_eq!(key.open(&v1, "here").unwrap(), b"secret");
        assert!(key.reseal(&v1, "here").unwrap().is_some(), "a version 1 value is sealed again, with a key id");
    }

    #[test]
    fn a_running_ring_follows_a_rotation_and_the_old_key_opens_nothing_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let server = MasterKey::load(None, dir.path()).unwrap();
        let old_text = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        let old = MasterKey::from_base64(&old_text).unwrap();
        let before = server.seal(b"before", "a");

        let new_text = random_key();
        assert!(Rotation::begin(None, dir.path(), &old_text).is_err(), "the same key is refused");
        let (rotation, ring) = Rotation::begin(None, dir.path(), &new_text).unwrap();
        let during = server.seal(b"during", "b");
        assert!(old.open(&during, "b").is_err(), "the server seals with the next key as soon as it is there");
        assert_eq!(server.open(&before, "a").unwrap(), b"before", "and still opens what the old one sealed");
        assert!(Rotation::begin(None, dir.path(), &random_key()).is_err(), "one rotation at a time");
        let (_, resumed) = Rotation::begin(None, dir.path(), &new_text).unwrap();
        assert!(resumed.reseal(&during, "b").unwrap().is_none(), "resuming skips what is done");

        let after = ring.reseal(&before, "a").unwrap().unwrap();
        assert!(rotation.finish().unwrap());
        assert!(!dir.path().join(NEXT_KEY_FILE).exists());
        assert_eq!(std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(), new_text);
        for (sealed, aad) in [(&after, "a"), (&during, "b")] {
            assert!(old.open(sealed, aad).is_err());
            assert!(server.open(sealed, aad).is_ok());
        }
        assert!(server.open(&before, "a").is_err(), "after the rotation the server holds the new key alone");
    }

    #[test]
    fn a_rotation_from_bankd_master_key_leaves_the_next_key_sealing_until_the_operator_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let old_text = random_key();
        let server = MasterKey::load(Some(&old_text), dir.path()).unwrap();
        let before = server.seal(b"before", "a");
        let new_text = random_key();
        let (rotation, ring) = Rotation::begin(Some(&old_text), dir.path(), &new_text).unwrap();
        let after = ring.reseal(&before, "a").unwrap().unwrap();
        assert!(!rotation.finish().unwrap(), "the key in the environment cannot be replaced from here");
        assert!(dir.path().join(NEXT_KEY_FILE).exists() && !dir.path().join(KEY_FILE).exists());
        assert!(server.open(&after, "a").is_ok(), "the next key seals and opens until the operator has moved it");
        let restarted = MasterKey::load(Some(&new_text), dir.path()).unwrap();
        assert_eq!(restarted.open(&after, "a").unwrap(), b"before", "then BANKD_MASTER_KEY=new is enough");
        assert!(MasterKey::from_base64(&old_text).unwrap().open(&after, "a").is_err());
    }
}
