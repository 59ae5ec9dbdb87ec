//! ed25519 signing keys and their small text files.
//!
//! - public key, `NAME.pub`: `rackhand-ed25519 <key id> <32-byte public key in hex>`
//! - secret key, `NAME.key` (mode 0600): `rackhand-ed25519-secret <key id> <32-byte seed in hex>`
//!
//! The key id is the first 8 bytes of the BLAKE3 hash of the public key, in hex: short enough to read out,
//! long enough that two keys of one site do not collide. A file whose id does not match its key is refused.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const PUBLIC_TAG: &str = "rackhand-ed25519";
const SECRET_TAG: &str = "rackhand-ed25519-secret";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{what}: not a Rackhand key file: {reason}")]
    Format { what: String, reason: String },
    #[error("{what}: the file says key id {stated} but the key's id is {actual}")]
    IdMismatch { what: String, stated: String, actual: String },
    #[error("no operating system randomness for a new key: {0}")]
    Randomness(getrandom::Error),
    #[error("{}: no `*.pub` key files there", dir.display())]
    NoKeys { dir: PathBuf },
}

/// A public key that manifests may be signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl PublicKey {
    pub fn from_key(key: VerifyingKey) -> Self {
        Self { id: key_id(&key), key }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The `NAME.pub` text, one line.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_TAG} {} {}\n", self.id, hex::encode(self.key.as_bytes()))
    }

    /// Parses `NAME.pub` text; `what` names it in errors (usually the path).
    pub fn parse(text: &str, what: &str) -> Result<Self, KeyError> {
        let bytes = parse_line(text, PUBLIC_TAG, what)?;
        let key = VerifyingKey::from_bytes(&bytes.key)
            .map_err(|e| format_error(what, format!("not an ed25519 public key: {e}")))?;
        let public = Self::from_key(key);
        check_id(what, &bytes.stated_id, &public.id)?;
        Ok(public)
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::parse(&read(path)?, &path.display().to_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// A secret signing key. Its `Debug` shows only the key id.
pub struct SecretKey {
    key: SigningKey,
    id: String,
}

impl SecretKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Randomness)?;
        Ok(Self::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        Self { id: key_id(&key.verifying_key()), key }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from_key(self.key.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    /// The `NAME.key` text, one line.
    pub fn to_text(&self) -> String {
        format!("{SECRET_TAG} {} {}\n", self.id, hex::encode(self.key.to_bytes()))
    }

    pub fn parse(text: &str, what: &str) -> Result<Self, KeyError> {
        let bytes = parse_line(text, SECRET_TAG, what)?;
        let secret = Self::from_seed(&bytes.key);
        check_id(what, &bytes.stated_id, &secret.id)?;
        Ok(secret)
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::parse(&read(path)?, &path.display().to_string())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

/// The key id: the first 8 bytes of BLAKE3(public key), in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&blake3::hash(key.as_bytes()).as_bytes()[..8])
}

/// Writes `DIR/NAME.key` (mode 0600) and `DIR/NAME.pub`; existing files are never overwritten.
pub fn write_key_pair(dir: &Path, name: &str, secret: &SecretKey) -> Result<(PathBuf, PathBuf), KeyError> {
    let secret_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));
    write_new(&secret_path, secret.to_text().as_bytes(), 0o600)?;
    write_new(&public_path, secret.public().to_text().as_bytes(), 0o644)?;
    Ok((secret_path, public_path))
}

/// Every `*.pub` key in `dir` (sorted by file name); a dir without any is an error, not an empty trust list.
pub fn load_public_keys_dir(dir: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let io_error = |source| KeyError::Io { path: dir.to_path_buf(), source };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path.extension().is_some_and(|ext| ext == "pub") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(KeyError::NoKeys { dir: dir.to_path_buf() });
    }
    paths.sort();
    paths.iter().map(|path| PublicKey::load(path)).collect()
}

struct KeyLine {
    stated_id: String,
    key: [u8; 32],
}

fn parse_line(text: &str, tag: &str, what: &str) -> Result<KeyLine, KeyError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [found_tag, stated_id, key_hex] = words[..] else {
        return Err(format_error(what, format!("expected one line `{tag} <key id> <hex key>`")));
    };
    if found_tag != tag {
        return Err(format_error(what, format!("starts with `{found_tag}`, expected `{tag}`")));
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(key_hex, &mut key)
        .map_err(|e| format_error(what, format!("key is not 64 hex digits: {e}")))?;
    Ok(KeyLine { stated_id: stated_id.to_string(), key })
}

fn check_id(what: &str, stated: &str, actual: &str) -> Result<(), KeyError> {
    if stated == actual {
        return Ok(());
    }
    Err(KeyError::IdMismatch { what: what.to_string(), stated: stated.to_string(), actual: actual.to_string() })
}

fn format_error(what: &str, reason: String) -> KeyError {
    KeyError::Format { what: what.to_string(), reason }
}

fn read(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let io_error = |source| KeyError::Io { path: path.to_path_buf(), source };
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io_error)?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(io_error)
}
