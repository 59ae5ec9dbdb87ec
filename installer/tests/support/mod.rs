//! Fixture builder: writes a fake sysfs tree shaped like real Linux sysfs (relative symlinks from
//! `/sys/class/*` and `/sys/block` into `/sys/devices/...`) into a temporary directory, from a
//! declarative [`ServerSpec`]. Tests start from a model (`qemu_lab()`, ...) and change one thing.

#![allow(dead_code, unused_imports)]

pub mod http;
mod models;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hardware_profiles::Profile;
use installer::observe::ipmi::FixedBmc;
use installer::observe::lldp::FixedLldp;
use installer::observe::smbios::{PowerSupplyRecord, characteristics, encode_type39};
use installer::observe::{Seams, observe_inventory};
use rackhand_api::{BmcPsuReading, Inventory, LldpNeighbor, PsuStatus};

pub use models::{edge_1u, qemu_lab, storage_2u};

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub vendor: String,
    pub product: String,
    pub serial: String,
    pub uuid: String,
    pub psus: Vec<PsuSpec>,
    pub nics: Vec<NicSpec>,
    pub disks: Vec<DiskSpec>,
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
    pub driver: String,
    pub carrier: bool,
    pub speed_mbps: i64,
    /// What the switch on the other end says over LLDP: (chassis id, port id, system name).
    pub lldp: Option<(String, String, String)>,
}

#[derive(Debug, Clone)]
pub struct DiskSpec {
    pub name: String,
    /// The SCSI host's directory below `/sys/devices` (the target dir goes below it).
    pub host_path: String,
    pub hctl: String,
    pub model: String,
    pub serial: String,
    pub wwid: String,
    pub size_gb: u64,
    pub rotational: bool,
}

#[derive(Debug, Clone)]
pub struct EnclosureSpec {
    /// SCSI device path of the enclosure itself, below `/sys/devices`.
    pub device_path: String,
    /// Slot number → disk name (`None` for an empty slot).
    pub slots: BTreeMap<u32, Option<String>>,
}

/// A written fixture tree and the fakes for its BMC and LLDP.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub lldp: FixedLldp,
    pub bmc: FixedBmc,
}

impl Fixture {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn observe(&self, profile: Option<&Profile>) -> Inventory {
        let seams = Seams { bmc: &self.bmc, lldp: &self.lldp, lldp_window: Duration::from_millis(1) };
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
        for disk in &self.disks {
            write_disk(&sys, disk);
        }
        if let Some(enclosure) = &self.enclosure {
            write_enclosure(&sys, enclosure, &self.disks);
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
        Fixture { dir, lldp: FixedLldp(lldp), bmc: FixedBmc(self.bmc.clone().unwrap_or_default()) }
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

/// An NVMe namespace `nvme0n1` on controller `nvme0` at PCI `0000:3d:00.0`, as sysfs shows it.
pub fn write_nvme(root: &Path, model: &str, serial: &str, size_gb: u64) {
    let sys = root.join("sys");
    let ctrl = sys.join("devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0");
    file(&ctrl.join("model"), model);
    file(&ctrl.join("serial"), serial);
    let ns = ctrl.join("nvme0n1");
    file(&ns.join("size"), &(size_gb * 1_000_000_000 / 512).to_string());
    file(&ns.join("queue/rotational"), "0");
    file(&ns.join("wwid"), "eui.0025388b71b0a2c1");
    symlink(&sys, &ns.join("device"), &ctrl);
    symlink(&sys, &sys.join("block/nvme0n1"), &ns);
}

/// A virtual interface (no `device` link), like `lo` or a bond.
pub fn write_virtual_nic(root: &Path, name: &str) {
    let sys = root.join("sys");
    let dir = sys.join("devices/virtual/net").join(name);
    file(&dir.join("address"), "00:00:00:00:00:00");
    symlink(&sys, &sys.join("class/net").join(name), &dir);
}

fn write_nic(sys: &Path, nic: &NicSpec) {
    let pci = sys.join("devices").join(&nic.pci_path);
    file(&pci.join("vendor"), &format!("{:#06x}", nic.vendor));
    file(&pci.join("device"), &format!("{:#06x}", nic.device));
    std::fs::create_dir_all(sys.join("bus/pci/drivers").join(&nic.driver)).unwrap();
    symlink(sys, &pci.join("driver"), &sys.join("bus/pci/drivers").join(&nic.driver));
    let net = pci.join("net").join(&nic.name);
    file(&net.join("address"), &nic.mac);
    file(&net.join("carrier"), if nic.carrier { "1" } else { "0" });
    file(&net.join("speed"), &nic.speed_mbps.to_string());
    symlink(sys, &net.join("device"), &pci);
    symlink(sys, &sys.join("class/net").join(&nic.name), &net);
}

fn write_disk(sys: &Path, disk: &DiskSpec) {
    let dev = scsi_device_dir(sys, &disk.host_path, &disk.hctl);
    file(&dev.join("vendor"), "ATA");
    file(&dev.join("model"), &disk.model);
    file(&dev.join("wwid"), &disk.wwid);
    let mut vpd = vec![0x00, 0x80, 0x00, u8::try_from(disk.serial.len()).unwrap()];
    vpd.extend_from_slice(disk.serial.as_bytes());
    file_bytes(&dev.join("vpd_pg80"), &vpd);
    let block = dev.join("block").join(&disk.name);
    file(&block.join("size"), &(disk.size_gb * 1_000_000_000 / 512).to_string());
    file(&block.join("queue/rotational"), if disk.rotational { "1" } else { "0" });
    symlink(sys, &block.join("device"), &dev);
    symlink(sys, &sys.join("block").join(&disk.name), &block);
}

fn scsi_device_dir(sys: &Path, host_path: &str, hctl: &str) -> PathBuf {
    let (h, rest) = hctl.split_once(':').unwrap();
    let (c, rest) = rest.split_once(':').unwrap();
    let (t, _) = rest.split_once(':').unwrap();
    sys.join("devices").join(host_path).join(format!("target{h}:{c}:{t}")).join(hctl)
}

fn write_enclosure(sys: &Path, enc: &EnclosureSpec, disks: &[DiskSpec]) {
    let name = Path::new(&enc.device_path).file_name().unwrap().to_string_lossy().into_owned();
    let dir = sys.join("devices").join(&enc.device_path).join("enclosure").join(&name);
    for (slot, disk) in &enc.slots {
        let comp = dir.join(format!("Slot {slot:02}"));
        file(&comp.join("slot"), &slot.to_string());
        file(&comp.join("status"), "OK");
        if let Some(disk) = disk.as_ref().and_then(|n| disks.iter().find(|d| &d.name == n)) {
            symlink(sys, &comp.join("device"), &scsi_device_dir(sys, &disk.host_path, &disk.hctl));
        }
    }
    symlink(sys, &sys.join("class/enclosure").join(&name), &dir);
}

fn file(path: &Path, text: &str) {
    file_bytes(path, format!("{text}\n").as_bytes());
}

fn file_bytes(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A relative symlink at `link` pointing at `target`, both inside `sys`, as sysfs makes them.
fn symlink(sys: &Path, link: &Path, target: &Path) {
    let parent = link.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    let up = parent.strip_prefix(sys).unwrap().components().filter(|c| matches!(c, Component::Normal(_))).count();
    let mut rel = PathBuf::new();
    for _ in 0..up {
        rel.push("..");
    }
    rel.push(target.strip_prefix(sys).unwrap());
    std::os::unix::fs::symlink(rel, link).unwrap();
}
