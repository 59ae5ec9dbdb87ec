//! Where a server is, and how people name it: technicians go by rack and unit ("rack1-u2"), the API by
//! node id. A node's location is set at its registration or derived from the switch port its NIC is
//! cabled to (the boot service's `[[location]]` table, matched against the NIC's LLDP neighbour).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::NodeRecord;

/// Highest rack unit a location may name (the tallest racks have 58).
pub const MAX_UNIT: u32 = 99;

/// A rack and the unit the server's lowest edge sits in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// As labelled on the rack: `rack1`, `r07`, `dc1-a12`.
    pub rack: String,
    /// 1-based, counted from the bottom as rack labels do.
    pub unit: u32,
}

impl Location {
    /// The location's rules: a rack name that can start a host name (letters, digits and hyphens, not
    /// starting or ending with a hyphen, 1 to 32 characters) and a unit from 1 to [`MAX_UNIT`], so that
    /// `rack-uN` is a host name the installed OS can take.
    pub fn check(&self) -> Result<(), String> {
        let rack = &self.rack;
        let rack_ok = (1..=32).contains(&rack.len())
            && !rack.starts_with('-')
            && !rack.ends_with('-')
            && rack.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !rack_ok {
            return Err(format!(
                "rack `{}`: 1 to 32 letters, digits and hyphens, no hyphen at either end",
                rack.escape_debug()
            ));
        }
        if !(1..=MAX_UNIT).contains(&self.unit) {
            return Err(format!("unit {}: from 1 to {MAX_UNIT}", self.unit));
        }
        Ok(())
    }
}

/// `rack1-u2`: how technicians say it, and the host name a node without one gets.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-u{}", self.rack, self.unit)
    }
}

impl NodeRecord {
    /// The name people use for this server: its host name, else its location, else none.
    pub fn name(&self) -> Option<String> {
        self.hostname.clone().or_else(|| self.location.as_ref().map(ToString::to_string))
    }

    /// The server as the dashboard, the CLI and the console name it: `rack1-u2 (node 7)`, or `node 7`
    /// while neither a host name nor a location is known.
    pub fn label(&self) -> String {
        match self.name() {
            Some(name) => format!("{name} (node {})", self.id),
            None => format!("node {}", self.id),
        }
    }

    /// The host name the installed OS gets: the registered one, else the location's, else `node<id>`.
    pub fn os_hostname(&self) -> String {
        self.name().unwrap_or_else(|| format!("node{}", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MacAddr, NodeId, NodeState, is_hostname};

    fn record(hostname: Option<&str>, location: Option<Location>) -> NodeRecord {
        let at = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        NodeRecord {
            hostname: hostname.map(Into::into),
            location,
            ..NodeRecord::new(NodeId(7), vec![MacAddr::new([0x52, 0x54, 0, 0, 0, 7])], NodeState::Booting, at)
        }
    }

    fn rack1(unit: u32) -> Location {
        Location { rack: "rack1".into(), unit }
    }

    #[test]
    fn a_server_is_named_by_host_name_then_location_then_id() {
        assert_eq!(record(Some("web01"), Some(rack1(2))).label(), "web01 (node 7)");
        assert_eq!(record(None, Some(rack1(2))).label(), "rack1-u2 (node 7)");
        assert_eq!(record(None, None).label(), "node 7");
        assert_eq!(record(None, Some(rack1(2))).os_hostname(), "rack1-u2");
        assert_eq!(record(None, None).os_hostname(), "node7");
        assert_eq!(record(Some("web01"), None).os_hostname(), "web01");
    }

    #[test]
    fn a_valid_location_makes_a_valid_host_name() {
        for good in
            [rack1(1), Location { rack: "dc1-a12".into(), unit: MAX_UNIT }, Location { rack: "7".into(), unit: 42 }]
        {
            assert_eq!(good.check(), Ok(()), "{good:?}");
            assert!(is_hostname(&good.to_string()), "{good}");
        }
        let refused = |rack: &str, unit| Location { rack: rack.into(), unit }.check().unwrap_err();
        assert!(refused("", 1).starts_with("rack ``"));
        assert!(refused("rack 1", 1).starts_with("rack `rack 1`"));
        assert!(refused("-r", 1).starts_with("rack `-r`"));
        assert!(refused(&"r".repeat(33), 1).contains("1 to 32"));
        assert_eq!(refused("rack1", 0), "unit 0: from 1 to 99");
        assert_eq!(refused("rack1", 100), "unit 100: from 1 to 99");
    }

    #[test]
    fn a_location_travels_as_rack_and_unit() {
        let json = serde_json::to_value(rack1(2)).unwrap();
        assert_eq!(json, serde_json::json!({"rack": "rack1", "unit": 2}));
        assert!(serde_json::from_value::<Location>(serde_json::json!({"rack": "r", "unit": 2, "row": 3})).is_err());
    }
}
