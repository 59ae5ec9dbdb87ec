//! Rackhand image tooling: ed25519 keys, signed manifests, BLAKE3 verified-streaming outboards
//! (bao-tree), publishing into the boot service's images dir, synthetic images for the lab, and a real
//! Debian 12 root filesystem image built with mmdebstrap.

pub mod debian;
pub mod keys;
pub mod outboard;
pub mod publish;
pub mod signing;
pub mod synth;
pub mod verify;

pub use debian::{ROOT_FS_UUID, Recipe};
pub use keys::{KeyError, PublicKey, SecretKey, load_public_keys_dir, write_key_pair};
pub use outboard::{
    CreatedOutboard, ExpectedChunk, OutboardError, chunk_len, create_outboard, expected_chunks, outboard_size,
};
pub use publish::{DEFAULT_CHUNK_SIZE, PublishError, PublishRequest, publish};
pub use signing::{SignManifest, SignatureError};
pub use synth::{BOOT_AREA, has_bootable_mbr, parse_size, synth_image};
pub use verify::{VerifyError, verify_published};

/// The smaller of `count` bytes and `limit`, as a length: how much of what is left fits in a buffer. A count
/// too large for `usize` is larger than any limit, so the conversion cuts nothing off.
pub fn min_len(count: u64, limit: usize) -> usize {
    usize::try_from(count).map_or(limit, |count| count.min(limit))
}

#[cfg(test)]
mod tests {
    use super::min_len;

    #[test]
    fn min_len_is_the_smaller_without_truncating() {
        assert_eq!(min_len(3, 4096), 3);
        assert_eq!(min_len(1 << 20, 4096), 4096);
        assert_eq!(min_len(u64::MAX, 4096), 4096);
        assert_eq!(min_len(0, 0), 0);
    }
}
