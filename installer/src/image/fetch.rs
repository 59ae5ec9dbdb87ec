//! Fetching and trusting a manifest: `GET {server}/images/{name}/manifest`, signed by a key baked into the
//! initramfs, and for the image that was asked for.

use std::path::Path;

use images::{PublicKey, SignManifest, SignatureError};
use rackhand_api::Manifest;

use super::error::ImageError;
use super::source::http_agent;
use super::url::manifest_url;

/// A manifest is a few hundred bytes; anything much larger is not one.
pub(super) const MANIFEST_LIMIT: u64 = 64 << 10;

/// Every `*.pub` key in `dir`; none at all is an error, never "trust nothing, so check nothing".
pub fn load_trusted_keys(dir: &Path) -> Result<Vec<PublicKey>, ImageError> {
    Ok(images::load_public_keys_dir(dir)?)
}

/// Fetches the manifest of `image_name`, checks its signature against `trusted` and that it names
/// `image_name`. Nothing is written anywhere.
pub fn fetch_manifest(server_url: &str, image_name: &str, trusted: &[PublicKey]) -> Result<Manifest, ImageError> {
    if !rackhand_api::is_image_name(image_name) {
        return Err(ImageError::InvalidName(image_name.to_string()));
    }
    let url = manifest_url(server_url, image_name);
    let fetch_error = |reason: String| ImageError::ManifestFetch { url: url.clone(), reason };
    let mut response = http_agent().get(&url).call().map_err(|e| fetch_error(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ImageError::ManifestStatus { url, status });
    }
    let body = response.body_mut().with_config().limit(MANIFEST_LIMIT).read_to_vec();
    let body = body.map_err(|e| fetch_error(e.to_string()))?;
    check_manifest(&body, &url, image_name, trusted)
}

/// Parses `body` (the manifest found at `url`), checks its signature against `trusted` and that it names
/// `image_name`.
pub(super) fn check_manifest(
    body: &[u8],
    url: &str,
    image_name: &str,
    trusted: &[PublicKey],
) -> Result<Manifest, ImageError> {
    let url = url.to_string();
    let manifest: Manifest = serde_json::from_slice(body)
        .map_err(|e| ImageError::ManifestParse { url: url.clone(), reason: e.to_string() })?;
    manifest.verify(trusted).map_err(|e| signature_error(&url, &manifest.key_id, e))?;
    if manifest.name != image_name {
        return Err(ImageError::WrongImage { url, expected: image_name.to_string(), found: manifest.name });
    }
    Ok(manifest)
}

fn signature_error(url: &str, key_id: &str, error: SignatureError) -> ImageError {
    let url = url.to_string();
    match error {
        SignatureError::InvalidField(source) => ImageError::InvalidManifest { url, source },
        SignatureError::UntrustedKey { key_id, trusted } => ImageError::UntrustedKey { url, key_id, trusted },
        SignatureError::BadSignature { key_id } => ImageError::BadSignature { url, key_id },
        SignatureError::MalformedSignature => ImageError::BadSignature { url, key_id: key_id.to_string() },
    }
}
