//! Fixture builder: writes a fake sysfs tree shaped like real Linux sysfs (relative symlinks from
//! `/sys/class/*` and `/sys/block` into `/sys/devices/...`) into a temporary directory, from a
//! declarative [`ServerSpec`]. Tests start from a model (`qemu_lab()`, ...) and change one thing.

#![allow(dead_code, unused_imports)]

mod disks;
pub mod http;
mod models;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hardware_profiles::Profile;
use installer::observe::ethtool::{DriverInfo, FixedEthtool};
use installer::observe::ipmi::FixedBmc;
use installer::observe::lldp::FixedLldp;
use installer::observe::smbios::{PowerSupplyRecord, characteristics, encode_type39};
use installer::observe::{Seams, observe_inventory};
use rackhand_api::{BmcPsuReading, Inventory, LldpNeighbor, PsuStatus};

pub use disks::{DiskAt, DiskSpec, EnclosureSpec, PciSpec, write_nvme, write_nvme_multipath};
pub use models::{edge_1u, qemu_lab, qemu_lab_nvme, storage_2u};

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub vendor: String,
    pub product: String,
    pub serial: String,
    pub uuid: String,
    pub psus: Vec<PsuSpec>,
    pub nics: Vec<NicSpec>,
    pub disks: Vec<DiskSpec>,
    /// PCI functions other than the NICs': disk controllers, bridges, root ports.
    pub pci: Vec<PciSpec>,
    /// PCI slots the hot-plug driver registered: (name, `domain:bus:device` address).
    pub pci_slots: Vec<(String, String)>,
    /// An SES enclosure at this SCSI device path (relative to `/sys/devices`), slots numbered from 0.
    pub enclosure: Option<EnclosureSpec>,
    /// BMC power-supply sensors; `Some` also creates `/dev/ipmi0`.
    pub bmc: Option<Vec<BmcPsuReading>>,
    /// Write the PSUs into one DMI table (`/sys/firmware/dmi/tables/DMI`) instead of per-entry files.
    pub dmi_table_only: bool,
}

#[derive(Debug, Clone)]
pub struct PsuSpec {
    pub location: String,
    pub model: String,
    pub serial: String,
    pub watts: u16,
    pub present: bool,
    pub unplugged: bool,
    pub status: PsuStatus,
    pub hot_replaceable: bool,
}

#[derive(Debug, Clone)]
pub struct NicSpec {
    pub name: String,
    pub mac: String,
    /// Path of the PCI function below `/sys/devices`: `pci0000:00/0000:00:02.0`.
    pub pci_path: String,
    pub vendor: u16,
    pub device: u16,
    /// The bound driver; `None`: no driver claimed the function, so it has no network interface.
    pub driver: Option<String>,
    /// The firmware version its driver reports through ethtool.
    pub firmware: Option<String>,
    /// The physical slot (`/sys/bus/pci/slots/NAME`) the card sits in.
    pub slot: Option<String>,
    pub carrier: bool,
    pub speed_mbps: i64,
    /// What the switch on the other end says over LLDP: (chassis id, port id, system name).
    pub lldp: Option<(String, String, String)>,
}

/// A written fixture tree and the fakes for its BMC, LLDP and NIC drivers.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub lldp: FixedLldp,
    pub bmc: FixedBmc,
    pub ethtool: FixedEthtool,
}

impl Fixture {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn observe(&self, profile: Option<&Profile>) -> Inventory {
        let seams =
            Seams { bmc: &self.bmc, ethtool: &self.ethtool, lldp: &self.lldp, lldp_window: Duration::from_millis(1) };
        observe_inventory(self.root(), &seams, profile.map(|p| &p.bays))
    }
}

impl ServerSpec {
    pub fn nic(&mut self, name: &str) -> &mut NicSpec {
        self.nics.iter_mut().find(|n| n.name == name).expect("no such NIC in spec")
    }

    pub fn disk(&mut self, name: &str) -> &mut DiskSpec {
        self.disks.iter_mut().find(|d| d.name == name).expect("no such disk in spec")
    }

