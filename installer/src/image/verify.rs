//! The verifying stage: one worker per core (up to [`MAX_VERIFIERS`]), each taking a whole block at a time
//! and checking every chunk group of it against the outboard. A streamed source's blocks come filled from
//! the fetch thread; a source with random access ([`ReadAt`]) is read by the workers themselves, a
//! [`SEGMENT`] at a time, each segment hashed right after it is read, while it is still in that core's cache;
//! in a dry run (a target that keeps nothing) a block the source holds in memory already is hashed where
//! it lies, in one piece ([`ReadAt::cached_slice`]), not copied into the block's buffer first.
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
        let result = block.and_then(|mut block| check_block(check, &mut block, None, false).map(|()| block));
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
    /// A dry run: bytes the reader holds in memory are hashed where they lie, and the block's buffer, left
    /// unfilled for them, goes to a target that keeps nothing.
    pub in_place: bool,
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
        let result = check_block(check, &mut block, Some(claims.reader), claims.in_place).map(|()| block);
        let failed = result.is_err();
        if out.send(result).is_err() || failed {
            return;
        }
    }
}

/// Checks every chunk group of `block`, reading it segment by segment first when given a `reader`; or,
/// `in_place`, hashing the whole block where it lies if the reader holds it in memory (one call for the
/// block, not one per segment: nothing is copied, so there is no core's cache to fit). The first chunk
/// group that does not match is the error.
pub(super) fn check_block(
    check: &Check,
    block: &mut Block,
    reader: Option<&dyn ReadAt>,
    in_place: bool,
) -> Result<(), ImageError> {
    let chunk_len = check.chunk_len;
    let first = usize::try_from(block.offset / chunk_len as u64).expect("an index into check.chunks");
    if let Some(in_memory) = reader.filter(|_| in_place).and_then(|r| r.cached_slice(block.offset, block.len)) {
        return check_groups(check, in_memory, first);
    }
    let segment = SEGMENT.max(chunk_len);
    for (i, buf) in block.buf.as_mut_slice()[..block.len].chunks_mut(segment).enumerate() {
        if let Some(reader) = reader {
            reader.read_exact_at(buf, block.offset + (i * segment) as u64)?;
        }
        check_groups(check, buf, first + i * segment / chunk_len)?;
    }
    Ok(())
}

/// Checks `data`, the chunk groups from index `first` on.
fn check_groups(check: &Check, data: &[u8], first: usize) -> Result<(), ImageError> {
    let expected = &check.chunks[first..];
    match data.chunks(check.chunk_len).zip(expected).find(|(data, chunk)| !chunk.matches(data)) {
        Some((_, chunk)) => Err(ImageError::CorruptChunk {
            url: check.url.to_string(),
            index: chunk.index,
            offset: chunk.offset,
            end: chunk.end(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const CHUNK: u64 = 16 << 10;

    /// An image as a source with random access holds it: read into the caller's buffer, or lent in place
    /// (when `lends`, as a local file whose pages are cached); both counted.
    struct Memory {
        bytes: Vec<u8>,
        lends: bool,
        reads: AtomicUsize,
        lent: AtomicUsize,
    }

    impl ReadAt for Memory {
        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }

        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ImageError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let at = usize::try_from(offset).unwrap();
            buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
            Ok(())
        }

        fn cached_slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
            self.lends.then(|| self.lent.fetch_add(1, Ordering::Relaxed))?;
            let at = usize::try_from(offset).unwrap();
            Some(&self.bytes[at..at + len])
        }
    }

    /// Checks `stored` as one block against the outboard of `image`: the result, reads and loans made.
    fn check_stored(
        image: &[u8],
        stored: &[u8],
        lends: bool,
        in_place: bool,
    ) -> (Result<(), ImageError>, usize, usize) {
        let size = image.len() as u64;
        let outboard = images::create_outboard(image, size, CHUNK).unwrap();
        let chunks = images::expected_chunks(&outboard.bytes, size, CHUNK, &outboard.root.to_hex()).unwrap();
        let check = Check { chunks: &chunks, chunk_len: images::chunk_len(CHUNK).unwrap(), url: "memory" };
        let source = Memory { bytes: stored.to_vec(), lends, reads: AtomicUsize::new(0), lent: AtomicUsize::new(0) };
        let mut block = Block { offset: 0, buf: AlignedBuf::zeroed(image.len()), len: image.len(), held: 0 };
        let result = check_block(&check, &mut block, Some(&source), in_place);
        (result, source.reads.into_inner(), source.lent.into_inner())
    }

    #[test]
    fn a_dry_run_hashes_lent_bytes_in_place_and_still_finds_a_corrupt_chunk() {
        // Three whole segments and a short one.
        let image: Vec<u8> = (0..3 * SEGMENT + 5000).map(|i| u8::try_from(i * 7 % 251).unwrap()).collect();
        let mut corrupt = image.clone();
        let bad = SEGMENT + 40_000;
        corrupt[bad] ^= 0x10;
        let bad_chunk = (bad as u64) / CHUNK;

        let (result, reads, lent) = check_stored(&image, &image, true, true);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!((reads, lent), (0, 1), "the block hashed where it lies, in one piece, nothing copied");

        let (result, reads, lent) = check_stored(&image, &corrupt, true, true);
        let Err(ImageError::CorruptChunk { index, .. }) = result else { panic!("{result:?}") };
        assert_eq!((index, reads, lent), (bad_chunk, 0, 1));

        // Not a dry run: the bytes are copied into the block, which is what gets written.
        let (result, reads, lent) = check_stored(&image, &corrupt, true, false);
        let Err(ImageError::CorruptChunk { index, .. }) = result else { panic!("{result:?}") };
        assert_eq!((index, reads, lent), (bad_chunk, 2, 0));

        // A dry run of a source that lends nothing (a cold file) reads as before.
        let (result, reads, lent) = check_stored(&image, &image, false, true);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!((reads, lent), (4, 0));
    }
}
