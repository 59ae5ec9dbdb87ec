//! Does a disk already carry data? Known signatures in its first MiB (pure; `wipefs` is not in busybox).
//! md superblocks 0.90 and 1.0 sit at the end of the device: `mdadm --examine` finds those.

/// How many leading bytes [`detect_signature`] looks at.
pub const PROBE_BYTES: usize = 1 << 20;

const MD_MAGIC: [u8; 4] = 0xa92b_4efc_u32.to_le_bytes();

/// (offset, magic, what it is), in the order they are checked.
const SIGNATURES: &[(usize, &[u8], &str)] = &[
    (512, b"EFI PART", "GPT partition table"),
    (0, &MD_MAGIC, "md superblock (metadata 1.1)"),
    (4096, &MD_MAGIC, "md superblock (metadata 1.2)"),
    (0, b"XFSB", "XFS filesystem"),
    (65600, b"_BHRfS_M", "Btrfs filesystem"),
    (1080, &[0x53, 0xef], "ext2/3/4 filesystem"),
    (536, b"LVM2 001", "LVM physical volume"),
    (4086, b"SWAPSPACE2", "swap space"),
    (32769, b"CD001", "ISO 9660 filesystem"),
    (0, b"LUKS\xba\xbe", "LUKS encrypted volume"),
    (3, b"NTFS    ", "NTFS filesystem"),
    (82, b"FAT32   ", "FAT32 filesystem"),
    (54, b"FAT1", "FAT filesystem"),
];

/// The first known signature in `head` (the first bytes of a device), or `None` for a blank disk.
pub fn detect_signature(head: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if let Some((_, _, what)) = SIGNATURES.iter().find(|(offset, magic, _)| at(*offset, magic)) {
        return Some(what);
    }
    // An MBR (or a FAT boot sector without the names above) ends its first sector with 55 AA and has
    // at least one partition entry or boot code.
    if at(510, &[0x55, 0xaa]) && head[..510].iter().any(|b| *b != 0) {
        return Some("MBR partition table or boot sector");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Vec<u8> {
        vec![0; PROBE_BYTES]
    }

    #[test]
    fn a_zeroed_disk_has_no_signature() {
        assert_eq!(detect_signature(&blank()), None);
        assert_eq!(detect_signature(&[]), None);
    }

    #[test]
    fn each_known_signature_is_found() {
        let cases: [(usize, &[u8], &str); 6] = [
            (512, b"EFI PART", "GPT"),
            (4096, &MD_MAGIC, "metadata 1.2"),
            (1080, &[0x53, 0xef], "ext2/3/4"),
            (0, b"XFSB", "XFS"),
            (4086, b"SWAPSPACE2", "swap"),
            (536, b"LVM2 001", "LVM"),
        ];
        for (offset, magic, want) in cases {
            let mut head = blank();
            head[offset..offset + magic.len()].copy_from_slice(magic);
            let found = detect_signature(&head).unwrap_or_else(|| panic!("{want} not found"));
            assert!(found.contains(want), "{found} for {want}");
        }
    }

    #[test]
    fn an_mbr_needs_its_boot_signature_and_some_content() {
        let mut head = blank();
        head[510] = 0x55;
        head[511] = 0xaa;
        assert_eq!(detect_signature(&head), None, "55 AA alone in a zero sector is not a partition table");
        head[446 + 4] = 0x83; // a Linux partition entry
        assert_eq!(detect_signature(&head), Some("MBR partition table or boot sector"));
    }

    #[test]
    fn a_short_read_does_not_panic() {
        let mut head = vec![0u8; 600];
        head[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(detect_signature(&head), Some("GPT partition table"));
    }
}
