//! Day 2: the BMC of every ready node that has one is read for its health (its power supplies and its
//! event log), and what it says is kept with the node: a lost AC input, a failed or missing supply, each
//! with its fix, or that it is mended; what the log gained goes into the history. A BMC that cannot be
//! read is a problem of its own (nobody is watching that server's supplies then). Judged by
//! `power::health` (pure), decided by `lifecycle::health` (written only when it changed).

use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::Timestamp;
use rackhand_api::NodeState;

use super::lifecycle::Input;
use super::lifecycle::health::BmcReading;
use super::{NodeError, Nodes};
use crate::power::health::{judge_power_supplies, unreadable};
use crate::store::{NodeKey, StoredNode};

/// BMCs read at once: one that does not answer holds its reader for its whole timeout and retries.
const READERS: usize = 8;

impl Nodes {
    /// Read the BMC of every ready node that has one and keep what it says; how many were read.
    pub fn read_bmc_health(&self, now: Timestamp) -> Result<usize, NodeError> {
        let watched: Vec<StoredNode> =
            self.store.nodes()?.into_iter().filter(|n| n.record.state == NodeState::Ready && n.bmc.is_some()).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..READERS.min(watched.len()) {
                scope.spawn(|| {
                    while let Some(node) = watched.get(next.fetch_add(1, Ordering::Relaxed)) {
                        self.read_one_bmc(node, now);
                    }
                });
            }
        });
        Ok(watched.len())
    }

    fn read_one_bmc(&self, node: &StoredNode, now: Timestamp) {
        let Some(login) = &node.bmc else { return };
        let (power_supplies, problems) = match self.power.power_supplies(login) {
            Ok(readings) => {
                let problems = judge_power_supplies(&readings, node.record.inventory.as_ref());
                (readings, problems)
            }
            Err(error) => (Vec::new(), vec![unreadable(&login.info(), &error)]),
        };
        let event_log = match self.power.event_log(login) {
            Ok(entries) => Some(entries),
            Err(error) => {
                tracing::warn!(node = %node.record.id, %error, "reading the BMC's event log failed");
                None
            }
        };
        let id = node.record.id;
        let reading = BmcReading { power_supplies, problems, event_log };
        // Decided on the node as committed: it may have been reprovisioned since the list was read.
        if let Err(err) = self.decide_and_write(NodeKey::Id(id), Input::BmcHealth(reading), now) {
            tracing::error!(node = %id, %err, "keeping what the BMC said failed");
        }
    }
}
