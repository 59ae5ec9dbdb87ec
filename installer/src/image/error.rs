//! Everything that can stop an image install, each saying what and where.

use std::io;

use images::{KeyError, OutboardError};
use rackhand_api::ManifestError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image name `{0}`: must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with `.`")]
    InvalidName(String),
    #[error("trusted keys: {0}")]
    TrustedKeys(#[from] KeyError),
    #[error("fetching manifest {url}: {reason}")]
    ManifestFetch { url: String, reason: String },
    #[error("manifest {url}: HTTP status {status}")]
    ManifestStatus { url: String, status: u16 },
    #[error("manifest {url} is not a manifest: {reason}")]
    ManifestParse { url: String, reason: String },
    #[error("manifest {url}: {source}")]
    InvalidManifest { url: String, source: ManifestError },
    #[error("manifest {url} is signed by key {key_id}, which is not trusted here (trusted: {trusted})")]
    UntrustedKey { url: String, key_id: String, trusted: String },
    #[error("manifest {url}: the signature does not match its contents for key {key_id}")]
    BadSignature { url: String, key_id: String },
    #[error("manifest {url} is for image `{found}`, not `{expected}`")]
    WrongImage { url: String, expected: String, found: String },
    #[error("fetching outboard {url}: {reason}")]
    OutboardFetch { url: String, reason: String },
    #[error("outboard {url}: {source}")]
    OutboardInvalid { url: String, source: OutboardError },
    #[error("image {url} at byte {offset}: HTTP status {status}")]
    ImageStatus { url: String, offset: u64, status: u16 },
    #[error("image {url}: asked for bytes from {offset} on, the server sent the whole image (no Range support)")]
    RangeIgnored { url: String, offset: u64 },
    #[error("image {url} at byte {offset}: connection failed: {reason}")]
    Connection { url: String, offset: u64, reason: String },
    #[error("image {url}: connection lost at byte {offset}, gave up after {attempts} attempts: {reason}")]
    ConnectionLost { url: String, offset: u64, attempts: u32, reason: String },
    #[error("reading image {url} at byte {offset}: {source}")]
    Read { url: String, offset: u64, source: io::Error },
    #[error("image {url} ends at byte {offset}, the manifest says {size} bytes (truncated)")]
    Truncated { url: String, offset: u64, size: u64 },
    #[error("image {url} has more than the manifest's {size} bytes")]
    TooLong { url: String, size: u64 },
    #[error("image {url}: chunk {index} (bytes {offset}..{end}) does not match the outboard (corrupt)")]
    CorruptChunk { url: String, index: u64, offset: u64, end: u64 },
    #[error("image {url}: verification stopped at byte {offset} of {size}; nothing more was written")]
    Unfinished { url: String, offset: u64, size: u64 },
    #[error("target {device}: {source}")]
    TargetOpen { device: String, source: io::Error },
    #[error("target {device} holds {capacity} bytes, the image needs {size}")]
    TargetTooSmall { device: String, capacity: u64, size: u64 },
    #[error("writing the target at byte {offset}: {source}")]
    TargetWrite { offset: u64, source: io::Error },
    #[error("flushing target {device} to disk: {source}")]
    TargetSync { device: String, source: io::Error },
}
