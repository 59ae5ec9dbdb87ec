//! PCI network and storage cards no driver in this installer claims: a NIC with no interface, a
//! controller whose disks cannot be seen. Each card is named (once, whatever its number of functions),
//! never left as a silently missing NIC or disk. It blocks when the profile's NICs (for a network card)
//! or disks (for a storage controller) fall short, as the card is then the likely missing part; otherwise
//! it is a warning: the install does not need it, but the installer image lacks its driver.

use rackhand_api::{PciDevice, Problem};

/// Which of the profile's expectations the installer could not meet from what it sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shortfall {
    /// Fewer network interfaces than the profile's `network.nics`.
    pub nics: bool,
    /// A bay the profile fills is empty, or a disk group lacks disks.
    pub disks: bool,
}

pub fn judge_drivers(devices: &[PciDevice], short: Shortfall) -> Vec<Problem> {
    let mut cards: Vec<Vec<&PciDevice>> = Vec::new();
    for device in devices.iter().filter(|d| d.driver.is_none() && (d.is_network() || d.is_storage())) {
        match cards.iter_mut().find(|card| same_card(card[0], device)) {
            Some(card) => card.push(device),
            None => cards.push(vec![device]),
        }
    }
    cards.iter().map(|card| driverless(card, short)).collect()
}

/// Functions of one card: one vendor and device at one bus and device number (`0000:3b:00.0`, `.1`).
fn same_card(a: &PciDevice, b: &PciDevice) -> bool {
    let card = |d: &PciDevice| d.address.rsplit_once('.').map_or(d.address.clone(), |(dev, _)| dev.to_owned());
    (a.vendor, a.device) == (b.vendor, b.device) && card(a) == card(b)
}

fn driverless(card: &[&PciDevice], short: Shortfall) -> Problem {
    let first = card[0];
    let (part, place) = match &first.slot {
        Some(slot) => (format!("PCI slot {slot}"), format!("in slot {slot}")),
        None => {
            let addresses: Vec<&str> = card.iter().map(|d| d.address.as_str()).collect();
            (format!("PCI {}", addresses[0]), format!("at PCI {}", addresses.join(", ")))
        }
    };
    let message = format!("{} {place} has no driver in this installer", first.label());
    let add = format!("add a driver for {} to the netboot image's modules", first.ids());
    if first.is_network() {
        if short.nics {
            let fix = format!("{add} and boot it again, or replace the card with one the installer has a driver for");
            Problem::blocking(part, message, fix)
        } else {
            Problem::warning(part, message, format!("the install does not need this card; to use it, {add}"))
        }
    } else if short.disks {
        let fix = format!("{add} and boot it again: the installer cannot see the disks behind this controller");
        Problem::blocking(part, message, fix)
    } else {
        let fix = format!(
            "the profile's disks are all found; if disks are behind this controller the installer cannot see them: {add}"
        );
        Problem::warning(part, message, fix)
    }
}

#[cfg(test)]
mod tests {
    use rackhand_api::Severity;

    use super::*;

    fn function(address: &str, vendor: u16, device: u16, class: u32, driver: Option<&str>) -> PciDevice {
        PciDevice {
            address: address.into(),
            vendor,
            device,
            class,
            vendor_name: None,
            device_name: None,
            driver: driver.map(str::to_owned),
            slot: None,
        }
    }

    fn x710(function_number: u8, slot: Option<&str>) -> PciDevice {
        let mut port = function(&format!("0000:3b:00.{function_number}"), 0x8086, 0x1572, 0x020000, None);
        port.vendor_name = Some("Intel Corporation".into());
        port.device_name = Some("Ethernet Controller X710 for 10GbE SFP+".into());
        port.slot = slot.map(str::to_owned);
        port
    }

    const NICS_SHORT: Shortfall = Shortfall { nics: true, disks: false };

    #[test]
    fn a_card_without_a_driver_is_named_once_by_its_slot() {
        let problems = judge_drivers(&[x710(0, Some("3")), x710(1, Some("3"))], NICS_SHORT);
        assert_eq!(
            problems,
            [Problem::blocking(
                "PCI slot 3",
                "Intel Corporation Ethernet Controller X710 for 10GbE SFP+ (8086:1572) in slot 3 has no driver in this \
             installer",
                "add a driver for 8086:1572 to the netboot image's modules and boot it again, or replace the card with \
             one the installer has a driver for",
            )]
        );
    }

    #[test]
    fn without_a_slot_the_card_is_placed_by_its_addresses() {
        let problems = judge_drivers(&[x710(0, None), x710(1, None)], NICS_SHORT);
        assert_eq!(problems[0].part, "PCI 0000:3b:00.0");
        assert!(
            problems[0]
                .message
                .ends_with("(8086:1572) at PCI 0000:3b:00.0, 0000:3b:00.1 has no driver in this installer")
        );
    }

    #[test]
    fn it_blocks_only_when_its_kind_of_part_falls_short() {
        let sas = function("0000:18:00.0", 0x1000, 0x0097, 0x010700, None);
        let devices = [x710(0, Some("3")), sas];
        let severities = |short| judge_drivers(&devices, short).iter().map(|p| p.severity).collect::<Vec<_>>();
        assert_eq!(severities(Shortfall::default()), [Severity::Warning, Severity::Warning]);
        assert_eq!(severities(NICS_SHORT), [Severity::Blocking, Severity::Warning]);
        assert_eq!(severities(Shortfall { nics: false, disks: true }), [Severity::Warning, Severity::Blocking]);
        let problems = judge_drivers(&devices, Shortfall { nics: false, disks: true });
        assert_eq!(
            problems[1].message,
            "Serial Attached SCSI controller (1000:0097) at PCI 0000:18:00.0 has no driver in this installer"
        );
        assert_eq!(
            problems[1].fix,
            "add a driver for 1000:0097 to the netboot image's modules and boot it again: the installer cannot see \
             the disks behind this controller"
        );
    }

    #[test]
    fn functions_with_a_driver_and_other_classes_are_not_problems() {
        let devices = [
            function("0000:19:00.0", 0x14e4, 0x16d8, 0x020000, Some("bnxt_en")),
            function("0000:00:14.0", 0x8086, 0xa1af, 0x0c0330, None),
        ];
        assert_eq!(judge_drivers(&devices, NICS_SHORT), []);
    }

    #[test]
    fn two_cards_of_one_model_are_two_problems() {
        let mut second = x710(0, Some("4"));
        second.address = "0000:5e:00.0".into();
        let problems = judge_drivers(&[x710(0, Some("3")), second], NICS_SHORT);
        let parts: Vec<&str> = problems.iter().map(|p| p.part.as_str()).collect();
        assert_eq!(parts, ["PCI slot 3", "PCI slot 4"]);
    }
}
