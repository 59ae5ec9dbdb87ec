//! Signing and checking manifests. The wire type lives in `rackhand-api` (plain data, no crypto); this
//! extension trait gives it `sign` and `verify`.

use ed25519_dalek::Signature;
use rackhand_api::{Manifest, ManifestError};

use crate::keys::{PublicKey, SecretKey};

/// Why a manifest's signature is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(transparent)]
    InvalidField(#[from] ManifestError),
    #[error("signed by key {key_id}, which is not one of the trusted keys ({trusted})")]
    UntrustedKey { key_id: String, trusted: String },
    #[error("signature is not 128 hex digits")]
    MalformedSignature,
    #[error("signature does not match the manifest's contents for key {key_id} (tampered or signed by another key)")]
    BadSignature { key_id: String },
}

pub trait SignManifest {
    /// Sets `key_id` and `signature` from `key` over [`Manifest::signed_bytes`].
    fn sign(&mut self, key: &SecretKey) -> Result<(), ManifestError>;

    /// Checks the fields' form and the signature against the trusted key with the manifest's key id; returns
    /// that key.
    fn verify<'k>(&self, trusted: &'k [PublicKey]) -> Result<&'k PublicKey, SignatureError>;
}

impl SignManifest for Manifest {
    fn sign(&mut self, key: &SecretKey) -> Result<(), ManifestError> {
        self.key_id = key.id().to_string();
        self.check()?;
        self.signature = hex::encode(key.sign(&self.signed_bytes()).to_bytes());
        Ok(())
    }

    fn verify<'k>(&self, trusted: &'k [PublicKey]) -> Result<&'k PublicKey, SignatureError> {
        self.check()?;
        let Some(key) = trusted.iter().find(|key| key.id() == self.key_id) else {
            let trusted = trusted.iter().map(PublicKey::id).collect::<Vec<_>>().join(", ");
            return Err(SignatureError::UntrustedKey { key_id: self.key_id.clone(), trusted });
        };
        let mut bytes = [0u8; 64];
        if self.signature.len() != 128 || self.signature.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(SignatureError::MalformedSignature);
        }
        hex::decode_to_slice(&self.signature, &mut bytes).map_err(|_| SignatureError::MalformedSignature)?;
        key.verifying_key()
            .verify_strict(&self.signed_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| SignatureError::BadSignature { key_id: self.key_id.clone() })?;
        Ok(key)
    }
}
