//! The installer's disk tools on loop devices (sparse files in a tempdir): data signatures are found on a
//! real block device and wiped; the real mke2fs makes a data array's filesystem. Without root or loop
//! devices these say SKIPPED with the reason, and fail instead under RACKHAND_REQUIRE_NETNS (a root CI
//! run), where every test runs or fails.
//!
//! Arrays themselves need the kernel's md driver, which the CI machines' kernel lacks (built without
//! CONFIG_MD, no modules): `mdadm --create` is tested where it can run, inside the QEMU lab on Debian's
//! kernel (`tests/lab/tests/e2e.rs`: the arrays' UUIDs in the results against their superblocks on the
//! disks, both members active seen over SSH, a reinstall onto the arrays a node built).

use std::process::Command;

use installer::apply::filesystem::{SUPERBLOCK_OFFSET, ext_superblock};
use installer::apply::{Filesystems, Mdadm, Mke2fs, Raid};
use installer::plan::FilesystemPlan;

/// A loop device over a sparse file, detached on drop.
struct Loop {
    device: String,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn new(mib: u64) -> Result<Loop, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = dir.path().join("disk.img");
        std::fs::File::create(&file).and_then(|f| f.set_len(mib << 20)).map_err(|e| e.to_string())?;
        let out = Command::new("losetup").args(["-f", "--show"]).arg(&file).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("losetup -f: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Loop { device: String::from_utf8_lossy(&out.stdout).trim().to_owned(), _dir: dir })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.device]).output();
    }
}

/// Root and `n` loop devices (the loop driver loaded first), or None when the test skips.
fn loops(n: usize) -> Option<Vec<Loop>> {
    if !nix::unistd::geteuid().is_root() {
        rackhand_netns::skip_unless_required("needs root for loop devices");
        return None;
    }
    let _ = Command::new("modprobe").arg("loop").output();
    let mut out = Vec::new();
    for _ in 0..n {
        match Loop::new(64) {
            Ok(l) => out.push(l),
            Err(e) => {
                rackhand_netns::skip_unless_required(&format!("no loop devices here ({e})"));
                return None;
            }
        }
    }
    Some(out)
}

#[test]
fn signatures_on_a_real_block_device_are_found_and_wiped() {
    let Some(disks) = loops(1) else { return };
    let device = &disks[0].device;
    let mdadm = Mdadm::default();
    assert_eq!(mdadm.existing_data(device).unwrap(), None, "a fresh sparse disk is blank");
    // A GPT header and, at the end, its backup: what a disk from another server looks like.
    let mut disk = std::fs::OpenOptions::new().write(true).open(device).unwrap();
    use std::io::{Seek, SeekFrom, Write};
    disk.seek(SeekFrom::Start(512)).unwrap();
    disk.write_all(b"EFI PART").unwrap();
    disk.seek(SeekFrom::End(-512)).unwrap();
    disk.write_all(b"EFI PART").unwrap();
    disk.sync_all().unwrap();
    drop(disk);
    assert_eq!(mdadm.existing_data(device).unwrap().as_deref(), Some("GPT partition table"));
    mdadm.wipe(device).unwrap();
    assert_eq!(mdadm.existing_data(device).unwrap(), None, "wiped");
    let tail = std::fs::read(device).unwrap();
    assert!(tail[tail.len() - 512..].iter().all(|b| *b == 0), "the backup GPT is gone too");
}

#[test]
fn mke2fs_makes_a_labelled_ext4_and_reports_the_uuid_blkid_sees() {
    let Some(disks) = loops(1) else { return };
    let device = &disks[0].device;
    let fs = FilesystemPlan { kind: hardware_profiles::FilesystemKind::Ext4, label: Some("data".into()) };
    let uuid = Mke2fs::default().make(device, &fs).unwrap();
    let blkid = Command::new("blkid").args(["-o", "export", device]).output().unwrap();
    let blkid = String::from_utf8_lossy(&blkid.stdout);
    for line in [format!("UUID={uuid}"), "TYPE=ext4".into(), "LABEL=data".into()] {
        assert!(blkid.lines().any(|l| l == line), "{line} not in blkid's view:\n{blkid}");
    }
    let head = std::fs::read(device).unwrap();
    assert_eq!(ext_superblock(&head[SUPERBLOCK_OFFSET..]).unwrap().label, "data");
    assert_eq!(Mdadm::default().existing_data(device).unwrap().as_deref(), Some("ext2/3/4 filesystem"));
}
