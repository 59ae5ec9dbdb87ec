//! Reading an md RAID1 member from the host: the version-1.2 superblock (4 KiB into the member) says
//! where the array's data starts, so a test can hash what the guest wrote without assembling the array.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const SUPERBLOCK_OFFSET: u64 = 4096;
const MD_MAGIC: u32 = 0xa92b_4efc;
/// `data_offset` (in 512-byte sectors) in `struct mdp_superblock_1`.
const DATA_OFFSET_FIELD: usize = 128;

/// Byte offset of the array data on a v1.2 member, or None if there is no md superblock.
pub fn data_offset(superblock: &[u8]) -> Option<u64> {
    let magic = u32::from_le_bytes(superblock.get(0..4)?.try_into().ok()?);
    if magic != MD_MAGIC {
        return None;
    }
    let sectors = u64::from_le_bytes(superblock.get(DATA_OFFSET_FIELD..DATA_OFFSET_FIELD + 8)?.try_into().ok()?);
    Some(sectors * 512)
}

/// Read `len` bytes of the array data from a RAID1 member file, starting `at` bytes into the data.
pub fn read_member_data(member: &Path, at: u64, len: u64) -> anyhow::Result<Vec<u8>> {
    let mut file = std::fs::File::open(member)?;
    let mut superblock = vec![0u8; 1024];
    file.seek(SeekFrom::Start(SUPERBLOCK_OFFSET))?;
    file.read_exact(&mut superblock)?;
    let offset =
        data_offset(&superblock).ok_or_else(|| anyhow::anyhow!("{}: no md v1.2 superblock", member.display()))?;
    file.seek(SeekFrom::Start(offset + at))?;
    let mut data = vec![0u8; usize::try_from(len)?];
    file.read_exact(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_data_offset_of_a_v1_2_superblock() {
        let mut sb = vec![0u8; 256];
        sb[0..4].copy_from_slice(&MD_MAGIC.to_le_bytes());
        sb[4..8].copy_from_slice(&1u32.to_le_bytes());
        sb[DATA_OFFSET_FIELD..DATA_OFFSET_FIELD + 8].copy_from_slice(&4096u64.to_le_bytes());
        assert_eq!(data_offset(&sb), Some(4096 * 512));
        assert_eq!(data_offset(&[0u8; 256]), None);
        assert_eq!(data_offset(&sb[..10]), None);
    }
}
