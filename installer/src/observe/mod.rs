//! Observation: read what the hardware says, under an injectable root (`/` in the initramfs, a fixture
//! tree in tests). Nothing here judges; the BMC, LLDP and the NICs' drivers (ethtool) are reached through
//! seams.

pub mod bays;
mod disk_bus;
mod disks;
mod dmi;
mod enclosure;
pub mod ethtool;
pub mod ipmi;
pub mod lldp;
mod nics;
mod pci;
pub mod pci_ids;
mod power;
mod profile;
pub mod smbios;
pub mod sysfs;

use std::path::Path;
use std::time::Duration;

use hardware_profiles::BayMap;
use rackhand_api::Inventory;

use ethtool::Ethtool;
use ipmi::Bmc;
use lldp::LldpListener;

pub use bays::{Placement, place_disk};
pub use disks::{DiskObservation, classify_disk, observe_disks};
pub use dmi::observe_system;
pub use nics::observe_nics;
pub use pci::observe_pci_devices;
pub use power::{classify_power_supplies, observe_power_supplies};
pub use profile::{ProfileChoiceError, choose_profile};

/// The parts of observation that talk to something other than files.
pub struct Seams<'a> {
    pub bmc: &'a dyn Bmc,
    /// Asks each NIC's driver for its firmware version (only meaningful on the machine itself).
    pub ethtool: &'a dyn Ethtool,
    pub lldp: &'a dyn LldpListener,
    /// How long to listen for LLDP (switches send every 30 s by default).
    pub lldp_window: Duration,
}

/// Everything the installer knows about the machine under `root`. `bays` is the profile's map from the
/// places disks are seen at (SCSI address, AHCI port, PCIe slot, enclosure slot) to bays.
pub fn observe_inventory(root: &Path, seams: &Seams<'_>, bays: Option<&BayMap>) -> Inventory {
    let mut nics = observe_nics(root);
    let names: Vec<String> = nics.iter().map(|n| n.name.clone()).collect();
    let mut heard = if names.is_empty() || seams.lldp_window.is_zero() {
        Default::default()
    } else {
        seams.lldp.neighbors(&names, seams.lldp_window)
    };
    for nic in &mut nics {
        nic.lldp = heard.remove(&nic.name);
        nic.firmware_version = seams.ethtool.driver_info(&nic.name).ok().and_then(|info| info.firmware_version);
    }
    Inventory {
        system: observe_system(root),
        psus: observe_power_supplies(root, seams.bmc),
        nics,
        disks: observe_disks(root).into_iter().map(|d| classify_disk(d, bays)).collect(),
        pci_devices: observe_pci_devices(root),
    }
}
