//! How an OS disk is laid out so the RAID1 boots from either member under BIOS and UEFI, without the
//! firmware ever writing to md: a GPT with
//!
//! 1. a BIOS boot partition (1 MiB at 1 MiB) for GRUB's `core.img` under BIOS,
//! 2. an EFI system partition of its own (FAT32) holding `\EFI\BOOT\BOOTX64.EFI`: one per disk, never on
//!    md, identical on every disk because it holds only the loader (GRUB's config, modules and the kernels
//!    live on the mirrored root, so an ESP changes only when the loader itself is reinstalled),
//! 3. a Linux RAID partition, the disk's member of the OS array,
//!
//! and the last MiB free for the backup GPT. Pure: sizes, names and the `sfdisk` script; the I/O is in
//! [`crate::apply::partition`].

use std::fmt::Write as _;

const MIB: u64 = 1 << 20;
/// Logical sectors `sfdisk` scripts count in.
const SECTOR: u64 = 512;
pub const BIOS_BOOT_START: u64 = MIB;
pub const BIOS_BOOT_SIZE: u64 = MIB;
pub const ESP_START: u64 = BIOS_BOOT_START + BIOS_BOOT_SIZE;
/// Room for the loader with space to spare; FAT32 needs at least ~33 MiB on 512-byte sectors.
pub const ESP_SIZE: u64 = 126 * MIB;
pub const RAID_START: u64 = ESP_START + ESP_SIZE;
/// The smallest OS disk worth laying out: the partitions above, 256 MiB of member and the backup GPT.
pub const MIN_DISK: u64 = RAID_START + 256 * MIB + MIB;

/// GPT partition type GUIDs.
pub const BIOS_BOOT_TYPE: &str = "21686148-6449-6E6F-744E-656564454649";
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const LINUX_RAID_TYPE: &str = "A19D880F-05FC-4D3B-A006-743F0F84911E";

/// One partition: its number, where it starts and how long it is, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub start: u64,
    pub size: u64,
    pub type_guid: &'static str,
    pub name: &'static str,
}

/// An OS disk of the plan: the whole disk and its three partitions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootDisk {
    /// `/dev/sda`.
    pub disk: String,
    pub bay: Option<u32>,
    #[serde(skip)]
    pub partitions: [Partition; 3],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{disk} has {size} bytes; an OS disk needs at least {MIN_DISK} (boot partitions, array member, backup GPT)")]
pub struct TooSmall {
    pub disk: String,
    pub size: u64,
}

impl BootDisk {
    /// The layout of `disk` (`size` bytes): the RAID partition ends on a MiB boundary at least one MiB
    /// before the end of the disk.
    pub fn new(disk: &str, bay: Option<u32>, size: u64) -> Result<BootDisk, TooSmall> {
        if size < MIN_DISK {
            return Err(TooSmall { disk: disk.to_owned(), size });
        }
        let raid_end = (size - MIB) / MIB * MIB;
        let part = |number, start, size, type_guid, name| Partition { number, start, size, type_guid, name };
        Ok(BootDisk {
            disk: disk.to_owned(),
            bay,
            partitions: [
                part(1, BIOS_BOOT_START, BIOS_BOOT_SIZE, BIOS_BOOT_TYPE, "bios-boot"),
                part(2, ESP_START, ESP_SIZE, ESP_TYPE, "esp"),
                part(3, RAID_START, raid_end - RAID_START, LINUX_RAID_TYPE, "raid"),
            ],
        })
    }

    pub fn esp(&self) -> String {
        partition_device(&self.disk, 2)
    }

    /// The disk's member of the OS array.
    pub fn raid_member(&self) -> String {
        partition_device(&self.disk, 3)
    }

