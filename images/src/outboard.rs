//! The BLAKE3 verified-streaming outboard, built with bao-tree.
//!
//! The outboard is bao-tree's pre-order outboard for `BaoTree::new(size, chunk_size)`: the 64-byte hash
//! pairs (left, right child hash) of every tree node above the chunk groups, in pre-order, without a length
//! prefix. Its root is the plain BLAKE3 hash of the image, whatever the chunk size.
//!
//! To stream an image, [`expected_chunks`] checks the whole outboard against the manifest's root hash once
//! (every parent pair must hash to the hash its parent holds) and returns the hash each chunk group must
//! have; then each group is checked with [`ExpectedChunk::matches`] as it arrives.

use std::io::{self, Read};

use bao_tree::io::outboard::{PreOrderMemOutboard, PreOrderOutboard};
use bao_tree::io::sync::{CreateOutboard, Outboard};
use bao_tree::iter::{BaoChunk, ResponseIter};
use bao_tree::{BaoTree, BlockSize, ChunkRanges};
use blake3::hazmat::{ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

#[derive(Debug, thiserror::Error)]
pub enum OutboardError {
    #[error("chunk size {0} is not a power of two from 1 KiB to 16 MiB")]
    ChunkSize(u64),
    #[error("root hash `{0}` is not 64 hex digits")]
    RootHash(String),
    #[error("outboard is {actual} bytes, a {size}-byte image in {chunk_size}-byte chunks needs {expected}")]
    Length { actual: u64, expected: u64, size: u64, chunk_size: u64 },
    #[error("outboard hashes for image bytes {start}..{end} do not match the root hash")]
    Mismatch { start: u64, end: u64 },
}

/// bao-tree's block size for a chunk size in bytes.
pub fn block_size(chunk_size: u64) -> Result<BlockSize, OutboardError> {
    if !(rackhand_api::MIN_CHUNK_SIZE..=rackhand_api::MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(OutboardError::ChunkSize(chunk_size));
    }
    BlockSize::from_bytes(chunk_size).ok_or(OutboardError::ChunkSize(chunk_size))
}

/// A chunk size the outboard accepts (see [`block_size`]) as a length in memory, for chunk buffers.
pub fn chunk_len(chunk_size: u64) -> Result<usize, OutboardError> {
    block_size(chunk_size)?;
    usize::try_from(chunk_size).map_err(|_| OutboardError::ChunkSize(chunk_size))
}

/// Length in bytes of the outboard of a `size`-byte image in `chunk_size` groups.
pub fn outboard_size(size: u64, chunk_size: u64) -> Result<u64, OutboardError> {
    Ok(BaoTree::new(size, block_size(chunk_size)?).outboard_size())
}

/// A freshly computed outboard.
#[derive(Debug, Clone)]
pub struct CreatedOutboard {
    /// BLAKE3 hash of the image.
    pub root: blake3::Hash,
    /// The outboard file's contents.
    pub bytes: Vec<u8>,
}

/// Reads `size` bytes of `data` once and computes the outboard and root hash.
pub fn create_outboard(data: impl Read, size: u64, chunk_size: u64) -> io::Result<CreatedOutboard> {
    let block_size = block_size(chunk_size).map_err(io::Error::other)?;
    let outboard = PreOrderOutboard::<Vec<u8>>::create_sized(data, size, block_size)?;
    Ok(CreatedOutboard { root: outboard.root, bytes: outboard.data })
}

/// One chunk group of the image and the hash it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedChunk {
    /// Position among the image's chunk groups, from 0.
    pub index: u64,
    /// Byte offset in the image.
    pub offset: u64,
    /// Bytes in this group: the chunk size, less for the last one.
    pub len: usize,
    is_root: bool,
    hash: blake3::Hash,
}

impl ExpectedChunk {
    /// Whether `data` (exactly this group's bytes) is what the outboard says.
    pub fn matches(&self, data: &[u8]) -> bool {
        data.len() == self.len && chunk_group_hash(self.offset, data, self.is_root) == self.hash
    }

    pub fn end(&self) -> u64 {
        self.offset + self.len as u64
    }
}

/// Checks `outboard` against `root_hex` and returns the expected hash of every chunk group, in image order.
pub fn expected_chunks(
    outboard: &[u8],
    size: u64,
    chunk_size: u64,
    root_hex: &str,
) -> Result<Vec<ExpectedChunk>, OutboardError> {
    let mut root = [0u8; 32];
    hex::decode_to_slice(root_hex, &mut root).map_err(|_| OutboardError::RootHash(root_hex.to_string()))?;
    let tree = BaoTree::new(size, block_size(chunk_size)?);
    if outboard.len() as u64 != tree.outboard_size() {
        return Err(OutboardError::Length {
            actual: outboard.len() as u64,
            expected: tree.outboard_size(),
            size,
            chunk_size,
        });
    }
    let pairs = PreOrderMemOutboard { root: blake3::Hash::from(root), tree, data: outboard };
    let mut pending = vec![pairs.root];
    // A 64-byte pair per parent, one parent fewer than chunk groups (the length is checked above).
    let mut chunks = Vec::with_capacity(outboard.len() / 64 + 1);
    for item in ResponseIter::new(tree, ChunkRanges::all()) {
        match item {
            BaoChunk::Parent { node, is_root, left, right, .. } => {
                let expected = pending.pop().expect("bao-tree visits a parent only below a pending hash");
                let range = node.chunk_range();
                let mismatch =
                    OutboardError::Mismatch { start: range.start.to_bytes(), end: range.end.to_bytes().min(size) };
                let Ok(Some((left_hash, right_hash))) = pairs.load(node) else {
                    return Err(mismatch);
                };
                if parent_hash(&left_hash, &right_hash, is_root) != expected {
                    return Err(mismatch);
                }
                if right {
                    pending.push(right_hash);
                }
                if left {
                    pending.push(left_hash);
                }
            }
            BaoChunk::Leaf { start_chunk, size: len, is_root, .. } => {
                let hash = pending.pop().expect("bao-tree visits a leaf only below a pending hash");
                let index = chunks.len() as u64;
                chunks.push(ExpectedChunk { index, offset: start_chunk.to_bytes(), len, is_root, hash });
            }
        }
    }
    Ok(chunks)
}

/// BLAKE3 chaining value of the chunk group at `offset` (the root hash when it is the whole image).
fn chunk_group_hash(offset: u64, data: &[u8], is_root: bool) -> blake3::Hash {
    if is_root {
        return blake3::hash(data);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(offset);
    hasher.update(data);
    blake3::Hash::from(hasher.finalize_non_root())
}

fn parent_hash(left: &blake3::Hash, right: &blake3::Hash, is_root: bool) -> blake3::Hash {
    let left: ChainingValue = *left.as_bytes();
    let right: ChainingValue = *right.as_bytes();
    if is_root {
        merge_subtrees_root(&left, &right, Mode::Hash)
    } else {
        blake3::Hash::from(merge_subtrees_non_root(&left, &right, Mode::Hash))
    }
}
