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
    #[serde(default)]
    pub transport: Option<String>,
    /// SCSI address `host:channel:target:lun`.
    #[serde(default)]
    pub hctl: Option<String>,
    #[serde(default)]
    pub bay: Option<u32>,
    #[serde(default)]
    pub bay_source: Option<Source>,
    pub hot_swap: bool,
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
