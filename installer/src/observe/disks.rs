//! Block devices from `/sys/block`, and their bays: from an SES enclosure (`/sys/class/enclosure`) where
//! one holds the disk, else from the profile's map of SCSI address → bay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hardware_profiles::BayMap;
use rackhand_api::{Disk, DiskClass, Source};

use super::sysfs::{canonical, entries, is_hctl, read_trimmed, read_u64};

const SECTOR: u64 = 512;
const NOT_DISKS: [&str; 9] = ["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "mmcblk"];

/// What sysfs says about one disk, before deciding its bay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskObservation {
    pub name: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub size_bytes: u64,
    pub rotational: bool,
    pub transport: Option<String>,
    pub hctl: Option<String>,
    /// The SES slot that holds this disk, if an enclosure reports one.
    pub ses_slot: Option<u32>,
}

impl DiskObservation {
    /// SSD or HDD: what the kernel says of its rotation.
    pub fn class(&self) -> DiskClass {
        if self.rotational { DiskClass::Hdd } else { DiskClass::Ssd }
    }
}

pub fn observe_disks(root: &Path) -> Vec<DiskObservation> {
    let block = root.join("sys/block");
    let slots = ses_slots(root);
    entries(&block)
        .into_iter()
        .filter(|name| !NOT_DISKS.iter().any(|p| name.starts_with(p)))
        .filter_map(|name| observe_disk(&block.join(&name), name, &slots))
        .collect()
}

fn observe_disk(dir: &Path, name: String, slots: &BTreeMap<PathBuf, u32>) -> Option<DiskObservation> {
    let device = dir.join("device");
    let real = canonical(&device)?;
    let attr = |p: &str| read_trimmed(&device.join(p));
    let hctl = real.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| is_hctl(n));
    Some(DiskObservation {
        model: attr("model"),
        serial: attr("serial").or_else(|| vpd_serial(&device.join("vpd_pg80"))),
        wwn: read_trimmed(&device.join("wwid")).or_else(|| read_trimmed(&dir.join("wwid"))).and_then(|w| wwn(&w)),
        size_bytes: read_u64(&dir.join("size"))? * SECTOR,
        rotational: read_trimmed(&dir.join("queue/rotational")).as_deref() == Some("1"),
        transport: transport(&real.to_string_lossy()),
        hctl,
        ses_slot: slots.get(&real).copied(),
        name,
    })
}

/// Unit Serial Number VPD page: 4-byte header (length at bytes 2..4), then the ASCII serial.
fn vpd_serial(path: &Path) -> Option<String> {
    let page = std::fs::read(path).ok()?;
    let len = usize::from(u16::from_be_bytes([*page.get(2)?, *page.get(3)?]));
    let serial = String::from_utf8_lossy(page.get(4..4 + len)?).trim().to_owned();
    (!serial.is_empty()).then_some(serial)
}

/// `naa.5000c500a1b2c3d4` → `0x5000c500a1b2c3d4`; `eui.` IDs as they are; vendor strings are no WWN.
fn wwn(wwid: &str) -> Option<String> {
    if let Some(naa) = wwid.strip_prefix("naa.") {
        return Some(format!("0x{}", naa.to_ascii_lowercase()));
    }
    wwid.starts_with("eui.").then(|| wwid.to_owned())
}

/// The bus the disk hangs off, from its device path.
fn transport(path: &str) -> Option<String> {
    let t = if path.contains("/nvme") {
        "nvme"
    } else if path.contains("/usb") {
        "usb"
    } else if path.contains("/ata") {
        "sata"
    } else if path.contains("/end_device-") || path.contains("/expander-") {
        "sas"
    } else if path.contains("/virtio") {
        "virtio"
    } else if path.contains("/host") {
        "scsi"
    } else {
        return None;
    };
    Some(t.to_owned())
}

