//! The BMC seam: power-supply sensors from `ipmitool sdr type 'Power Supply'`. If `<root>/dev/ipmi0` is
//! absent there is no BMC and nothing is read.

use std::io;
use std::path::Path;
use std::process::Command;

use rackhand_api::BmcPsuReading;

/// Reads power-supply sensors from a BMC.
pub trait Bmc {
    fn power_supply_sensors(&self) -> io::Result<Vec<BmcPsuReading>>;
}

/// The real BMC, via `ipmitool` (which opens /dev/ipmi0 itself).
#[derive(Debug, Default, Clone, Copy)]
pub struct IpmiTool;

impl Bmc for IpmiTool {
    fn power_supply_sensors(&self) -> io::Result<Vec<BmcPsuReading>> {
        let out = Command::new("ipmitool").args(["sdr", "type", "Power Supply"]).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "ipmitool sdr failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(parse_sdr_power_supply(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// A BMC with fixed sensors: the fake for tests.
#[derive(Debug, Default, Clone)]
pub struct FixedBmc(pub Vec<BmcPsuReading>);

impl Bmc for FixedBmc {
    fn power_supply_sensors(&self) -> io::Result<Vec<BmcPsuReading>> {
        Ok(self.0.clone())
    }
}

/// Whether the machine under `root` has a BMC device node.
pub fn bmc_present(root: &Path) -> bool {
    root.join("dev/ipmi0").exists()
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

    #[test]
    fn bmc_presence_follows_the_device_node() {
        let root = tempfile::tempdir().unwrap();
        assert!(!bmc_present(root.path()));
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("dev/ipmi0"), "").unwrap();
        assert!(bmc_present(root.path()));
    }
}
