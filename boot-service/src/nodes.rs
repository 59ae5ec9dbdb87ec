//! The node service: the lifecycle rules on top of the store. Every state change goes through
//! [`NodeState::transition`] and is stored with its event; node tokens are minted here, only their hash
//! is kept, and they stop working once the node is ready or failed.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rackhand_api::{
    EventKind, FailedReport, Inventory, MacAddr, NodeId, NodeRecord, NodeState, PlanResults, ProgressReport,
    RegisterNode, Stage, TransitionError,
};

use crate::store::{NewNode, NodeChange, Store, StoreError, StoredNode};
use crate::token::{self, Secret};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no node {0}")]
    NotFound(NodeId),
    #[error("MAC {0} is already registered")]
    MacTaken(MacAddr),
    #[error("node token missing, wrong, or no longer valid")]
    Unauthorized,
    #[error("node {node}: {source}")]
    Transition { node: NodeId, source: TransitionError },
    /// A field's value breaks its rule; the message names the field and the rule.
    #[error("{0}")]
    Invalid(String),
}

/// What a PXE boot of a known node should do.
#[derive(Debug)]
pub enum BootAction {
    /// Boot the installer with this one-time token.
    Install { node: NodeRecord, token: Secret },
    /// The node is ready: boot its local disk.
    LocalDisk { node: NodeRecord },
}

pub struct Nodes {
    store: Arc<dyn Store>,
    /// Serialises read-decide-write sequences so two requests for one node cannot interleave.
    write: Mutex<()>,
}

