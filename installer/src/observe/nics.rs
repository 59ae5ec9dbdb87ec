//! Network interfaces from `/sys/class/net`: only physical ones (those with a `device` link).

use std::path::{Path, PathBuf};

use hardware_profiles::vendor_by_id;
use rackhand_api::{MacAddr, Nic};

use super::sysfs::{canonical, entries, is_pci_address, link_basename, read_hex_u16, read_trimmed};

/// Every physical interface, sorted by name, without LLDP (added by the caller after listening).
pub fn observe_nics(root: &Path) -> Vec<Nic> {
    let class = root.join("sys/class/net");
    entries(&class).into_iter().filter_map(|name| observe_nic(&class.join(&name), name)).collect()
}

fn observe_nic(dir: &Path, name: String) -> Option<Nic> {
    let device = dir.join("device");
    if !device.exists() {
        return None; // loopback, bonds, bridges, veths, tunnels
    }
    let mac: MacAddr = read_trimmed(&dir.join("address"))?.parse().ok()?;
    let pci = pci_function(&device);
    let pci_vendor = pci.as_ref().and_then(|p| read_hex_u16(&p.join("vendor")));
    Some(Nic {
        name,
        mac,
        pci_vendor,
        pci_device: pci.as_ref().and_then(|p| read_hex_u16(&p.join("device"))),
        vendor_name: pci_vendor.and_then(vendor_by_id).map(|v| v.name.to_owned()),
        driver: link_basename(&device.join("driver")),
        // Both read as errors (EINVAL) while the interface is down: no carrier, no speed.
        carrier: read_trimmed(&dir.join("carrier")).as_deref() == Some("1"),
        speed_mbps: read_trimmed(&dir.join("speed"))
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| u32::try_from(s).ok())
            .filter(|&s| s > 0),
        lldp: None,
        pci_address: pci.as_ref().and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned())),
        // Asked of the driver (ethtool), not of sysfs: `observe_inventory` fills it in.
        firmware_version: None,
    })
}

/// The PCI function behind `device`: the device itself, or its nearest PCI ancestor (virtio NICs hang
/// off a `virtioN` node below the PCI function).
fn pci_function(device: &Path) -> Option<PathBuf> {
    let real = canonical(device)?;
    real.ancestors()
        .take(3)
        .find(|p| p.file_name().is_some_and(|n| is_pci_address(&n.to_string_lossy())))
        .map(Path::to_path_buf)
}
