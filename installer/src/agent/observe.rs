//! What the running installed system sees of itself: md arrays from sysfs (UUIDs from `mdadm`), the bond
//! from `/proc/net/bonding`, SSH host keys from `ssh-keygen -l`, its addresses. Reading is I/O under a
//! root; parsing ([`parse_bonding`], [`parse_fingerprint`]) is pure.

use std::path::Path;
use std::process::Command;

use rackhand_api::MacAddr;

/// One md array as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenArray {
    /// `md0` or `md127`.
    pub name: String,
    pub uuid: Option<String>,
    pub level: String,
    pub state: String,
    pub raid_disks: u32,
    /// (member kernel name `sda3`, md member state `in_sync`).
    pub members: Vec<(String, String)>,
    /// Sectors done and in all, while md rebuilds a member (`sync_action` recover or resync).
    pub rebuilding: Option<(u64, u64)>,
}

#[cfg(test)]
impl SeenArray {
    /// A clean two-disk RAID1 whose `members` are all in sync (the agent's tests' fixture).
    pub(crate) fn clean_raid1(name: &str, uuid: &str, members: &[&str]) -> SeenArray {
        SeenArray {
            name: name.into(),
            uuid: Some(uuid.into()),
            level: "raid1".into(),
            state: "clean".into(),
            raid_disks: 2,
            rebuilding: None,
            members: members.iter().map(|m| ((*m).into(), "in_sync".into())).collect(),
        }
    }
}

/// The bond as `/proc/net/bonding/NAME` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeenBond {
    pub mode: String,
    pub active: Option<String>,
    /// (interface, permanent MAC, MII up).
    pub slaves: Vec<(String, Option<MacAddr>, bool)>,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

pub fn observe_arrays(root: &Path) -> Vec<SeenArray> {
    let block = root.join("sys/block");
    let Ok(entries) = std::fs::read_dir(&block) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("md"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let md = block.join(&name).join("md");
            let level = read(&md.join("level"))?;
            let mut members: Vec<(String, String)> = std::fs::read_dir(&md)
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let dir = e.file_name().to_string_lossy().into_owned();
                    let member = dir.strip_prefix("dev-")?.to_owned();
                    Some((member, read(&e.path().join("state")).unwrap_or_default()))
                })
                .collect();
            members.sort();
            Some(SeenArray {
                uuid: (root == Path::new("/")).then(|| md_uuid(&format!("/dev/{name}"))).flatten(),
                level,
                state: read(&md.join("array_state")).unwrap_or_default(),
                raid_disks: read(&md.join("raid_disks")).and_then(|n| n.parse().ok()).unwrap_or(0),
                members,
                rebuilding: read(&md.join("sync_action"))
                    .filter(|action| action == "recover" || action == "resync")
                    .and(read(&md.join("sync_completed")))
                    .and_then(|done| parse_sync_completed(&done)),
                name,
            })
        })
        .collect()
}

/// md's `sync_completed`: `1234 / 5678` (sectors), or `none`.
pub fn parse_sync_completed(text: &str) -> Option<(u64, u64)> {
    let (done, all) = text.split_once('/')?;
    Some((done.trim().parse().ok()?, all.trim().parse().ok()?))
}

fn md_uuid(device: &str) -> Option<String> {
    let out = Command::new("mdadm").args(["--detail", "--export", device]).output().ok()?;
    crate::apply::raid::md_uuid(&String::from_utf8_lossy(&out.stdout))
}

/// `/proc/net/bonding/bond0` as text → mode, active slave, slaves with their permanent MAC and MII status.
pub fn parse_bonding(text: &str) -> SeenBond {
    let mut bond = SeenBond::default();
    let mut current: Option<(String, Option<MacAddr>, bool)> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "Bonding Mode" => bond.mode = value.to_owned(),
            "Currently Active Slave" if value != "None" => bond.active = Some(value.to_owned()),
            "Slave Interface" => {
                bond.slaves.extend(current.take());
                current = Some((value.to_owned(), None, false));
            }
            "MII Status" => {
                if let Some(slave) = current.as_mut() {
                    slave.2 = value == "up";
                }
            }
            "Permanent HW addr" => {
                if let Some(slave) = current.as_mut() {
                    slave.1 = value.parse().ok();
                }
            }
            _ => {}
        }
    }
    bond.slaves.extend(current);
    bond
}

