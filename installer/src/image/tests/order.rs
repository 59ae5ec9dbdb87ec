//! The calling thread's reordering of verified blocks: whatever order the workers finish in, the writers
//! get blocks in image order, the first MiB held back, and nothing after a failed block.

use std::sync::mpsc::sync_channel;

use images::BOOT_AREA;

use super::{MIB, to_usize};
use crate::image::ImageError;
use crate::image::buffer::AlignedBuf;
use crate::image::buffer::Block;
use crate::image::write::in_image_order;

/// A 1 MiB verified block at `index` MiB, filled with `index + 1`.
fn block(index: u64) -> Result<Block, ImageError> {
    let mut buf = AlignedBuf::zeroed(to_usize(MIB));
    buf.as_mut_slice().fill(u8::try_from(index + 1).unwrap());
    Ok(Block { offset: index * MIB, buf, len: to_usize(MIB), held: 0 })
}

/// What the reordering did with some arrivals.
struct Outcome {
    result: Result<(), ImageError>,
    /// (MiB index, bytes held back) of each block the writers got, in the order they got them.
    written: Vec<(u64, usize)>,
    progress: Vec<u64>,
    boot_area: Vec<u8>,
}

/// Runs the reordering over `arrivals` (blocks as the workers finished them).
fn reorder(arrivals: Vec<Result<Block, ImageError>>) -> Outcome {
    let size = 4 * MIB;
    let (verified, from_verifiers) = sync_channel(arrivals.len());
    arrivals.into_iter().for_each(|block| verified.send(block).unwrap());
    drop(verified);
    let (to_writers, written) = sync_channel(8);
    let mut boot_area = AlignedBuf::zeroed(to_usize(BOOT_AREA));
    let mut progress = Vec::new();
    let result = in_image_order(
        from_verifiers,
        to_writers,
        &mut boot_area,
        &mut |done, total| {
            assert_eq!(total, size);
            progress.push(done);
        },
        size,
        "image",
    );
    let written = written.iter().map(|b| (b.offset / MIB, b.held)).collect();
    Outcome { result, written, progress, boot_area: boot_area.as_slice().to_vec() }
}

#[test]
fn blocks_finished_out_of_order_are_written_in_image_order_with_the_first_mib_held() {
    let Outcome { result, written, progress, boot_area } = reorder(vec![block(2), block(0), block(3), block(1)]);
    result.unwrap();
    assert_eq!(written, [(0, to_usize(MIB)), (1, 0), (2, 0), (3, 0)]);
    assert_eq!(progress, [MIB, 2 * MIB, 3 * MIB, 4 * MIB]);
    assert!(boot_area.iter().all(|&b| b == 1), "the boot area holds block 0's bytes");
}

#[test]
fn nothing_after_a_failed_block_reaches_the_writers() {
    let corrupt = Err(ImageError::CorruptChunk { url: "image".into(), index: 70, offset: MIB + 4096, end: MIB + 8192 });
    let Outcome { result, written, progress, .. } = reorder(vec![block(2), block(0), corrupt, block(3)]);
    assert!(matches!(result, Err(ImageError::CorruptChunk { index: 70, .. })), "{result:?}");
    assert_eq!(written, [(0, to_usize(MIB))], "block 2 was verified but follows the failed one");
    assert_eq!(progress, [MIB]);
}

#[test]
fn workers_that_stop_with_a_block_missing_are_an_error_not_a_finished_image() {
    let Outcome { result, written, .. } = reorder(vec![block(0), block(2), block(3)]);
    assert!(matches!(result, Err(ImageError::Unfinished { offset, size, .. }) if offset == MIB && size == 4 * MIB));
    assert_eq!(written, [(0, to_usize(MIB))]);
}
