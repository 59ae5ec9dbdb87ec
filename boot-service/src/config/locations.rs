//! `[[location]]`: which rack and unit each switch port is cabled to, so a server is named where it
//! stands ("rack1-u2") from what its NICs hear over LLDP, without anyone registering it. A port is
//! matched by the switch's LLDP system name (or chassis id) and its port id (or port description).

use rackhand_api::{Inventory, LldpNeighbor, Location};

/// One switch port and the rack unit whose server is cabled to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortLocation {
    pub switch: String,
    pub port: String,
    pub location: Location,
}

impl PortLocation {
    fn matches(&self, neighbour: &LldpNeighbor) -> bool {
        let switch = neighbour.system_name.as_deref() == Some(&self.switch)
            || neighbour.chassis_id.eq_ignore_ascii_case(&self.switch);
        let port = neighbour.port_id == self.port || neighbour.port_description.as_deref() == Some(&self.port);
        switch && port
    }
}

/// The validated table; empty when the config has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations(pub Vec<PortLocation>);

/// What a server's NICs say about where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// No NIC heard a switch port the table knows.
    Unknown,
    /// Every NIC that heard a known port agrees.
    At(Location),
    /// The NICs are cabled to ports of different units: a cabling mistake, said as a technician fixes it.
    Conflict(String),
}

impl Locations {
    /// Where the server that observed `inventory` stands, from its NICs' LLDP neighbours.
    pub fn locate(&self, inventory: &Inventory) -> Located {
        let heard: Vec<(&str, &PortLocation)> = inventory
            .nics
            .iter()
            .filter_map(|nic| {
                let neighbour = nic.lldp.as_ref()?;
                self.0.iter().find(|port| port.matches(neighbour)).map(|port| (nic.name.as_str(), port))
            })
            .collect();
        let Some((_, first)) = heard.first() else { return Located::Unknown };
        if heard.iter().all(|(_, port)| port.location == first.location) {
            return Located::At(first.location.clone());
        }
        let said: Vec<String> = heard
            .iter()
            .map(|(nic, port)| format!("{nic} is cabled to {} port {} ({})", port.switch, port.port, port.location))
            .collect();
        Located::Conflict(format!(
            "the NICs are cabled to switch ports of different rack units: {}; check the cabling",
            said.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use rackhand_api::{MacAddr, Nic};

    use super::*;

    fn table() -> Locations {
        let port = |switch: &str, port: &str, unit| PortLocation {
            switch: switch.into(),
            port: port.into(),
            location: Location { rack: "rack1".into(), unit },
        };
        Locations(vec![
            port("sw-a", "Ethernet1", 1),
            port("sw-b", "Ethernet1", 1),
            port("sw-a", "Ethernet2", 2),
            port("02:5a:00:00:02:00", "Ethernet2", 2),
        ])
    }

    fn nic(name: &str, neighbour: Option<(&str, &str, &str)>) -> Nic {
        let json = serde_json::json!({
            "name": name,
            "mac": MacAddr::new([0x52, 0x54, 0, 0, 0, u8::try_from(name.len()).unwrap()]),
            "carrier": true,
            "lldp": neighbour.map(|(chassis, port, system)| serde_json::json!({
                "chassis_id": chassis, "port_id": port, "system_name": system,
            })),
        });
        serde_json::from_value(json).expect("a NIC with only the fields this test needs")
    }

    fn inventory(nics: Vec<Nic>) -> Inventory {
        Inventory { nics, ..Inventory::default() }
    }

    #[test]
    fn both_nics_on_the_ports_of_one_unit_locate_it() {
        let inv = inventory(vec![
            nic("eth0", Some(("02:5a:00:00:01:00", "Ethernet2", "sw-a"))),
            // Matched by chassis id, without a system name.
            nic("eth1", Some(("02:5A:00:00:02:00", "Ethernet2", ""))),
        ]);
        assert_eq!(table().locate(&inv), Located::At(Location { rack: "rack1".into(), unit: 2 }));
    }

    #[test]
    fn one_nic_that_hears_a_known_port_is_enough() {
        let inv = inventory(vec![nic("eth0", None), nic("eth1", Some(("x", "Ethernet1", "sw-b")))]);
        assert_eq!(table().locate(&inv), Located::At(Location { rack: "rack1".into(), unit: 1 }));
    }

    #[test]
    fn unknown_ports_and_silent_switches_locate_nothing() {
        let inv = inventory(vec![nic("eth0", Some(("x", "Ethernet9", "sw-a"))), nic("eth1", None)]);
        assert_eq!(table().locate(&inv), Located::Unknown);
        assert_eq!(Locations::default().locate(&inventory(vec![])), Located::Unknown);
    }

    #[test]
    fn nics_on_two_units_are_a_cabling_mistake_named_port_by_port() {
        let inv = inventory(vec![
            nic("eth0", Some(("x", "Ethernet1", "sw-a"))),
            nic("eth1", Some(("x", "Ethernet2", "sw-a"))),
        ]);
        let Located::Conflict(why) = table().locate(&inv) else { panic!("a conflict") };
        assert_eq!(
            why,
            "the NICs are cabled to switch ports of different rack units: eth0 is cabled to sw-a port Ethernet1 \
             (rack1-u1), eth1 is cabled to sw-a port Ethernet2 (rack1-u2); check the cabling"
        );
    }
}
