//! Credentials at rest: authenticated encryption of plugin credentials with a host-held key.
//!
//! Format of a sealed value: `"v1:" + base64(nonce || ciphertext)`, where the cipher is
//! XChaCha20-Poly1305 (24-byte random nonce, so random nonces never realistically collide),
//! `ciphertext` includes the 16-byte Poly1305 tag, base64 is the standard alphabet with
//! padding, and the associated data is `"scimgw-secret-v1"` plus an optional caller-supplied
//! context (see [`SecretBox::seal_with_context`]).
//!
//! The key file holds 32 random bytes as base64 (one line), mode 0600.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const PREFIX: &str = "v1:";
const AAD_V1: &[u8] = b"scimgw-secret-v1";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why a key could not be loaded or created, or a sealed value not opened. The texts never contain the
/// key or a plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key is not valid base64")]
    KeyNotBase64,
    #[error("secret key must be {KEY_LEN} bytes (base64-encoded), got {0} bytes")]
    KeyLength(usize),
    #[error("cannot read key file {}: {error}", .path.display())]
    ReadKeyFile { path: PathBuf, error: std::io::Error },
    #[error("cannot create directory {}: {error}", .path.display())]
    CreateDir { path: PathBuf, error: std::io::Error },
    #[error("cannot generate a key: {0}")]
    GenerateKey(getrandom::Error),
    #[error("cannot create key file {}: {error}", .path.display())]
    CreateKeyFile { path: PathBuf, error: std::io::Error },
    #[error("cannot write key file {}: {error}", .path.display())]
    WriteKeyFile { path: PathBuf, error: std::io::Error },
    /// The key file stayed unreadable or invalid while another process may have been writing it.
    #[error("key file {}: {reason}", .path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("sealed secret has unknown version '{0}' (expected v1)")]
    UnknownVersion(String),
    #[error("sealed secret is not in a known format (expected 'v1:...')")]
    UnknownFormat,
    #[error("sealed secret is corrupted (invalid base64)")]
    CorruptBase64,
    #[error("sealed secret is corrupted (too short)")]
    TooShort,
    #[error("cannot decrypt sealed secret: wrong key, wrong context, or the value was tampered with")]
    Decrypt,
    #[error("decrypted secret is not valid UTF-8")]
    NotUtf8,
}

/// Encrypts and decrypts credentials with a 32-byte key. `Debug` never prints the key.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox").field("key", &"<redacted>").finish()
    }
}

fn aad(context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_V1.len() + 1 + context.len());
    aad.extend_from_slice(AAD_V1);
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

