//! A node's BMC, driven by the node service: set by an admin, asked for power state, power actions and
//! the next boot device, and used by a reprovision to network-boot the server. A BMC's "done" is never
//! taken as the server having done it: a reprovision waits (with a deadline) to see the server
//! network-boot; a power action answers with the state the BMC reports afterwards, read back. Every
//! request and answer goes into the node's history; the BMC's password never does.

use std::time::{Duration, Instant};

use rackhand_api::{BootDevice, NodeId, NodeRecord, PowerAction, PowerState, PowerStatus, SetBmc};

use super::lifecycle::Input;
use super::{NodeError, Nodes};
use crate::power::{BmcLogin, PowerError};

/// How long a power action may take to show in the power state the BMC reports.
const SETTLE: Duration = Duration::from_secs(15);

impl Nodes {
    /// Admin: set (or, with `None`, remove) the node's BMC. The record answered says only where it is.
    pub fn set_bmc(&self, id: NodeId, set: Option<SetBmc>) -> Result<NodeRecord, NodeError> {
        if let Some(set) = &set {
            set.validate().map_err(NodeError::Invalid)?;
        }
        Ok(self.run(id, Input::SetBmc(set.map(BmcLogin::from_request)))?.0)
    }

    /// The power state the node's BMC reports.
    pub fn power_state(&self, id: NodeId) -> Result<PowerStatus, NodeError> {
        let bmc = self.bmc(id)?;
        Ok(PowerStatus { power: self.power.power_state(&bmc)? })
    }

    /// Admin: a power action, then the state the BMC reports once it shows (on for `on` and `cycle`).
    pub fn power(&self, id: NodeId, action: PowerAction) -> Result<PowerStatus, NodeError> {
        let bmc = self.bmc(id)?;
        let asked = format!("power {}", action.as_str());
        let done = self.power.power(&bmc, action).and_then(|()| {
            let want = if action == PowerAction::Off { PowerState::Off } else { PowerState::On };
            self.settled(&bmc, want)
        });
        self.answered(id, &asked, said(&done.as_ref()))?;
        Ok(PowerStatus { power: done? })
    }

    /// Admin: the device the server boots from next (once).
    pub fn next_boot(&self, id: NodeId, device: BootDevice) -> Result<(), NodeError> {
        let bmc = self.bmc(id)?;
        let asked = format!("next boot: {}", device.as_str());
        let done = self.power.next_boot(&bmc, device);
        self.answered(id, &asked, said(&done.as_ref().map(|()| "accepted")))?;
        Ok(done?)
    }

    /// Admin: send a ready or failed node back through the installer. With a BMC, the server is told to
    /// network-boot and is power-cycled (powered on when off), and the node waits to see it network-boot
    /// (`[deploy] bmc_boot_deadline`); a BMC that fails fails the node with why. Without one it installs
    /// at its next network boot, whenever someone restarts it.
    pub fn reprovision(&self, id: NodeId) -> Result<NodeRecord, NodeError> {
        // The state changes first: a server quick to network-boot must find itself `booting`, not
        // handed over to its disk again.
        let (node, _) = self.run(id, Input::Reprovision)?;
        if node.bmc.is_none() {
            return Ok(node);
        }
        let Some(bmc) = self.load(id)?.bmc else { return Ok(node) };
        match self.network_boot(&bmc) {
            Ok(answer) => self.answered(id, "network boot and power cycle", answer)?,
            Err(error) => return Ok(self.run(id, Input::ReprovisionBmcFailed { why: error.to_string() })?.0),
        };
        self.get(id)
    }

    /// Next boot from the network, then a cycle (or on, when off): what the BMC said.
    fn network_boot(&self, bmc: &BmcLogin) -> Result<String, PowerError> {
        self.power.next_boot(bmc, BootDevice::Network)?;
        let was = self.power.power_state(bmc)?;
        let action = restart(was);
        self.power.power(bmc, action)?;
        Ok(format!("accepted (it was {was}; power {})", action.as_str()))
    }

    /// The BMC's power state, read until it is `want` or [`SETTLE`] passed (then what it last said).
    fn settled(&self, bmc: &BmcLogin, want: PowerState) -> Result<PowerState, PowerError> {
        let started = Instant::now();
        loop {
            let now = self.power.power_state(bmc)?;
            if now == want || started.elapsed() > SETTLE {
                return Ok(now);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Put what the BMC answered into the node's history.
    fn answered(&self, id: NodeId, asked: &str, answer: String) -> Result<(), NodeError> {
        self.run(id, Input::BmcAnswered { asked, answer }).map(drop)
    }

    fn bmc(&self, id: NodeId) -> Result<BmcLogin, NodeError> {
        self.load(id)?.bmc.ok_or(NodeError::NoBmc(id))
    }
}

/// How to restart a server that is `was`: a cycle when on; on when off (a cycle of a server that is off
/// is refused by IPMI BMCs, "not supported in present state").
pub fn restart(was: PowerState) -> PowerAction {
    match was {
        PowerState::On => PowerAction::Cycle,
        PowerState::Off => PowerAction::On,
    }
}

/// A BMC's answer as the node's history says it.
fn said<T: std::fmt::Display>(done: &Result<T, &PowerError>) -> String {
    match done {
        Ok(answer) => answer.to_string(),
        Err(error) => format!("failed: {error}"),
    }
}
