//! The PCI network (class 0x02) and mass-storage (class 0x01) functions from `/sys/bus/pci/devices`, each
//! with the driver bound to it, if any: a card no driver in this installer claims has no network
//! interface and no disks, and is seen only here.

use std::path::Path;

use rackhand_api::PciDevice;

use super::pci_ids::PciIds;
use super::sysfs::{entries, link_basename, read_hex_u16, read_hex_u32, read_trimmed};

/// The network and storage functions under `root`, by address, named from `root`'s pci.ids.
pub fn observe_pci_devices(root: &Path) -> Vec<PciDevice> {
    let bus = root.join("sys/bus/pci");
    let slots = slot_addresses(&bus.join("slots"));
    let devices = bus.join("devices");
    let mut found: Vec<PciDevice> = entries(&devices)
        .into_iter()
        .filter_map(|address| observe_function(&devices.join(&address), address))
        .collect();
    if found.is_empty() {
        return found;
    }
    let ids = PciIds::load(root);
    for device in &mut found {
        device.slot = slot_of(&device.address, &slots);
        device.vendor_name = ids.vendor(device.vendor).map(str::to_owned);
        device.device_name = ids.device(device.vendor, device.device).map(str::to_owned);
    }
    found
}

fn observe_function(dir: &Path, address: String) -> Option<PciDevice> {
    let class = read_hex_u32(&dir.join("class"))?;
    if !matches!(class >> 16, 0x01 | 0x02) {
        return None;
    }
    Some(PciDevice {
        vendor: read_hex_u16(&dir.join("vendor"))?,
        device: read_hex_u16(&dir.join("device"))?,
        class,
        driver: bound_driver(dir),
        address,
        vendor_name: None,
        device_name: None,
        slot: None,
    })
}

/// The driver behind the function. `virtio-pci` only carries the device: the one that drives it is bound
/// to its `virtioN` child (`virtio_net`, `virtio_scsi`), and without it there is no NIC or disk.
fn bound_driver(dir: &Path) -> Option<String> {
    let driver = link_basename(&dir.join("driver"))?;
    if driver != "virtio-pci" {
        return Some(driver);
    }
    let child = entries(dir).into_iter().find(|name| {
        name.strip_prefix("virtio").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    match child {
        Some(child) => link_basename(&dir.join(child).join("driver")),
        None => Some(driver),
    }
}

/// Each slot's name and its `address`: `0000:3b:00` (domain:bus:device), or `0000:3b` for a slot that
/// stands for a whole bus.
pub(super) fn slot_addresses(slots: &Path) -> Vec<(String, String)> {
    entries(slots)
        .into_iter()
        .filter_map(|name| Some((read_trimmed(&slots.join(&name).join("address"))?, name)))
        .map(|(address, name)| (name, address.to_ascii_lowercase()))
        .collect()
}

/// The slot holding the function at `address` (`0000:3b:00.1`): the one whose address is its
/// `domain:bus:device`, else its `domain:bus`.
pub(super) fn slot_of(address: &str, slots: &[(String, String)]) -> Option<String> {
    let (device, _function) = address.rsplit_once('.')?;
    let (bus, _) = device.rsplit_once(':')?;
    let address = |want: &str| slots.iter().find(|(_, a)| a == want).map(|(name, _)| name.clone());
    address(device).or_else(|| address(bus))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, a)| ((*n).to_owned(), (*a).to_owned())).collect()
    }

    #[test]
    fn a_slot_holds_every_function_of_its_device() {
        let slots = slots(&[("3", "0000:3b:00"), ("6", "0000:86:00")]);
        assert_eq!(slot_of("0000:3b:00.1", &slots).as_deref(), Some("3"));
        assert_eq!(slot_of("0000:86:00.0", &slots).as_deref(), Some("6"));
        assert_eq!(slot_of("0000:3b:01.0", &slots), None, "another device on the same bus");
        assert_eq!(slot_of("0000:00:17.0", &slots), None, "onboard");
    }

    #[test]
    fn a_slot_for_a_whole_bus_holds_its_devices() {
        let slots = slots(&[("1", "0000:19")]);
        assert_eq!(slot_of("0000:19:00.1", &slots).as_deref(), Some("1"));
        assert_eq!(slot_of("0000:1a:00.0", &slots), None);
    }
}
