//! Randomness, hashing and encryption at rest: everything derived from `TESSERA_SECRETS_KEY`.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::SecretString;

/// `n` bytes from the OS CSPRNG, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn random_from(alphabet: &[u8], len: usize) -> String {
    // Rejection sampling keeps every symbol equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// Random letters and digits (Auth0's client ids are 32 of them).
pub fn random_alphanumeric(len: usize) -> String {
    random_from(ALPHANUMERIC, len)
}

/// Random lower-case hex (Auth0's user and API ids).
pub fn random_hex(len: usize) -> String {
    random_from(HEX, len)
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// The hash kept for a client secret: secrets are server-generated with 256 bits of entropy (or
/// at least 32 characters for the bootstrap client), so a fast hash is enough.
pub fn hash_client_secret(secret: &str) -> Vec<u8> {
    sha256(secret.as_bytes())
}

pub fn verify_client_secret(secret: &str, hash: &[u8]) -> bool {
    ct_eq(&hash_client_secret(secret), hash)
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot decrypt a stored secret: wrong TESSERA_SECRETS_KEY, or corrupt data")]
    Decrypt,
    #[error("cannot encrypt")]
    Encrypt,
}

/// Keys derived from `TESSERA_SECRETS_KEY` with HKDF-SHA256, one per purpose.
pub struct Secrets {
    key_encryption: Aes256Gcm,
    /// Seals authorization transactions carried through the login pages.
    transactions: Aes256Gcm,
    /// MACs CSRF tokens.
    csrf: [u8; 32],
    /// MACs refresh tokens (key id `1`).
    refresh: [u8; 32],
}

impl Secrets {
    pub fn new(master: &SecretString) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"tessera/v1"), master.expose().as_bytes());
        let derive = |info: &[u8]| {
            let mut okm = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's output limit.
            let _ = hk.expand(info, &mut okm);
            okm
        };
        Self {
            key_encryption: Aes256Gcm::new(&derive(b"signing-key-encryption").into()),
            transactions: Aes256Gcm::new(&derive(b"authorize-transaction").into()),
            csrf: derive(b"csrf-token"),
            refresh: derive(b"refresh-token-mac/1"),
        }
    }

    /// Seals `data` for a round trip through the browser (base64url, authenticated, private).
    pub fn seal_transaction(&self, data: &[u8]) -> Result<String, SecretsError> {
        seal(&self.transactions, b"txn", data).map(|sealed| b64url(&sealed))
    }

    /// Opens what [`Secrets::seal_transaction`] sealed; `None` if it was altered or is not ours.
    pub fn open_transaction(&self, sealed: &str) -> Option<Vec<u8>> {
        let data = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        open(&self.transactions, b"txn", &data).ok()
    }

    /// The CSRF token that belongs to a CSRF cookie value (HMAC-SHA256).
    pub fn csrf_token(&self, cookie: &str) -> String {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf) else {
            return String::new();
        };
        mac.update(cookie.as_bytes());
        b64url(&mac.finalize().into_bytes())
    }

    /// The refresh-token MAC key with this id, if there is one.
    pub fn refresh_mac_key(&self, kid: &str) -> Option<&[u8; 32]> {
        (kid == "1").then_some(&self.refresh)
    }

    /// The key new refresh tokens are made with (id "1").
    pub fn current_refresh_mac_key(&self) -> &[u8; 32] {
        &self.refresh
    }

    /// Constant-time check of a submitted CSRF token against the cookie.
    pub fn verify_csrf(&self, cookie: &str, token: &str) -> bool {
        !cookie.is_empty() && ct_eq(self.csrf_token(cookie).as_bytes(), token.as_bytes())
    }

    /// AES-256-GCM with a random nonce, bound to `aad` (the key id); output is nonce ‖ ciphertext.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        seal(&self.key_encryption, aad, plaintext)
    }

    pub fn decrypt(&self, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, SecretsError> {
        open(&self.key_encryption, aad, data)
    }
}

fn seal(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SecretsError::Encrypt)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

fn open(cipher: &Aes256Gcm, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, SecretsError> {
    if data.len() < 12 {
        return Err(SecretsError::Decrypt);
    }
    let (nonce, ciphertext) = data.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretsError::Decrypt)?;
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| SecretsError::Decrypt)
}

/// Where the development secrets key lives for a SQLite database URL (`None` for `:memory:`).
pub fn dev_key_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{path}.secret")))
}

/// Reads the development secrets key, creating it (mode 0600) on first use.
pub fn load_or_create_dev_key(path: &Path) -> std::io::Result<SecretString> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(SecretString::new(existing));
        }
    }
    let key = random_token(32);
    write_private(path, &key)?;
    Ok(SecretString::new(key))
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_binds_the_key_id() {
        let secrets = Secrets::new(&SecretString::new("k".repeat(32)));
        let sealed = secrets.encrypt(b"kid-1", b"private").unwrap();
        assert_eq!(secrets.decrypt(b"kid-1", &sealed).unwrap(), b"private");
        assert!(secrets.decrypt(b"kid-2", &sealed).is_err());
        let other = Secrets::new(&SecretString::new("j".repeat(32)));
        assert!(other.decrypt(b"kid-1", &sealed).is_err());
    }

    #[test]
    fn random_ids_have_the_requested_shape() {
        let id = random_alphanumeric(32);
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, random_alphanumeric(32));
        assert!(random_hex(24).chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(random_token(32).len(), 43);
    }

    #[test]
    fn client_secrets_verify_in_constant_time() {
        let hash = hash_client_secret("s3cret");
        assert!(verify_client_secret("s3cret", &hash));
        assert!(!verify_client_secret("s3cres", &hash));
    }

    #[test]
    fn dev_key_path_follows_the_database_file() {
        assert_eq!(
            dev_key_path("sqlite://tessera.db"),
            Some(PathBuf::from("tessera.db.secret"))
        );
        assert_eq!(
            dev_key_path("sqlite:///var/lib/t.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/t.db.secret"))
        );
        assert_eq!(dev_key_path("sqlite::memory:"), None);
        assert_eq!(dev_key_path("postgres://x"), None);
    }
}
