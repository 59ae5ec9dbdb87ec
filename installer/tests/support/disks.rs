//! Disks, their controllers and where the kernel shows them, written as Linux lays them out in sysfs:
//!
//! ```text
//! SCSI   devices/<host>/target0:0:1/0:0:1:0/block/sdb                     (virtio-scsi, SAS behind an expander)
//! AHCI   devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda
//!        devices/pci0000:00/0000:00:1f.2/ata3/ata_port/ata3/port_no         ← class/ata_port/ata3
//! NVMe   devices/pci0000:00/0000:00:02.0/0000:01:00.0/nvme/nvme0/nvme0n1    (nvme0n1/device → ../../nvme0)
//!        bus/pci/slots/1/address = 0000:01:00                               (pciehp names a slot by its number)
//! SES    devices/<enclosure's SCSI device>/enclosure/0:0:16:0/Slot 04/{slot,device}  ← class/enclosure/0:0:16:0
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{file, file_bytes, symlink};

#[derive(Debug, Clone)]
pub struct DiskSpec {
    pub name: String,
    pub at: DiskAt,
    pub model: String,
    pub serial: String,
    pub wwid: String,
    pub size_gb: u64,
    pub rotational: bool,
}

/// Where the kernel finds a disk. Paths are below `/sys/devices`.
#[derive(Debug, Clone)]
pub enum DiskAt {
    /// A SCSI disk at `hctl` below the SCSI host directory `host` (virtio-scsi, a SAS expander's port).
    Scsi { host: String, hctl: String },
    /// A SATA disk on an AHCI port: the controller's PCI function, the kernel's `ata<print_id>` (counted
    /// over all controllers), its controller-local `port_no` (from 1) and its SCSI host number.
    Ahci { controller: String, print_id: u32, port_no: u32, host: u32 },
    /// Namespace 1 of NVMe controller `nvme<index>`, the PCI function `function`.
    Nvme { function: String, index: u32 },
}

impl DiskAt {
    pub fn scsi(host: &str, hctl: &str) -> Self {
        DiskAt::Scsi { host: host.into(), hctl: hctl.into() }
    }

    /// The device directory `/sys/block/X/device` resolves to: the SCSI device, or the NVMe controller.
    fn device_dir(&self, sys: &Path) -> PathBuf {
        let devices = sys.join("devices");
        match self {
            DiskAt::Scsi { host, hctl } => scsi_device_dir(&devices.join(host), hctl),
            DiskAt::Ahci { controller, print_id, host, .. } => {
                let host_dir = devices.join(controller).join(format!("ata{print_id}/host{host}"));
                scsi_device_dir(&host_dir, &format!("{host}:0:0:0"))
            }
            DiskAt::Nvme { function, index } => devices.join(function).join(format!("nvme/nvme{index}")),
        }
    }
}

fn scsi_device_dir(host_dir: &Path, hctl: &str) -> PathBuf {
    let (target, _) = hctl.rsplit_once(':').unwrap();
    host_dir.join(format!("target{target}")).join(hctl)
}

/// A PCI function as the kernel shows it: a NIC, a disk controller, a bridge or a root port, with the
/// driver bound to it (if any) and the slot it sits in (if the platform names one).
#[derive(Debug, Clone)]
pub struct PciSpec {
    /// Below `/sys/devices`: `pci0000:00/0000:00:1f.2`.
    pub path: String,
    pub vendor: u16,
    pub device: u16,
    /// `0x010601`: an AHCI SATA controller. `None`: no `class` file (the installer lists only functions
    /// whose class says network or storage).
    pub class: Option<u32>,
    pub driver: Option<String>,
    pub slot: Option<String>,
}

impl PciSpec {
    pub fn new(path: &str, vendor: u16, device: u16, driver: &str) -> Self {
        PciSpec { path: path.into(), vendor, device, class: None, driver: Some(driver.into()), slot: None }
    }

    /// The same function without its driver, of class `class`: a card this installer has no driver for.
    pub fn unbound(path: &str, vendor: u16, device: u16, class: u32) -> Self {
        PciSpec { path: path.into(), vendor, device, class: Some(class), driver: None, slot: None }
    }
}

#[derive(Debug, Clone)]
pub struct EnclosureSpec {
    /// SCSI device path of the enclosure itself, below `/sys/devices`.
    pub device_path: String,
    /// Its logical id (`/sys/class/enclosure/NAME/id`).
    pub id: String,
    /// Slot number → disk name (`None` for an empty slot).
    pub slots: BTreeMap<u32, Option<String>>,
}

/// `devices/PATH` with `vendor`, `device` and `class`, `bus/pci/devices/ADDRESS` → it, the `driver` link
/// into `bus/pci/drivers/NAME` (and back) when bound, and its slot's `address` (`0000:3b:00`).
pub(super) fn write_pci(sys: &Path, pci: &PciSpec) {
    let dir = sys.join("devices").join(&pci.path);
    let address = dir.file_name().unwrap().to_string_lossy().into_owned();
    file(&dir.join("vendor"), &format!("{:#06x}", pci.vendor));
    file(&dir.join("device"), &format!("{:#06x}", pci.device));
    if let Some(class) = pci.class {
        file(&dir.join("class"), &format!("{class:#08x}"));
    }
    symlink(sys, &sys.join("bus/pci/devices").join(&address), &dir);
    if let Some(driver) = &pci.driver {
        let bound = sys.join("bus/pci/drivers").join(driver);
        std::fs::create_dir_all(&bound).unwrap();
        symlink(sys, &dir.join("driver"), &bound);
        symlink(sys, &bound.join(&address), &dir);
    }
    if let Some(slot) = &pci.slot {
        write_pci_slot(sys, slot, address.rsplit_once('.').unwrap().0);
    }
}