    /// What `sfdisk` is fed to write the table (`sfdisk --no-reread --no-tell-kernel DISK < script`): the
    /// kernel already knows these partitions (they were announced before the array was built), so the
    /// table on disk is written last, after the image is verified.
    pub fn sfdisk_script(&self) -> String {
        let mut out = String::from("label: gpt\nunit: sectors\nsector-size: 512\n\n");
        for p in &self.partitions {
            let _ = writeln!(
                out,
                "{} : start={}, size={}, type={}, name=\"{}\"",
                partition_device(&self.disk, p.number),
                p.start / SECTOR,
                p.size / SECTOR,
                p.type_guid,
                p.name
            );
        }
        out
    }
}

/// The device node of partition `number` of `disk`: `/dev/sda3`, `/dev/nvme0n1p3`, `/dev/mmcblk0p3`.
pub fn partition_device(disk: &str, number: u32) -> String {
    let ends_in_digit = disk.chars().last().is_some_and(|c| c.is_ascii_digit());
    if ends_in_digit { format!("{disk}p{number}") } else { format!("{disk}{number}") }
}

/// The disk a partition belongs to, by its kernel name: `sda3` → `sda`, `nvme0n1p3` → `nvme0n1`.
pub fn parent_disk(partition: &str) -> &str {
    let trimmed = partition.trim_end_matches(|c: char| c.is_ascii_digit());
    match trimmed.strip_suffix('p') {
        Some(disk) if disk.ends_with(|c: char| c.is_ascii_digit()) => disk,
        _ => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_mib_aligned_and_leave_the_last_mib_for_the_backup_gpt() {
        let size = 2048 * MIB + 12345;
        let disk = BootDisk::new("/dev/sda", Some(0), size).unwrap();
        let [bios, esp, raid] = disk.partitions;
        assert_eq!((bios.start, bios.size), (MIB, MIB));
        assert_eq!((esp.start, esp.start + esp.size), (2 * MIB, 128 * MIB));
        assert_eq!(raid.start, 128 * MIB);
        assert_eq!(raid.start + raid.size, 2047 * MIB, "ends a whole MiB before the end");
        for p in disk.partitions {
            assert_eq!((p.start % MIB, p.size % MIB), (0, 0), "{p:?}");
        }
        assert_eq!((disk.esp(), disk.raid_member()), ("/dev/sda2".into(), "/dev/sda3".into()));
    }

    #[test]
    fn a_disk_too_small_for_the_layout_is_refused_naming_it() {
        let err = BootDisk::new("/dev/sdb", Some(1), MIN_DISK - 1).unwrap_err();
        assert!(err.to_string().starts_with("/dev/sdb has "), "{err}");
        assert!(BootDisk::new("/dev/sdb", Some(1), MIN_DISK).is_ok());
    }

    #[test]
    fn the_sfdisk_script_names_every_partition_in_sectors_with_its_type() {
        let disk = BootDisk::new("/dev/nvme0n1", None, 1024 * MIB).unwrap();
        let script = disk.sfdisk_script();
        assert!(script.starts_with("label: gpt\nunit: sectors\n"), "{script}");
        assert!(script.contains(&format!("/dev/nvme0n1p1 : start=2048, size=2048, type={BIOS_BOOT_TYPE}")), "{script}");
        assert!(script.contains(&format!("/dev/nvme0n1p2 : start=4096, size=258048, type={ESP_TYPE}")), "{script}");
        assert!(script.contains(&format!("/dev/nvme0n1p3 : start=262144, size=1832960, type={LINUX_RAID_TYPE}")));
    }

    #[test]
    fn partition_names_follow_the_kernel_and_lead_back_to_their_disk() {
        assert_eq!(partition_device("/dev/sda", 3), "/dev/sda3");
        assert_eq!(partition_device("/dev/nvme0n1", 2), "/dev/nvme0n1p2");
        assert_eq!(partition_device("/dev/mmcblk0", 1), "/dev/mmcblk0p1");
        assert_eq!(parent_disk("sda3"), "sda");
        assert_eq!(parent_disk("sdab12"), "sdab");
        assert_eq!(parent_disk("nvme0n1p3"), "nvme0n1");
        assert_eq!(parent_disk("sda"), "sda");
    }
}
