//! The lab's two top-of-rack switches, `sw-a` and `sw-b`: one lldpd each (Debian's LLDP agent, as a Linux
//! switch runs it) in the lab namespace for the lab's lifetime. NIC 1 of every server is cabled to sw-a, NIC
//! 2 to sw-b: switch `n` manages the taps `s<index>n<n>`, and a server's tap becomes the switch's port
//! `Ethernet<index>` when the server starts, before its QEMU opens the tap (so its NIC never hears an
//! unconfigured port). Each sends every second, so an installer listening hears both within moments.

use std::path::Path;

use anyhow::Context;
use rackhand_netns::Netns;
use rackhand_netns::lldpd::Lldpd;

use crate::server::SWITCHES;

/// The switches' LLDP agents, stopped when dropped (unless detached with the lab).
pub struct Switches {
    agents: Vec<Lldpd>,
}

/// What switch `n` (1-based: the NIC number it is cabled to) says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchIdentity {
    pub name: &'static str,
    /// Sent as a locally assigned chassis ID: lldpd's own would be the MAC of one of the lab's taps.
    pub chassis_id: String,
    /// Its management address as LLDP advertises it (the lab has no management network: nothing
    /// answers there).
    pub management_address: String,
}

/// Switch `n` (1 or 2).
pub fn identity(n: u8) -> SwitchIdentity {
    SwitchIdentity {
        name: SWITCHES[usize::from(n - 1)],
        chassis_id: format!("02:5a:00:00:{n:02x}:00"),
        management_address: format!("10.77.0.{}", 250 + u32::from(n)),
    }
}

/// The lldpcli commands switch `n` starts with.
fn config(n: u8) -> Vec<String> {
    let id = identity(n);
    vec![
        format!("configure system hostname {}", id.name),
        format!("configure system chassisid {}", id.chassis_id),
        "configure system description \"Rackhand lab switch\"".into(),
        // An exact address is advertised as it is, whether or not an interface holds it.
        format!("configure system ip management pattern {}", id.management_address),
        "configure lldp tx-interval 1".into(),
    ]
}

impl Switches {
    /// Start both switches in the lab namespace `ns`; their sockets and logs are `<dir>/sw-a.*`, `sw-b.*`.
    pub fn start(ns: &Netns, dir: &Path) -> anyhow::Result<Switches> {
        let mut agents = Vec::new();
        for n in [1, 2] {
            let name = identity(n).name;
            let lldpd = Lldpd::start(ns, dir, name, &format!("s*n{n}"), &config(n))
                .with_context(|| format!("starting switch {name} (lldpd, Debian package lldpd)"))?;
            agents.push(lldpd);
        }
        Ok(Switches { agents })
    }

    /// The switches of a detached lab whose directory is `dir`, still running there.
    pub fn attach(dir: &Path) -> Switches {
        Switches { agents: [1, 2].into_iter().map(|n| Lldpd::attach(dir, identity(n).name)).collect() }
    }

    /// Leave the switches running with the detached lab.
    pub fn detach(self) {
        self.agents.into_iter().for_each(Lldpd::detach);
    }

    /// Cable `tap` (a server's NIC `nic`) to switch `nic`'s port `port`, which it names as its port ID and
    /// description.
    pub fn cable(&self, nic: u8, tap: &str, port: &str) -> anyhow::Result<()> {
        let lldpd =
            self.agents.get(usize::from(nic).wrapping_sub(1)).context("the lab has switches for NICs 1 and 2")?;
        lldpd.configure_port(tap, port, port).with_context(|| format!("cabling {tap} to {} {port}", identity(nic).name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switches_are_sw_a_and_sw_b_with_distinct_chassis_and_addresses_outside_the_labs_others() {
        let (a, b) = (identity(1), identity(2));
        assert_eq!((a.name, b.name), ("sw-a", "sw-b"));
        assert_eq!((a.chassis_id.as_str(), b.chassis_id.as_str()), ("02:5a:00:00:01:00", "02:5a:00:00:02:00"));
        // The DHCP pools end at .149 and the BMCs at .(200 + 24).
        assert_eq!((a.management_address.as_str(), b.management_address.as_str()), ("10.77.0.251", "10.77.0.252"));
        assert!(config(2).contains(&"configure system hostname sw-b".to_owned()));
    }
}
