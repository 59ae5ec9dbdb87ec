//! Which bay a disk is in, decided (pure) from every place the installer saw it at and the profile's map.

use hardware_profiles::{BayMap, DiskSite};
use rackhand_api::BaySource;

/// A disk's bay, the kind of evidence that gave it, and whether the bay is hot-swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub bay: u32,
    pub source: BaySource,
    pub hot_swap: bool,
}

/// An SES enclosure's slot is the bay (hot-swap) unless the profile names enclosure slots itself; else
/// the profile's map decides, an enclosure's or a slot's word before a port's, a port's before a SCSI
/// address ([`BayMap::place`]), hot-swap as the profile says (an enclosure's slots always are).
pub fn place_disk(site: &DiskSite, bays: Option<&BayMap>) -> Option<Placement> {
    let enclosure_numbers_bays = !bays.is_some_and(BayMap::maps_enclosures);
    let by_enclosure = site.ses.as_ref().filter(|_| enclosure_numbers_bays).map(|ses| Placement {
        bay: ses.slot,
        source: BaySource::Ses,
        hot_swap: true,
    });
    by_enclosure.or_else(|| {
        let map = bays?;
        let (bay, source) = map.place(site)?;
        Some(Placement { bay, source, hot_swap: map.hot_swap || source == BaySource::Ses })
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use hardware_profiles::{AtaSite, SesSite, load_file, shipped_profiles_dir};

    use super::*;

    fn profile(name: &str) -> hardware_profiles::Profile {
        load_file(&shipped_profiles_dir().join(format!("{name}.toml"))).unwrap()
    }

    fn site(hctl: &str, ses_slot: Option<u32>) -> DiskSite {
        let ses = ses_slot.map(|slot| SesSite { enclosure: "0:0:16:0".into(), enclosure_id: None, slot });
        DiskSite { hctl: Some(hctl.into()), ses, ..DiskSite::default() }
    }

    #[test]
    fn an_enclosure_slot_wins_over_the_profile_map() {
        let lab = profile("qemu-lab");
        let placed = |s: &DiskSite| place_disk(s, Some(&lab.bays));
        let by_ses = Placement { bay: 11, source: BaySource::Ses, hot_swap: true };
        assert_eq!(placed(&site("0:0:1:0", Some(11))), Some(by_ses));
        assert_eq!(place_disk(&site("0:0:1:0", Some(11)), None), Some(by_ses), "without a profile too");
        let by_map = Placement { bay: 1, source: BaySource::ScsiAddress, hot_swap: false };
        assert_eq!(placed(&site("3:0:1:0", None)), Some(by_map));
        assert_eq!(placed(&site("0:0:9:0", None)), None);
        assert_eq!(place_disk(&site("0:0:1:0", None), None), None, "no profile, no map");
    }

    #[test]
    fn a_profile_naming_enclosure_slots_overrules_their_numbers() {
        let text = std::fs::read_to_string(shipped_profiles_dir().join("storage-2u.toml")).unwrap();
        let text = text.replace("map = { ", "map = { \"ses:3\" = 5, ");
        let storage = hardware_profiles::load_str(Path::new("storage-2u.toml"), &text).unwrap();
        let placed = |s: &DiskSite| place_disk(s, Some(&storage.bays));
        assert_eq!(
            placed(&site("0:0:3:0", Some(3))),
            Some(Placement { bay: 5, source: BaySource::Ses, hot_swap: true })
        );
        assert_eq!(placed(&site("0:0:4:0", Some(4))), None, "slot 4 is not named: not bay 4");
        let rear = Placement { bay: 8, source: BaySource::ScsiAddress, hot_swap: true };
        assert_eq!(placed(&site("0:0:8:0", None)), Some(rear));
    }

    #[test]
    fn nvme_and_ahci_disks_by_slot_and_port() {
        let nvme = profile("qemu-lab-nvme");
        let in_slot = DiskSite { pcie_slot: Some("2".into()), ..DiskSite::default() };
        let want = Placement { bay: 1, source: BaySource::PcieSlot, hot_swap: false };
        assert_eq!(place_disk(&in_slot, Some(&nvme.bays)), Some(want));
        let ahci = DiskSite {
            ata: Some(AtaSite { controller: Some("0000:00:1f.2".into()), port: 4 }),
            ..site("3:0:0:0", None)
        };
        let want = Placement { bay: 3, source: BaySource::AtaPort, hot_swap: false };
        assert_eq!(place_disk(&ahci, Some(&nvme.bays)), Some(want));
        // By SCSI address every AHCI disk is target 0 of a host of its own: qemu-lab's `*:0:0:0` takes any.
        let by_address = Placement { bay: 0, source: BaySource::ScsiAddress, hot_swap: false };
        assert_eq!(place_disk(&ahci, Some(&profile("qemu-lab").bays)), Some(by_address));
    }
}
