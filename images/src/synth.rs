//! Synthetic OS images for the lab and tests: deterministic pseudo-random bytes behind a real MBR.
//!
//! The first 512 bytes are a classic MBR: boot code that halts (`cli; hlt; jmp $-1`), a disk signature, one
//! bootable Linux partition from sector 2048 (1 MiB) to the end, and the `55 AA` boot signature. The rest
//! of the first MiB stands in for a boot loader; everything is BLAKE3-XOF output of the seed, so the same
//! size and seed always give the same bytes.

use std::io::{self, Write};

/// The region at the start of a disk that makes it bootable: partition table and boot loader (1 MiB).
pub const BOOT_AREA: u64 = FIRST_PARTITION_SECTOR as u64 * SECTOR;
pub const SECTOR: u64 = 512;

const BOOT_CODE: [u8; 4] = [0xFA, 0xF4, 0xEB, 0xFD];
const PARTITION_TABLE: usize = 446;
/// The partition starts right after the boot area.
const FIRST_PARTITION_SECTOR: u32 = 2048;

/// Writes a `size`-byte synthetic image (a multiple of 512, at least 1 MiB) to `out`.
pub fn synth_image(out: &mut impl Write, size: u64, seed: u64) -> io::Result<()> {
    if size < BOOT_AREA || !size.is_multiple_of(SECTOR) {
        let reason = format!("synthetic image size {size} must be a multiple of 512 and at least 1 MiB");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
    }
    let mut hasher = blake3::Hasher::new_derive_key("rackhand synthetic image v1");
    hasher.update(&seed.to_le_bytes());
    let mut random = hasher.finalize_xof();
    let mut buffer = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < size {
        let len = crate::min_len(size - written, buffer.len());
        random.fill(&mut buffer[..len]);
        if written == 0 {
            write_mbr(&mut buffer[..512], size);
        }
        out.write_all(&buffer[..len])?;
        written += len as u64;
    }
    out.flush()
}

/// Whether `sector` (a disk's first 512 bytes) carries the MBR boot signature and a bootable partition.
pub fn has_bootable_mbr(sector: &[u8]) -> bool {
    sector.len() >= 512 && sector[510..512] == [0x55, 0xAA] && sector[PARTITION_TABLE] == 0x80
}

fn write_mbr(sector: &mut [u8], size: u64) {
    let disk_signature: [u8; 4] = sector[440..444].try_into().expect("4 bytes");
    sector.fill(0);
    sector[..BOOT_CODE.len()].copy_from_slice(&BOOT_CODE);
    sector[440..444].copy_from_slice(&disk_signature);
    let sectors = u32::try_from(size / SECTOR - u64::from(FIRST_PARTITION_SECTOR)).unwrap_or(u32::MAX);
    let entry = &mut sector[PARTITION_TABLE..PARTITION_TABLE + 16];
    entry[0] = 0x80; // bootable
    entry[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]); // CHS unused: LBA only
    entry[4] = 0x83; // Linux
    entry[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    entry[8..12].copy_from_slice(&FIRST_PARTITION_SECTOR.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    sector[510] = 0x55;
    sector[511] = 0xAA;
}

/// Parses a byte size: a number with an optional `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`) suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size like 64MiB"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        other => return Err(format!("unknown size unit `{other}` (B, KiB, MiB or GiB)")),
    };
    number.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))
}
