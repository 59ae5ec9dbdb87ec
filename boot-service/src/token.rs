//! Secrets: the admin token from the config and the credentials minted for nodes (the installer's node
//! token, the installed OS's deploy credential and agent token). A secret never prints: its `Debug` is
//! redacted, and only a BLAKE3 hash of a minted credential is stored.

use std::fmt;

use rand::RngCore;
use subtle::ConstantTimeEq;

/// A secret string compared in constant time and never shown in logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The raw value, for the one place that must put it on the wire (the kernel command line).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A fresh credential for a node: 32 random bytes, hex.
pub fn new_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(hex::encode(bytes))
}

/// What the store keeps of a minted credential.
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Whether `presented` is the token whose hash is `stored`, compared in constant time.
pub fn token_matches_hash(presented: &str, stored: &str) -> bool {
    hash_token(presented).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2-hunter2-hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(secret.matches("hunter2-hunter2-hunter2"));
        assert!(!secret.matches("hunter2"));
    }

    #[test]
    fn node_tokens_are_unique_and_verified_by_hash() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        let stored = hash_token(a.expose());
        assert!(token_matches_hash(a.expose(), &stored));
        assert!(!token_matches_hash(b.expose(), &stored));
    }
}