/// A PCI slot as a hot-plug driver registers it: `bus/pci/slots/NAME/address` (`0000:01:00`).
pub(super) fn write_pci_slot(sys: &Path, name: &str, address: &str) {
    file(&sys.join("bus/pci/slots").join(name).join("address"), address);
}

pub(super) fn write_disk(sys: &Path, disk: &DiskSpec) {
    let dev = disk.at.device_dir(sys);
    let block = match &disk.at {
        DiskAt::Nvme { .. } => {
            file(&dev.join("model"), &disk.model);
            file(&dev.join("serial"), &disk.serial);
            dev.join(&disk.name)
        }
        DiskAt::Scsi { .. } | DiskAt::Ahci { .. } => {
            file(&dev.join("vendor"), "ATA");
            file(&dev.join("model"), &disk.model);
            let mut vpd = vec![0x00, 0x80, 0x00, u8::try_from(disk.serial.len()).unwrap()];
            vpd.extend_from_slice(disk.serial.as_bytes());
            file_bytes(&dev.join("vpd_pg80"), &vpd);
            dev.join("block").join(&disk.name)
        }
    };
    // SCSI disks have their WWN on the SCSI device, NVMe namespaces on the block device.
    let wwid_at = if matches!(disk.at, DiskAt::Nvme { .. }) { &block } else { &dev };
    file(&wwid_at.join("wwid"), &disk.wwid);
    file(&block.join("size"), &(disk.size_gb * 1_000_000_000 / 512).to_string());
    file(&block.join("queue/rotational"), if disk.rotational { "1" } else { "0" });
    symlink(sys, &block.join("device"), &dev);
    symlink(sys, &sys.join("block").join(&disk.name), &block);
    if let DiskAt::Ahci { controller, print_id, port_no, .. } = &disk.at {
        let name = format!("ata{print_id}");
        let port = sys.join("devices").join(controller).join(&name).join("ata_port").join(&name);
        file(&port.join("port_no"), &port_no.to_string());
        symlink(sys, &sys.join("class/ata_port").join(&name), &port);
    }
}

pub(super) fn write_enclosure(sys: &Path, enc: &EnclosureSpec, disks: &[DiskSpec]) {
    let name = Path::new(&enc.device_path).file_name().unwrap().to_string_lossy().into_owned();
    let dir = sys.join("devices").join(&enc.device_path).join("enclosure").join(&name);
    file(&dir.join("id"), &enc.id);
    for (slot, disk) in &enc.slots {
        let comp = dir.join(format!("Slot {slot:02}"));
        file(&comp.join("slot"), &slot.to_string());
        file(&comp.join("status"), "OK");
        if let Some(disk) = disk.as_ref().and_then(|n| disks.iter().find(|d| &d.name == n)) {
            symlink(sys, &comp.join("device"), &disk.at.device_dir(sys));
        }
    }
    symlink(sys, &sys.join("class/enclosure").join(&name), &dir);
}

/// An NVMe namespace `nvme0n1` on controller `nvme0` at PCI `0000:3d:00.0` behind root port `0000:00:1d.0`,
/// no slot, as sysfs shows it.
pub fn write_nvme(root: &Path, model: &str, serial: &str, size_gb: u64) {
    let sys = root.join("sys");
    write_pci(&sys, &PciSpec::new("pci0000:00/0000:00:1d.0/0000:3d:00.0", 0x144d, 0xa80a, "nvme"));
    let disk = DiskSpec {
        name: "nvme0n1".into(),
        at: DiskAt::Nvme { function: "pci0000:00/0000:00:1d.0/0000:3d:00.0".into(), index: 0 },
        model: model.into(),
        serial: serial.into(),
        wwid: "eui.0025388b71b0a2c1".into(),
        size_gb,
        rotational: false,
    };
    write_disk(&sys, &disk);
}

/// A dual-port NVMe SSD's namespace as native NVMe multipath shows it: the block device `nvme2n1` is the
/// subsystem's (`devices/virtual/nvme-subsystem/nvme-subsys2/nvme2n1`, its `device` the subsystem), each
/// path a hidden disk below its controller (`nvme2c2n1`), linked from the head's `multipath/`.
pub fn write_nvme_multipath(root: &Path, function: &str, serial: &str) {
    let sys = root.join("sys");
    write_pci(&sys, &PciSpec::new(function, 0x144d, 0xa824, "nvme"));
    let subsys = sys.join("devices/virtual/nvme-subsystem/nvme-subsys2");
    file(&subsys.join("model"), "SAMSUNG MZWLJ3T8HBLS-00007");
    file(&subsys.join("serial"), serial);
    let ctrl = sys.join("devices").join(function).join("nvme/nvme2");
    file(&ctrl.join("serial"), serial);
    symlink(&sys, &subsys.join("nvme2"), &ctrl);
    let head = subsys.join("nvme2n1");
    let path = ctrl.join("nvme2c2n1");
    for (disk, hidden) in [(&head, "0"), (&path, "1")] {
        file(&disk.join("size"), &(3_840_000_000_000u64 / 512).to_string());
        file(&disk.join("queue/rotational"), "0");
        file(&disk.join("hidden"), hidden);
        symlink(&sys, &sys.join("block").join(disk.file_name().unwrap()), disk);
    }
    file(&head.join("wwid"), "eui.36344730526054870025384500000001");
    symlink(&sys, &head.join("device"), &subsys);
    symlink(&sys, &path.join("device"), &ctrl);
    symlink(&sys, &head.join("multipath/nvme2c2n1"), &path);
}
