//! Writing a verified image to the target, the first MiB last.
//!
//! The rule: nothing is written to the target's first MiB (partition table and boot loader) until every
//! byte of the image has been verified. Refusals before streaming (manifest, signature, outboard, target
//! size) write nothing at all. A refusal while streaming (corrupt chunk, truncation, lost connection) leaves
//! the first MiB as it was; blocks after it up to the failing one may have been written, and the node is
//! reported failed, so the boot service never sends it to boot that disk.
//!
//! Three stages overlap, joined by bounded channels and a fixed pool of [`BLOCK_SIZE`] buffers:
//! a fetch thread fills blocks from the source, the calling thread verifies each block's chunk groups on
//! every core (rayon) and reports progress, a writer thread writes verified blocks (direct I/O where it
//! can, see [`DiskTarget`]).

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use images::{BOOT_AREA, ExpectedChunk, expected_chunks, outboard_size};
use rackhand_api::{ImageResult, Manifest};
use rayon::prelude::*;

use super::buffer::AlignedBuf;
use super::error::ImageError;
use super::source::ImageSource;
use super::stream::BlockFetcher;
use super::target::DiskTarget;

/// Bytes per block: the unit fetched, verified and written. A power of two, so a whole number of chunk
/// groups (or one chunk group, when those are larger).
const BLOCK_SIZE: u64 = 1 << 20;
/// Writer threads: two writes in flight keep a disk's queue busy where one leaves gaps between requests.
const WRITERS: usize = 2;
/// Bytes per write request: disks and virtio queues take 1 MiB requests best (4 MiB ones measured slower).
const WRITE_SIZE: usize = 1 << 20;
/// Blocks in the pool: one being fetched, one verified, one per writer, and one queued between stages.
const BLOCKS: usize = 4 + WRITERS;

/// The image's bytes `buf[..len]` from image offset `offset`; `buf[..held]` is the held-back boot area.
struct Block {
    offset: u64,
    buf: AlignedBuf,
    len: usize,
    held: usize,
}

/// Streams the image of `manifest` from `source` onto the file or block device at `device`, verifying
/// every chunk group before it is written and the first MiB last (see the module docs), then fsyncs.
/// `progress(done, total)` is called after every verified block.
pub fn install_image<S: ImageSource + Send>(
    manifest: &Manifest,
    source: &mut S,
    device: &std::path::Path,
    progress: impl FnMut(u64, u64),
) -> Result<ImageResult, ImageError> {
    let target = DiskTarget::open(device, manifest.size)?;
    write_image(manifest, source, &target, progress)?;
    target.sync()?;
    Ok(ImageResult {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        blake3: manifest.blake3.clone(),
        device: target.name().to_string(),
    })
}