/// Every enclosure slot that holds a device: the device's canonical path → the slot number.
fn ses_slots(root: &Path) -> BTreeMap<PathBuf, u32> {
    let class = root.join("sys/class/enclosure");
    let mut out = BTreeMap::new();
    for enclosure in entries(&class) {
        let dir = class.join(&enclosure);
        for component in entries(&dir) {
            let comp = dir.join(&component);
            // Kernels before 4.x have no `slot` attribute; the component is then named after its slot.
            let slot = read_u64(&comp.join("slot")).or_else(|| trailing_number(&component));
            let (Some(slot), Some(device)) = (slot, canonical(&comp.join("device"))) else {
                continue;
            };
            if let Ok(slot) = u32::try_from(slot) {
                out.insert(device, slot);
            }
        }
    }
    out
}

/// `Slot 07` → 7, `Disk012` → 12.
fn trailing_number(name: &str) -> Option<u64> {
    let digits = name.trim_end_matches(|c: char| !c.is_ascii_digit());
    let start = digits.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    digits[start..].parse().ok()
}

/// Decide each disk's class and bay: the SES slot when an enclosure holds it (hot-swap), else the
/// profile's map by SCSI address (hot-swap as the profile says), else no bay.
pub fn classify_disk(obs: DiskObservation, bays: Option<&BayMap>) -> Disk {
    let from_map = || {
        let map = bays?;
        Some((map.bay_of(obs.hctl.as_deref()?)?, Source::Profile, map.hot_swap))
    };
    let placed = obs.ses_slot.map(|slot| (slot, Source::Ses, true)).or_else(from_map);
    Disk {
        class: obs.class(),
        bay: placed.map(|p| p.0),
        bay_source: placed.map(|p| p.1),
        hot_swap: placed.is_some_and(|p| p.2),
        name: obs.name,
        model: obs.model,
        serial: obs.serial,
        wwn: obs.wwn,
        size_bytes: obs.size_bytes,
        transport: obs.transport,
        hctl: obs.hctl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_buses_are_read_from_their_sysfs_forms() {
        assert_eq!(wwn("naa.5000C500A1B2C3D4").as_deref(), Some("0x5000c500a1b2c3d4"));
        assert_eq!(wwn("eui.0025388b71b0a2c1").as_deref(), Some("eui.0025388b71b0a2c1"));
        assert_eq!(wwn("t10.ATA     QEMU HARDDISK"), None);
        let sas = "/sys/devices/pci0000:00/0000:18:00.0/host0/port-0:0/expander-0:0/port-0:0:3/end_device-0:0:3";
        assert_eq!(transport(sas).as_deref(), Some("sas"));
        assert_eq!(
            transport("/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0").as_deref(),
            Some("sata")
        );
        assert_eq!(transport("/sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0").as_deref(), Some("nvme"));
        assert_eq!(trailing_number("Slot 07"), Some(7));
        assert_eq!(trailing_number("Disk012"), Some(12));
        assert_eq!(trailing_number("Power Supply"), None);
    }

    fn observation(ses_slot: Option<u32>, hctl: &str) -> DiskObservation {
        DiskObservation {
            name: "sdb".into(),
            model: None,
            serial: None,
            wwn: None,
            size_bytes: 1,
            rotational: false,
            transport: None,
            hctl: Some(hctl.into()),
            ses_slot,
        }
    }

    #[test]
    fn enclosure_slot_wins_over_the_profile_map() {
        let text = std::fs::read_to_string(hardware_profiles::shipped_profiles_dir().join("qemu-lab.toml")).unwrap();
        let lab = hardware_profiles::load_str(Path::new("qemu-lab.toml"), &text).unwrap();
        let by_ses = classify_disk(observation(Some(11), "0:0:1:0"), Some(&lab.bays));
        assert_eq!((by_ses.bay, by_ses.bay_source, by_ses.hot_swap), (Some(11), Some(Source::Ses), true));
        let by_map = classify_disk(observation(None, "3:0:1:0"), Some(&lab.bays));
        assert_eq!((by_map.bay, by_map.bay_source, by_map.hot_swap), (Some(1), Some(Source::Profile), false));
        let nowhere = classify_disk(observation(None, "0:0:9:0"), Some(&lab.bays));
        assert_eq!((nowhere.bay, nowhere.bay_source, nowhere.class), (None, None, DiskClass::Ssd));
    }
}
