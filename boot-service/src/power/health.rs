//! A ready server's redundancy as its BMC reports it: what is wrong with its power supplies and how to fix
//! it, decided from the readings alone (pure: the node service reads the BMC and writes what this says).
//! A supply that lost its AC input, failed or went missing leaves the server running on the other one, so
//! each is a warning: the server stays ready, with its problem and the fix, until the BMC says it is mended.

use rackhand_api::{BmcInfo, BmcPsuReading, Inventory, PowerSupply, Problem, psu_number};

use super::PowerError;

/// The problems in `readings` (in sensor order); `inventory` (the installer's, when known) names where
/// each supply is and whether it is hot-swappable.
pub fn judge_power_supplies(readings: &[BmcPsuReading], inventory: Option<&Inventory>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (order, reading) in (1..).zip(readings) {
        let index = psu_number(&reading.sensor).unwrap_or(order);
        let psu = inventory.and_then(|inv| inv.psus.iter().find(|p| p.index == index));
        let part = format!("PSU {index}");
        let problem = if !reading.present {
            Problem::warning(
                &part,
                format!("PSU {index} is missing: the BMC no longer detects it ({})", reading.sensor),
                format!("insert a power supply in PSU slot {index}{}", while_running(psu)),
            )
        } else if reading.input_lost {
            Problem::warning(
                &part,
                format!("PSU {index} lost its AC input: the server runs on its other supply alone"),
                format!("plug its cord back into its PDU{}{}", labelled(psu), while_running(psu)),
            )
        } else if reading.failed {
            Problem::warning(
                &part,
                format!("PSU {index} reports a failure ({})", reading.events.join(", ")),
                format!("replace PSU {index}{}", while_running(psu)),
            )
        } else {
            continue;
        };
        problems.push(problem);
    }
    problems
}

/// A BMC that could not be read: the boot service can no longer watch this server's supplies.
pub fn unreadable(bmc: &BmcInfo, error: &PowerError) -> Problem {
    Problem::warning(
        "BMC",
        format!("the BMC at {bmc} could not be read, so its power supplies are not watched: {error}"),
        "mend the BMC's network or login (boot-service bmc set); its readings resume by themselves",
    )
}

/// ` (PSU2 (feed B))`: where the supply's SMBIOS record says it is, when it says.
fn labelled(psu: Option<&PowerSupply>) -> String {
    psu.and_then(|p| p.location.as_deref()).map_or(String::new(), |location| format!(" (labelled {location})"))
}

fn while_running(psu: Option<&PowerSupply>) -> &'static str {
    match psu.map(|p| p.hot_replaceable) {
        Some(true) => "; it is hot-swappable, the server keeps running on the other supply",
        Some(false) => "; this supply is not hot-swappable: plan a maintenance window",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use rackhand_api::{PsuStatus, Severity, Source, parse_sdr_power_supply};

    use super::*;

    fn inventory() -> Inventory {
        let psu = |index: u32, location: &str| PowerSupply {
            index,
            location: Some(location.into()),
            name: None,
            manufacturer: None,
            serial: None,
            model: None,
            max_power_watts: None,
            present: true,
            powered: true,
            status: PsuStatus::Ok,
            hot_replaceable: true,
            source: Source::Smbios,
            bmc: None,
        };
        Inventory { psus: vec![psu(1, "PSU1 (feed A)"), psu(2, "PSU2 (feed B)")], ..Inventory::default() }
    }

    #[test]
    fn healthy_supplies_are_no_problem() {
        let sdr =
            "PSU1 Status | 11h | ok | 10.1 | Presence detected\nPSU2 Status | 12h | ok | 10.2 | Presence detected\n";
        assert_eq!(judge_power_supplies(&parse_sdr_power_supply(sdr), Some(&inventory())), []);
    }

    #[test]
    fn a_lost_ac_input_names_the_supply_its_label_and_that_it_is_hot_swappable() {
        let sdr = "PSU1 Status | 11h | ok | 10.1 | Presence detected\n\
                   PSU2 Status | 12h | ok | 10.2 | Presence detected, Power Supply AC lost\n";
        let problems = judge_power_supplies(&parse_sdr_power_supply(sdr), Some(&inventory()));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        let p = &problems[0];
        assert_eq!((p.part.as_str(), p.severity), ("PSU 2", Severity::Warning));
        assert_eq!(p.message, "PSU 2 lost its AC input: the server runs on its other supply alone");
        assert_eq!(
            p.fix,
            "plug its cord back into its PDU (labelled PSU2 (feed B)); it is hot-swappable, the server keeps running \
             on the other supply"
        );
    }

    #[test]
    fn a_failed_or_missing_supply_says_so_and_without_an_inventory_says_what_it_can() {
        let sdr = "PS1 Status | C8h | ok | 10.1 | Presence detected, Failure detected\n\
                   PS2 Status | C9h | ns | 10.2 | No Reading\n";
        let problems = judge_power_supplies(&parse_sdr_power_supply(sdr), None);
        let said: Vec<(&str, &str)> = problems.iter().map(|p| (p.message.as_str(), p.fix.as_str())).collect();
        assert_eq!(
            said,
            [
                ("PSU 1 reports a failure (Presence detected, Failure detected)", "replace PSU 1"),
                ("PSU 2 is missing: the BMC no longer detects it (PS2 Status)", "insert a power supply in PSU slot 2"),
            ]
        );
    }
}
