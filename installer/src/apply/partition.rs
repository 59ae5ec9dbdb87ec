//! Partitions of the OS disks with util-linux: the kernel is told the layout first (`addpart`, BLKPG: no
//! byte is written to the disk), so the OS array can be built on the RAID partitions and the image
//! written; the partition table itself is written with `sfdisk` only after the image is verified, with
//! the boot loader (nothing bootable before every byte is verified).

use std::path::{Path, PathBuf};

use crate::layout::{BootDisk, partition_device};

use super::{ApplyError, find_tool, run_tool, run_tool_with_input};

/// What the install needs from partitioning tools.
pub trait Partitioner {
    /// The partitions the kernel knows on `disk` now (`/dev/sda1`, …), from an old table or an earlier run.
    fn kernel_partitions(&self, disk: &str) -> Result<Vec<String>, ApplyError>;
    /// Replace the kernel's partitions of the disk with the layout's. Writes nothing to the disk.
    fn announce(&self, layout: &BootDisk) -> Result<(), ApplyError>;
    /// Write the layout's GPT to the disk (without re-reading it: the kernel already has it).
    fn write_table(&self, layout: &BootDisk) -> Result<(), ApplyError>;
}

/// `sfdisk`, `addpart` and `delpart` from the initramfs (or `$PATH`); partitions from `sys`.
#[derive(Debug, Clone)]
pub struct UtilLinux {
    pub sfdisk: PathBuf,
    pub addpart: PathBuf,
    pub delpart: PathBuf,
    pub sys: PathBuf,
}

impl Default for UtilLinux {
    fn default() -> Self {
        Self {
            sfdisk: find_tool(&["/sbin/sfdisk", "/usr/sbin/sfdisk"], "sfdisk"),
            addpart: find_tool(&["/usr/bin/addpart", "/usr/sbin/addpart", "/sbin/addpart"], "addpart"),
            delpart: find_tool(&["/usr/bin/delpart", "/usr/sbin/delpart", "/sbin/delpart"], "delpart"),
            sys: "/sys".into(),
        }
    }
}

const SECTOR: u64 = 512;

impl Partitioner for UtilLinux {
    fn kernel_partitions(&self, disk: &str) -> Result<Vec<String>, ApplyError> {
        let name = disk.trim_start_matches("/dev/");
        let dir = self.sys.join("class/block").join(name);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ApplyError::Io { what: format!("listing {}", dir.display()), source: e })?;
        // Only a partition's directory has a `partition` file (its number).
        let mut numbers: Vec<u32> = entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path().join("partition")).ok()?.trim().parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers.into_iter().map(|n| partition_device(disk, n)).collect())
    }

    fn announce(&self, layout: &BootDisk) -> Result<(), ApplyError> {
        for partition in self.kernel_partitions(&layout.disk)? {
            let number = partition_number(&partition);
            run_tool(&self.delpart, &format!("removing {partition} from the kernel"), &[&layout.disk, &number])?;
        }
        for p in &layout.partitions {
            let device = partition_device(&layout.disk, p.number);
            let (number, start, size) =
                (p.number.to_string(), (p.start / SECTOR).to_string(), (p.size / SECTOR).to_string());
            run_tool(&self.addpart, &format!("announcing {device}"), &[&layout.disk, &number, &start, &size])?;
            wait_for_node(Path::new(&device))?;
        }
        Ok(())
    }

    fn write_table(&self, layout: &BootDisk) -> Result<(), ApplyError> {
        let what = format!("writing the partition table of {}", layout.disk);
        let args = [
            "--no-reread",
            "--no-tell-kernel",
            "--wipe",
            "never",
            "--wipe-partitions",
            "never",
            "--quiet",
            &layout.disk,
        ];
        run_tool_with_input(&self.sfdisk, &what, &args, Some(&layout.sfdisk_script())).map(drop)
    }
}

/// `/dev/sda3` → `3`, `/dev/nvme0n1p2` → `2`.
fn partition_number(partition: &str) -> String {
    partition.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect()
}

/// devtmpfs (or udev) adds the node right after BLKPG or a table re-read; give it a moment.
pub(crate) fn wait_for_node(device: &Path) -> Result<(), ApplyError> {
    for _ in 0..50 {
        if device.exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(ApplyError::Io {
        what: format!("waiting for {}", device.display()),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_numbers_come_from_the_end_of_the_name() {
        assert_eq!(partition_number("/dev/sda3"), "3");
        assert_eq!(partition_number("/dev/nvme0n1p12"), "12");
    }

    #[test]
    fn kernel_partitions_are_read_from_sysfs_in_order() {
        let sys = tempfile::tempdir().unwrap();
        let disk = sys.path().join("class/block/sda");
        for (dir, number) in [("sda3", "3"), ("sda1", "1"), ("sda12", "12")] {
            std::fs::create_dir_all(disk.join(dir)).unwrap();
            std::fs::write(disk.join(dir).join("partition"), format!("{number}\n")).unwrap();
        }
        std::fs::create_dir_all(disk.join("queue")).unwrap();
        let tools = UtilLinux { sys: sys.path().into(), ..UtilLinux::default() };
        assert_eq!(tools.kernel_partitions("/dev/sda").unwrap(), ["/dev/sda1", "/dev/sda3", "/dev/sda12"]);
    }
}
