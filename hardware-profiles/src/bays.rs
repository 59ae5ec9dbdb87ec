//! Bays: the `[bays] map` keys, each naming a place the kernel shows a disk at, and the map from those
//! places to the chassis's bay numbers. What the installer observed of a disk comes in as a [`DiskSite`];
//! matching it is pure.
//!
//! | key | the place | read from |
//! |---|---|---|
//! | `*:0:1:0`, `0:0:1:0` | SCSI address (`*`: any host) | the disk's SCSI device name |
//! | `ata:3`, `ata:0000:00:17.0:3` | AHCI port, numbered from 1 per controller as the kernel does (`/dev/disk/by-path/…-ata-3`); on any controller or the one at that PCI address | `/sys/class/ata_port/ataX/port_no` |
//! | `pcie-slot:NAME` | the PCIe slot the disk's controller (an NVMe drive itself) sits in | `/sys/bus/pci/slots/NAME/address` |
//! | `ses:4`, `ses:ENCLOSURE:4` | slot 4 of any SES enclosure, or of the one whose logical id (`0x5000…`) or name (`0:0:16:0`) is given | `/sys/class/enclosure/NAME/…/slot` |

use std::fmt;

use rackhand_api::BaySource;

/// A SCSI address pattern: `0:0:1:0`, or `*:0:1:0` for any host number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HctlPattern([Option<u32>; 4]);

impl HctlPattern {
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [None; 4];
        let mut parts = s.trim().split(':');
        for slot in &mut out {
            let part = parts.next()?;
            *slot = if part == "*" { None } else { Some(part.parse().ok()?) };
        }
        parts.next().is_none().then_some(Self(out))
    }

    pub fn matches(&self, hctl: &str) -> bool {
        let Some(Self(actual)) = Self::parse(hctl) else {
            return false;
        };
        self.0.iter().zip(actual).all(|(want, got)| want.is_none() || *want == got)
    }
}

impl fmt::Display for HctlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|p| p.map_or("*".to_owned(), |n| n.to_string())).collect();
        f.write_str(&parts.join(":"))
    }
}

/// One `[bays] map` key: a place the kernel shows a disk at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BayKey {
    Scsi(HctlPattern),
    /// `port` counts from 1 (the kernel's `port_no`); `controller` is a PCI address (`0000:00:17.0`).
    Ata {
        controller: Option<String>,
        port: u32,
    },
    PcieSlot(String),
    /// `enclosure`: the enclosure's logical id or its name under `/sys/class/enclosure`.
    Ses {
        enclosure: Option<String>,
        slot: u32,
    },
}

const FORMS: &str = "a SCSI address like `*:0:1:0`, `ata:N`, `pcie-slot:NAME`, `ses:N` or `ses:ENCLOSURE:N`";

impl BayKey {
    /// The key as a profile writes it, or why it is none.
    pub fn parse(key: &str) -> Result<Self, String> {
        let key = key.trim();
        let number = |what: &str, text: &str| {
            text.parse::<u32>().map_err(|_| format!("{what} `{text}` is not a number (write {FORMS})"))
        };
        if let Some(rest) = key.strip_prefix("ata:") {
            let (controller, port) = match rest.rsplit_once(':') {
                Some((pci, port)) if is_pci_address(pci) => (Some(pci.to_ascii_lowercase()), port),
                Some((pci, _)) => return Err(format!("`{pci}` is not a PCI address like 0000:00:17.0")),
                None => (None, rest),
            };
            let port = number("AHCI port", port)?;
            if port == 0 {
                return Err("AHCI ports count from 1, as the kernel's port_no and /dev/disk/by-path do".into());
            }
            return Ok(BayKey::Ata { controller, port });
        }
        if let Some(name) = key.strip_prefix("pcie-slot:") {
            if name.trim().is_empty() || name.contains('/') {
                return Err(format!("`{name}` is not a slot name as /sys/bus/pci/slots lists them"));
            }
            return Ok(BayKey::PcieSlot(name.to_owned()));
        }
        if let Some(rest) = key.strip_prefix("ses:") {
            let (enclosure, slot) = match rest.rsplit_once(':') {
                Some(("", _)) => return Err("the enclosure before the slot number is empty".into()),
                Some((enclosure, slot)) => (Some(enclosure.to_owned()), slot),
                None => (None, rest),
            };
            return Ok(BayKey::Ses { enclosure, slot: number("enclosure slot", slot)? });
        }
        HctlPattern::parse(key).map(BayKey::Scsi).ok_or_else(|| format!("not a bay key: write {FORMS}"))
    }

