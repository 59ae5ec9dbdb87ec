//! Writing a verified image to the target, the first MiB last.
//!
//! The rule: nothing is written to the target's first MiB (partition table and boot loader) until every
//! byte of the image has been verified. Refusals before streaming (manifest, signature, outboard, target
//! size) write nothing at all. A refusal while streaming (corrupt chunk, truncation, lost connection) leaves
//! the first MiB as it was; bytes after it up to the failing chunk may have been written, and the node is
//! reported failed, so the boot service never sends it to boot that disk.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use images::{BOOT_AREA, expected_chunks, outboard_size};
use rackhand_api::{ImageResult, Manifest};

use super::error::ImageError;
use super::source::ImageSource;
use super::stream::{VerifiedReader, into_image_error};

/// Bytes moved per read and per write.
const COPY_BUFFER: usize = 1 << 20;

/// Streams the image of `manifest` from `source` to `target`, verifying every chunk group before it is
/// written and holding back the first MiB until the whole image is verified (see the module docs).
/// `progress(done, total)` is called after every buffer. Flushes, but does not fsync: see [`install_image`].
pub fn write_image<S: ImageSource, T: Write + Seek>(
    manifest: &Manifest,
    source: &mut S,
    target: &mut T,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), ImageError> {
    let outboard_url = source.outboard_url().to_string();
    let outboard_error = |source| ImageError::OutboardInvalid { url: outboard_url.clone(), source };
    let expected_len = outboard_size(manifest.size, manifest.chunk_size).map_err(outboard_error)?;
    let outboard = source.fetch_outboard(expected_len)?;
    let chunks =
        expected_chunks(&outboard, manifest.size, manifest.chunk_size, &manifest.blake3).map_err(outboard_error)?;
    drop(outboard);

    let image_url = source.image_url().to_string();
    let mut verified = VerifiedReader::new(source, manifest.size, manifest.chunk_size, chunks);
    let mut boot_area = Vec::with_capacity(manifest.size.min(BOOT_AREA) as usize);
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut done = 0u64;
    progress(0, manifest.size);
    loop {
        let n = verified.read(&mut buffer).map_err(|e| into_image_error(e, &image_url, done))?;
        if n == 0 {
            break;
        }
        let mut data = &buffer[..n];
        if done < BOOT_AREA {
            let held = data.len().min((BOOT_AREA - done) as usize);
            boot_area.extend_from_slice(&data[..held]);
            data = &data[held..];
            if done + held as u64 == BOOT_AREA {
                target.seek(SeekFrom::Start(BOOT_AREA)).map_err(|source| write_error(BOOT_AREA, source))?;
            }
        }
        let data_offset = done + (n - data.len()) as u64;
        target.write_all(data).map_err(|source| write_error(data_offset, source))?;
        done += n as u64;
        progress(done, manifest.size);
    }
    // `done == size` here: the verified reader ends only after the last chunk group has been checked.
    target.seek(SeekFrom::Start(0)).map_err(|source| write_error(0, source))?;
    target.write_all(&boot_area).map_err(|source| write_error(0, source))?;
    target.flush().map_err(|source| write_error(done, source))
}

/// [`write_image`] to the file or block device at `device`, then fsync. Refuses a block device smaller than
/// the image before writing anything.
pub fn install_image<S: ImageSource>(
    manifest: &Manifest,
    source: &mut S,
    device: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<ImageResult, ImageError> {
    let name = device.display().to_string();
    let open_error = |source| ImageError::TargetOpen { device: name.clone(), source };
    let mut target = OpenOptions::new().write(true).open(device).map_err(open_error)?;
    if target.metadata().map_err(open_error)?.file_type().is_block_device() {
        let capacity = target.seek(SeekFrom::End(0)).map_err(open_error)?;
        if capacity < manifest.size {
            return Err(ImageError::TargetTooSmall { device: name, capacity, size: manifest.size });
        }
    }
    write_image(manifest, source, &mut target, progress)?;
    target.sync_all().map_err(|source| ImageError::TargetSync { device: name.clone(), source })?;
    Ok(ImageResult {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        blake3: manifest.blake3.clone(),
        device: name,
    })
}

fn write_error(offset: u64, source: std::io::Error) -> ImageError {
    ImageError::TargetWrite { offset, source }
}
