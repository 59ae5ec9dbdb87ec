//! What the installer observed about a server. Produced by `installer inventory --json`, posted to
//! `POST /api/v1/nodes/{id}/inventory`, judged against a hardware profile.

use serde::{Deserialize, Serialize};

use crate::MacAddr;

/// Where a fact came from, so a technician knows which instrument to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Smbios,
    Ipmi,
    Sysfs,
    Ses,
    Profile,
    Lldp,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub system: SystemIdentity,
    #[serde(default)]
    pub psus: Vec<PowerSupply>,
    #[serde(default)]
    pub nics: Vec<Nic>,
    #[serde(default)]
    pub disks: Vec<Disk>,
    /// The PCI network and mass-storage functions, with or without a driver (see [`PciDevice`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pci_devices: Vec<PciDevice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemIdentity {
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
}

/// SMBIOS type 39 "power supply status" field (characteristics bits 9:7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PsuStatus {
    Other,
    Unknown,
    Ok,
    NonCritical,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSupply {
    /// 1-based position as the chassis labels it.
    pub index: u32,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Maximum output in watts, when known.
    #[serde(default)]
    pub max_power_watts: Option<u32>,
    pub present: bool,
    /// False when the supply is present but its input cord is unplugged.
    pub powered: bool,
    pub status: PsuStatus,
    pub hot_replaceable: bool,
    pub source: Source,
    /// What the BMC's power-supply sensors say about this supply (always `Source::Ipmi`), when a BMC
    /// was found. Absent in inventories from installers without BMC support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<BmcPsuReading>,
}

/// One power-supply sensor as the BMC reports it (`ipmitool sdr type 'Power Supply'`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmcPsuReading {
    /// Sensor name, e.g. `PS2 Status`.
    pub sensor: String,
    pub present: bool,
    /// The supply lost its AC input (cord unplugged or feed down).
    pub input_lost: bool,
    /// The BMC asserts a failure or predictive failure.
    pub failed: bool,
    /// The asserted events, verbatim.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LldpNeighbor {
    pub chassis_id: String,
    pub port_id: String,
    #[serde(default)]
    pub system_name: Option<String>,
    #[serde(default)]
    pub system_description: Option<String>,
    #[serde(default)]
    pub port_description: Option<String>,
    /// The switch's first IPv4 or IPv6 management address (Management Address TLV), where a technician
    /// reaches it; other address families are not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    pub name: String,
    pub mac: MacAddr,
    /// PCI vendor id, e.g. 0x8086 for Intel.
    #[serde(default)]
    pub pci_vendor: Option<u16>,
    #[serde(default)]
    pub pci_device: Option<u16>,
    #[serde(default)]
    pub vendor_name: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    pub carrier: bool,
    /// Link speed in Mb/s, when the link is up and the driver says.
    #[serde(default)]
    pub speed_mbps: Option<u32>,
    #[serde(default)]
    pub lldp: Option<LldpNeighbor>,
    /// PCI address of the function, e.g. `0000:3b:00.0`, so a technician can find the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_address: Option<String>,
    /// The firmware version the driver reports (ethtool's `fw_version`), when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskClass {
    Ssd,
    Hdd,
}

impl DiskClass {
    /// How a technician says it: `SSD`, `HDD`.
    pub fn label(self) -> &'static str {
        match self {
            DiskClass::Ssd => "SSD",
            DiskClass::Hdd => "HDD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Kernel name: `sda`, `nvme0n1`.
    pub name: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub wwn: Option<String>,
    pub size_bytes: u64,
    pub class: DiskClass,
    /// The bus the disk is reached over: `sata`, `sas`, `nvme`, `virtio-scsi`, `virtio-blk`, `usb`, `scsi`.
    #[serde(default)]
    pub transport: Option<String>,
    /// SCSI address `host:channel:target:lun`.
    #[serde(default)]
    pub hctl: Option<String>,
    #[serde(default)]
    pub bay: Option<u32>,
    /// Which kind of evidence gave the bay.
    #[serde(default)]
    pub bay_source: Option<BaySource>,
    pub hot_swap: bool,
    /// The PCI function the disk is reached through (an NVMe drive's own). Absent in inventories from
    /// installers that did not look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<DiskController>,
}

/// The PCI function a disk hangs off: the HBA, the AHCI controller, or an NVMe drive itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskController {
    /// `0000:00:1f.2`.
    pub pci_address: String,
    /// PCI vendor id, e.g. 0x8086 for Intel.
    #[serde(default)]
    pub pci_vendor: Option<u16>,
    #[serde(default)]
    pub pci_device: Option<u16>,
    /// The kernel driver bound to the function (`ahci`, `nvme`, `mpt3sas`, `virtio-pci`); absent when
    /// none is.
    #[serde(default)]
    pub driver: Option<String>,
}