impl SecretBox {
    /// Key given as base64 (standard alphabet, padding optional) of exactly 32 bytes.
    /// Surrounding whitespace is ignored. Error messages never contain the key.
    /// A fingerprint of the key (16 hex digits of a domain-separated SHA-256): enough to tell two keys
    /// apart, nothing about the key itself.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"scimgw-credential-key-fingerprint-v1\0");
        h.update(self.key);
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_key_b64(key: &str) -> Result<SecretBox, SecretError> {
        let trimmed = key.trim();
        let bytes = B64
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .map_err(|_| SecretError::KeyNotBase64)?;
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| SecretError::KeyLength(bytes.len()))?;
        Ok(SecretBox { key })
    }

    /// Loads the key file, or creates it (32 random bytes, base64, mode 0600, parent dirs
    /// created with mode 0700) when missing. Creation uses `create_new`, so two processes
    /// racing to create the file end up sharing the one that won. A key file readable by group
    /// or others is still loaded, with a warning.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, SecretError> {
        let shown = path.display();
        match fs::read_to_string(path) {
            Ok(text) => {
                warn_if_too_open(path);
                return match SecretBox::from_key_b64(&text) {
                    Ok(sb) => Ok(sb),
                    // Possibly another process that has just created the file and is still
                    // writing it.
                    Err(_) => load_racing(path),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(SecretError::ReadKeyFile { path: path.to_owned(), error }),
        }

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_dirs(parent).map_err(|error| SecretError::CreateDir { path: parent.to_owned(), error })?;
        }

        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(SecretError::GenerateKey)?;
        let encoded = B64.encode(key);

        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = match options.open(path) {
            Ok(file) => file,
            // Someone else created it between our read and our create: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return load_racing(path),
            Err(error) => return Err(SecretError::CreateKeyFile { path: path.to_owned(), error }),
        };
        // Exactly 0600, whatever the umask.
        #[cfg(unix)]
        let written = {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(fs::Permissions::from_mode(0o600))
        };
        #[cfg(not(unix))]
        let written: std::io::Result<()> = Ok(());
        let written =
            written.and_then(|()| file.write_all(format!("{encoded}\n").as_bytes())).and_then(|()| file.sync_all());
        if let Err(error) = written {
            drop(file);
            // Do not leave a truncated key behind for the next start to load.
            let _removed = fs::remove_file(path);
            return Err(SecretError::WriteKeyFile { path: path.to_owned(), error });
        }
        sync_parent_dir(path);
        tracing::info!(path = %shown, "created a new credential encryption key");
        Ok(SecretBox { key })
    }

    /// Encrypts `plaintext` with a fresh random nonce: `"v1:" + base64(nonce || ciphertext)`.
    pub fn seal(&self, plaintext: &str) -> String {
        self.seal_with_context(plaintext, "")
    }

    /// Decrypts a value produced by [`SecretBox::seal`]. Errors are clear (unknown version,
    /// malformed, wrong key or tampered) and never contain the plaintext or the key.
    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        self.open_with_context(sealed, "")
    }

    /// Like [`SecretBox::seal`], but binds the value to `context` (for example
    /// `"tenant-id/credential-name"`) as associated data, so a sealed value copied to another
    /// row does not open there. Open it with [`SecretBox::open_with_context`] and the same
    /// context.
    pub fn seal_with_context(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        // The OS random source failing is unrecoverable; encrypting with a predictable nonce
        // would be far worse than stopping.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let cipher = XChaCha20Poly1305::new(&self.key.into());
        let aad = aad(context);
        let xnonce = XNonce::from(nonce);
        // Encryption only fails for plaintexts beyond the AEAD's size limit (~256 GiB), which a
        // `&str` credential cannot reach in practice.
        #[allow(clippy::expect_used)]
        let ciphertext = cipher
            .encrypt(&xnonce, Payload { msg: plaintext.as_bytes(), aad: &aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory string");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Opens a value sealed with [`SecretBox::seal_with_context`] and the same `context`.
    pub fn open_with_context(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let sealed = sealed.trim();
        let Some(encoded) = sealed.strip_prefix(PREFIX) else {
            let version = sealed
                .split_once(':')
                .map(|(v, _)| v)
                .filter(|v| v.len() <= 8 && v.chars().all(|c| c.is_ascii_alphanumeric()));
            return Err(match version {
                Some(v) => SecretError::UnknownVersion(v.to_owned()),
                None => SecretError::UnknownFormat,
            });
        };
        let raw = B64.decode(encoded).map_err(|_| SecretError::CorruptBase64)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::TooShort);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::TooShort)?;
        let nonce = XNonce::from(nonce);
        let cipher = XChaCha20Poly1305::new(&self.key.into());
        let aad = aad(context);
        let plaintext =
            cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: &aad }).map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::NotUtf8)
    }
}