    /// The kind of evidence this key reads.
    pub fn source(&self) -> BaySource {
        match self {
            BayKey::Scsi(_) => BaySource::ScsiAddress,
            BayKey::Ata { .. } => BaySource::AtaPort,
            BayKey::PcieSlot(_) => BaySource::PcieSlot,
            BayKey::Ses { .. } => BaySource::Ses,
        }
    }

    pub fn matches(&self, site: &DiskSite) -> bool {
        match self {
            BayKey::Scsi(pattern) => site.hctl.as_deref().is_some_and(|h| pattern.matches(h)),
            BayKey::Ata { controller, port } => site.ata.as_ref().is_some_and(|seen| {
                seen.port == *port && controller.as_ref().is_none_or(|c| seen.controller.as_ref() == Some(c))
            }),
            BayKey::PcieSlot(name) => site.pcie_slot.as_ref() == Some(name),
            BayKey::Ses { enclosure, slot } => site
                .ses
                .as_ref()
                .is_some_and(|seen| seen.slot == *slot && enclosure.as_deref().is_none_or(|e| seen.is_named(e))),
        }
    }

    /// Keys naming more of the place are tried first (`ata:0000:00:17.0:1` before `ata:1`).
    fn specificity(&self) -> usize {
        match self {
            BayKey::Scsi(HctlPattern(parts)) => parts.iter().flatten().count(),
            BayKey::Ata { controller, .. } => usize::from(controller.is_some()),
            BayKey::PcieSlot(_) => 0,
            BayKey::Ses { enclosure, .. } => usize::from(enclosure.is_some()),
        }
    }
}

impl fmt::Display for BayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BayKey::Scsi(pattern) => write!(f, "{pattern}"),
            BayKey::Ata { controller: Some(c), port } => write!(f, "ata:{c}:{port}"),
            BayKey::Ata { controller: None, port } => write!(f, "ata:{port}"),
            BayKey::PcieSlot(name) => write!(f, "pcie-slot:{name}"),
            BayKey::Ses { enclosure: Some(e), slot } => write!(f, "ses:{e}:{slot}"),
            BayKey::Ses { enclosure: None, slot } => write!(f, "ses:{slot}"),
        }
    }
}

/// `0000:3b:00.0`.
fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars().filter(char::is_ascii_hexdigit).count() == 9
}

/// Every place the installer saw one disk at, in the terms bay keys use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskSite {
    /// `2:0:0:0`.
    pub hctl: Option<String>,
    pub ata: Option<AtaSite>,
    /// The name of the PCIe slot its controller (or the nearest bridge above it) sits in.
    pub pcie_slot: Option<String>,
    pub ses: Option<SesSite>,
}

/// An AHCI port: the kernel's controller-local `port_no` (from 1) and the controller's PCI address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtaSite {
    pub controller: Option<String>,
    pub port: u32,
}

/// The SES enclosure slot that holds a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesSite {
    /// Its name under `/sys/class/enclosure` (the enclosure's SCSI address, `0:0:16:0`).
    pub enclosure: String,
    /// Its logical id (`/sys/class/enclosure/NAME/id`, `0x500056b31234abff`).
    pub enclosure_id: Option<String>,
    pub slot: u32,
}

impl SesSite {
    fn is_named(&self, name: &str) -> bool {
        let bare = |s: &str| s.trim_start_matches("0x").to_ascii_lowercase();
        self.enclosure == name || self.enclosure_id.as_deref().is_some_and(|id| bare(id) == bare(name))
    }
}

/// The profile's map from places to bays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BayMap {
    pub hot_swap: bool,
    /// In the order they are tried: kind by kind (see [`BayMap::place`]), the most specific first.
    keys: Vec<(BayKey, u32)>,
}

/// The order kinds of evidence are tried in: an enclosure's or a slot's word over a port's, a port's
/// over a SCSI address (an AHCI disk's `*:0:0:0` is the same on every port).
const PRECEDENCE: [BaySource; 4] = [BaySource::Ses, BaySource::PcieSlot, BaySource::AtaPort, BaySource::ScsiAddress];