/// The kind of evidence a disk's bay came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaySource {
    /// An SES enclosure's slot (`/sys/class/enclosure`): its number as the bay, or the profile's `ses:` key.
    Ses,
    /// The PCIe slot the disk's controller sits in (`/sys/bus/pci/slots`), by the profile's `pcie-slot:` key.
    PcieSlot,
    /// The AHCI port, by the profile's `ata:` key.
    AtaPort,
    /// The SCSI address, by the profile's `*:0:1:0` key (recorded as `profile` before there were others).
    #[serde(alias = "profile")]
    ScsiAddress,
}

impl BaySource {
    /// How a technician reads it: `enclosure slot`, `PCIe slot`, `AHCI port`, `SCSI address`.
    pub fn label(self) -> &'static str {
        match self {
            BaySource::Ses => "enclosure slot",
            BaySource::PcieSlot => "PCIe slot",
            BaySource::AtaPort => "AHCI port",
            BaySource::ScsiAddress => "SCSI address",
        }
    }
}

#[cfg(test)]
mod disk_tests {
    use super::*;

    #[test]
    fn a_disk_reads_as_recorded_before_controllers_and_bay_kinds() {
        let old = r#"{"name":"sda","size_bytes":1,"class":"ssd","bay":1,"bay_source":"profile","hot_swap":false}"#;
        let disk: Disk = serde_json::from_str(old).unwrap();
        assert_eq!((disk.bay_source, disk.controller.as_ref()), (Some(BaySource::ScsiAddress), None));
        let json = serde_json::to_value(&disk).unwrap();
        assert_eq!(json["bay_source"], "scsi_address");
        assert!(json.get("controller").is_none(), "left out when unknown: {json}");
    }

    #[test]
    fn a_disk_controller_round_trips() {
        let disk = Disk {
            name: "nvme0n1".into(),
            model: None,
            serial: None,
            wwn: None,
            size_bytes: 1,
            class: DiskClass::Ssd,
            transport: Some("nvme".into()),
            hctl: None,
            bay: Some(0),
            bay_source: Some(BaySource::PcieSlot),
            hot_swap: true,
            controller: Some(DiskController {
                pci_address: "0000:01:00.0".into(),
                pci_vendor: Some(0x1b36),
                pci_device: Some(0x0010),
                driver: Some("nvme".into()),
            }),
        };
        let json = serde_json::to_string(&disk).unwrap();
        assert!(json.contains(r#""bay_source":"pcie_slot""#), "{json}");
        assert_eq!(serde_json::from_str::<Disk>(&json).unwrap(), disk);
    }
}

/// A PCI network (class 0x02) or mass-storage (class 0x01) function, as `/sys/bus/pci/devices` shows it,
/// with or without a driver: a card the installer has no driver for is seen here even though it has no
/// network interface or disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PciDevice {
    /// `0000:3b:00.0`.
    pub address: String,
    pub vendor: u16,
    pub device: u16,
    /// Class, subclass and programming interface: `0x020000` is an Ethernet controller.
    pub class: u32,
    /// From the pci.ids database: `Intel Corporation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_name: Option<String>,
    /// From the pci.ids database: `Ethernet Controller X710 for 10GbE SFP+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The bound driver (`i40e`); for a virtio function, the virtio driver (`virtio_net`). `None`: no
    /// driver in this kernel claimed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The physical slot's name (`/sys/bus/pci/slots/NAME`), when the firmware describes slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
}

impl PciDevice {
    pub fn is_network(&self) -> bool {
        self.class >> 16 == 0x02
    }

    pub fn is_storage(&self) -> bool {
        self.class >> 16 == 0x01
    }

