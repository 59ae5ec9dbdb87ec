//! Verified image streaming for the installer's apply step.
//!
//! 1. [`fetch_manifest`]: `GET {server}/images/{name}/manifest`, signed by a key from [`rackhand_api::initramfs::TRUSTED_KEYS_DIR`],
//!    naming the image that was asked for.
//! 2. [`install_image`]: fetch the outboard, check it against the manifest's BLAKE3 root, then stream the
//!    image in blocks (HTTP body → [`ImageSource`] with Range resume → a verifying worker per core →
//!    back in image order → direct-I/O writes), each chunk group checked before it is written and the first
//!    MiB held back until everything is verified (the rule is in [`write`](mod@write)'s docs). A local image
//!    ([`FileImageSource`]) is read by the verifying workers themselves, each block where it is checked,
//!    around the page cache where the cache does not hold it already (see `direct_read.rs`).
//!
//! [`install_from_server`] does both and returns what the node registration reports.

mod buffer;
mod direct_read;
mod error;
mod fetch;
mod http_body;
mod local;
mod source;
mod stream;
mod target;
mod url;
mod verify;
pub mod write;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::ImageError;
pub use fetch::{fetch_manifest, load_trusted_keys};
pub use images::PublicKey;
pub use local::{FileImageSource, install_from_dir, read_manifest};
pub use rackhand_api::{ImageResult, Manifest};
pub use source::{HttpImageSource, ImageBody, ImageSource, RetryPolicy};
pub use url::{manifest_url, resolve_url};
pub use write::install_image;

/// Fetches and checks the manifest of `image_name` from the first of `servers` (boot-service instances'
/// base URLs) that serves a good one, then streams the image onto `device` from whichever answers.
pub fn install_from_server(
    servers: &[String],
    image_name: &str,
    trusted: &[PublicKey],
    device: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<ImageResult, ImageError> {
    install_from_server_with(servers, image_name, trusted, device, RetryPolicy::default(), progress)
}

/// [`install_from_server`] with a retry policy for lost connections.
pub fn install_from_server_with(
    servers: &[String],
    image_name: &str,
    trusted: &[PublicKey],
    device: &Path,
    retry: RetryPolicy,
    progress: impl FnMut(u64, u64),
) -> Result<ImageResult, ImageError> {
    let manifest = fetch_manifest_from_any(servers, image_name, trusted)?;
    let mirrors: Vec<String> = servers.iter().map(|server| manifest_url(server, image_name)).collect();
    let mut source = HttpImageSource::new(&mirrors, &manifest).with_retry_policy(retry);
    install_image(&manifest, &mut source, device, progress)
}

/// The manifest from the first server that serves a good one; the first server's error when none does.
fn fetch_manifest_from_any(
    servers: &[String],
    image_name: &str,
    trusted: &[PublicKey],
) -> Result<Manifest, ImageError> {
    let mut first_error = None;
    for server in servers {
        match fetch_manifest(server, image_name, trusted) {
            Ok(manifest) => return Ok(manifest),
            Err(err) => {
                tracing::warn!(%server, %err, "no good manifest here");
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error
        .unwrap_or_else(|| ImageError::ManifestFetch { url: String::new(), reason: "no server to ask".into() }))
}
