//! The verifying stage: one worker per core (up to [`MAX_VERIFIERS`]), each taking a whole block at a time
//! and checking every chunk group of it against the outboard. A streamed source's blocks come filled from
//! the fetch thread; a source with random access ([`ReadAt`]) is read by the workers themselves, a
//! [`SEGMENT`] at a time, each segment hashed right after it is read, while it is still in that core's cache.
//! Workers send their blocks (or the first error) to the caller, which puts them back in image order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use images::{ExpectedChunk, min_len};

use super::buffer::{AlignedBuf, Block};
use super::error::ImageError;
use super::source::ReadAt;

/// Verifying workers at most: eight cores verify faster than any disk writes, and each holds a block.
pub(super) const MAX_VERIFIERS: usize = 8;
/// Bytes read and hashed in one go by a worker reading for itself: a core's cache holds it in between.
const SEGMENT: usize = 256 << 10;

/// The workers to run on this machine.
pub(super) fn verifiers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_VERIFIERS)
}

/// What a block's bytes are checked against.
pub(super) struct Check<'a> {
    pub chunks: &'a [ExpectedChunk],
    pub chunk_len: usize,
    pub url: &'a str,
}

pub(super) type Verified = SyncSender<Result<Block, ImageError>>;

/// A worker for a streamed source: checks blocks the fetch thread filled until it stops. The receiver is
/// shared by the workers and dropped with the last of them, so a fetch thread waiting to hand over a block
/// is released when they stop early.
pub(super) fn verify_fetched(check: &Check, fetched: Arc<Mutex<Receiver<Result<Block, ImageError>>>>, out: Verified) {
    loop {
        let Ok(block) = fetched.lock().expect("no worker panics holding it").recv() else { return };
        let result = block.and_then(|mut block| check_block(check, &mut block, None).map(|()| block));
        let failed = result.is_err();
        if out.send(result).is_err() || failed {
            return;
        }
    }
}

/// The blocks of an image read at any offset: workers claim them in order, one `block_size` at a time.
pub(super) struct Claims<'a> {
    pub reader: &'a dyn ReadAt,
    pub next: AtomicU64,
    pub size: u64,
    pub block_size: usize,
}

/// A worker for a source with random access: takes an empty buffer, claims the next block, reads and checks
/// it; stops when the image is claimed, the buffers run out (the writers stopped) or the caller stops.
pub(super) fn read_and_verify(check: &Check, claims: &Claims, empties: &Mutex<Receiver<AlignedBuf>>, out: Verified) {
    loop {
        let Ok(buf) = empties.lock().expect("no worker panics holding it").recv() else { return };
        let offset = claims.next.fetch_add(claims.block_size as u64, Ordering::Relaxed);
        if offset >= claims.size {
            return;
        }
        let len = min_len(claims.size - offset, claims.block_size);
        let mut block = Block { offset, buf, len, held: 0 };
        let result = check_block(check, &mut block, Some(claims.reader)).map(|()| block);
        let failed = result.is_err();
        if out.send(result).is_err() || failed {
            return;
        }
    }
}

/// Checks every chunk group of `block`, reading it segment by segment first when given a `reader`.
/// The first chunk group that does not match is the error.
pub(super) fn check_block(check: &Check, block: &mut Block, reader: Option<&dyn ReadAt>) -> Result<(), ImageError> {
    let chunk_len = check.chunk_len;
    let segment = SEGMENT.max(chunk_len);
    let first = usize::try_from(block.offset / chunk_len as u64).expect("an index into check.chunks");
    for (i, data) in block.buf.as_mut_slice()[..block.len].chunks_mut(segment).enumerate() {
        if let Some(reader) = reader {
            reader.read_exact_at(data, block.offset + (i * segment) as u64)?;
        }
        let expected = &check.chunks[first + i * segment / chunk_len..];
        if let Some((_, chunk)) = data.chunks(chunk_len).zip(expected).find(|(data, chunk)| !chunk.matches(data)) {
            return Err(ImageError::CorruptChunk {
                url: check.url.to_string(),
                index: chunk.index,
                offset: chunk.offset,
                end: chunk.end(),
            });
        }
    }
    Ok(())
}
