//! Writing a verified image to the target, the first MiB last.
//!
//! The rule: nothing is written to the target's first MiB (partition table and boot loader) until every
//! byte of the image has been verified. Refusals before streaming (manifest, signature, outboard, target
//! size) write nothing at all. A refusal while streaming (corrupt chunk, truncation, lost connection) leaves
//! the first MiB as it was; blocks after it up to the failing one may have been written, and the node is
//! reported failed, so the boot service never sends it to boot that disk.
//!
//! The stages overlap, joined by bounded channels and a fixed pool of block buffers: a fetch thread fills
//! blocks from a streamed source (a source with random access needs none, see [`super::verify`]), a worker
//! per core verifies whole blocks, the calling thread puts them back in image order, holds back the first
//! MiB and reports progress, and writer threads write verified blocks (direct I/O where they can, see
//! [`DiskTarget`]). A dry run's target (`/dev/null`) is written nothing, so its workers hash the bytes a
//! local file has cached where they lie and leave the blocks unfilled (see [`super::verify`]).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use images::{BOOT_AREA, expected_chunks, min_len, outboard_size};
use rackhand_api::{ImageResult, Manifest};

use super::buffer::{AlignedBuf, Block};
use super::error::ImageError;
use super::source::ImageSource;
use super::stream::{BlockFetcher, fetch_blocks};
use super::target::DiskTarget;
use super::verify::{Check, Claims, read_and_verify, verifiers, verify_fetched};

/// Bytes per block: the unit fetched, verified (by one core) and written. A power of two, so a whole number
/// of chunk groups (or one chunk group, when those are larger). Every block wakes three threads on its way,
/// so small blocks cost context switches, and every pool buffer is fresh memory to fault in, so large ones
/// cost page faults: verifying a warm 1 GiB image measured fastest at 2 MiB (1 and 4 MiB ~7% slower).
const BLOCK_SIZE: usize = 2 << 20;
/// Bytes per block in a dry run of a local image, whose blocks are hashed where they lie in the page cache
/// and whose buffers stay untouched (unless the file is not cached there: then they are read into).
const IN_PLACE_BLOCK_SIZE: usize = 16 << 20;
/// Writer threads: two writes in flight keep a disk's queue busy where one leaves gaps between requests.
const WRITERS: usize = 2;
/// Bytes per write request: disks and virtio queues take 1 MiB requests best (4 MiB ones measured slower).
const WRITE_SIZE: usize = 1 << 20;

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
    let chunk_len = images::chunk_len(chunk_size).map_err(outboard_error)?;
    let url = source.image_url().to_string();
    // A source with random access is read by the verifying workers; its length is checked first.
    let random_access = source.read_at().map(|reader| reader.size());
    match random_access {
        Some(stored) if stored < size => return Err(ImageError::Truncated { url, offset: stored, size }),
        Some(stored) if stored > size => return Err(ImageError::TooLong { url, size }),
        _ => {}
    }
    // A dry run of a local image hashes it where it lies (see `verify.rs`): larger blocks then only mean
    // fewer hand-overs between threads, ~7 thread switches a block.
    let in_place = random_access.is_some() && target.discards();
    let block_size = min_len(size.max(1), if in_place { IN_PLACE_BLOCK_SIZE } else { BLOCK_SIZE }.max(chunk_len));
    let verifiers = verifiers();
    // One per worker, one queued for and one per writer; a streamed source adds the one being fetched
    // and the one queued for the workers. More only adds fresh memory to fault in.
    let fetching = if random_access.is_some() { 0 } else { 2 };
    let blocks = min_len(size.div_ceil(block_size as u64) + 1, verifiers + WRITERS + 1 + fetching);
    let (pool, empties) = channel();
    for _ in 0..blocks {
        pool.send(AlignedBuf::zeroed(block_size)).expect("the receiver is here");
    }
    let check = Check { chunks: &chunks, chunk_len, url: &url };
    let (to_writers, to_write) = sync_channel(1);
    // Shared by the writers and dropped with the last of them, so the caller's sends fail when they stop.
    let to_write = Arc::new(Mutex::new(to_write));
    let (verified, from_verifiers) = sync_channel(verifiers);
    progress(0, size);

    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (to_write, pool) = (to_write.clone(), pool.clone());
                scope.spawn(move || write_blocks(target, &to_write, pool))
            })
            .collect();
        drop((pool, to_write));
        let check = &check;
        if random_access.is_some() {
            let reader = source.read_at().expect("a source keeps its random access");
            let claims = Arc::new(Claims { reader, next: AtomicU64::new(0), size, block_size, in_place });
            let empties = Arc::new(Mutex::new(empties));
            for _ in 0..verifiers {
                let (claims, empties, verified) = (claims.clone(), empties.clone(), verified.clone());
                scope.spawn(move || read_and_verify(check, &claims, &empties, verified));
            }
        } else {
            let fetcher = BlockFetcher::new(source, size, chunk_size);
            let (fetched, to_verify) = sync_channel(1);
            scope.spawn(move || fetch_blocks(fetcher, size, block_size, empties, fetched));
            let to_verify = Arc::new(Mutex::new(to_verify));
            for _ in 0..verifiers {
                let (to_verify, verified) = (to_verify.clone(), verified.clone());
                scope.spawn(move || verify_fetched(check, to_verify, verified));
            }
        }
        drop(verified);
        let mut boot_area = AlignedBuf::zeroed(size.min(BOOT_AREA) as usize);
        let verify_result = in_image_order(from_verifiers, to_writers, &mut boot_area, &mut progress, size, &url);
        let write_results = writers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        // A writer's failure stops everything else, so it is the one to report.
        write_results.fold(Ok(()), Result::and).and(verify_result)?;

        // Every byte is verified and written past the first MiB; now the part that makes the disk bootable.
        target.write_at(0, boot_area.as_slice()).map_err(|source| ImageError::TargetWrite { offset: 0, source })
    })
}

/// The calling thread's part: takes verified blocks as the workers finish them, and hands them to the
/// writers in image order, less their part of the first MiB, which it keeps in `boot_area`. Returns at
/// the first error, which stops the workers (their sends fail) and, once they have drained, the writers.
/// `Ok` means every byte was verified, or that the writers stopped (their error is the one reported).
pub(super) fn in_image_order(
    from_verifiers: Receiver<Result<Block, ImageError>>,
    to_writers: SyncSender<Block>,
    boot_area: &mut AlignedBuf,
    progress: &mut impl FnMut(u64, u64),
    size: u64,
    url: &str,
) -> Result<(), ImageError> {
    let mut waiting = BTreeMap::new();
    let mut done = 0;
    for block in from_verifiers {
        let block = block?;
        waiting.insert(block.offset, block);
        while let Some(mut block) = waiting.remove(&done) {
            done += block.len as u64;
            if block.offset < BOOT_AREA {
                block.held = min_len(BOOT_AREA - block.offset, block.len);
                let at = usize::try_from(block.offset).expect("an offset in the boot area is below 1 MiB");
                boot_area.as_mut_slice()[at..at + block.held].copy_from_slice(&block.buf.as_slice()[..block.held]);
            }
            if to_writers.send(block).is_err() {
                return Ok(()); // a writer failed; its error is reported by the caller
            }
            progress(done, size);
        }
    }
    match done {
        done if done == size => Ok(()),
        // The workers stopped without an error, or with a block missing: only a panic does that.
        done => Err(ImageError::Unfinished { url: url.to_string(), offset: done, size }),
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
