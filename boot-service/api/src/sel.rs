//! A BMC's System Event Log as `ipmitool -v sel list` prints it (one block per record: `SEL Record ID :
//! 0003`, `Sensor Type : Power Supply`, `Sensor Number : 12`, `Event Direction : Assertion Event`,
//! `Description : Power Supply AC lost`), read by the boot service on each look at a ready node's BMC so
//! that what the BMC logged (a supply losing its input and regaining it, between two reads or not) goes
//! into the node's history.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One SEL record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelEntry {
    /// The record ID (ipmitool prints it in hex).
    pub id: u32,
    /// `Power Supply`.
    pub sensor_type: String,
    /// The sensor number as ipmitool prints it (hex, `12`).
    pub sensor: String,
    /// An assertion (the condition began) or a deassertion (it ended).
    pub asserted: bool,
    /// `Power Supply AC lost`.
    pub description: String,
}

/// `#3: Power Supply sensor 12h: Power Supply AC lost, asserted`.
impl fmt::Display for SelEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = if self.asserted { "asserted" } else { "deasserted" };
        write!(f, "#{}: {} sensor {}h: {}, {direction}", self.id, self.sensor_type, self.sensor, self.description)
    }
}

/// The records in `ipmitool -v sel list` output, in the order printed; a block without a record ID is
/// skipped (as are records that are not events, which have no description).
pub fn parse_sel_verbose(text: &str) -> Vec<SelEntry> {
    let mut entries = Vec::new();
    for block in text.split("\n\n") {
        let field = |name: &str| {
            block.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
        };
        let Some(id) = field("SEL Record ID").and_then(|id| u32::from_str_radix(&id, 16).ok()) else { continue };
        let Some(description) = field("Description") else { continue };
        entries.push(SelEntry {
            id,
            sensor_type: field("Sensor Type").unwrap_or_default(),
            sensor: field("Sensor Number").unwrap_or_default(),
            asserted: field("Event Direction").is_none_or(|d| d.starts_with("Assertion")),
            description,
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ipmitool -v sel list` (1.8.19) against OpenIPMI's ipmi_sim: PSU 2's AC lost, back, lost again.
    const SEL: &str = "\
SEL Record ID          : 0001
 Record Type           : 02
 Timestamp             : S+ 70/001 S+ 70/001
 Generator ID          : 0020
 EvM Revision          : 04
 Sensor Type           : Power Supply
 Sensor Number         : 12
 Event Type            : Sensor-specific Discrete
 Event Direction       : Assertion Event
 Event Data            : 03ffff
 Description           : Power Supply AC lost

SEL Record ID          : 0002
 Record Type           : 02
 Timestamp             : S+ 70/001 S+ 70/001
 Generator ID          : 0020
 EvM Revision          : 04
 Sensor Type           : Power Supply
 Sensor Number         : 12
 Event Type            : Sensor-specific Discrete
 Event Direction       : Deassertion Event
 Event Data            : 03ffff
 Description           : Power Supply AC lost

SEL Record ID          : 001a
 Record Type           : 02
 Sensor Type           : Power Supply
 Sensor Number         : 12
 Event Direction       : Assertion Event
 Description           : Power Supply AC lost

";

    #[test]
    fn each_record_is_read_with_its_direction_and_a_hex_id() {
        let entries = parse_sel_verbose(SEL);
        let said: Vec<String> = entries.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "#1: Power Supply sensor 12h: Power Supply AC lost, asserted",
                "#2: Power Supply sensor 12h: Power Supply AC lost, deasserted",
                "#26: Power Supply sensor 12h: Power Supply AC lost, asserted",
            ]
        );
        assert!(parse_sel_verbose("SEL has no entries\n").is_empty());
    }
}
