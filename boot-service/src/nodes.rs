//! The node service: the store and the lifecycle decisions of [`lifecycle::decide`]. Each call decides
//! inside one store transaction ([`Store::change_node`]): it reads the node as committed, decides, mints
//! the credential the decision asks for (only its hash is stored), and writes the changes with their
//! events, so two requests (or two boot-service instances on one database) never decide from the same
//! old state. Credentials are returned to the caller once and never logged.

mod bmc_health;
pub mod lifecycle;
mod once_per;
mod power;

pub use power::restart;
mod sightings;

pub use sightings::{BootSightings, NotSeen, SIGHTING_WINDOW};

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rackhand_api::{
    AgentCredential, DeploySettings, EventKind, FailedReport, Installed, Inventory, MacAddr, NodeId, NodeRecord,
    NodeState, OsReport, PlanResults, ProgressReport, RegisterNode, TransitionError,
};

use crate::config::{DeployConfig, EnrolIn, EnrolmentLimits, Locations};
use crate::power::{Ipmitool, PowerDriver};
use crate::store::{NewNode, NodeChange, NodeKey, Store, StoreError, StoredNode};
use crate::token::{self, Secret};
use crate::webhook::{Notice, Webhook};
use lifecycle::{Decision, Input, Script};
use once_per::OncePer;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no node {0}")]
    NotFound(NodeId),
    #[error("MAC {0} is already registered")]
    MacTaken(MacAddr),
    #[error("credential missing, wrong, or not valid for this node in its current state")]
    Unauthorized,
    #[error("node {node}: {source}")]
    Transition { node: NodeId, source: TransitionError },
    /// A field's value breaks its rule; the message names the field and the rule.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "auto-enrolment in subnet {subnet} is full: {max} servers enrolled themselves there and have not booted \
         yet (they are forgotten after [dhcp] forget_discovered_after); register this server, or raise \
         max_discovered of the [[dhcp.subnet]] {subnet}"
    )]
    EnrolmentFull { subnet: ipnet::Ipv4Net, max: usize },
    #[error(
        "node {0} has no BMC: set one with PUT /api/v1/nodes/{0}/bmc (`rackhand-boot-service bmc set`), or \
         power it by hand"
    )]
    NoBmc(NodeId),
    /// Its BMC refused or did not answer; the message says which and what to check.
    #[error(transparent)]
    Power(#[from] crate::power::PowerError),
    /// A script request that no DHCP exchange of this server backs (see `sightings.rs`).
    #[error(transparent)]
    NotSeenBooting(#[from] NotSeen),
}

/// What a PXE boot of a known node should do.
#[derive(Debug)]
pub enum BootAction {
    /// Boot the installer with this one-time token.
    Install { node: NodeRecord, token: Secret },
    /// The install is done (the node waits for its OS, or is ready): hand over to the local disk.
    Handover { node: NodeRecord },
}

/// The configuration the node service decides by.
#[derive(Debug, Clone, Default)]
pub struct NodePolicy {
    pub deploy: DeployConfig,
    pub locations: Locations,
    pub limits: EnrolmentLimits,
}

impl NodePolicy {
    pub fn from_config(config: &crate::config::Config) -> Self {
        NodePolicy {
            deploy: config.deploy.clone(),
            locations: config.locations.clone(),
            limits: config.dhcp.enrolment_limits,
        }
    }
}

pub struct Nodes {
    store: Arc<dyn Store>,
    deploy: DeployConfig,
    locations: Locations,
    limits: EnrolmentLimits,
    sightings: BootSightings,
    /// When each subnet last said its auto-enrolment is full: a flood of spoofed MACs is said once a
    /// minute, not once per packet.
    full_said: OncePer<ipnet::Ipv4Net>,
    /// How the nodes' BMCs are driven (`nodes/power.rs`).
    power: Arc<dyn PowerDriver>,
    /// Where state changes are told (`[webhook]`), if anywhere.
    webhook: Option<Webhook>,
}

impl Nodes {
    pub fn new(store: Arc<dyn Store>, policy: NodePolicy) -> Self {
        let NodePolicy { deploy, locations, limits } = policy;
        Self {
            store,
            deploy,
            locations,
            limits,
            sightings: BootSightings::default(),
            full_said: OncePer::new(Duration::from_secs(60)),
            power: Arc::new(Ipmitool::default()),
            webhook: None,
        }
    }

    /// Tell every state change to `webhook` (queued; never waits).
    pub fn with_webhook(mut self, webhook: Webhook) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// The node service as `config` says: its policy, and its webhook when one is set.
    pub fn configured(store: Arc<dyn Store>, config: &crate::config::Config) -> Self {
        let nodes = Nodes::new(store, NodePolicy::from_config(config));
        match &config.webhook {
            Some(hook) => {
                tracing::info!(url = %hook.url, "telling node state changes to the webhook");
                nodes.with_webhook(Webhook::start(hook.clone()))
            }
            None => nodes,
        }
    }

    /// Drive BMCs with `driver` instead of `ipmitool` with its defaults.
    pub fn with_power_driver(mut self, driver: Arc<dyn PowerDriver>) -> Self {
        self.power = driver;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
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
        let new = NewNode {
            mac: req.mac,
            profile: req.profile,
            hostname: req.hostname,
            location: req.location,
            enrolled_in: None,
            reason: "registered by admin".into(),
        };
        match self.store.create_node(new, Timestamp::now()) {
            Ok(node) => Ok(node.record),
            Err(StoreError::DuplicateMac(mac)) => Err(NodeError::MacTaken(mac)),
            Err(e) => Err(e.into()),
        }
    }

    /// Auto-enrolment: make a `discovered` node for a MAC seen for the first time in an auto-enrolment
    /// subnet, within that subnet's cap. Idempotent. (The DHCP server enrols with its lease batch, as a
    /// `LeaseWrite::Enrol`: the same node, the same cap.)
    pub fn enroll(&self, mac: MacAddr, how: &str, within: EnrolIn) -> Result<NodeRecord, NodeError> {
        let EnrolIn { subnet, max_discovered } = within;
        let new = NewNode::self_enrolled(mac, within, how);
        match self.store.enroll_node(new, within, Timestamp::now())? {
            Some(node) => Ok(node.record),
            None => Err(NodeError::EnrolmentFull { subnet, max: max_discovered }),
        }
    }

    /// iPXE asks for `mac`'s script from `client`: only the server DHCP just saw network-booting from
    /// that address gets it (one script per DHCP boot), enrolled first in `enrol` (the client's
    /// auto-enrolment subnet) when it is new. Refused, nothing changes.
    pub fn script_request(
        &self,
        mac: MacAddr,
        client: Option<Ipv4Addr>,
        enrol: Option<EnrolIn>,
    ) -> Result<Option<BootAction>, NodeError> {
        self.sightings.take(mac, client, Instant::now())?;
        if let Some(within) = enrol {
            self.enroll(mac, "iPXE script request", within)?;
        }
        self.pxe_boot(mac, client)
    }

    /// A node's PXE boot asks for its script: a node whose install is done is handed over to its disk
    /// (`rebooting → first_boot` the first time), every other node (re)starts the installer with a fresh
    /// token, which replaces any earlier one.
    fn pxe_boot(&self, mac: MacAddr, client_ip: Option<Ipv4Addr>) -> Result<Option<BootAction>, NodeError> {
        let Some(Applied { node, secret: token, script, .. }) =
            self.decide_and_write(NodeKey::Mac(mac), Input::PxeBoot { client_ip }, Timestamp::now())?
        else {
            return Ok(None);
        };
        Ok(Some(match (script, token) {
            (Some(Script::Installer), Some(token)) => BootAction::Install { node, token },
            _ => BootAction::Handover { node },
        }))
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
        let located = self.locations.locate(&inventory);
        Ok(self.run(id, Input::Inventory { token: presented, inventory, matched_profile, located })?.0)
    }

    /// A progress report; the first `install` one moves `inspecting → installing`.
    pub fn post_progress(&self, id: NodeId, presented: &str, report: ProgressReport) -> Result<NodeRecord, NodeError> {
        Ok(self.run(id, Input::Progress { token: presented, report })?.0)
    }

    /// How the installer configures the installed OS (node token).
    pub fn deploy_settings(&self, id: NodeId, presented: &str) -> Result<DeploySettings, NodeError> {
        lifecycle::deploy_settings(&self.load(id)?, presented, &self.deploy)
    }

    /// The install finished: `installing → rebooting`, with a deadline; the node token dies, and the
    /// installed OS's one-time deploy credential is minted.
    pub fn mark_installed(
        &self,
        id: NodeId,
        presented: &str,
        results: PlanResults,
    ) -> Result<(NodeRecord, Installed), NodeError> {
        let (node, credential) = self.run(id, Input::Installed { token: presented, results })?;
        let deploy_credential = credential.expect("installed mints a deploy credential").expose().to_owned();
        Ok((node, Installed { deploy_credential }))
    }

    /// The installed OS reported in with its deploy credential: `rebooting | first_boot → ready`; the
    /// credential is spent, and the agent token for its later reports is minted.
    pub fn mark_ready(
        &self,
        id: NodeId,
        presented: &str,
        report: OsReport,
    ) -> Result<(NodeRecord, AgentCredential), NodeError> {
        let (node, credential) = self.run(id, Input::Ready { credential: presented, report })?;
        let agent_token = credential.expect("ready mints an agent token").expose().to_owned();
        Ok((node, AgentCredential { agent_token }))
    }

    /// Forget the servers that enrolled themselves but never booted the installer within
    /// `[dhcp] forget_discovered_after` of `now` (a flood of spoofed MACs, or a server that went away):
    /// the ids forgotten.
    pub fn forget_stale_self_enrolled(&self, now: Timestamp) -> Result<Vec<NodeId>, NodeError> {
        let age =
            jiff::SignedDuration::try_from(self.limits.forget_discovered_after).unwrap_or(jiff::SignedDuration::MAX);
        let before = now.checked_sub(age).unwrap_or(Timestamp::MIN);
        Ok(self.store.forget_self_enrolled_waiting(before)?)
    }

    /// A ready node's agent reports on its OS (agent token): the latest report is kept.
    pub fn post_health(&self, id: NodeId, presented: &str, report: OsReport) -> Result<NodeRecord, NodeError> {
        Ok(self.run(id, Input::Health { token: presented, report })?.0)
    }

    /// The install stopped: `failed(reason, problems)`; the token dies with it.
    pub fn mark_failed(&self, id: NodeId, presented: &str, report: FailedReport) -> Result<NodeRecord, NodeError> {
        Ok(self.run(id, Input::Failed { token: presented, report })?.0)
    }

    /// Fail every node whose deadline passed by `now`, with the deadline's reason; returns them.
    pub fn expire_deadlines(&self, now: Timestamp) -> Result<Vec<NodeRecord>, NodeError> {
        let mut failed = Vec::new();
        for node in self.store.nodes_with_deadline()? {
            if lifecycle::expired(&node.record, now).is_none() {
                continue;
            }
            // Decided again on the node as committed: its server may have reported since the scan, and
            // then the decision changes nothing.
            let applied = self.decide_and_write(NodeKey::Id(node.record.id), Input::DeadlinePassed, now)?;
            if let Some(Applied { node, changed: true, .. }) = applied {
                failed.push(node);
            }
        }
        Ok(failed)
    }

    /// Read, decide and write one node in one store transaction.
    fn run(&self, id: NodeId, input: Input) -> Result<(NodeRecord, Option<Secret>), NodeError> {
        let applied =
            self.decide_and_write(NodeKey::Id(id), input, Timestamp::now())?.ok_or(NodeError::NotFound(id))?;
        Ok((applied.node, applied.secret))
    }

    /// Decide `input` on the node as committed, mint the credential the decision asks for and write the
    /// changes, in one store transaction; `None` when there is no such node. A refusal writes nothing.
    fn decide_and_write(&self, key: NodeKey, input: Input, now: Timestamp) -> Result<Option<Applied>, NodeError> {
        let mut input = Some(input);
        let mut decided = None;
        let written = self.store.change_node(key, now, &mut |node| {
            let decision = lifecycle::decide(node, input.take()?, now, &self.deploy);
            let (changes, outcome) = match decision {
                Ok(decision) => {
                    let script = decision.script;
                    let (changes, secret) = with_credential(decision);
                    let changed = !changes.is_empty();
                    // Only a webhook needs them: no copies on every decision otherwise.
                    let moved = if self.webhook.is_some() { transitions(&changes) } else { Vec::new() };
                    (Some(changes), Ok((secret, script, changed, moved)))
                }
                Err(refused) => (None, Err(refused)),
            };
            decided = Some(outcome);
            changes
        })?;
        let Some(node) = written else { return Ok(None) };
        let (secret, script, changed, moved) = decided.expect("a node that exists was decided on")?;
        self.tell(&node.record, moved, now);
        Ok(Some(Applied { node: node.record, secret, script, changed }))
    }

    /// Queue a webhook notice for each state change and each change in what is wrong, as written.
    fn tell(&self, node: &NodeRecord, told: Vec<Told>, at: Timestamp) {
        let Some(webhook) = &self.webhook else { return };
        for told in told {
            let (label, id) = (node.label(), node.id);
            let notice = match told {
                Told::Moved(Transition { from, to, reason }) => {
                    Notice { kind: "state_changed".into(), node: id, label, from, to, reason, problems: None, at }
                }
                Told::Health { reason, problems } => Notice {
                    kind: "health_changed".into(),
                    node: id,
                    label,
                    from: None,
                    to: node.state,
                    reason: Some(reason),
                    problems: Some(problems),
                    at,
                },
            };
            webhook.notify(notice);
        }
    }

    fn load(&self, id: NodeId) -> Result<StoredNode, NodeError> {
        self.store.node(id)?.ok_or(NodeError::NotFound(id))
    }
}

/// A state change among a decision's changes.
struct Transition {
    from: Option<NodeState>,
    to: NodeState,
    reason: Option<String>,
}

/// What the hosting platform is told of a decision.
enum Told {
    Moved(Transition),
    /// What its BMC or its installed OS says is wrong changed (`reason`: the history line's words).
    Health {
        reason: String,
        problems: Vec<rackhand_api::Problem>,
    },
}

/// The state changes and health changes among `changes`, in order.
fn transitions(changes: &[NodeChange]) -> Vec<Told> {
    let told = changes.iter().filter_map(|change| match (&change.event, &change.bmc_health) {
        (Some(EventKind::Transition { from, to, reason }), _) => {
            Some(Told::Moved(Transition { from: *from, to: *to, reason: reason.clone() }))
        }
        (Some(EventKind::Bmc { answer, .. }), Some(Some(health))) => {
            Some(Told::Health { reason: format!("its BMC reports: {answer}"), problems: health.problems.clone() })
        }
        (Some(EventKind::OsHealth { said }), _) => {
            let problems = change.os.as_ref().and_then(|os| os.as_ref()).map(|os| os.problems.clone());
            Some(Told::Health { reason: format!("its OS reports: {said}"), problems: problems.unwrap_or_default() })
        }
        _ => None,
    });
    told.collect()
}

/// A decision written: the node afterwards, the credential minted for it, the script it boots, and
/// whether the decision changed anything.
struct Applied {
    node: NodeRecord,
    secret: Option<Secret>,
    script: Option<Script>,
    changed: bool,
}

/// The decision's changes, with the hash of the credential it asks for in the first; the secret itself
/// goes back to the caller only.
fn with_credential(decision: Decision) -> (Vec<NodeChange>, Option<Secret>) {
    let mut changes = decision.changes;
    let secret = decision.mint.map(|kind| {
        let secret = token::new_secret();
        if let Some(first) = changes.first_mut() {
            kind.store_hash(first, token::hash_token(secret.expose()));
        }
        secret
    });
    (changes, secret)
}

/// What DHCP asks of the node table (registered-only subnets answer only known MACs, auto subnets enrol
/// PXE clients as they first appear) and tells it.
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

    fn enrolment_refused(&self, mac: MacAddr, within: EnrolIn) {
        if self.full_said.due(within.subnet, Instant::now()) {
            let err = NodeError::EnrolmentFull { subnet: within.subnet, max: within.max_discovered };
            tracing::warn!(%mac, subnet = %within.subnet, %err, "auto-enrolment refused (said once a minute)");
        }
    }

    fn saw_booting(&self, mac: MacAddr, address: Ipv4Addr) {
        self.sightings.saw(mac, address, Instant::now());
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod two_instances;
