//! The validated profile: what the judge and the install planner read. Built only by `TryFrom` from the
//! wire types, so its invariants hold (groups named by RAID arrays exist, bays are unique, the bond's
//! primary vendor is allowed, ...).

use std::fmt;

use rackhand_api::{DiskClass, SystemIdentity};

use crate::PciVendor;
use crate::bays::BayMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    pub image: String,
    pub recognise: Recognition,
    pub power: PowerSpec,
    pub network: NetworkSpec,
    pub bond: BondSpec,
    pub bays: BayMap,
    pub disk_groups: Vec<DiskGroup>,
    pub raid: Vec<RaidSpec>,
    pub install: InstallSpec,
}

impl Profile {
    pub fn disk_group(&self, name: &str) -> Option<&DiskGroup> {
        self.disk_groups.iter().find(|g| g.name == name)
    }
}

/// DMI identity a model is recognised by. Comparisons ignore case and surrounding blanks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    pub vendor: String,
    pub product: Option<String>,
    pub product_prefix: Option<String>,
}

impl Recognition {
    /// How specific a match is (higher wins), or `None` when the identity does not match.
    pub fn specificity(&self, system: &SystemIdentity) -> Option<u32> {
        let norm = |s: &str| s.trim().to_ascii_lowercase();
        let vendor = norm(system.vendor.as_deref()?);
        if vendor != norm(&self.vendor) {
            return None;
        }
        let product = system.product.as_deref().map(norm);
        let mut score = 1;
        if let Some(want) = &self.product {
            if product.as_deref() != Some(norm(want).as_str()) {
                return None;
            }
            score += 2;
        }
        if let Some(prefix) = &self.product_prefix {
            if !product.is_some_and(|p| p.starts_with(&norm(prefix))) {
                return None;
            }
            score += 1;
        }
        Some(score)
    }