/// Another process created the key file first and may still be writing it: give it up to
/// about a second to become a valid key. A key file that stays invalid is reported, never
/// replaced.
fn load_racing(path: &Path) -> Result<SecretBox, SecretError> {
    let mut last = String::new();
    for _ in 0..20 {
        match fs::read_to_string(path) {
            Ok(text) => match SecretBox::from_key_b64(&text) {
                Ok(sb) => return Ok(sb),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(SecretError::KeyFile { path: path.to_owned(), reason: last })
}

/// Best effort: make the new directory entry durable, so a crash right after startup does not
/// lose the key (and with it every credential sealed under it).
#[cfg(unix)]
fn sync_parent_dir(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
        && let Err(e) = dir.sync_all()
    {
        tracing::debug!(error = %e, "could not fsync the key file's directory");
    }
}

#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) {}

#[cfg(unix)]
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn warn_if_too_open(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "credential key file is readable by group or others; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_too_open(_path: &Path) {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let mut rnd = [0u8; 8];
            getrandom::fill(&mut rnd).unwrap();
            let dir = std::env::temp_dir().join(format!(
                "scimgw-secrets-test-{}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst),
                hex::encode(rnd)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _removed = fs::remove_dir_all(&self.0);
        }
    }

    fn key_b64(byte: u8) -> String {
        B64.encode([byte; 32])
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let sb = SecretBox::from_key_b64(&key_b64(7)).unwrap();
        for plaintext in ["", "s3cr3t", "ünïcødé 🔑", &"x".repeat(10_000)] {
            let sealed = sb.seal(plaintext);
            assert!(sealed.starts_with("v1:"));
            assert!(!sealed.contains(plaintext) || plaintext.is_empty());
            assert_eq!(sb.open(&sealed).unwrap(), plaintext);
        }
        // Same plaintext twice gives different ciphertexts (random nonce).
        assert_ne!(sb.seal("same"), sb.seal("same"));
        // Layout: 24-byte nonce + ciphertext + 16-byte tag.
        let raw = B64.decode(&sb.seal("abc")[3..]).unwrap();
        assert_eq!(raw.len(), 24 + 3 + 16);
    }

    #[test]
    fn tampering_is_detected() {
        let sb = SecretBox::from_key_b64(&key_b64(1)).unwrap();
        let sealed = sb.seal("api-key-123");
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        for i in [0, 23, 24, raw.len() - 1] {
            raw[i] ^= 0x01;
            let err = sb.open(&format!("v1:{}", B64.encode(&raw))).unwrap_err().to_string();
            assert!(err.contains("tampered"), "{err}");
            assert!(!err.contains("api-key-123"));
            raw[i] ^= 0x01;
        }
        let truncated = format!("v1:{}", B64.encode(&raw[..raw.len() - 1]));
        assert!(sb.open(&truncated).unwrap_err().to_string().contains("tampered"));
        assert!(sb.open("v1:AAAA").unwrap_err().to_string().contains("too short"));
        assert!(sb.open("v1:not base64!").unwrap_err().to_string().contains("invalid base64"));
        assert_eq!(sb.open("v2:abcd").unwrap_err().to_string(), "sealed secret has unknown version 'v2' (expected v1)");
        assert!(sb.open("plaintext-secret").unwrap_err().to_string().contains("known format"));
        assert!(!sb.open("plaintext-secret").unwrap_err().to_string().contains("plaintext-secret"));
    }

    #[test]
    fn wrong_key_is_rejected() {
        let a = SecretBox::from_key_b64(&key_b64(1)).unwrap();
        let b = SecretBox::from_key_b64(&key_b64(2)).unwrap();
        let err = b.open(&a.seal("hunter2")).unwrap_err().to_string();
        assert!(err.contains("wrong key"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn context_binds_the_value() {
        let sb = SecretBox::from_key_b64(&key_b64(3)).unwrap();
        let sealed = sb.seal_with_context("tok", "tenant-a/lms-api");
        assert_eq!(sb.open_with_context(&sealed, "tenant-a/lms-api").unwrap(), "tok");
        assert!(sb.open_with_context(&sealed, "tenant-b/lms-api").is_err());
        assert!(sb.open(&sealed).is_err());
    }

    #[test]
    fn key_parsing_errors_do_not_echo_the_key() {
        let short = B64.encode([9u8; 16]);
        let err = SecretBox::from_key_b64(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes") && err.contains("16"), "{err}");
        assert!(!err.contains(&short));
        assert!(SecretBox::from_key_b64("%%%").unwrap_err().to_string().contains("base64"));
        // Whitespace and missing padding are tolerated.
        let k = key_b64(5);
        assert!(SecretBox::from_key_b64(&format!("  {k}\n")).is_ok());
        assert!(SecretBox::from_key_b64(k.trim_end_matches('=')).is_ok());
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let sb = SecretBox::from_key_b64(&key_b64(0xAB)).unwrap();
        let s = format!("{sb:?}");
        assert_eq!(s, "SecretBox { key: \"<redacted>\" }");
        assert!(!s.contains("171") && !s.contains("ab"));
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let tmp = TempDir::new();
        let path = tmp.0.join("nested/dir/secret.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(B64.decode(text.trim()).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
            assert_eq!(dir_mode & 0o077, 0);
        }
        let sealed = first.seal("persisted");
        let second = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(second.open(&sealed).unwrap(), "persisted");
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "key file must not be rewritten");
    }

    #[test]
    fn concurrent_creation_yields_one_key() {
        let tmp = TempDir::new();
        let path = tmp.0.join("keys/secret.key");
        let boxes: Vec<SecretBox> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| SecretBox::load_or_create(&path).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sealed = boxes[0].seal("shared");
        for b in &boxes {
            assert_eq!(b.open(&sealed).unwrap(), "shared");
        }
    }

    #[test]
    fn corrupt_key_file_is_an_error_not_replaced() {
        let tmp = TempDir::new();
        let path = tmp.0.join("secret.key");
        fs::write(&path, "not-a-key").unwrap();
        let err = SecretBox::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("secret.key"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not-a-key");
    }
}
