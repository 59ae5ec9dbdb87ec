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
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

use images::{BOOT_AREA, expected_chunks, outboard_size};
use rackhand_api::{ImageResult, Manifest};

use super::error::ImageError;
use super::source::ImageSource;
use super::stream::{VerifiedReader, into_image_error};

/// Bytes moved per read and per write.
const COPY_BUFFER: usize = 1 << 20;
/// Verified buffers waiting for the writer: fetching and verifying overlap with writing.
const PIPELINE_DEPTH: usize = 4;

/// A verified piece of the image for the writer thread: `buf[range]` belongs at `offset`.
struct Block {
    offset: u64,
    buf: Vec<u8>,
    range: std::ops::Range<usize>,
}

/// Streams the image of `manifest` from `source` to `target`, verifying every chunk group before it is
/// written and holding back the first MiB until the whole image is verified (see the module docs).
/// Fetching + verifying runs on the calling thread, writing on a second one, so the two overlap.
/// `progress(done, total)` is called after every verified buffer. Flushes, but does not fsync: see
/// [`install_image`].
pub fn write_image<S: ImageSource, T: Write + Seek + Send>(
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
    let (full, for_writer) = sync_channel::<Block>(PIPELINE_DEPTH);
    let (recycle, empties) = channel::<Vec<u8>>();
    progress(0, manifest.size);

    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_behind(&mut *target, for_writer, recycle));
        let mut done = 0u64;
        let read_result = loop {
            let mut buf = empties.try_recv().unwrap_or_else(|_| vec![0u8; COPY_BUFFER]);
            let n = match verified.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(into_image_error(e, &image_url, done)),
            };
            let held = if done < BOOT_AREA { n.min((BOOT_AREA - done) as usize) } else { 0 };
            boot_area.extend_from_slice(&buf[..held]);
            let block = Block { offset: done + held as u64, buf, range: held..n };
            done += n as u64;
            if !block.range.is_empty() && full.send(block).is_err() {
                break Ok(()); // the writer failed; its error is reported below
            }
            progress(done, manifest.size);
        };
        drop(full);
        let write_result = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read_result.and(write_result)
    })?;

    // Every byte is verified and written past the first MiB; now the part that makes the disk bootable.
    target.seek(SeekFrom::Start(0)).map_err(|source| write_error(0, source))?;
    target.write_all(&boot_area).map_err(|source| write_error(0, source))?;
    target.flush().map_err(|source| write_error(manifest.size, source))
}

/// The writer thread: writes blocks in order as they arrive, hands emptied buffers back for reuse.
fn write_behind<T: Write + Seek>(
    target: &mut T,
    blocks: Receiver<Block>,
    recycle: Sender<Vec<u8>>,
) -> Result<(), ImageError> {
    let mut position = None;
    for block in blocks {
        if position != Some(block.offset) {
            target.seek(SeekFrom::Start(block.offset)).map_err(|source| write_error(block.offset, source))?;
        }
        target.write_all(&block.buf[block.range.clone()]).map_err(|source| write_error(block.offset, source))?;
        position = Some(block.offset + block.range.len() as u64);
        let _ = recycle.send(block.buf);
    }
    Ok(())
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