/// The kernel's bonding-mode text (`fault-tolerance (active-backup)`) → its short name.
pub fn bond_mode_name(mode: &str) -> String {
    match (mode.find('('), mode.rfind(')')) {
        (Some(open), Some(close)) if open < close => mode[open + 1..close].to_owned(),
        _ => mode.to_owned(),
    }
}

/// `256 SHA256:abc… root@host (ED25519)` → `ED25519 SHA256:abc…`.
pub fn parse_fingerprint(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let _bits = words.next()?;
    let fingerprint = words.next()?.to_owned();
    let kind = line.trim_end().rsplit_once('(').and_then(|(_, k)| k.strip_suffix(')'))?;
    fingerprint.starts_with("SHA256:").then(|| format!("{kind} {fingerprint}"))
}

/// The host keys' fingerprints, as `ssh-keygen -l` gives them.
pub fn ssh_host_keys(root: &Path) -> Vec<String> {
    let dir = root.join("etc/ssh");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut keys: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ssh_host_")))
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    keys.sort();
    keys.iter()
        .filter_map(|key| Command::new("ssh-keygen").arg("-l").arg("-f").arg(key).output().ok())
        .filter_map(|out| parse_fingerprint(&String::from_utf8_lossy(&out.stdout)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BONDING: &str = "Ethernet Channel Bonding Driver: v6.1.0-28-amd64

Bonding Mode: fault-tolerance (active-backup)
Primary Slave: enp0s2 (primary_reselect always)
Currently Active Slave: enp0s2
MII Status: up
MII Polling Interval (ms): 100

Slave Interface: enp0s2
MII Status: up
Speed: 1000 Mbps
Link Failure Count: 0
Permanent HW addr: 52:54:00:7a:01:01
Slave queue ID: 0

Slave Interface: enp0s3
MII Status: down
Speed: Unknown
Link Failure Count: 1
Permanent HW addr: 52:54:00:7a:01:02
Slave queue ID: 0
";

    #[test]
    fn the_bonding_file_gives_the_active_leg_and_both_slaves() {
        let bond = parse_bonding(BONDING);
        assert_eq!(bond_mode_name(&bond.mode), "active-backup");
        assert_eq!(bond.active.as_deref(), Some("enp0s2"));
        let mac = |last| Some(MacAddr::new([0x52, 0x54, 0, 0x7a, 1, last]));
        assert_eq!(bond.slaves, [("enp0s2".into(), mac(1), true), ("enp0s3".into(), mac(2), false)]);
    }

    #[test]
    fn fingerprints_read_as_kind_and_hash() {
        let line = "256 SHA256:Xq1bOaS4u5h2n+8d9s0 root@rack1-u2 (ED25519)\n";
        assert_eq!(parse_fingerprint(line).as_deref(), Some("ED25519 SHA256:Xq1bOaS4u5h2n+8d9s0"));
        assert_eq!(parse_fingerprint("ssh-keygen: not a key file"), None);
    }

    #[test]
    fn arrays_are_read_from_sysfs_with_their_members() {
        let root = tempfile::tempdir().unwrap();
        let md = root.path().join("sys/block/md127/md");
        for (file, text) in [("level", "raid1\n"), ("array_state", "clean\n"), ("raid_disks", "2\n")] {
            std::fs::create_dir_all(&md).unwrap();
            std::fs::write(md.join(file), text).unwrap();
        }
        std::fs::create_dir_all(md.join("dev-sdb3")).unwrap();
        std::fs::write(md.join("dev-sdb3/state"), "in_sync\n").unwrap();
        let arrays = observe_arrays(root.path());
        assert_eq!(arrays.len(), 1);
        let a = &arrays[0];
        assert_eq!((a.name.as_str(), a.level.as_str(), a.state.as_str(), a.raid_disks), ("md127", "raid1", "clean", 2));
        assert_eq!(a.members, [("sdb3".to_owned(), "in_sync".to_owned())]);
    }
}
