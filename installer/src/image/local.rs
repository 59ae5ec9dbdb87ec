//! Images on local media (a USB stick, a cache partition, or the page cache in a benchmark): a directory laid
//! out as `images publish` writes it, `<dir>/<name>/{manifest,image,outboard}`. The manifest is checked
//! against the trusted keys exactly as one fetched over HTTP, and the bytes are verified the same way.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use images::PublicKey;
use rackhand_api::{IMAGE_FILE, ImageResult, MANIFEST_FILE, Manifest, OUTBOARD_FILE};

use super::direct_read::CacheSparingFile;
use super::error::ImageError;
use super::fetch::{MANIFEST_LIMIT, check_manifest};
use super::install_image;
use super::source::{ImageBody, ImageSource, ReadAt};

/// The image and outboard files of one published image. The image is read at any offset from any thread
/// ([`ReadAt`]), so the installer reads and verifies it on every core.
pub struct FileImageSource {
    image: ImageFile,
    outboard: PathBuf,
    outboard_name: String,
}

/// The open image file (read around the page cache where it can be), its length when opened, and its path
/// for messages.
struct ImageFile {
    file: CacheSparingFile,
    size: u64,
    name: String,
}

impl FileImageSource {
    /// Opens the image published in `image_dir` (the directory holding `manifest`, `image` and `outboard`).
    pub fn open(image_dir: &Path) -> Result<Self, ImageError> {
        let (image, outboard) = (image_dir.join(IMAGE_FILE), image_dir.join(OUTBOARD_FILE));
        let name = image.display().to_string();
        let read_error = |source| ImageError::Read { url: name.clone(), offset: 0, source };
        let file = CacheSparingFile::open(&image).map_err(read_error)?;
        let size = file.buffered().metadata().map_err(read_error)?.len();
        let outboard_name = outboard.display().to_string();
        Ok(Self { image: ImageFile { file, size, name }, outboard, outboard_name })
    }
}

impl ImageSource for FileImageSource {
    fn image_url(&self) -> &str {
        &self.image.name
    }

    fn outboard_url(&self) -> &str {
        &self.outboard_name
    }

    fn fetch_outboard(&mut self, max_len: u64) -> Result<Vec<u8>, ImageError> {
        let read_error =
            |e: std::io::Error| ImageError::OutboardFetch { url: self.outboard_name.clone(), reason: e.to_string() };
        let mut outboard = Vec::new();
        File::open(&self.outboard).and_then(|f| f.take(max_len + 1).read_to_end(&mut outboard)).map_err(read_error)?;
        Ok(outboard)
    }

    /// The file as a stream from `offset` (the installer reads it with [`ReadAt`] instead).
    fn open_image(&mut self, offset: u64) -> Result<ImageBody, ImageError> {
        let name = &self.image.name;
        let read_error = |source| ImageError::Read { url: name.clone(), offset, source };
        let mut file = self.image.file.buffered().try_clone().map_err(read_error)?;
        file.seek(SeekFrom::Start(offset)).map_err(read_error)?;
        Ok(ImageBody { reader: Box::new(file), length: Some(self.image.size.saturating_sub(offset)) })
    }

    fn read_at(&self) -> Option<&dyn ReadAt> {
        Some(&self.image)
    }
}

impl ReadAt for ImageFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ImageError> {
        self.file.read_exact_at(buf, offset).map_err(|source| match source.kind() {
            // The file shrank under us: its length was checked against the manifest before reading.
            ErrorKind::UnexpectedEof => {
                let end = self.file.buffered().metadata().map_or(offset, |m| m.len());
                ImageError::Truncated { url: self.name.clone(), offset: end, size: self.size }
            }
            _ => ImageError::Read { url: self.name.clone(), offset, source },
        })
    }

    fn cached_slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
        self.file.cached_slice(offset, len)
    }
}

/// Reads and checks the manifest of `image_name` in `images_dir`: signed by a `trusted` key, naming that image.
pub fn read_manifest(images_dir: &Path, image_name: &str, trusted: &[PublicKey]) -> Result<Manifest, ImageError> {
    if !rackhand_api::is_image_name(image_name) {
        return Err(ImageError::InvalidName(image_name.to_string()));
    }
    let path = images_dir.join(image_name).join(MANIFEST_FILE);
    let name = path.display().to_string();
    let mut body = Vec::new();
    File::open(&path)
        .and_then(|f| f.take(MANIFEST_LIMIT).read_to_end(&mut body))
        .map_err(|e| ImageError::ManifestFetch { url: name.clone(), reason: e.to_string() })?;
    check_manifest(&body, &name, image_name, trusted)
}

/// [`read_manifest`], then streams the image onto `device` exactly as [`super::install_from_server`] does.
pub fn install_from_dir(
    images_dir: &Path,
    image_name: &str,
    trusted: &[PublicKey],
    device: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<ImageResult, ImageError> {
    let manifest = read_manifest(images_dir, image_name, trusted)?;
    let mut source = FileImageSource::open(&images_dir.join(image_name))?;
    install_image(&manifest, &mut source, device, progress)
}