fn write_image<S: ImageSource + Send>(
    manifest: &Manifest,
    source: &mut S,
    target: &DiskTarget,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), ImageError> {
    let outboard_url = source.outboard_url().to_string();
    let outboard_error = |source| ImageError::OutboardInvalid { url: outboard_url.clone(), source };
    let expected_len = outboard_size(manifest.size, manifest.chunk_size).map_err(outboard_error)?;
    let outboard = source.fetch_outboard(expected_len)?;
    let chunks =
        expected_chunks(&outboard, manifest.size, manifest.chunk_size, &manifest.blake3).map_err(outboard_error)?;
    drop(outboard);

    let (size, chunk_size) = (manifest.size, manifest.chunk_size);
    let block_size = BLOCK_SIZE.max(chunk_size).min(size.max(1));
    let url = source.image_url().to_string();
    let mut boot_area = AlignedBuf::zeroed(size.min(BOOT_AREA) as usize);
    let (pool, empties) = channel();
    for _ in 0..BLOCKS.min(size.div_ceil(block_size) as usize + 1) {
        pool.send(AlignedBuf::zeroed(block_size as usize)).expect("the receiver is here");
    }
    let (fetched, to_verify) = sync_channel(1);
    let (verified, to_write) = sync_channel(1);
    let to_write = Mutex::new(to_write);
    progress(0, size);

    std::thread::scope(|scope| {
        let fetcher = BlockFetcher::new(source, size, chunk_size);
        scope.spawn(move || fetch_blocks(fetcher, size, block_size, empties, fetched));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (to_write, pool) = (&to_write, pool.clone());
                scope.spawn(move || write_blocks(target, to_write, pool))
            })
            .collect();
        drop(pool);
        let verify_result = (|| {
            for block in to_verify.iter() {
                let mut block = block?;
                verify_block(&chunks, chunk_size, &block, &url)?;
                let done = block.offset + block.len as u64;
                if block.offset < BOOT_AREA {
                    block.held = (BOOT_AREA - block.offset).min(block.len as u64) as usize;
                    let at = block.offset as usize;
                    boot_area.as_mut_slice()[at..at + block.held].copy_from_slice(&block.buf.as_slice()[..block.held]);
                }
                if verified.send(block).is_err() {
                    break; // the writer failed; its error is reported below
                }
                progress(done, size);
            }
            Ok(())
        })();
        drop((verified, to_verify));
        let write_results = writers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        write_results.fold(verify_result, Result::and)
    })?;

    // Every byte is verified and written past the first MiB; now the part that makes the disk bootable.
    target.write_at(0, boot_area.as_slice()).map_err(|source| ImageError::TargetWrite { offset: 0, source })
}

/// The fetch thread: fills pool buffers block by block and sends them on; an error ends it, sent on too.
fn fetch_blocks<S: ImageSource>(
    mut fetcher: BlockFetcher<'_, S>,
    size: u64,
    block_size: u64,
    empties: Receiver<AlignedBuf>,
    fetched: SyncSender<Result<Block, ImageError>>,
) {
    let mut offset = 0;
    while offset < size {
        let Ok(mut buf) = empties.recv() else { return }; // the writer has stopped
        let len = (size - offset).min(block_size) as usize;
        let block = fetcher.fill(offset, &mut buf.as_mut_slice()[..len]).map(|()| Block { offset, buf, len, held: 0 });
        let failed = block.is_err();
        if fetched.send(block).is_err() || failed {
            return;
        }
        offset += len as u64;
    }
    if let Err(e) = fetcher.finish() {
        let _ = fetched.send(Err(e));
    }
}

/// Checks every chunk group of `block` on all cores; the first group that does not match is the error.
fn verify_block(chunks: &[ExpectedChunk], chunk_size: u64, block: &Block, url: &str) -> Result<(), ImageError> {
    let first = (block.offset / chunk_size) as usize;
    let count = (block.len as u64).div_ceil(chunk_size) as usize;
    let expected = &chunks[first..first + count];
    let data = &block.buf.as_slice()[..block.len];
    let bad = data.par_chunks(chunk_size as usize).zip(expected).position_first(|(data, chunk)| !chunk.matches(data));
    match bad.map(|i| &expected[i]) {
        None => Ok(()),
        Some(chunk) => Err(ImageError::CorruptChunk {
            url: url.to_string(),
            index: chunk.index,
            offset: chunk.offset,
            end: chunk.end(),
        }),
    }
}

/// A writer thread: writes verified blocks (less their held-back part) and returns the buffers to the pool.
fn write_blocks(
    target: &DiskTarget,
    blocks: &Mutex<Receiver<Block>>,
    pool: Sender<AlignedBuf>,
) -> Result<(), ImageError> {
    loop {
        let Ok(block) = blocks.lock().expect("no writer panics holding it").recv() else { return Ok(()) };
        let start = block.offset + block.held as u64;
        let data = &block.buf.as_slice()[block.held..block.len];
        for (i, piece) in data.chunks(WRITE_SIZE).enumerate() {
            let at = start + (i * WRITE_SIZE) as u64;
            target.write_at(at, piece).map_err(|source| ImageError::TargetWrite { offset: at, source })?;
        }
        let _ = pool.send(block.buf);
    }
}