    /// `8086:1572`.
    pub fn ids(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor, self.device)
    }

    /// `Intel Corporation Ethernet Controller X710 for 10GbE SFP+ (8086:1572)`; without names from pci.ids,
    /// the kind of controller: `Ethernet controller (8086:1572)`.
    pub fn label(&self) -> String {
        let kind = || self.class_name().to_owned();
        let name = match (&self.vendor_name, &self.device_name) {
            (Some(vendor), Some(device)) => format!("{vendor} {device}"),
            (Some(vendor), None) => format!("{vendor} {}", kind()),
            (None, _) => kind(),
        };
        format!("{name} ({})", self.ids())
    }

    /// Where a technician finds it: `slot 3`, else `PCI 0000:3b:00.0`.
    pub fn place(&self) -> String {
        match &self.slot {
            Some(slot) => format!("slot {slot}"),
            None => format!("PCI {}", self.address),
        }
    }

    /// The subclass as pci.ids names it.
    pub fn class_name(&self) -> &'static str {
        match self.class >> 8 {
            0x0100 => "SCSI storage controller",
            0x0101 => "IDE interface",
            0x0104 => "RAID bus controller",
            0x0106 => "SATA controller",
            0x0107 => "Serial Attached SCSI controller",
            0x0108 => "Non-Volatile memory controller",
            0x0200 => "Ethernet controller",
            0x0207 => "Infiniband controller",
            _ if self.is_storage() => "Mass storage controller",
            _ if self.is_network() => "Network controller",
            _ => "PCI device",
        }
    }
}

#[cfg(test)]
mod pci_device_tests {
    use super::PciDevice;

    fn x710() -> PciDevice {
        PciDevice {
            address: "0000:3b:00.0".into(),
            vendor: 0x8086,
            device: 0x1572,
            class: 0x020000,
            vendor_name: Some("Intel Corporation".into()),
            device_name: Some("Ethernet Controller X710 for 10GbE SFP+".into()),
            driver: None,
            slot: Some("3".into()),
        }
    }

    #[test]
    fn named_from_pci_ids_else_by_its_class() {
        let mut card = x710();
        assert_eq!(card.label(), "Intel Corporation Ethernet Controller X710 for 10GbE SFP+ (8086:1572)");
        card.device_name = None;
        assert_eq!(card.label(), "Intel Corporation Ethernet controller (8086:1572)");
        card.vendor_name = None;
        assert_eq!(card.label(), "Ethernet controller (8086:1572)");
        card.class = 0x010802;
        assert_eq!(card.label(), "Non-Volatile memory controller (8086:1572)");
        assert!(card.is_storage() && !card.is_network());
        card.class = 0x018000;
        assert_eq!(card.class_name(), "Mass storage controller");
    }

    #[test]
    fn placed_by_slot_else_by_address() {
        let mut card = x710();
        assert_eq!(card.place(), "slot 3");
        card.slot = None;
        assert_eq!(card.place(), "PCI 0000:3b:00.0");
    }

    #[test]
    fn absent_names_driver_and_slot_stay_off_the_wire() {
        let mut card = x710();
        card.vendor_name = None;
        card.device_name = None;
        card.slot = None;
        let json = serde_json::to_string(&card).unwrap();
        assert_eq!(json, r#"{"address":"0000:3b:00.0","vendor":32902,"device":5490,"class":131072}"#);
        assert_eq!(serde_json::from_str::<PciDevice>(&json).unwrap(), card);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_lldp_neighbour_without_a_management_address_is_written_and_read_as_before() {
        let old = r#"{"chassis_id":"02:5a:00:00:01:00","port_id":"Ethernet1","system_name":"sw-a"}"#;
        let neighbour: LldpNeighbor = serde_json::from_str(old).unwrap();
        assert_eq!(neighbour.management_address, None);
        assert!(!serde_json::to_string(&neighbour).unwrap().contains("management_address"));
        let with = LldpNeighbor { management_address: Some("2001:db8::7".into()), ..neighbour };
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains(r#""management_address":"2001:db8::7""#), "{text}");
        assert_eq!(serde_json::from_str::<LldpNeighbor>(&text).unwrap(), with);
    }
}
