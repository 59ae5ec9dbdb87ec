//! Where an image's parts are: the manifest's URL on the boot service, and the image and outboard URLs a
//! manifest names, resolved against it. Pure string work.

use rackhand_api::MANIFEST_FILE;

/// `{server}/images/{name}/manifest`.
pub fn manifest_url(server_url: &str, image_name: &str) -> String {
    format!("{}/images/{image_name}/{MANIFEST_FILE}", server_url.trim_end_matches('/'))
}

/// Resolves a manifest's `image_url`/`outboard_url` against the manifest's own URL: `http://...` as it is,
/// `/path` on the same server, anything else next to the manifest.
pub fn resolve_url(manifest_url: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    if reference.starts_with('/') {
        let after_scheme = manifest_url.find("://").map_or(0, |i| i + 3);
        let origin_end = manifest_url[after_scheme..].find('/').map_or(manifest_url.len(), |i| after_scheme + i);
        return format!("{}{reference}", &manifest_url[..origin_end]);
    }
    let dir_end = manifest_url.rfind('/').map_or(manifest_url.len(), |i| i + 1);
    format!("{}{reference}", &manifest_url[..dir_end])
}
