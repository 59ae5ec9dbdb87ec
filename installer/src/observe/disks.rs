//! Block devices from `/sys/block`: what each disk is, how it is reached (`disk_bus.rs`) and every place
//! it was seen at (SCSI address, AHCI port, PCIe slot, SES enclosure slot), from which `bays.rs` decides
//! its bay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hardware_profiles::{BayMap, DiskSite, SesSite};
use rackhand_api::{Disk, DiskClass, DiskController};

use super::bays::place_disk;
use super::disk_bus::observe_bus;
use super::enclosure::ses_slots;
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
    pub controller: Option<DiskController>,
    /// Every place it was seen at: its SCSI address, AHCI port, PCIe slot, enclosure slot.
    pub site: DiskSite,
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
        // A multipath NVMe namespace's paths (`nvme1c1n1`) are hidden disks: the namespace is counted once.
        .filter(|name| read_trimmed(&block.join(name).join("hidden")).as_deref() != Some("1"))
        .filter_map(|name| observe_disk(root, &block.join(&name), name, &slots))
        .collect()
}

fn observe_disk(root: &Path, dir: &Path, name: String, slots: &BTreeMap<PathBuf, SesSite>) -> Option<DiskObservation> {
    let device = dir.join("device");
    let real = canonical(&device)?;
    let attr = |p: &str| read_trimmed(&device.join(p));
    let bus = observe_bus(root, dir);
    let site = DiskSite {
        hctl: real.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| is_hctl(n)),
        ata: bus.ata,
        pcie_slot: bus.pcie_slot,
        ses: slots.get(&real).cloned(),
    };
    Some(DiskObservation {
        model: attr("model"),
        serial: attr("serial").or_else(|| vpd_serial(&device.join("vpd_pg80"))),
        wwn: read_trimmed(&device.join("wwid")).or_else(|| read_trimmed(&dir.join("wwid"))).and_then(|w| wwn(&w)),
        size_bytes: read_u64(&dir.join("size"))? * SECTOR,
        rotational: read_trimmed(&dir.join("queue/rotational")).as_deref() == Some("1"),
        transport: bus.transport,
        controller: bus.controller,
        site,
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

/// The disk as the inventory records it: its class, and its bay as `bays.rs` decides.
pub fn classify_disk(obs: DiskObservation, bays: Option<&BayMap>) -> Disk {
    let placed = place_disk(&obs.site, bays);
    Disk {
        class: obs.class(),
        bay: placed.map(|p| p.bay),
        bay_source: placed.map(|p| p.source),
        hot_swap: placed.is_some_and(|p| p.hot_swap),
        name: obs.name,
        model: obs.model,
        serial: obs.serial,
        wwn: obs.wwn,
        size_bytes: obs.size_bytes,
        transport: obs.transport,
        hctl: obs.site.hctl,
        controller: obs.controller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_their_sysfs_forms() {
        assert_eq!(wwn("naa.5000C500A1B2C3D4").as_deref(), Some("0x5000c500a1b2c3d4"));
        assert_eq!(wwn("eui.0025388b71b0a2c1").as_deref(), Some("eui.0025388b71b0a2c1"));
        assert_eq!(wwn("t10.ATA     QEMU HARDDISK"), None);
    }
}
