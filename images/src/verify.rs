//! `images verify`: a published image checked the way the installer will check it.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use rackhand_api::Manifest;

use crate::keys::PublicKey;
use crate::outboard::{OutboardError, chunk_len, expected_chunks};
use crate::signing::{SignManifest, SignatureError};

/// Buffer for reading the image: large reads, hashing is the only per-byte work.
const READ_BUFFER: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("manifest: {0}")]
    Signature(#[from] SignatureError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: image is {actual} bytes, the manifest says {expected}", path.display())]
    Size { path: PathBuf, actual: u64, expected: u64 },
    #[error("{}: {source}", path.display())]
    Outboard { path: PathBuf, source: OutboardError },
    #[error("{}: chunk {index} (bytes {offset}..{end}) does not match the outboard", path.display())]
    CorruptChunk { path: PathBuf, index: u64, offset: u64, end: u64 },
    #[error("{}: BLAKE3 is {actual}, the manifest says {expected}", path.display())]
    Hash { path: PathBuf, actual: String, expected: String },
}

/// Checks the manifest's signature against `trusted`, then the image's size and contents: chunk by chunk
/// against the outboard when one is given (and the outboard against the root hash), else its whole BLAKE3
/// hash. Returns the key that signed the manifest.
pub fn verify_published<'k>(
    manifest: &Manifest,
    trusted: &'k [PublicKey],
    image: &Path,
    outboard: Option<&Path>,
) -> Result<&'k PublicKey, VerifyError> {
    let key = manifest.verify(trusted)?;
    let io_error = |source| VerifyError::Io { path: image.to_path_buf(), source };
    let file = File::open(image).map_err(io_error)?;
    let actual = file.metadata().map_err(io_error)?.len();
    if actual != manifest.size {
        return Err(VerifyError::Size { path: image.to_path_buf(), actual, expected: manifest.size });
    }
    let reader = BufReader::with_capacity(READ_BUFFER, file);
    match outboard {
        Some(outboard) => check_chunks(manifest, reader, image, outboard)?,
        None => check_hash(manifest, reader, image)?,
    }
    Ok(key)
}

fn check_chunks(manifest: &Manifest, mut image: impl Read, path: &Path, outboard: &Path) -> Result<(), VerifyError> {
    let pairs = std::fs::read(outboard).map_err(|source| VerifyError::Io { path: outboard.to_path_buf(), source })?;
    let outboard_error = |source| VerifyError::Outboard { path: outboard.to_path_buf(), source };
    let chunks =
        expected_chunks(&pairs, manifest.size, manifest.chunk_size, &manifest.blake3).map_err(outboard_error)?;
    let mut buffer = vec![0u8; chunk_len(manifest.chunk_size).map_err(outboard_error)?];
    for chunk in chunks {
        let data = &mut buffer[..chunk.len];
        image.read_exact(data).map_err(|source| VerifyError::Io { path: path.to_path_buf(), source })?;
        if !chunk.matches(data) {
            let (index, offset, end) = (chunk.index, chunk.offset, chunk.end());
            return Err(VerifyError::CorruptChunk { path: path.to_path_buf(), index, offset, end });
        }
    }
    Ok(())
}

fn check_hash(manifest: &Manifest, image: impl Read, path: &Path) -> Result<(), VerifyError> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(image).map_err(|source| VerifyError::Io { path: path.to_path_buf(), source })?;
    let actual = hasher.finalize().to_hex().to_string();
    if actual != manifest.blake3 {
        return Err(VerifyError::Hash { path: path.to_path_buf(), actual, expected: manifest.blake3.clone() });
    }
    Ok(())
}
