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
pub use outboard::{CreatedOutboard, ExpectedChunk, OutboardError, create_outboard, expected_chunks, outboard_size};
pub use publish::{DEFAULT_CHUNK_SIZE, PublishError, PublishRequest, publish};
pub use signing::{SignManifest, SignatureError};
pub use synth::{BOOT_AREA, has_bootable_mbr, parse_size, synth_image};
pub use verify::{VerifyError, verify_published};
