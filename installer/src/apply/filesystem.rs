//! Filesystems on data arrays with the real `mke2fs` (e2fsprogs, shipped in the initramfs), the UUID read
//! back from the new superblock so the node record says which filesystem the installed OS will find.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use crate::plan::FilesystemPlan;

use super::{ApplyError, find_tool, run_tool};

/// What the install needs to make a filesystem.
pub trait Filesystems {
    /// Make `fs` on `device` (a freshly built array) and return the new filesystem's UUID.
    fn make(&self, device: &str, fs: &FilesystemPlan) -> Result<String, ApplyError>;
}

/// `mke2fs` from the initramfs (or `$PATH`).
#[derive(Debug, Clone)]
pub struct Mke2fs {
    pub program: PathBuf,
}

impl Default for Mke2fs {
    fn default() -> Self {
        Self { program: find_tool(&["/sbin/mke2fs", "/usr/sbin/mke2fs"], "mke2fs") }
    }
}

/// `mke2fs` arguments for `fs` on `device`: forced (the device is a whole array, not a partition), quiet.
pub fn mke2fs_args<'a>(device: &'a str, fs: &'a FilesystemPlan) -> Vec<&'a str> {
    let mut args = vec!["-F", "-q", "-t", fs.kind.name()];
    if let Some(label) = &fs.label {
        args.extend(["-L", label.as_str()]);
    }
    args.push(device);
    args
}

impl Filesystems for Mke2fs {
    fn make(&self, device: &str, fs: &FilesystemPlan) -> Result<String, ApplyError> {
        let what = format!("making {} on {device}", fs.describe());
        run_tool(&self.program, &what, &mke2fs_args(device, fs))?;
        let io = |e| ApplyError::Io { what: format!("reading {device}'s new superblock"), source: e };
        let mut head = Vec::with_capacity(2048);
        File::open(device).map_err(io)?.take(2048).read_to_end(&mut head).map_err(io)?;
        let found = head.get(SUPERBLOCK_OFFSET..).and_then(ext_superblock);
        found.map(|sb| sb.uuid).ok_or_else(|| ApplyError::Command {
            what,
            status: "ok".into(),
            stderr: format!("no ext superblock on {device} afterwards"),
        })
    }
}

/// Where an ext2/3/4 superblock starts on its device.
pub const SUPERBLOCK_OFFSET: usize = 1024;
const MAGIC: u16 = 0xef53;

/// What a test or a record wants from an ext2/3/4 superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtSuperblock {
    /// `8-4-4-4-12` lowercase hex, as `blkid` shows it.
    pub uuid: String,
    pub label: String,
}

/// Parses the superblock at the start of `sb` (1024 bytes into the device): magic at 0x38, UUID at 0x68,
/// volume name at 0x78.
pub fn ext_superblock(sb: &[u8]) -> Option<ExtSuperblock> {
    let magic = u16::from_le_bytes(sb.get(0x38..0x3a)?.try_into().ok()?);
    if magic != MAGIC {
        return None;
    }
    let uuid = sb.get(0x68..0x78)?;
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
    let name = sb.get(0x78..0x88)?;
    let label = String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]).into_owned();
    Some(ExtSuperblock { uuid, label })
}

#[cfg(test)]
mod tests {
    use hardware_profiles::FilesystemKind;

    use super::*;

    fn superblock(label: &[u8]) -> Vec<u8> {
        let mut sb = vec![0u8; 1024];
        sb[0x38..0x3a].copy_from_slice(&MAGIC.to_le_bytes());
        sb[0x68..0x78].copy_from_slice(&[
            0x3b, 0x2f, 0x1c, 0x0e, 0x8a, 0x9d, 0x7e, 0x6f, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
        ]);
        sb[0x78..0x78 + label.len()].copy_from_slice(label);
        sb
    }

    #[test]
    fn an_ext_superblock_gives_its_uuid_and_label() {
        let sb = ext_superblock(&superblock(b"data")).unwrap();
        assert_eq!(sb.uuid, "3b2f1c0e-8a9d-7e6f-1234-56789abcdef0");
        assert_eq!(sb.label, "data");
        assert_eq!(ext_superblock(&superblock(b"sixteen-letters!")).unwrap().label, "sixteen-letters!");
        let mut not_ext = superblock(b"data");
        not_ext[0x38] = 0;
        assert_eq!(ext_superblock(&not_ext), None);
        assert_eq!(ext_superblock(&superblock(b"x")[..0x70]), None, "cut short");
    }

    #[test]
    fn mke2fs_is_forced_quiet_and_labelled() {
        let fs = FilesystemPlan { kind: FilesystemKind::Ext4, label: Some("data".into()) };
        assert_eq!(mke2fs_args("/dev/md1", &fs), ["-F", "-q", "-t", "ext4", "-L", "data", "/dev/md1"]);
        let fs = FilesystemPlan { label: None, ..fs };
        assert_eq!(mke2fs_args("/dev/md1", &fs), ["-F", "-q", "-t", "ext4", "/dev/md1"]);
    }
}
