//! Where a disk hangs, read from its device's real sysfs path (`/sys/block/X/device`, resolved): the bus
//! it is reached over, the PCI function that reaches it (the controller: an HBA, an AHCI controller, an
//! NVMe drive itself), its AHCI port and the PCIe slot it sits in. The kernel's layouts:
//!
//! ```text
//! AHCI   /sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0      (+ /sys/class/ata_port/ata3/port_no)
//! SAS    /sys/devices/pci0000:00/0000:00:01.0/0000:18:00.0/host0/port-0:0/expander-0:0/port-0:0:3/end_device-0:0:3/target0:0:3/0:0:3:0
//! NVMe   /sys/devices/pci0000:00/0000:00:02.0/0000:01:00.0/nvme/nvme0             (+ /sys/bus/pci/slots/1/address = 0000:01:00)
//!        /sys/devices/virtual/nvme-subsystem/nvme-subsys0   (a multipath head: its paths under /sys/block/nvme0n1/multipath/)
//! virtio /sys/devices/pci0000:00/0000:00:05.0/virtio1/host0/target0:0:0/0:0:0:0
//! USB    /sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0
//! ```

use std::path::{Path, PathBuf};

use hardware_profiles::AtaSite;
use rackhand_api::DiskController;

use super::sysfs::{canonical, entries, is_pci_address, link_basename, read_hex_u16, read_u64};

/// What a disk's device path says of how it is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskBus {
    pub transport: Option<String>,
    pub controller: Option<DiskController>,
    pub ata: Option<AtaSite>,
    pub pcie_slot: Option<String>,
}

/// The bus of the disk whose `/sys/block/X` directory is `block`, under `root`.
pub fn observe_bus(root: &Path, block: &Path) -> DiskBus {
    let Some(devices) = canonical(&root.join("sys/devices")) else {
        return DiskBus::default();
    };
    let below = |path: PathBuf| -> Option<Vec<String>> {
        let parts = path.strip_prefix(&devices).ok()?.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        Some(parts)
    };
    let Some(parts) = canonical(&block.join("device")).and_then(below) else {
        return DiskBus::default();
    };
    // A multipath NVMe namespace hangs off its subsystem, not a PCI function: take its first path's.
    let reached = if parts.iter().any(|p| is_pci_address(p)) {
        parts.clone()
    } else {
        let paths = block.join("multipath");
        entries(&paths)
            .into_iter()
            .filter_map(|p| canonical(&paths.join(p)).and_then(below))
            .find(|p| p.iter().any(|part| is_pci_address(part)))
            .unwrap_or_else(|| parts.clone())
    };
    let functions: Vec<usize> = (0..reached.len()).filter(|&i| is_pci_address(&reached[i])).collect();
    let dir = |upto: usize| reached[..=upto].iter().fold(devices.clone(), |dir, p| dir.join(p));
    let controller = functions.last().map(|&i| controller(&dir(i), &reached[i]));
    DiskBus {
        transport: transport(&parts).map(str::to_owned),
        ata: ata_port(root, &reached, &functions, &dir),
        pcie_slot: pcie_slot(root, functions.iter().rev().map(|&i| reached[i].as_str())),
        controller,
    }
}

fn controller(dir: &Path, address: &str) -> DiskController {
    DiskController {
        pci_address: address.to_owned(),
        pci_vendor: read_hex_u16(&dir.join("vendor")),
        pci_device: read_hex_u16(&dir.join("device")),
        driver: link_basename(&dir.join("driver")),
    }
}

/// `ata3` → 3; `ata_port`, `atapi` → none.
fn numbered(part: &str, prefix: &str) -> bool {
    part.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The bus the disk hangs off, from its device path below `/sys/devices`.
fn transport(parts: &[String]) -> Option<&'static str> {
    let any = |f: &dyn Fn(&str) -> bool| parts.iter().any(|p| f(p));
    let t = if any(&|p| p == "nvme" || p == "nvme-subsystem") {
        "nvme"
    } else if any(&|p| numbered(p, "usb")) {
        "usb"
    } else if any(&|p| numbered(p, "ata")) {
        "sata"
    } else if any(&|p| p.starts_with("end_device-") || p.starts_with("expander-")) {
        "sas"
    } else if let Some(i) = parts.iter().position(|p| numbered(p, "virtio")) {
        if parts[i..].iter().any(|p| numbered(p, "host")) { "virtio-scsi" } else { "virtio-blk" }
    } else if any(&|p| numbered(p, "host")) {
        "scsi"
    } else {
        return None;
    };
    Some(t)
}

/// The AHCI port: the `ataN` component's controller-local number (`/sys/class/ata_port/ataN/port_no`,
/// from 1), on the PCI function above it.
fn ata_port(root: &Path, parts: &[String], functions: &[usize], dir: &dyn Fn(usize) -> PathBuf) -> Option<AtaSite> {
    let at = parts.iter().position(|p| numbered(p, "ata"))?;
    let name = &parts[at];
    let port = read_u64(&root.join("sys/class/ata_port").join(name).join("port_no"))
        .or_else(|| read_u64(&dir(at).join("ata_port").join(name).join("port_no")))?;
    let controller = functions.iter().rev().find(|&&i| i < at).map(|&i| parts[i].clone());
    Some(AtaSite { controller, port: u32::try_from(port).ok()? })
}

/// The PCIe slot the nearest of `functions` (nearest first) sits in: a slot whose `address` is its
/// `domain:bus:device`, or its `domain:bus` (a slot that is the whole bus behind a port).
fn pcie_slot<'a>(root: &Path, mut functions: impl Iterator<Item = &'a str>) -> Option<String> {
    let slots = super::pci::slot_addresses(&root.join("sys/bus/pci/slots"));
    functions.find_map(|function| super::pci::slot_of(function, &slots))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn the_transport_is_read_from_the_kernel_path() {
        let cases = [
            ("pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0", Some("sata")),
            (
                "pci0000:00/0000:00:01.0/0000:18:00.0/host0/port-0:0/expander-0:0/port-0:0:3/end_device-0:0:3/target0:0:3/0:0:3:0",
                Some("sas"),
            ),
            ("pci0000:00/0000:00:01.0/0000:18:00.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0", Some("sas")),
            ("pci0000:00/0000:00:02.0/0000:01:00.0/nvme/nvme0", Some("nvme")),
            ("virtual/nvme-subsystem/nvme-subsys0", Some("nvme")),
            ("pci0000:00/0000:00:05.0/virtio1/host0/target0:0:0/0:0:0:0", Some("virtio-scsi")),
            ("pci0000:00/0000:00:06.0/virtio2", Some("virtio-blk")),
            ("pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0", Some("usb")),
            ("pci0000:00/0000:00:03.0/0000:02:00.0/host0/target0:2:0/0:2:0:0", Some("scsi")),
            ("platform/floppy.0", None),
        ];
        for (path, want) in cases {
            assert_eq!(transport(&parts(path)), want, "{path}");
        }
        assert!(numbered("ata12", "ata") && !numbered("ata_port", "ata") && !numbered("ata", "ata"));
    }
}
