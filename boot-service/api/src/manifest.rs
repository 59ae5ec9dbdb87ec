//! The signed image manifest: `GET /images/{name}/manifest`.
//!
//! An image called `NAME` is published by `images publish` as three files under the boot service's
//! `boot.images_dir`, served under `/images/`:
//!
//! | file | what |
//! |---|---|
//! | `NAME/manifest` | this type as JSON |
//! | `NAME/image` | the raw image bytes |
//! | `NAME/outboard` | the BLAKE3 verified-streaming outboard (bao-tree pre-order hash pairs, no length prefix) |
//!
//! `image_url` and `outboard_url` are resolved against the manifest's own URL like links in a web page:
//! a plain name (`image`, what `images publish` writes) is a sibling of the manifest, a path starting with
//! `/` is on the same server, and `http://...` is taken as it is.
//!
//! The ed25519 signature covers [`Manifest::signed_bytes`], a fixed-order text encoding of every other
//! field, so it does not depend on how a JSON encoder orders or spaces the fields.

use serde::{Deserialize, Serialize};

/// File names of a published image inside `<images_dir>/NAME/`.
pub const MANIFEST_FILE: &str = "manifest";
pub const IMAGE_FILE: &str = "image";
pub const OUTBOARD_FILE: &str = "outboard";

/// First line of [`Manifest::signed_bytes`]; a new encoding gets a new tag.
pub const MANIFEST_ENCODING: &str = "rackhand-image-manifest-v1";

/// Smallest and largest chunk group (bytes verified as one piece); powers of two.
pub const MIN_CHUNK_SIZE: u64 = 1024;
pub const MAX_CHUNK_SIZE: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The image's name, also its folder under `/images/`: `[A-Za-z0-9._-]`, not starting with `.`.
    pub name: String,
    pub version: String,
    /// Image size in bytes.
    pub size: u64,
    /// Bytes per verified chunk group: a power of two from 1 KiB to 16 MiB.
    pub chunk_size: u64,
    /// BLAKE3 hash of the whole image (the bao tree's root), 64 lowercase hex digits.
    pub blake3: String,
    /// Where the image bytes are, relative to this manifest's URL.
    pub image_url: String,
    /// Where the outboard is, relative to this manifest's URL.
    pub outboard_url: String,
    /// Id of the signing key: the first 8 bytes of the BLAKE3 hash of the ed25519 public key, in hex.
    pub key_id: String,
    /// ed25519 signature over [`Manifest::signed_bytes`], 128 lowercase hex digits.
    pub signature: String,
}

/// A manifest field that cannot be signed or trusted as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest field `{field}`: {reason}")]
pub struct ManifestError {
    pub field: &'static str,
    pub reason: String,
}

impl Manifest {
    /// The bytes the signature covers: the line [`MANIFEST_ENCODING`], then one `field=value` line per field
    /// in declaration order (`name`, `version`, `size`, `chunk_size`, `blake3`, `image_url`, `outboard_url`,
    /// `key_id`), numbers in decimal, each line ending in `\n`. [`Manifest::check`] keeps newlines out of the
    /// values, so the encoding of a checked manifest is unambiguous.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let fields: [(&str, &dyn std::fmt::Display); 8] = [
            ("name", &self.name),
            ("version", &self.version),
            ("size", &self.size),
            ("chunk_size", &self.chunk_size),
            ("blake3", &self.blake3),
            ("image_url", &self.image_url),
            ("outboard_url", &self.outboard_url),
            ("key_id", &self.key_id),
        ];
        let mut text = format!("{MANIFEST_ENCODING}\n");
        for (field, value) in fields {
            text.push_str(&format!("{field}={value}\n"));
        }
        text.into_bytes()
    }

    /// Checks every signed field's form (not the signature: that takes a key).
    pub fn check(&self) -> Result<(), ManifestError> {
        let fail = |field, reason: &str| Err(ManifestError { field, reason: reason.to_string() });
        if !is_image_name(&self.name) {
            return fail("name", "must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with `.`");
        }
        for (field, value) in
            [("version", &self.version), ("image_url", &self.image_url), ("outboard_url", &self.outboard_url)]
        {
            if value.is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
                return fail(field, "must be 1 to 1024 characters without control characters");
            }
        }
        if !self.chunk_size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return fail("chunk_size", "must be a power of two from 1024 to 16777216");
        }
        if !is_lower_hex(&self.blake3, 64) {
            return fail("blake3", "must be 64 lowercase hex digits");
        }
        if !is_lower_hex(&self.key_id, 16) {
            return fail("key_id", "must be 16 lowercase hex digits");
        }
        Ok(())
    }
}

/// Whether `name` can name an image (and so a folder under `/images/`).
pub fn is_image_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
