//! md arrays with the real `mdadm`: refuse member disks that carry data unless the plan says wipe, create
//! the array (and let it resync), read its UUID back.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::Command;

use crate::plan::ArrayPlan;

use super::existing_data::{PROBE_BYTES, detect_signature};
use super::{ApplyError, find_tool, run_tool};

/// What the install needs from the RAID tools.
pub trait Raid {
    /// What data `device` already carries (`GPT partition table`, `md superblock`), if any.
    fn existing_data(&self, device: &str) -> Result<Option<String>, ApplyError>;
    /// Remove every signature from `device` so it can be reused.
    fn wipe(&self, device: &str) -> Result<(), ApplyError>;
    /// Create the array and return its UUID.
    fn create(&self, array: &ArrayPlan) -> Result<String, ApplyError>;
    /// The UUID of the array `device` is a member of, from its md superblock.
    fn array_uuid_on(&self, device: &str) -> Option<String>;
}

/// `mdadm` from the initramfs (or `$PATH`).
#[derive(Debug, Clone)]
pub struct Mdadm {
    pub program: PathBuf,
}

impl Default for Mdadm {
    fn default() -> Self {
        Self { program: find_tool(&["/sbin/mdadm", "/usr/sbin/mdadm"], "mdadm") }
    }
}

impl Mdadm {
    fn run(&self, what: &str, args: &[&str]) -> Result<String, ApplyError> {
        run_tool(&self.program, what, args)
    }
}

impl Raid for Mdadm {
    fn existing_data(&self, device: &str) -> Result<Option<String>, ApplyError> {
        let io = |e| ApplyError::Io { what: format!("reading {device}"), source: e };
        let mut head = Vec::with_capacity(PROBE_BYTES);
        File::open(device).map_err(io)?.take(PROBE_BYTES as u64).read_to_end(&mut head).map_err(io)?;
        if let Some(found) = detect_signature(&head) {
            return Ok(Some(found.to_owned()));
        }
        // Superblocks at the end of the device (metadata 0.90 and 1.0).
        let examined = Command::new(&self.program).args(["--examine", device]).output();
        Ok(examined.is_ok_and(|o| o.status.success()).then(|| "md superblock".to_owned()))
    }

    fn wipe(&self, device: &str) -> Result<(), ApplyError> {
        // Fails harmlessly when there is no superblock.
        let _ = self.run(&format!("zeroing the md superblock on {device}"), &["--zero-superblock", "--force", device]);
        let io = |e| ApplyError::Io { what: format!("wiping {device}"), source: e };
        let mut disk = std::fs::OpenOptions::new().write(true).open(device).map_err(io)?;
        let size = disk.seek(SeekFrom::End(0)).map_err(io)?;
        let zeros = vec![0u8; PROBE_BYTES];
        // The first MiB (partition tables, filesystems) and the last (backup GPT, old md superblocks).
        for offset in [0, size.saturating_sub(PROBE_BYTES as u64)] {
            disk.seek(SeekFrom::Start(offset)).map_err(io)?;
            let len = images::min_len(size - offset, PROBE_BYTES);
            disk.write_all(&zeros[..len]).map_err(io)?;
        }
        disk.sync_all().map_err(io)
    }

    fn create(&self, array: &ArrayPlan) -> Result<String, ApplyError> {
        let level = format!("--level={}", array.level.mdadm_name());
        let count = format!("--raid-devices={}", array.members.len());
        let metadata = format!("--metadata={}", array.metadata);
        let mut args = vec!["--create", array.device.as_str(), "--run", &level, &count, &metadata];
        args.extend(array.members.iter().map(String::as_str));
        self.run(&format!("creating {}", array.device), &args)?;
        let detail = self.run(&format!("reading {} back", array.device), &["--detail", "--export", &array.device])?;
        md_uuid(&detail).ok_or_else(|| ApplyError::Command {
            what: format!("reading {} back", array.device),
            status: "ok".into(),
            stderr: format!("no MD_UUID in `mdadm --detail --export`: {detail}"),
        })
    }

    fn array_uuid_on(&self, device: &str) -> Option<String> {
        // `mdadm --examine --export` of a member names its array's UUID.
        let out = Command::new(&self.program).args(["--examine", "--export", device]).output().ok()?;
        out.status.success().then(|| md_uuid(&String::from_utf8_lossy(&out.stdout))).flatten()
    }
}

/// Whether two array UUIDs are the same: md prints them as `a:b:c:d`, other tools with dashes.
pub fn same_md_uuid(a: &str, b: &str) -> bool {
    let digits =
        |s: &str| s.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_lowercase()).collect::<String>();
    digits(a) == digits(b)
}

/// `MD_UUID=...` from `mdadm --detail --export`.
pub fn md_uuid(export: &str) -> Option<String> {
    export.lines().find_map(|l| l.trim().strip_prefix("MD_UUID=")).map(str::to_owned).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md_uuid_comes_from_the_export_lines() {
        let export = "MD_LEVEL=raid1\nMD_DEVICES=2\nMD_METADATA=1.2\nMD_UUID=3b2f1c0e:8a9d7e6f:12345678:9abcdef0\n\
                      MD_NAME=lab:0\nMD_DEVICE_dev_loop0_ROLE=0\n";
        assert_eq!(md_uuid(export).as_deref(), Some("3b2f1c0e:8a9d7e6f:12345678:9abcdef0"));
        assert_eq!(md_uuid("MD_LEVEL=raid1\n"), None);
    }

    #[test]
    fn array_uuids_compare_by_their_hex_digits() {
        assert!(same_md_uuid("3b2f1c0e:8a9d7e6f:12345678:9abcdef0", "3B2F1C0E-8A9D-7E6F-1234-56789ABCDEF0"));
        assert!(!same_md_uuid("3b2f1c0e:8a9d7e6f:12345678:9abcdef0", "3b2f1c0e:8a9d7e6f:12345678:9abcdef1"));
    }
}
