//! NICs: count and vendors, the bond legs (vendors, link, speed) and which switch each leg sees.

use hardware_profiles::{BondSpec, NetworkSpec, vendor_by_id};
use rackhand_api::{Nic, Problem};

pub fn judge_network(nics: &[Nic], spec: &NetworkSpec, bond: &BondSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    let found = nics.len();
    let wanted = spec.nics as usize;
    if found < wanted {
        problems.push(Problem::blocking(
            "NICs",
            format!("found {found} network interfaces, profile wants {wanted}"),
            format!("install the missing network card ({})", spec.vendor_names()),
        ));
    } else if found > wanted {
        problems.push(Problem::warning(
            "NICs",
            format!("found {found} network interfaces, profile expects {wanted}"),
            "remove the extra card, or update the profile",
        ));
    }
    for nic in nics {
        if !nic.pci_vendor.is_some_and(|v| spec.allows(v)) {
            let place = nic.pci_address.as_deref().map_or(String::new(), |a| format!(" (PCI {a})"));
            problems.push(Problem::blocking(
                format!("NIC {}", nic.name),
                format!("NIC {} is {}, profile allows {}", nic.name, vendor_label(nic), spec.vendor_names()),
                format!(
                    "replace the card behind {}{place} with a card from {}",
                    nic.name,
                    spec.vendor_names().replace(", ", " or ")
                ),
            ));
        }
    }
    let legs = choose_bond_legs(nics, spec, bond);
    problems.extend(judge_legs(&legs, spec, bond));
    problems
}

/// The bond's legs: the primary vendor's NIC first, then (with `distinct_vendors`) NICs of vendors not yet
/// used; NICs with link before those without, then by name. Only allowed vendors are candidates.
pub fn choose_bond_legs<'a>(nics: &'a [Nic], spec: &NetworkSpec, bond: &BondSpec) -> Vec<&'a Nic> {
    let mut candidates: Vec<&Nic> = nics.iter().filter(|n| n.pci_vendor.is_some_and(|v| spec.allows(v))).collect();
    candidates.sort_by_key(|n| (!n.carrier, n.name.clone()));
    let mut legs: Vec<&Nic> = Vec::new();
    if let Some(primary) = bond.primary_vendor
        && let Some(pos) = candidates.iter().position(|n| n.pci_vendor == Some(primary.id))
    {
        legs.push(candidates.remove(pos));
    }
    while legs.len() < bond.legs as usize && !candidates.is_empty() {
        let fresh_vendor = candidates.iter().position(|n| !legs.iter().any(|l| l.pci_vendor == n.pci_vendor));
        let pos = if bond.distinct_vendors { fresh_vendor.unwrap_or(0) } else { 0 };
        legs.push(candidates.remove(pos));
    }
    legs
}

fn judge_legs(legs: &[&Nic], spec: &NetworkSpec, bond: &BondSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    if bond.distinct_vendors
        && let [first, rest @ ..] = legs
        && !rest.is_empty()
        && rest.iter().all(|n| n.pci_vendor == first.pci_vendor)
    {
        let names: Vec<&str> = legs.iter().map(|n| n.name.as_str()).collect();
        let others: Vec<&str> =
            spec.vendors.iter().filter(|v| Some(v.id) != first.pci_vendor).map(|v| v.name).collect();
        problems.push(Problem::blocking(
            "NICs",
            format!("NICs {} are both {}: profile requires two vendors", names.join(" and "), vendor_label(first)),
            format!("replace {} with a card from {}", names[names.len() - 1], others.join(" or ")),
        ));
    }
    for (i, nic) in legs.iter().enumerate() {
        let part = format!("NIC {}", nic.name);
        if !nic.carrier {
            problems.push(Problem::blocking(
                &part,
                format!("NIC {} has no link", nic.name),
                format!("connect {} to its switch port; check the cable and that the port is enabled", nic.name),
            ));
            continue;
        }
        if let (Some(min), Some(speed)) = (spec.min_speed_mbps, nic.speed_mbps)
            && speed < min
        {
            problems.push(Problem::blocking(
                &part,
                format!("NIC {} links at {speed} Mb/s, profile wants at least {min} Mb/s", nic.name),
                format!("use a cable or optic rated for {min} Mb/s on {} and check the switch port's speed", nic.name),
            ));
        }
        if !bond.distinct_switches {
            continue;
        }
        let Some(seen) = &nic.lldp else {
            problems.push(Problem::warning(
                &part,
                format!("NIC {} hears no LLDP from its switch", nic.name),
                format!("enable LLDP on the switch port {} is cabled to, so its switch can be checked", nic.name),
            ));
            continue;
        };
        let same = legs[..i]
            .iter()
            .find(|earlier| earlier.carrier && earlier.lldp.as_ref().is_some_and(|l| l.chassis_id == seen.chassis_id));
        if same.is_some() {
            let switch = seen.system_name.as_deref().unwrap_or(&seen.chassis_id);
            problems.push(Problem::blocking(
                &part,
                format!("both NICs see switch {switch}"),
                format!("move {} to the second switch", nic.name),
            ));
        }
    }
    problems
}

/// `Intel`, or `vendor 0x1234` when the table does not know it.
fn vendor_label(nic: &Nic) -> String {
    match nic.pci_vendor {
        Some(id) => vendor_by_id(id).map_or_else(|| format!("vendor {id:#06x}"), |v| v.name.to_owned()),
        None => "of unknown vendor".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rackhand_api::MacAddr;

    use super::*;

    fn nic(name: &str, vendor: u16, carrier: bool) -> Nic {
        Nic {
            name: name.into(),
            mac: MacAddr::new([2, 0, 0, 0, 0, u8::try_from(name.len()).unwrap()]),
            pci_vendor: Some(vendor),
            pci_device: None,
            vendor_name: None,
            driver: None,
            carrier,
            speed_mbps: None,
            lldp: None,
            pci_address: None,
            firmware_version: None,
        }
    }

    #[test]
    fn legs_are_primary_vendor_first_then_another_vendor_with_link() {
        let text = std::fs::read_to_string(hardware_profiles::shipped_profiles_dir().join("edge-1u.toml")).unwrap();
        let edge = hardware_profiles::load_str(Path::new("edge-1u.toml"), &text).unwrap();
        let nics = [
            nic("eno1", 0x14e4, false),
            nic("eno2", 0x14e4, true),
            nic("ens1f0", 0x8086, false),
            nic("ens1f1", 0x8086, true),
        ];
        let legs: Vec<&str> =
            choose_bond_legs(&nics, &edge.network, &edge.bond).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(legs, ["ens1f1", "eno2"]);
    }
}