    pub fn write(&self) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let dmi = sys.join("class/dmi/id");
        for (attr, value) in [
            ("sys_vendor", &self.vendor),
            ("product_name", &self.product),
            ("product_serial", &self.serial),
            ("product_uuid", &self.uuid),
        ] {
            file(&dmi.join(attr), value);
        }
        let mut table = Vec::new();
        for (i, psu) in self.psus.iter().enumerate() {
            let raw = encode_type39(&psu.record(i));
            if self.dmi_table_only {
                table.extend_from_slice(&raw);
            } else {
                file_bytes(&sys.join(format!("firmware/dmi/entries/39-{i}/raw")), &raw);
            }
        }
        if self.dmi_table_only {
            table.extend_from_slice(&[127, 4, 0xff, 0xfe, 0, 0]);
            file_bytes(&sys.join("firmware/dmi/tables/DMI"), &table);
        }
        for nic in &self.nics {
            write_nic(&sys, nic);
        }
        for pci in &self.pci {
            disks::write_pci(&sys, pci);
        }
        for (name, address) in &self.pci_slots {
            disks::write_pci_slot(&sys, name, address);
        }
        for disk in &self.disks {
            disks::write_disk(&sys, disk);
        }
        if let Some(enclosure) = &self.enclosure {
            disks::write_enclosure(&sys, enclosure, &self.disks);
        }
        if self.bmc.is_some() {
            file(&dir.path().join("dev/ipmi0"), "");
        }
        let lldp = self
            .nics
            .iter()
            .filter_map(|n| {
                let (chassis, port, name) = n.lldp.clone()?;
                let neighbor = LldpNeighbor {
                    chassis_id: chassis,
                    port_id: port,
                    system_name: Some(name),
                    system_description: None,
                    port_description: None,
                    management_address: None,
                };
                Some((n.name.clone(), neighbor))
            })
            .collect();
        let ethtool = self
            .nics
            .iter()
            .filter_map(|n| {
                let info = DriverInfo {
                    driver: Some(n.driver.clone()?),
                    version: Some("6.1.0-18-amd64".into()),
                    firmware_version: n.firmware.clone(),
                    bus_info: Path::new(&n.pci_path).file_name().map(|a| a.to_string_lossy().into_owned()),
                };
                Some((n.name.clone(), info))
            })
            .collect();
        Fixture {
            dir,
            lldp: FixedLldp(lldp),
            bmc: FixedBmc(self.bmc.clone().unwrap_or_default()),
            ethtool: FixedEthtool(ethtool),
        }
    }
}

impl PsuSpec {
    fn record(&self, i: usize) -> PowerSupplyRecord {
        PowerSupplyRecord {
            handle: 0x2700 + u16::try_from(i).unwrap(),
            power_unit_group: 1,
            location: Some(self.location.clone()),
            device_name: Some(format!("PWR SPLY,{}W", self.watts)),
            manufacturer: Some("Delta".into()),
            serial: Some(self.serial.clone()),
            asset_tag: None,
            model: Some(self.model.clone()),
            revision: Some("A00".into()),
            max_power_watts: Some(self.watts),
            characteristics: characteristics(self.present, self.unplugged, self.status, self.hot_replaceable),
        }
    }
}

/// A virtual interface (no `device` link), like `lo` or a bond.
pub fn write_virtual_nic(root: &Path, name: &str) {
    let sys = root.join("sys");
    let dir = sys.join("devices/virtual/net").join(name);
    file(&dir.join("address"), "00:00:00:00:00:00");
    symlink(&sys, &sys.join("class/net").join(name), &dir);
}

/// `pci.ids` where Debian's package puts it, from the excerpt in `tests/fixtures`.
pub fn write_pci_ids(root: &Path) {
    let misc = root.join("usr/share/misc");
    std::fs::create_dir_all(&misc).unwrap();
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pci.ids"), misc.join("pci.ids")).unwrap();
}

/// A PCI function written into the fixture tree at `root` after [`ServerSpec::write`].
pub fn write_pci_function(root: &Path, spec: &PciSpec) {
    disks::write_pci(&root.join("sys"), spec);
}

fn write_nic(sys: &Path, nic: &NicSpec) {
    let function = PciSpec {
        path: nic.pci_path.clone(),
        vendor: nic.vendor,
        device: nic.device,
        class: Some(0x020000),
        driver: nic.driver.clone(),
        slot: nic.slot.clone(),
    };
    disks::write_pci(sys, &function);
    if nic.driver.is_none() {
        return; // no driver, no network interface
    }
    let pci = sys.join("devices").join(&nic.pci_path);
    let net = pci.join("net").join(&nic.name);
    file(&net.join("address"), &nic.mac);
    file(&net.join("carrier"), if nic.carrier { "1" } else { "0" });
    file(&net.join("speed"), &nic.speed_mbps.to_string());
    symlink(sys, &net.join("device"), &pci);
    symlink(sys, &sys.join("class/net").join(&nic.name), &net);
}

fn file(path: &Path, text: &str) {
    file_bytes(path, format!("{text}\n").as_bytes());
}

fn file_bytes(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A relative symlink at `link` pointing at `target`, both inside `sys`, as sysfs makes them: up from
/// the link's directory to an ancestor of the target's directory, then down (`nvme0n1/device ->
/// ../../nvme0`, `block/sda -> ../devices/...`).
fn symlink(sys: &Path, link: &Path, target: &Path) {
    let parent = link.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    // A function written again (a test changing what a model wrote) replaces its links.
    let _ = std::fs::remove_file(link);
    let from: Vec<Component> = parent.strip_prefix(sys).unwrap().components().collect();
    let to: Vec<Component> = target.strip_prefix(sys).unwrap().components().collect();
    let common = from.iter().zip(&to[..to.len() - 1]).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    rel.extend(&to[common..]);
    std::os::unix::fs::symlink(rel, link).unwrap();
}