impl Nodes {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, write: Mutex::new(()) }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn list(&self) -> Result<Vec<NodeRecord>, NodeError> {
        Ok(self.store.nodes()?.into_iter().map(|n| n.record).collect())
    }

    /// A node with its full event history.
    pub fn get(&self, id: NodeId) -> Result<NodeRecord, NodeError> {
        let mut record = self.store.node(id)?.ok_or(NodeError::NotFound(id))?.record;
        record.events = self.store.events(id)?;
        Ok(record)
    }

    pub fn by_mac(&self, mac: MacAddr) -> Result<Option<NodeRecord>, NodeError> {
        Ok(self.store.node_by_mac(mac)?.map(|n| n.record))
    }

    /// An admin pre-registers a server.
    pub fn register(&self, req: RegisterNode) -> Result<NodeRecord, NodeError> {
        req.check().map_err(NodeError::Invalid)?;
        let _g = self.guard();
        let new = NewNode {
            mac: req.mac,
            profile: req.profile,
            hostname: req.hostname,
            reason: "registered by admin".into(),
        };
        match self.store.create_node(new, Timestamp::now()) {
            Ok(node) => Ok(node.record),
            Err(StoreError::DuplicateMac(mac)) => Err(NodeError::MacTaken(mac)),
            Err(e) => Err(e.into()),
        }
    }

    /// Auto-enrolment: make a `discovered` node for a MAC seen for the first time. Idempotent.
    pub fn enroll(&self, mac: MacAddr, how: &str) -> Result<NodeRecord, NodeError> {
        let _g = self.guard();
        if let Some(node) = self.store.node_by_mac(mac)? {
            return Ok(node.record);
        }
        let new = NewNode { mac, profile: None, hostname: None, reason: format!("enrolled automatically ({how})") };
        Ok(self.store.create_node(new, Timestamp::now())?.record)
    }

    /// A node's PXE boot asks for its script: ready nodes boot their disk, every other node (re)starts the
    /// installer with a fresh token, which replaces any earlier one.
    pub fn pxe_boot(&self, mac: MacAddr, client_ip: Option<Ipv4Addr>) -> Result<Option<BootAction>, NodeError> {
        let _g = self.guard();
        let Some(node) = self.store.node_by_mac(mac)? else { return Ok(None) };
        let record = node.record;
        if record.state == NodeState::Ready {
            return Ok(Some(BootAction::LocalDisk { node: record }));
        }
        self.check(record.id, record.state, NodeState::Booting)?;
        let token = token::new_node_token();
        let change = NodeChange {
            state: Some(NodeState::Booting),
            ipv4: client_ip,
            failure: Some(None),
            token_hash: Some(Some(token::hash_token(token.expose()))),
            event: Some(EventKind::Transition {
                from: Some(record.state),
                to: NodeState::Booting,
                reason: Some("PXE boot: installer script served".into()),
            }),
            ..NodeChange::default()
        };
        let node = self.store.update_node(record.id, change, Timestamp::now())?;
        Ok(Some(BootAction::Install { node: node.record, token }))
    }

    /// Admin: send a ready or failed node back through the installer on its next boot.
    pub fn reprovision(&self, id: NodeId) -> Result<NodeRecord, NodeError> {
        let _g = self.guard();
        let node = self.load(id)?;
        node.record.state.reprovision().map_err(|source| NodeError::Transition { node: id, source })?;
        let change = NodeChange {
            state: Some(NodeState::Booting),
            failure: Some(None),
            token_hash: Some(None),
            event: Some(EventKind::Transition {
                from: Some(node.record.state),
                to: NodeState::Booting,
                reason: Some("reprovision requested by admin".into()),
            }),
            ..NodeChange::default()
        };
        Ok(self.store.update_node(id, change, Timestamp::now())?.record)
    }

    /// The installer posts what it observed: `booting → inspecting` (re-posting while inspecting is fine).
    /// The installer's inventory, and the profile it matched; that fills the record's profile unless an
    /// admin pinned one.
    pub fn post_inventory(
        &self,
        id: NodeId,
        presented: &str,
        inventory: Inventory,
        matched_profile: Option<String>,
    ) -> Result<NodeRecord, NodeError> {
        let _g = self.guard();
        let node = self.authenticate(id, presented)?;
        if let Some(name) = matched_profile.as_deref().filter(|name| !rackhand_api::is_profile_name(name)) {
            return Err(NodeError::Invalid(rackhand_api::profile_name_rule(name)));
        }
        let profile = matched_profile.filter(|_| node.record.profile.is_none());
        let mut change = NodeChange { inventory: Some(inventory), profile, ..NodeChange::default() };
        if node.record.state != NodeState::Inspecting {
            self.check(id, node.record.state, NodeState::Inspecting)?;
            change.state = Some(NodeState::Inspecting);
            change.event = Some(transition(node.record.state, NodeState::Inspecting, "inventory received"));
        }
        Ok(self.store.update_node(id, change, Timestamp::now())?.record)
    }

    /// A progress report; the first `install` one moves `inspecting → installing`.
    pub fn post_progress(&self, id: NodeId, presented: &str, report: ProgressReport) -> Result<NodeRecord, NodeError> {
        let _g = self.guard();
        let node = self.authenticate(id, presented)?;
        let now = Timestamp::now();
        if report.stage == Stage::Install && node.record.state == NodeState::Inspecting {
            self.check(id, node.record.state, NodeState::Installing)?;
            let change = NodeChange {
                state: Some(NodeState::Installing),
                event: Some(transition(NodeState::Inspecting, NodeState::Installing, "install started")),
                ..NodeChange::default()
            };
            self.store.update_node(id, change, now)?;
        }
        let change = NodeChange { event: Some(EventKind::Progress(report)), ..NodeChange::default() };
        Ok(self.store.update_node(id, change, now)?.record)
    }

    /// The install finished: `installing → ready`; the token dies with it.
    pub fn mark_ready(&self, id: NodeId, presented: &str, results: PlanResults) -> Result<NodeRecord, NodeError> {
        let _g = self.guard();
        let node = self.authenticate(id, presented)?;
        self.check(id, node.record.state, NodeState::Ready)?;
        let change = NodeChange {
            state: Some(NodeState::Ready),
            results: Some(results),
            token_hash: Some(None),
            event: Some(transition(node.record.state, NodeState::Ready, "install complete")),
            ..NodeChange::default()
        };
        Ok(self.store.update_node(id, change, Timestamp::now())?.record)
    }

    /// The install stopped: `failed(reason, problems)`; the token dies with it.
    pub fn mark_failed(&self, id: NodeId, presented: &str, report: FailedReport) -> Result<NodeRecord, NodeError> {
        let _g = self.guard();
        let node = self.authenticate(id, presented)?;
        self.check(id, node.record.state, NodeState::Failed)?;
        let change = NodeChange {
            state: Some(NodeState::Failed),
            token_hash: Some(None),
            event: Some(EventKind::Transition {
                from: Some(node.record.state),
                to: NodeState::Failed,
                reason: Some(report.reason.clone()),
            }),
            failure: Some(Some(report)),
            ..NodeChange::default()
        };
        Ok(self.store.update_node(id, change, Timestamp::now())?.record)
    }

    fn load(&self, id: NodeId) -> Result<StoredNode, NodeError> {
        self.store.node(id)?.ok_or(NodeError::NotFound(id))
    }

    /// The node exists, is in a state that accepts its token, and `presented` is that token.
    fn authenticate(&self, id: NodeId, presented: &str) -> Result<StoredNode, NodeError> {
        let node = self.load(id)?;
        let valid = node.record.state.accepts_node_token()
            && node.token_hash.as_deref().is_some_and(|hash| token::token_matches_hash(presented, hash));
        if valid { Ok(node) } else { Err(NodeError::Unauthorized) }
    }

    fn check(&self, node: NodeId, from: NodeState, to: NodeState) -> Result<(), NodeError> {
        from.transition(to).map(drop).map_err(|source| NodeError::Transition { node, source })
    }
}

/// What DHCP asks of the node table: registered-only subnets answer only known MACs, auto subnets
/// enrol PXE clients as they first appear.
impl crate::dhcp::NodeDirectory for Nodes {
    fn is_registered(&self, mac: MacAddr) -> bool {
        match self.store.node_by_mac(mac) {
            Ok(node) => node.is_some(),
            Err(err) => {
                tracing::error!(%mac, %err, "node lookup failed; treating the MAC as unregistered");
                false
            }
        }
    }

    fn enroll(&self, mac: MacAddr) {
        if let Err(err) = Nodes::enroll(self, mac, "DHCP") {
            tracing::error!(%mac, %err, "auto-enrolment failed");
        }
    }
}

fn transition(from: NodeState, to: NodeState, reason: &str) -> EventKind {
    EventKind::Transition { from: Some(from), to, reason: Some(reason.into()) }
}

#[cfg(test)]
mod tests;