    /// `QEMU`, `Dell Inc. PowerEdge R650`, `Supermicro SYS-6029*`.
    pub fn describe(&self) -> String {
        match (&self.product, &self.product_prefix) {
            (Some(p), _) => format!("{} {p}", self.vendor),
            (None, Some(p)) => format!("{} {p}*", self.vendor),
            (None, None) => self.vendor.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerSpec {
    pub supplies: u32,
    pub all_powered: bool,
    /// PDU feed of PSU n at index n-1; empty when the profile does not say.
    pub feeds: Vec<String>,
}

impl PowerSpec {
    /// The feed PSU `index` (1-based) should be plugged into.
    pub fn feed_of(&self, index: u32) -> Option<&str> {
        let slot = usize::try_from(index).ok()?.checked_sub(1)?;
        self.feeds.get(slot).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub nics: u32,
    pub vendors: Vec<PciVendor>,
    pub min_speed_mbps: Option<u32>,
}

impl NetworkSpec {
    pub fn allows(&self, pci_vendor: u16) -> bool {
        self.vendors.iter().any(|v| v.id == pci_vendor)
    }

    /// `Intel, Realtek`.
    pub fn vendor_names(&self) -> String {
        self.vendors.iter().map(|v| v.name).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondMode {
    ActiveBackup,
    Lacp,
    BalanceAlb,
}

impl BondMode {
    pub const NAMES: &str = "active-backup, 802.3ad, balance-alb";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active-backup" => Some(Self::ActiveBackup),
            "802.3ad" => Some(Self::Lacp),
            "balance-alb" => Some(Self::BalanceAlb),
            _ => None,
        }
    }

    /// The kernel bonding driver's name for the mode.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Self::ActiveBackup => "active-backup",
            Self::Lacp => "802.3ad",
            Self::BalanceAlb => "balance-alb",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondSpec {
    pub name: String,
    pub mode: BondMode,
    pub legs: u32,
    pub primary_vendor: Option<PciVendor>,
    pub miimon_ms: u32,
    pub distinct_vendors: bool,
    pub distinct_switches: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskGroup {
    pub name: String,
    pub class: DiskClass,
    pub count: u32,
    pub min_size_bytes: Option<u64>,
    pub max_size_bytes: Option<u64>,
    /// Empty when any bay will do.
    pub bays: Vec<u32>,
}

impl DiskGroup {
    pub fn size_fits(&self, bytes: u64) -> bool {
        self.min_size_bytes.is_none_or(|min| bytes >= min) && self.max_size_bytes.is_none_or(|max| bytes <= max)
    }

    /// `an HDD`, `an SSD`.
    pub fn class_article(&self) -> String {
        format!("an {}", self.class.label())
    }

    /// `an HDD of 4000–16000 GB`, `an SSD of at least 240 GB`, `an SSD`.
    pub fn wanted(&self) -> String {
        let gb = |b: u64| b / 1_000_000_000;
        let class = self.class.label();
        match (self.min_size_bytes, self.max_size_bytes) {
            (Some(min), Some(max)) => format!("an {class} of {}–{} GB", gb(min), gb(max)),
            (Some(min), None) => format!("an {class} of at least {} GB", gb(min)),
            (None, Some(max)) => format!("an {class} of at most {} GB", gb(max)),
            (None, None) => format!("an {class}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaidLevel {
    Raid0,
    Raid1,
    Raid5,
    Raid6,
    Raid10,
}

impl RaidLevel {
    pub const NAMES: &str = "raid0, raid1, raid5, raid6, raid10";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "raid0" => Some(Self::Raid0),
            "raid1" => Some(Self::Raid1),
            "raid5" => Some(Self::Raid5),
            "raid6" => Some(Self::Raid6),
            "raid10" => Some(Self::Raid10),
            _ => None,
        }
    }

    /// The profile's and the kernel's name (`/sys/block/md0/md/level`): `raid1`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raid0 => "raid0",
            Self::Raid1 => "raid1",
            Self::Raid5 => "raid5",
            Self::Raid6 => "raid6",
            Self::Raid10 => "raid10",
        }
    }

    /// `mdadm --level` value.
    pub fn mdadm_name(self) -> &'static str {
        match self {
            Self::Raid0 => "0",
            Self::Raid1 => "1",
            Self::Raid5 => "5",
            Self::Raid6 => "6",
            Self::Raid10 => "10",
        }
    }

    pub fn min_members(self) -> u32 {
        match self {
            Self::Raid0 | Self::Raid1 => 2,
            Self::Raid5 => 3,
            Self::Raid6 | Self::Raid10 => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidSpec {
    pub device: String,
    pub level: RaidLevel,
    pub group: String,
    pub metadata: String,
    /// Made on the array once it is built (data arrays only: the OS array gets the image).
    pub filesystem: Option<FilesystemSpec>,
}

/// A filesystem the installer makes on a data array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemSpec {
    pub kind: FilesystemKind,
    /// At most 16 bytes of letters, digits, `-` and `_`.
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesystemKind {
    Ext4,
}

impl FilesystemKind {
    pub const NAMES: &str = "ext4";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ext4" => Some(Self::Ext4),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
        }
    }
}

/// Shown and serialised by the names a profile writes (which are also the kernel's), so a plan printed or
/// sent as JSON reads like the profile it came from.
macro_rules! named {
    ($kind:ty, $name:ident) => {
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.$name())
            }
        }

        impl serde::Serialize for $kind {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.$name())
            }
        }
    };
}

named!(BondMode, kernel_name);
named!(RaidLevel, name);
named!(FilesystemKind, name);

/// What the machine does once the install is done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Finish {
    #[default]
    Reboot,
    PowerOff,
}

impl Finish {
    pub const NAMES: &str = "reboot, poweroff";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reboot" => Some(Self::Reboot),
            "poweroff" => Some(Self::PowerOff),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Reboot => "reboot",
            Self::PowerOff => "poweroff",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallSpec {
    pub finish: Finish,
    /// Member disks that carry data may be wiped; without it the installer refuses to touch them.
    pub wipe: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mode, level and filesystem is shown by the very name a profile writes for it.
    #[test]
    fn names_shown_are_the_names_parsed() {
        for mode in [BondMode::ActiveBackup, BondMode::Lacp, BondMode::BalanceAlb] {
            assert_eq!(BondMode::parse(&mode.to_string()), Some(mode));
        }
        for level in [RaidLevel::Raid0, RaidLevel::Raid1, RaidLevel::Raid5, RaidLevel::Raid6, RaidLevel::Raid10] {
            assert_eq!(RaidLevel::parse(&level.to_string()), Some(level));
            assert_eq!(level.to_string().trim_start_matches("raid"), level.mdadm_name());
        }
        assert_eq!(FilesystemKind::parse(&FilesystemKind::Ext4.to_string()), Some(FilesystemKind::Ext4));
        assert_eq!(BondMode::Lacp.to_string(), "802.3ad", "the kernel bonding driver's name");
    }
}
