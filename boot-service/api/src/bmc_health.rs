//! What a BMC says of a server's health: its power-supply sensors as `ipmitool sdr type 'Power Supply'`
//! prints them (read in-band by the installer, over the LAN by the boot service, one parser for both),
//! and [`BmcHealth`], what the boot service last read from a ready node's BMC with what is wrong.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{BmcPsuReading, Problem};

/// What the boot service read from a ready node's BMC, since `since` (it is written when it changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmcHealth {
    /// The first read that found the BMC as it is now.
    pub since: Timestamp,
    /// Its power-supply sensors (empty when it could not be read).
    #[serde(default)]
    pub power_supplies: Vec<BmcPsuReading>,
    /// What is wrong, each with its fix: a supply without AC input, failed or missing; a BMC that does
    /// not answer.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// The last record of its event log already in the node's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_log_seen: Option<u32>,
}

/// Parse `ipmitool sdr type 'Power Supply'` output. Each line is
/// `NAME | ID | STATE | ENTITY | EVENTS`; only per-supply status sensors (entity 10.n, not redundancy
/// sensors) are kept.
pub fn parse_sdr_power_supply(text: &str) -> Vec<BmcPsuReading> {
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            let [name, _id, _state, entity, events] = cols.as_slice() else {
                return None;
            };
            let events: Vec<String> =
                events.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
            let is_supply = entity.starts_with("10.") && !name.to_ascii_lowercase().contains("redundan");
            is_supply.then(|| reading(name, events))
        })
        .collect()
}

/// Parse `ipmitool -v sdr type 'Power Supply'` output (what the boot service's driver runs: `-v` is how
/// ipmitool says why a login failed). One block per sensor, blank-line separated:
/// `Sensor ID : PSU2 Status (0x12)`, `Entity ID : 10.2 (Power Supply)`, then `States Asserted :` followed
/// by one `[state]` line each. As [`parse_sdr_power_supply`], only per-supply sensors (entity 10.n, not
/// redundancy sensors) are kept.
pub fn parse_sdr_power_supply_verbose(text: &str) -> Vec<BmcPsuReading> {
    let mut readings = Vec::new();
    for block in text.split("\n\n") {
        let (mut name, mut entity, mut events, mut in_states) = (None, None, Vec::new(), false);
        for line in block.lines() {
            if let Some((key, value)) = line.split_once(" : ").or_else(|| line.split_once(": ")) {
                let (key, value) = (key.trim(), value.trim());
                in_states = key == "States Asserted";
                match key {
                    "Sensor ID" => name = Some(value.rsplit_once(" (0x").map_or(value, |(n, _)| n).trim().to_owned()),
                    "Entity ID" => entity = value.split_whitespace().next().map(str::to_owned),
                    _ => {}
                }
            } else if in_states && let Some(state) = line.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                events.push(state.to_owned());
            }
        }
        let (Some(name), Some(entity)) = (name, entity) else { continue };
        if entity.starts_with("10.") && !name.to_ascii_lowercase().contains("redundan") {
            readings.push(reading(&name, events));
        }
    }
    readings
}

fn reading(name: &str, events: Vec<String>) -> BmcPsuReading {
    let has = |needle: &str| events.iter().any(|e| e.to_ascii_lowercase().contains(needle));
    BmcPsuReading {
        sensor: name.to_owned(),
        present: has("presence detected"),
        input_lost: has("ac lost") || has("input lost"),
        failed: has("failure detected") || has("predictive failure"),
        events,
    }
}

/// The PSU number in a sensor name (`PS2 Status`, `PSU 1`, `Power Supply 2`), if any.
pub fn psu_number(sensor: &str) -> Option<u32> {
    let digits: String = sensor.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ipmitool -v sdr type 'Power Supply'` (1.8.19) against OpenIPMI's ipmi_sim with PSU 2's AC lost,
    /// captured in this project's tests, less its `Assertions/Deassertions Enabled` lists after PSU 1.
    const VERBOSE_SDR: &str = "\
Sensor ID              : PSU1 Status (0x11)
 Entity ID             : 10.1 (Power Supply)
 Sensor Type (Discrete): Power Supply (0x08)
 Sensor Reading        : 0h
 Event Message Control : Per-threshold
 States Asserted       : Power Supply
                         [Presence detected]
 Assertions Enabled    : Power Supply
                         [Presence detected]
                         [Failure detected]
                         [Predictive failure]
                         [Power Supply AC lost]
 OEM                   : 0

Sensor ID              : PSU2 Status (0x12)
 Entity ID             : 10.2 (Power Supply)
 Sensor Type (Discrete): Power Supply (0x08)
 Sensor Reading        : 0h
 Event Message Control : Per-threshold
 States Asserted       : Power Supply
                         [Presence detected]
                         [Power Supply AC lost]
 OEM                   : 0

Sensor ID              : PS Redundancy (0x13)
 Entity ID             : 10.0 (Power Supply)
 States Asserted       : Redundancy State
                         [Fully Redundant]
";

    #[test]
    fn the_verbose_listing_reads_as_the_compact_one() {
        let readings = parse_sdr_power_supply_verbose(VERBOSE_SDR);
        let compact = parse_sdr_power_supply(
            "PSU1 Status | 11h | ok | 10.1 | Presence detected\n\
             PSU2 Status | 12h | ok | 10.2 | Presence detected, Power Supply AC lost\n\
             PS Redundancy | 13h | ok | 10.0 | Fully Redundant\n",
        );
        assert_eq!(readings, compact, "the states asserted, not the ones enabled; no redundancy sensor");
        assert!(readings[1].input_lost && !readings[0].input_lost);
    }

    /// Output in the format ipmitool prints for a Supermicro X11 BMC with PSU 2's cord pulled (written from
    /// the ipmitool SDR layout, not a capture from this project's hardware).
    const SUPERMICRO_SDR: &str = "\
PS1 Status       | C8h | ok  | 10.1 | Presence detected
PS2 Status       | C9h | ok  | 10.2 | Presence detected, Power Supply AC lost
PS Redundancy    | CAh | ok  | 10.0 | Fully Redundant
";

    #[test]
    fn parses_captured_sdr_output() {
        let readings = parse_sdr_power_supply(SUPERMICRO_SDR);
        assert_eq!(readings.len(), 2, "the redundancy sensor is not a supply");
        assert_eq!(readings[0].sensor, "PS1 Status");
        assert!(readings[0].present && !readings[0].input_lost && !readings[0].failed);
        assert_eq!(readings[1].sensor, "PS2 Status");
        assert!(readings[1].present && readings[1].input_lost);
        assert_eq!(readings[1].events, ["Presence detected", "Power Supply AC lost"]);
        assert_eq!(psu_number(&readings[1].sensor), Some(2));
    }

    #[test]
    fn failure_and_absence_are_read() {
        let text = "PSU1 Status | 60h | ok | 10.1 | Presence detected, Failure detected\n\
                    PSU2 Status | 61h | ns | 10.2 | No Reading\n";
        let readings = parse_sdr_power_supply(text);
        assert!(readings[0].failed);
        assert!(!readings[1].present);
        assert_eq!(psu_number("Power Supply 12"), Some(12));
        assert_eq!(psu_number("PS Status"), None);
    }
}
