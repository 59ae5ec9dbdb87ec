//! `images publish`: copy an image into `<images_dir>/NAME/`, compute its outboard, sign its manifest.

use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use rackhand_api::{IMAGE_FILE, MANIFEST_FILE, Manifest, ManifestError, OUTBOARD_FILE};

use crate::keys::SecretKey;
use crate::outboard::{block_size, create_outboard};
use crate::signing::SignManifest;

/// The default chunk group: 64 KiB. The outboard is 1/1024 of the image, and the installer's table of
/// expected hashes 1 MiB of RAM per GiB of image (16 KiB groups took four times both, and a tenth
/// of the time an install of a warm 1 GiB image took went to checking the outboard); a lost connection
/// resumes at most 64 KiB back.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("image name `{0}`: must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with `.`")]
    Name(String),
    #[error(transparent)]
    ChunkSize(#[from] crate::outboard::OutboardError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Debug)]
pub struct PublishRequest<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub image: &'a Path,
    pub key: &'a SecretKey,
    pub images_dir: &'a Path,
    pub chunk_size: u64,
}

/// Writes `<images_dir>/NAME/{image,outboard,manifest}` and returns the signed manifest. Each file is written
/// under a temporary name and renamed into place, the manifest last, so a reader never sees a manifest
/// before the files it describes.
pub fn publish(request: &PublishRequest<'_>) -> Result<Manifest, PublishError> {
    if !rackhand_api::is_image_name(request.name) {
        return Err(PublishError::Name(request.name.to_string()));
    }
    block_size(request.chunk_size)?;
    let dir = request.images_dir.join(request.name);
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let staged_image = dir.join(format!(".{IMAGE_FILE}.new"));
    fs::copy(request.image, &staged_image).map_err(io_error(request.image))?;

    // Hash the copy, not the source, so the outboard describes exactly the bytes being published.
    let image = File::open(&staged_image).map_err(io_error(&staged_image))?;
    let size = image.metadata().map_err(io_error(&staged_image))?.len();
    let outboard = create_outboard(BufReader::with_capacity(1 << 20, image), size, request.chunk_size)
        .map_err(io_error(&staged_image))?;

    let mut manifest = Manifest {
        name: request.name.to_string(),
        version: request.version.to_string(),
        size,
        chunk_size: request.chunk_size,
        blake3: outboard.root.to_hex().to_string(),
        image_url: IMAGE_FILE.to_string(),
        outboard_url: OUTBOARD_FILE.to_string(),
        key_id: String::new(),
        signature: String::new(),
    };
    manifest.sign(request.key)?;
    let mut manifest_json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serializes");
    manifest_json.push(b'\n');

    let staged_outboard = stage(&dir, OUTBOARD_FILE, &outboard.bytes)?;
    let staged_manifest = stage(&dir, MANIFEST_FILE, &manifest_json)?;
    for (staged, name) in
        [(staged_image, IMAGE_FILE), (staged_outboard, OUTBOARD_FILE), (staged_manifest, MANIFEST_FILE)]
    {
        fs::rename(&staged, dir.join(name)).map_err(io_error(&staged))?;
    }
    Ok(manifest)
}

fn stage(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, PublishError> {
    let path = dir.join(format!(".{name}.new"));
    let mut file = File::create(&path).map_err(io_error(&path))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(io_error(&path))?;
    Ok(path)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PublishError + '_ {
    move |source| PublishError::Io { path: path.to_path_buf(), source }
}
