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
    let mut file = open_member_data(member, 0, at)?;
    let mut data = vec![0u8; usize::try_from(len)?];
    file.read_exact(&mut data)?;
    Ok(data)
}

/// The BLAKE3 (hex) of the first `len` bytes of the array data on the v1.2 member that starts
/// `member_start` bytes into `disk` (a partition's offset, 0 for a whole-disk member), read in pieces.
pub fn hash_member_data(disk: &Path, member_start: u64, len: u64) -> anyhow::Result<String> {
    let file = open_member_data(disk, member_start, 0)?;
    let mut hasher = blake3::Hasher::new();
    let copied = std::io::copy(&mut file.take(len), &mut hasher)?;
    anyhow::ensure!(copied == len, "{}: the member ends {copied} bytes into its data, not {len}", disk.display());
    Ok(hasher.finalize().to_hex().to_string())
}

/// `disk` positioned `at` bytes into the data of the member starting `member_start` bytes into it.
fn open_member_data(disk: &Path, member_start: u64, at: u64) -> anyhow::Result<std::fs::File> {
    let mut file = std::fs::File::open(disk)?;
    let mut superblock = vec![0u8; 1024];
    file.seek(SeekFrom::Start(member_start + SUPERBLOCK_OFFSET))?;
    file.read_exact(&mut superblock)?;
    let offset = data_offset(&superblock)
        .ok_or_else(|| anyhow::anyhow!("{}: no md v1.2 superblock at byte {member_start}", disk.display()))?;
    file.seek(SeekFrom::Start(member_start + offset + at))?;
    Ok(file)
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

    #[test]
    fn hashes_the_data_of_a_member_that_starts_inside_the_disk() {
        let dir = std::env::temp_dir().join(format!("rackhand-md-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let disk = dir.join("disk.img");
        // A partition at 1 MiB whose superblock puts its data 16 sectors after the member's start.
        let (start, data_at) = (1u64 << 20, 16 * 512);
        let mut bytes = vec![0xee_u8; usize::try_from(start + 16384).unwrap()];
        let sb = usize::try_from(start + SUPERBLOCK_OFFSET).unwrap();
        bytes[sb..sb + 4].copy_from_slice(&MD_MAGIC.to_le_bytes());
        bytes[sb + DATA_OFFSET_FIELD..sb + DATA_OFFSET_FIELD + 8].copy_from_slice(&16u64.to_le_bytes());
        let data: Vec<u8> = (0..5000u32).map(|i| u8::try_from(i * 7 % 256).unwrap()).collect();
        let at = usize::try_from(start + data_at).unwrap();
        bytes[at..at + data.len()].copy_from_slice(&data);
        std::fs::write(&disk, &bytes).unwrap();

        let expected = blake3::hash(&data).to_hex().to_string();
        assert_eq!(hash_member_data(&disk, start, data.len() as u64).unwrap(), expected);
        assert_ne!(hash_member_data(&disk, start, data.len() as u64 + 1).unwrap(), expected);
        assert!(hash_member_data(&disk, 0, 16).is_err(), "no superblock at the start of the disk");
        assert!(hash_member_data(&disk, start, bytes.len() as u64).is_err(), "past the end of the disk");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
