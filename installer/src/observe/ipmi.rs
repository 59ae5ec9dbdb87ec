//! The BMC seam: power-supply sensors from `ipmitool sdr type 'Power Supply'`. If `<root>/dev/ipmi0` is
//! absent there is no BMC and nothing is read.

use std::io;
use std::path::Path;
use std::process::Command;

pub use rackhand_api::psu_number;
use rackhand_api::{BmcPsuReading, parse_sdr_power_supply};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmc_presence_follows_the_device_node() {
        let root = tempfile::tempdir().unwrap();
        assert!(!bmc_present(root.path()));
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("dev/ipmi0"), "").unwrap();
        assert!(bmc_present(root.path()));
    }
}
