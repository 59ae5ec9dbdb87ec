//! The lab's OS image: a deterministic synthetic disk image (real MBR, pseudo-random payload) published
//! as `rackhand-base` with a signed manifest, and the key that signed it, which the initramfs trusts.
//! The lab key is derived from a fixed seed: it guards nothing but the lab, and every build agrees on it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use images::{PublicKey, PublishRequest, SecretKey, publish, synth_image};
use rackhand_api::Manifest;

/// The image the lab profile (`qemu-lab`) installs.
pub const IMAGE_NAME: &str = "rackhand-base";
pub const IMAGE_VERSION: &str = "lab-1";
pub const IMAGE_SIZE: u64 = 48 << 20;
/// The real OS image: a Debian 12 ext4 root filesystem (UUID `images::ROOT_FS_UUID`), built with
/// mmdebstrap from the host's Debian mirror (needs root).
pub const OS_IMAGE_NAME: &str = "debian-12";
const KEY_SEED: [u8; 32] = *b"rackhand-lab-signing-key-seed-01";

pub struct PublishedImage {
    pub images_dir: PathBuf,
    pub public_key: PathBuf,
    pub manifest: Manifest,
}

/// The key every lab image is signed with at publish time (the initramfs trusts it).
pub fn lab_public_key() -> PublicKey {
    SecretKey::from_seed(&KEY_SEED).public()
}

/// The lab key's public half as `lab_dir/keys/lab.pub`, the file the initramfs trusts; its path.
pub fn write_lab_key(lab_dir: &Path) -> anyhow::Result<PathBuf> {
    let keys_dir = lab_dir.join("keys");
    std::fs::create_dir_all(&keys_dir)?;
    let public_key = keys_dir.join("lab.pub");
    std::fs::write(&public_key, lab_public_key().to_text())?;
    Ok(public_key)
}

/// Publish the lab image under `lab_dir/images` (and its key under `lab_dir/keys`).
pub fn publish_lab_image(lab_dir: &Path) -> anyhow::Result<PublishedImage> {
    let key = SecretKey::from_seed(&KEY_SEED);
    let public_key = write_lab_key(lab_dir)?;
    let raw = lab_dir.join("cache").join(format!("{IMAGE_NAME}.img"));
    if std::fs::metadata(&raw).map(|m| m.len()).ok() != Some(IMAGE_SIZE) {
        std::fs::create_dir_all(raw.parent().expect("cache dir"))?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&raw)?);
        synth_image(&mut out, IMAGE_SIZE, 7).context("writing the lab image")?;
        std::io::Write::flush(&mut out)?;
    }
    let images_dir = lab_dir.join("images");
    let manifest = publish(&PublishRequest {
        name: IMAGE_NAME,
        version: IMAGE_VERSION,
        image: &raw,
        key: &key,
        images_dir: &images_dir,
        chunk_size: images::DEFAULT_CHUNK_SIZE,
    })
    .context("publishing the lab image")?;
    Ok(PublishedImage { images_dir, public_key, manifest })
}

/// Build the Debian image (cached as `lab_dir/cache/debian-12.img` beside its `.recipe`, packages under
/// `lab_dir/cache/debian/debs`; a rebuild with an unchanged recipe is free) and publish it as `debian-12`
/// under `lab_dir/images`, beside `rackhand-base`, signed with the lab key. Its version names the
/// recipe's fingerprint.
pub fn publish_os_image(lab_dir: &Path) -> anyhow::Result<PublishedImage> {
    let key = SecretKey::from_seed(&KEY_SEED);
    let public_key = write_lab_key(lab_dir)?;
    let cache = lab_dir.join("cache");
    std::fs::create_dir_all(&cache)?;
    let raw = os_image_raw(lab_dir);
    let recipe = images::Recipe::from_host();
    images::debian::build(&recipe, &raw, Some(&cache.join("debian")))
        .with_context(|| format!("building the Debian image {}", raw.display()))?;
    let images_dir = lab_dir.join("images");
    let version = format!("bookworm-{}", &recipe.fingerprint()[..16]);
    let manifest = publish(&PublishRequest {
        name: OS_IMAGE_NAME,
        version: &version,
        image: &raw,
        key: &key,
        images_dir: &images_dir,
        chunk_size: images::DEFAULT_CHUNK_SIZE,
    })
    .context("publishing the Debian image")?;
    Ok(PublishedImage { images_dir, public_key, manifest })
}

/// The raw file of the Debian image [`publish_os_image`] builds and publishes.
pub fn os_image_raw(lab_dir: &Path) -> PathBuf {
    lab_dir.join("cache").join(format!("{OS_IMAGE_NAME}.img"))
}

/// A copy of image `name` of `images_dir` with one byte of the image flipped at `offset` (manifest and
/// outboard as they were), for a lab that serves a corrupt image.
pub fn corrupt_copy(images_dir: &Path, name: &str, into: &Path, offset: u64) -> anyhow::Result<PathBuf> {
    let dir = into.join(name);
    std::fs::create_dir_all(&dir)?;
    for file in [rackhand_api::MANIFEST_FILE, rackhand_api::OUTBOARD_FILE, rackhand_api::IMAGE_FILE] {
        std::fs::copy(images_dir.join(name).join(file), dir.join(file))?;
    }
    let image = dir.join(rackhand_api::IMAGE_FILE);
    let mut bytes = std::fs::read(&image)?;
    let at = usize::try_from(offset)?;
    bytes[at] ^= 0x5a;
    std::fs::write(&image, bytes)?;
    Ok(into.to_owned())
}
