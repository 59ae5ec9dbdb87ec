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