impl BayMap {
    pub fn new(hot_swap: bool, mut keys: Vec<(BayKey, u32)>) -> Self {
        let rank = |k: &BayKey| PRECEDENCE.iter().position(|s| *s == k.source());
        keys.sort_by_key(|(k, _)| (rank(k), std::cmp::Reverse(k.specificity())));
        Self { hot_swap, keys }
    }

    pub fn keys(&self) -> impl Iterator<Item = (&BayKey, u32)> {
        self.keys.iter().map(|(k, bay)| (k, *bay))
    }

    /// The profile names enclosure slots itself (so an enclosure's slot numbers are not taken as bays).
    pub fn maps_enclosures(&self) -> bool {
        self.keys.iter().any(|(k, _)| k.source() == BaySource::Ses)
    }

    /// The bay the first matching key gives, and the kind of evidence it read.
    pub fn place(&self, site: &DiskSite) -> Option<(u32, BaySource)> {
        self.keys.iter().find(|(k, _)| k.matches(site)).map(|(k, bay)| (*bay, k.source()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> BayKey {
        BayKey::parse(s).unwrap()
    }

    #[test]
    fn keys_read_back_as_written() {
        for text in ["*:0:1:0", "2:0:0:0", "ata:3", "ata:0000:00:17.0:3", "pcie-slot:1", "pcie-slot:0-1", "ses:4"] {
            assert_eq!(key(text).to_string(), text);
        }
        assert_eq!(key("ses:0:0:16:0:7"), BayKey::Ses { enclosure: Some("0:0:16:0".into()), slot: 7 });
        assert_eq!(key("ata:0000:00:1F.2:2"), BayKey::Ata { controller: Some("0000:00:1f.2".into()), port: 2 });
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        let why = |s: &str| BayKey::parse(s).unwrap_err();
        assert!(why("ata:x").contains("AHCI port `x` is not a number"), "{}", why("ata:x"));
        assert!(why("ata:0").contains("count from 1"));
        assert!(why("ata:00:1f.2:3").contains("`00:1f.2` is not a PCI address"));
        assert!(why("pcie-slot:").contains("not a slot name"));
        assert!(why("pcie-slot:a/b").contains("not a slot name"));
        assert!(why("ses::3").contains("enclosure before the slot number is empty"));
        assert!(why("ses:last").contains("enclosure slot `last` is not a number"));
        assert!(why("sata:1").starts_with("not a bay key"));
        assert!(why("0:0:3").starts_with("not a bay key"));
    }

    #[test]
    fn each_key_matches_its_own_evidence() {
        let site = DiskSite {
            hctl: Some("2:0:0:0".into()),
            ata: Some(AtaSite { controller: Some("0000:00:1f.2".into()), port: 3 }),
            pcie_slot: Some("5".into()),
            ses: Some(SesSite { enclosure: "0:0:16:0".into(), enclosure_id: Some("0x500056B3".into()), slot: 7 }),
        };
        let matching =
            ["*:0:0:0", "ata:3", "ata:0000:00:1f.2:3", "pcie-slot:5", "ses:7", "ses:0:0:16:0:7", "ses:500056b3:7"];
        for text in matching {
            assert!(key(text).matches(&site), "{text}");
        }
        for text in ["*:0:1:0", "ata:4", "ata:0000:00:17.0:3", "pcie-slot:50", "ses:6", "ses:1:0:16:0:7"] {
            assert!(!key(text).matches(&site), "{text}");
            assert!(!key(text).matches(&DiskSite::default()), "{text}");
        }
    }

    #[test]
    fn a_port_wins_over_a_scsi_address_and_the_named_controller_over_any() {
        let map = BayMap::new(false, vec![(key("*:0:0:0"), 9), (key("ata:3"), 2), (key("ata:0000:00:17.0:3"), 5)]);
        let on = |controller: &str| DiskSite {
            hctl: Some("2:0:0:0".into()),
            ata: Some(AtaSite { controller: Some(controller.into()), port: 3 }),
            ..DiskSite::default()
        };
        assert_eq!(map.place(&on("0000:00:1f.2")), Some((2, BaySource::AtaPort)));
        assert_eq!(map.place(&on("0000:00:17.0")), Some((5, BaySource::AtaPort)));
        let scsi_only = DiskSite { hctl: Some("0:0:0:0".into()), ..DiskSite::default() };
        assert_eq!(map.place(&scsi_only), Some((9, BaySource::ScsiAddress)));
        assert!(!map.maps_enclosures());
    }
}
