//! Names from the pci.ids database (`/usr/share/misc/pci.ids`, Debian package `pci.ids`). Only vendor
//! lines (`8086  Intel Corporation`) and device lines (one tab, `1572  Ethernet Controller X710 ...`) are
//! read; subsystem lines (two tabs), comments and the class list that ends the file are skipped. Without
//! the file there are no names and devices are shown by their ids.

use std::collections::HashMap;
use std::path::Path;

/// Where distributions put the database, below the observed root.
pub const PCI_IDS_PATHS: &[&str] = &["usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids"];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PciIds {
    vendors: HashMap<u16, String>,
    devices: HashMap<(u16, u16), String>,
}

impl PciIds {
    /// The database under `root`, or an empty one when it is missing or unreadable.
    pub fn load(root: &Path) -> PciIds {
        PCI_IDS_PATHS
            .iter()
            .find_map(|path| std::fs::read(root.join(path)).ok())
            .map(|bytes| PciIds::parse(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> PciIds {
        let mut ids = PciIds::default();
        let mut vendor = None;
        for line in text.lines() {
            if line.starts_with("C ") {
                break; // the class list: its tab-indented lines are subclasses, not devices
            }
            if let Some(device_line) = line.strip_prefix('\t') {
                if let (Some(v), Some((device, name))) = (vendor, id_and_name(device_line)) {
                    ids.devices.insert((v, device), name.to_owned());
                }
                continue; // a subsystem line (a second tab) fails `id_and_name`
            }
            vendor = id_and_name(line).map(|(id, name)| {
                ids.vendors.insert(id, name.to_owned());
                id
            });
        }
        ids
    }

    pub fn vendor(&self, vendor: u16) -> Option<&str> {
        self.vendors.get(&vendor).map(String::as_str)
    }

    pub fn device(&self, vendor: u16, device: u16) -> Option<&str> {
        self.devices.get(&(vendor, device)).map(String::as_str)
    }
}

/// `1572  Ethernet Controller X710`: four hex digits, two spaces, a name.
fn id_and_name(line: &str) -> Option<(u16, &str)> {
    let (id, rest) = line.split_at_checked(4)?;
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let name = rest.strip_prefix("  ")?.trim();
    Some((u16::from_str_radix(id, 16).ok()?, name)).filter(|_| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/pci.ids");

    #[test]
    fn vendors_and_their_devices_are_named() {
        let ids = PciIds::parse(FIXTURE);
        assert_eq!(ids.vendor(0x8086), Some("Intel Corporation"));
        assert_eq!(ids.device(0x8086, 0x1572), Some("Ethernet Controller X710 for 10GbE SFP+"));
        assert_eq!(ids.device(0x1000, 0x0097), Some("SAS3008 PCI-Express Fusion-MPT SAS-3"));
        assert_eq!(ids.device(0x14e4, 0x16d8), Some("BCM57416 NetXtreme-E Dual-Media 10G RDMA Ethernet Controller"));
        assert_eq!(ids.vendor(0x0001), Some("SafeNet (wrong ID)"), "a vendor without devices");
    }

    #[test]
    fn a_device_id_belongs_to_the_vendor_above_it() {
        let ids = PciIds::parse(FIXTURE);
        assert_eq!(ids.device(0x1af4, 0x1000), Some("Virtio network device"));
        assert_eq!(ids.device(0x1000, 0x1000), None, "1af4's device 1000 is not LSI's");
        assert_eq!(ids.device(0x8086, 0x9999), None);
        assert_eq!(ids.vendor(0xabcd), None);
    }

    #[test]
    fn subsystem_lines_comments_and_the_class_list_are_not_devices() {
        let ids = PciIds::parse(FIXTURE);
        // `\t\t1028 0000  Ethernet 10G X710 rNDC` is a subsystem of the X710, not a device of Intel's.
        assert!(!ids.devices.values().any(|n| n.contains("rNDC") || n.contains("Motherboard")));
        // The class list's `\t00  Ethernet controller` under `C 02` is not a device of the last vendor.
        assert!(!ids.devices.values().any(|n| n == "Ethernet controller" || n == "SATA controller"));
        assert!(!ids.vendors.values().any(|n| n.contains("Syntax") || n.contains("List of")));
        assert_eq!(ids.devices.len(), 10, "{:#?}", ids.devices);
        assert_eq!(ids.vendors.len(), 7);
    }

    #[test]
    fn a_missing_database_leaves_devices_unnamed() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(PciIds::load(root.path()), PciIds::default());
        let misc = root.path().join("usr/share/misc");
        std::fs::create_dir_all(&misc).unwrap();
        std::fs::write(misc.join("pci.ids"), FIXTURE).unwrap();
        assert_eq!(PciIds::load(root.path()).vendor(0x15b3), Some("Mellanox Technologies"));
    }
}
