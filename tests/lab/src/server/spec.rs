//! What a virtual server is made of, before it runs: its disks (SSD/HDD, bays), PSUs (and the SMBIOS
//! type 39 structures QEMU is given for them), firmware, boot order and BMC; and where the lab racks it.

use std::path::PathBuf;

use installer::observe::smbios::{PowerSupplyRecord, characteristics, encode_type39};
use rackhand_api::{MacAddr, PsuStatus};

use crate::bmc::BmcSpec;
use crate::boot_order::BootOrder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKind {
    Ssd,
    Hdd,
}

impl DiskKind {
    /// How the lab names the kind in disk files and serial numbers.
    pub(super) fn name(self) -> &'static str {
        match self {
            DiskKind::Ssd => "ssd",
            DiskKind::Hdd => "hdd",
        }
    }
}

/// The lab's server models: how QEMU builds the server, and the hardware profile that describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Profile `qemu-lab`: SSDs and HDDs on a virtio-scsi HBA (the bay is the SCSI target); NIC 1 an Intel
    /// e1000e, NIC 2 a Realtek RTL8139.
    Standard,
    /// Profile `qemu-lab-nvme`: NVMe SSDs, each in a PCIe slot of its own (bay 0 in slot 1, bay 1 in slot
    /// 2), SATA HDDs on the ICH9 AHCI controller (bay N on its port N); NIC 1 a VMware vmxnet3, NIC 2 an
    /// AMD PCnet. Its SMBIOS product name is [`NVME_SATA_PRODUCT`].
    NvmeSata,
}

/// The SMBIOS product name of [`Model::NvmeSata`], which its profile matches on.
pub const NVME_SATA_PRODUCT: &str = "Rackhand Lab NVMe";

impl Model {
    pub const ALL: [Model; 2] = [Model::Standard, Model::NvmeSata];

    /// As `cargo xtask lab boot --model` names it: the profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Model::Standard => "qemu-lab",
            Model::NvmeSata => "qemu-lab-nvme",
        }
    }

    pub fn by_name(name: &str) -> anyhow::Result<Model> {
        Model::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
            anyhow::anyhow!("no lab model `{name}` (known: {})", known.join(", "))
        })
    }

    /// QEMU's device models for NIC 1 and NIC 2.
    pub fn nics(self) -> [&'static str; 2] {
        match self {
            Model::Standard => ["e1000e", "rtl8139"],
            Model::NvmeSata => ["vmxnet3", "pcnet"],
        }
    }
}

#[derive(Debug, Clone)]
pub struct DiskSpec {
    pub kind: DiskKind,
    /// The bay, which the model's profile maps from where the disk is attached: the SCSI target
    /// ([`Model::Standard`]); the PCIe slot or AHCI port ([`Model::NvmeSata`]).
    pub bay: u8,
    pub size_mib: u64,
    /// A raw image copied onto the disk before QEMU starts (a boot sector, an installed disk); `None`: empty.
    pub contents: Option<PathBuf>,
}

/// The server's firmware: SeaBIOS, or UEFI (Debian's OVMF, with a variable store of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

/// OVMF as Debian's `ovmf` package installs it.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// The two top-of-rack switches: NIC 1 of every server is cabled to the first, NIC 2 to the second.
pub const SWITCHES: [&str; 2] = ["sw-a", "sw-b"];
/// Server indexes the lab's location table covers (a server's index is also its rack unit).
pub const MAX_SERVER_INDEX: u8 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsuSpec {
    Powered,
    Unplugged,
}

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub model: Model,
    /// QEMU's device models for NIC 1 and NIC 2: the model's, unless a test fits another card.
    pub nics: [&'static str; 2],
    /// Distinguishes the servers of one lab (MACs, taps).
    pub index: u8,
    pub psus: Vec<PsuSpec>,
    pub disks: Vec<DiskSpec>,
    pub memory_mib: u32,
    pub firmware: Firmware,
    /// QEMU exits instead of rebooting (a test that changes the disks between the install and the
    /// first boot, then [`super::VirtualServer::power_on`]s it again).
    pub exit_on_reboot: bool,
    /// Which the firmware tries first, NIC 1 or the disks.
    pub boot_order: BootOrder,
    /// A BMC reachable over IPMI-over-LAN in the lab namespace; `None`: a technician powers the server.
    pub bmc: Option<BmcSpec>,
}

impl ServerSpec {
    /// Where the lab's location table puts this server: `rack1`, unit `index`.
    pub fn location(&self) -> rackhand_api::Location {
        rackhand_api::Location { rack: crate::lab::LAB_RACK.into(), unit: u32::from(self.index) }
    }

    /// The lab profile's server: 2 powered PSUs, 2 SSDs in bays 0–1, 2 HDDs in bays 2–3.
    pub fn standard(name: &str, index: u8) -> ServerSpec {
        ServerSpec::of_model(Model::Standard, name, index)
    }

    /// A server of `model` as its profile wants it: 2 powered PSUs, 2 SSDs in bays 0–1, 2 HDDs in bays 2–3.
    pub fn of_model(model: Model, name: &str, index: u8) -> ServerSpec {
        let disk = |kind, bay| DiskSpec { kind, bay, size_mib: 2048, contents: None };
        ServerSpec {
            name: name.to_owned(),
            model,
            nics: model.nics(),
            index,
            psus: vec![PsuSpec::Powered, PsuSpec::Powered],
            disks: vec![disk(DiskKind::Ssd, 0), disk(DiskKind::Ssd, 1), disk(DiskKind::Hdd, 2), disk(DiskKind::Hdd, 3)],
            memory_mib: 1024,
            firmware: Firmware::Bios,
            exit_on_reboot: false,
            boot_order: BootOrder::NetworkFirst,
            bmc: None,
        }
    }

    /// The serial number the disk in `bay` reports (what `lsblk -o SERIAL` shows on the server).
    pub fn disk_serial(&self, bay: u8) -> Option<String> {
        let disk = self.disks.iter().find(|d| d.bay == bay)?;
        Some(format!("LAB{}{}{bay}", self.index, disk.kind.name()))
    }

    /// NIC `n` (1 or 2; see [`Model::nics`]).
    pub fn mac(&self, nic: u8) -> MacAddr {
        MacAddr::new([0x52, 0x54, 0x00, 0x7a, self.index, nic])
    }

    pub(super) fn tap(&self, nic: u8) -> String {
        format!("s{}n{nic}", self.index)
    }
}

/// The SMBIOS type 39 structure QEMU is given for PSU `index` (1-based), on feed A or B.
pub fn psu_structure(index: u8, state: PsuSpec) -> Vec<u8> {
    let record = PowerSupplyRecord {
        handle: 0x3900 + u16::from(index),
        power_unit_group: 1,
        location: Some(format!("PSU{index} (feed {})", if index == 1 { 'A' } else { 'B' })),
        device_name: Some(format!("PSU {index}")),
        manufacturer: Some("Rackhand Lab Power".into()),
        serial: Some(format!("LABPSU{index:04}")),
        asset_tag: None,
        model: Some("LAB-550W".into()),
        revision: Some("A1".into()),
        max_power_watts: Some(550),
        characteristics: characteristics(true, state == PsuSpec::Unplugged, PsuStatus::Ok, true),
    };
    encode_type39(&record)
}
