//! The profile file as written: serde types that mirror the TOML exactly and reject unknown keys.
//! Fields whose *meaning* can be wrong (a RAID level, a group name, a bay list) are [`Spanned`] so the
//! validation in `validate.rs` can name their line.

use std::collections::BTreeMap;

use rackhand_api::DiskClass;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Name of the image to install.
    pub image: Spanned<String>,
    #[serde(rename = "match")]
    pub recognise: MatchSection,
    pub power: PowerSection,
    pub network: NetworkSection,
    pub bond: BondSection,
    #[serde(default)]
    pub bays: BaysSection,
    #[serde(default)]
    pub disks: Vec<DiskGroupSection>,
    #[serde(default)]
    pub raid: Vec<RaidSection>,
    #[serde(default)]
    pub install: InstallSection,
}

/// How to recognise the model from DMI. More keys make the profile more specific.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSection {
    pub vendor: Spanned<String>,
    #[serde(default)]
    pub product: Option<Spanned<String>>,
    #[serde(default)]
    pub product_prefix: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSection {
    pub supplies: Spanned<u32>,
    #[serde(default = "yes")]
    pub all_powered: bool,
    /// The PDU feed each supply's cord goes to, in PSU order: `["A", "B"]`.
    #[serde(default)]
    pub feeds: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Number of physical interfaces the model has.
    pub nics: Spanned<u32>,
    /// Allowed vendors, by slug (`intel`, `broadcom`, `mellanox`, `realtek`, ...).
    pub vendors: Spanned<Vec<String>>,
    #[serde(default)]
    pub min_speed_mbps: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BondSection {
    #[serde(default = "bond0")]
    pub name: String,
    pub mode: Spanned<String>,
    #[serde(default = "two")]
    pub legs: Spanned<u32>,
    /// Vendor slug of the leg that is primary (active-backup).
    #[serde(default)]
    pub primary_vendor: Option<Spanned<String>>,
    #[serde(default = "hundred")]
    pub miimon_ms: u32,
    #[serde(default)]
    pub distinct_vendors: bool,
    #[serde(default)]
    pub distinct_switches: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaysSection {
    #[serde(default)]
    pub hot_swap: bool,
    /// Place → bay. A place is a SCSI address (`host:channel:target:lun`, `*` for any host), an AHCI
    /// port (`ata:N`, `ata:PCI-ADDRESS:N`), a PCIe slot (`pcie-slot:NAME`) or an SES enclosure slot
    /// (`ses:N`, `ses:ENCLOSURE:N`); see `bays.rs`.
    #[serde(default)]
    pub map: BTreeMap<Spanned<String>, Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskGroupSection {
    pub name: Spanned<String>,
    pub class: DiskClass,
    pub count: Spanned<u32>,
    #[serde(default)]
    pub min_size_gb: Option<u64>,
    #[serde(default)]
    pub max_size_gb: Option<Spanned<u64>>,
    /// The bays this group's disks sit in; empty when any bay will do.
    #[serde(default = "no_bays")]
    pub bays: Spanned<Vec<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaidSection {
    /// md device name: `md0`.
    pub device: Spanned<String>,
    pub level: Spanned<String>,
    /// Name of the disk group whose disks are the members.
    pub group: Spanned<String>,
    #[serde(default = "metadata_1_2")]
    pub metadata: Spanned<String>,
    /// A filesystem to make on a data array (`ext4`); without it the array is left unformatted.
    #[serde(default)]
    pub filesystem: Option<Spanned<String>>,
    /// The filesystem's label, for the installed OS to mount it by (`LABEL=data`).
    #[serde(default)]
    pub label: Option<Spanned<String>>,
}

/// What the installer does around the install itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallSection {
    /// `reboot` (default) or `poweroff` when the install is done.
    #[serde(default)]
    pub finish: Option<Spanned<String>>,
    /// Wipe member disks that already carry data (partition table, md superblock, filesystem).
    #[serde(default)]
    pub wipe: bool,
}

fn yes() -> bool {
    true
}
fn bond0() -> String {
    "bond0".into()
}
fn two() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}
fn hundred() -> u32 {
    100
}
fn metadata_1_2() -> Spanned<String> {
    Spanned::new(0..0, "1.2".into())
}
fn no_bays() -> Spanned<Vec<u32>> {
    Spanned::new(0..0, Vec::new())
}
