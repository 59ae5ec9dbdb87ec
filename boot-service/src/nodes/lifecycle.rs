//! The node lifecycle as pure functions: given a stored node, what happened to it (an input) and the time,
//! [`decide`] says what to store, with its event, and which fresh credential to mint; it checks the
//! credential presented and every state change against [`NodeState::transition`]. It never touches the
//! store, the clock or the random source: `nodes.rs` reads the node, calls it under its write lock, mints
//! and writes.
//!
//! Credentials (only their hashes are stored, compared in constant time):
//! - the node token: the installer's, from its PXE boot until `installed` or `failed`;
//! - the deploy credential: one-time, minted by `installed`, spent by the installed OS's `ready`;
//! - the agent token: minted by `ready`, for the running OS's `health` reports while the node is ready.

use std::net::Ipv4Addr;
use std::time::Duration;

use jiff::Timestamp;
use rackhand_api::{
    Deadline, DeploySettings, EventKind, FailedReport, Inventory, Location, NodeRecord, NodeState, OsReport,
    PlanResults, ProgressReport, Stage, StepStatus,
};

use super::NodeError;
use crate::config::{DeployConfig, Located};
use crate::power::BmcLogin;
use crate::store::{NodeChange, StoredNode};
use crate::token;

/// What happened to a node. Credentials are as presented; [`decide`] checks them.
#[derive(Debug, Clone)]
pub enum Input<'a> {
    /// Its PXE boot asks for its iPXE script.
    PxeBoot { client_ip: Option<Ipv4Addr> },
    /// The installer's inventory and the profile it matched (node token), with where the `[[location]]`
    /// table places the server from its NICs' LLDP neighbours.
    Inventory { token: &'a str, inventory: Inventory, matched_profile: Option<String>, located: Located },
    /// An installer progress report (node token).
    Progress { token: &'a str, report: ProgressReport },
    /// The installer wrote the disk and restarts the server (node token).
    Installed { token: &'a str, results: PlanResults },
    /// The installer stopped (node token).
    Failed { token: &'a str, report: FailedReport },
    /// The installed OS's first report (deploy credential).
    Ready { credential: &'a str, report: OsReport },
    /// The running OS's later reports (agent token).
    Health { token: &'a str, report: OsReport },
    /// An admin asks for a reinstall. A node with a BMC is then network-booted through it, and waits with a
    /// deadline to be seen network-booting.
    Reprovision,
    /// The BMC could not network-boot the node being reprovisioned (why, in a technician's words).
    ReprovisionBmcFailed { why: String },
    /// An admin sets (`Some`) or removes the node's BMC.
    SetBmc(Option<BmcLogin>),
    /// The node's BMC was asked something (`asked`: "power cycle") and answered (`answer`), for the history.
    BmcAnswered { asked: &'a str, answer: String },
    /// What the node's BMC said of its health (its power supplies, and the problems found in them).
    BmcHealth(health::BmcReading),
    /// The deadline check found the node's deadline passed (see [`expired`]).
    DeadlinePassed,
}

/// A credential to mint: [`Decision::changes`] leaves its hash to the caller, who makes the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    NodeToken,
    DeployCredential,
    AgentToken,
}

impl Credential {
    /// Put the hash of the freshly minted secret where this credential lives.
    pub fn store_hash(self, change: &mut NodeChange, hash: String) {
        let slot = match self {
            Credential::NodeToken => &mut change.token_hash,
            Credential::DeployCredential => &mut change.deploy_hash,
            Credential::AgentToken => &mut change.agent_hash,
        };
        *slot = Some(Some(hash));
    }
}

/// The iPXE script a PXE boot gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// The installer, with the freshly minted node token on its kernel command line.
    Installer,
    /// Hand over to the local disk.
    Handover,
}

/// What to do about an input.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Applied in order; empty when nothing changes. The minted credential's hash goes into the first.
    pub changes: Vec<NodeChange>,
    pub mint: Option<Credential>,
    /// Set for a PXE boot of a known node.
    pub script: Option<Script>,
}

impl Decision {
    fn change(change: NodeChange) -> Self {
        Decision { changes: vec![change], ..Decision::default() }
    }

    fn minting(mut self, credential: Credential) -> Self {
        self.mint = Some(credential);
        self
    }
}

/// Decide what `input` does to `node` at `now`.
pub fn decide(node: &StoredNode, input: Input, now: Timestamp, deploy: &DeployConfig) -> Result<Decision, NodeError> {
    let record = &node.record;
    let from = record.state;
    match input {
        Input::PxeBoot { client_ip } => Ok(pxe_boot(record, client_ip, now, deploy)),
        Input::Inventory { token, inventory, matched_profile, located } => {
            check_node_token(node, token)?;
            if let Some(name) = matched_profile.as_deref().filter(|name| !rackhand_api::is_profile_name(name)) {
                return Err(NodeError::Invalid(rackhand_api::profile_name_rule(name)));
            }
            let profile = matched_profile.filter(|_| record.profile.is_none());
            // The server's other NICs are the same node: its firmware may network-boot from any of them.
            let add_macs =
                inventory.nics.iter().map(|nic| nic.mac).filter(|mac| mac.is_unicast() && !record.macs.contains(mac));
            let add_macs = add_macs.collect();
            let (location, said) = locate(record, located);
            let mut change =
                NodeChange { inventory: Some(inventory), profile, location, add_macs, ..NodeChange::default() };
            // The installer reported: from now on it must keep reporting.
            change.deadline = Some(Some(silence_deadline(now, deploy, "its inventory")));
            if from != NodeState::Inspecting {
                change.state = Some(check(record, NodeState::Inspecting)?);
                let reason = ["inventory received".to_owned()].into_iter().chain(said).collect::<Vec<_>>().join("; ");
                change.event = Some(transition(from, NodeState::Inspecting, &reason));
            }
            Ok(Decision::change(change))
        }
        Input::Progress { token, report } => {
            check_node_token(node, token)?;
            let mut changes = Vec::new();
            if report.stage == Stage::Install && from == NodeState::Inspecting {
                changes.push(NodeChange {
                    state: Some(check(record, NodeState::Installing)?),
                    event: Some(transition(from, NodeState::Installing, "install started")),
                    ..NodeChange::default()
                });
            }
            let deadline = silence_deadline(now, deploy, &describe_step(&report));
            let event = Some(EventKind::Progress(report));
            changes.push(NodeChange { event, deadline: Some(Some(deadline)), ..NodeChange::default() });
            Ok(Decision { changes, ..Decision::default() })
        }
        Input::Installed { token, results } => {
            check_node_token(node, token)?;
            let to = check(record, NodeState::Rebooting)?;
            let deadline = Deadline {
                at: later(now, deploy.reboot_deadline),
                reason: format!(
                    "the installer finished and restarted the server, but it did not network-boot within {}: \
                     check that it powers on and that network boot comes first in its boot order",
                    for_people(deploy.reboot_deadline)
                ),
            };
            let reason = format!(
                "install complete; the server restarts and must network-boot by {}",
                deadline.at.strftime("%H:%M UTC")
            );
            Ok(Decision::change(NodeChange {
                state: Some(to),
                results: Some(results),
                token_hash: Some(None),
                deadline: Some(Some(deadline)),
                event: Some(transition(from, to, &reason)),
                ..NodeChange::default()
            })
            .minting(Credential::DeployCredential))
        }
        Input::Failed { token, report } => {
            check_node_token(node, token)?;
            let to = check(record, NodeState::Failed)?;
            // What a failed install built is what a retry may wipe: keep it as the node's results.
            let results = report.built.clone().filter(|built| !built.arrays.is_empty());
            Ok(Decision::change(NodeChange {
                state: Some(to),
                event: Some(transition(from, to, &report.reason)),
                results,
                failure: Some(Some(report)),
                ..forget_credentials()
            }))
        }
        Input::Ready { credential, report } => {
            let valid = from.accepts_deploy_credential() && matches_hash(credential, &node.deploy_hash);
            if !valid {
                return Err(NodeError::Unauthorized);
            }
            let to = check(record, NodeState::Ready)?;
            let mut reason = format!("the installed OS reported in: {}, kernel {}", report.hostname, report.kernel);
            if !report.problems.is_empty() {
                reason += &format!(", {} problem(s)", report.problems.len());
            }
            Ok(Decision::change(NodeChange {
                state: Some(to),
                os: Some(Some(report)),
                event: Some(transition(from, to, &reason)),
                ..forget_credentials()
            })
            .minting(Credential::AgentToken))
        }
        Input::Health { token, report } => {
            if !(from == NodeState::Ready && matches_hash(token, &node.agent_hash)) {
                return Err(NodeError::Unauthorized);
            }
            Ok(health::os_health(record, report))
        }
        Input::Reprovision => {
            let to = from.reprovision().map_err(|source| NodeError::Transition { node: record.id, source })?;
            let mut change = NodeChange {
                state: Some(to),
                failure: Some(None),
                os: Some(None),
                event: Some(transition(
                    from,
                    to,
                    "reprovision requested by admin: it installs at its next network boot",
                )),
                ..forget_credentials()
            };
            if let Some(bmc) = &node.bmc {
                // Confirmed by observation: only the server's own network boot ends this wait.
                let deadline = Deadline {
                    at: later(now, deploy.bmc_boot_deadline),
                    reason: format!(
                        "the BMC at {} accepted the network-boot override and the power cycle at {}, but the \
                         server did not network-boot within {}: check that its firmware honours a one-time boot \
                         override (or put network boot first in its boot order) and the cable of the NIC it boots \
                         from",
                        bmc.info(),
                        now.strftime("%H:%M UTC"),
                        for_people(deploy.bmc_boot_deadline)
                    ),
                };
                let reason = format!(
                    "reprovision requested by admin: its BMC at {} network-boots it; it must network-boot by {}",
                    bmc.info(),
                    deadline.at.strftime("%H:%M UTC")
                );
                change.event = Some(transition(from, to, &reason));
                change.deadline = Some(Some(deadline));
            }
            Ok(Decision::change(change))
        }
        Input::ReprovisionBmcFailed { why } => {
            if from != NodeState::Booting {
                // The server network-booted after all (someone pressed its button): the BMC's failure
                // is history, not the node's state.
                let event = EventKind::Bmc { asked: "network boot and power cycle".into(), answer: why };
                return Ok(Decision::change(NodeChange { event: Some(event), ..NodeChange::default() }));
            }
            let to = check(record, NodeState::Failed)?;
            let reason = format!(
                "reprovision: {why}. The server was not restarted: fix its BMC, or restart the server by hand (it \
                 installs at its next network boot)"
            );
            let report = FailedReport { reason: reason.clone(), problems: vec![], built: None, step: None };
            Ok(Decision::change(NodeChange {
                state: Some(to),
                event: Some(transition(from, to, &reason)),
                failure: Some(Some(report)),
                ..forget_credentials()
            }))
        }
        Input::SetBmc(login) => {
            let event = match &login {
                Some(login) => EventKind::Bmc { asked: "set by admin".into(), answer: format!("at {}", login.info()) },
                None => EventKind::Bmc { asked: "removed by admin".into(), answer: "no BMC".into() },
            };
            // What a removed BMC said is no longer watched, so no longer shown.
            let bmc_health = if login.is_none() { Some(None) } else { None };
            Ok(Decision::change(NodeChange {
                bmc: Some(login),
                bmc_health,
                event: Some(event),
                ..NodeChange::default()
            }))
        }
        Input::BmcAnswered { asked, answer } => {
            let event = EventKind::Bmc { asked: asked.to_owned(), answer };
            Ok(Decision::change(NodeChange { event: Some(event), ..NodeChange::default() }))
        }
        Input::BmcHealth(reading) => Ok(health::bmc_health(record, reading, now)),
        Input::DeadlinePassed => {
            let Some(deadline) = expired(record, now) else { return Ok(Decision::default()) };
            let to = check(record, NodeState::Failed)?;
            let report = FailedReport { reason: deadline.reason.clone(), problems: vec![], built: None, step: None };
            Ok(Decision::change(NodeChange {
                state: Some(to),
                event: Some(transition(from, to, &report.reason)),
                failure: Some(Some(report)),
                ..forget_credentials()
            }))
        }
    }
}

/// A PXE boot: a server the boot service waits on, or whose OS is ready, is handed over to its disk (the
/// first handover after an install starts the wait for its OS); every other node (re)starts the
/// installer with a fresh node token.
fn pxe_boot(record: &NodeRecord, client_ip: Option<Ipv4Addr>, now: Timestamp, deploy: &DeployConfig) -> Decision {
    let handover = Decision { script: Some(Script::Handover), ..Decision::default() };
    match record.state {
        NodeState::Ready | NodeState::FirstBoot => handover,
        NodeState::Rebooting => {
            let deadline = Deadline {
                at: later(now, deploy.first_boot_deadline),
                reason: format!(
                    "handed over to its disk at {} but the installed OS did not report within {}: watch its \
                     console for a boot-loader or kernel error, and check that the disks come right after the \
                     network in the boot order",
                    now.strftime("%H:%M UTC"),
                    for_people(deploy.first_boot_deadline)
                ),
            };
            let reason = format!(
                "PXE boot: handed over to its disk; its OS must report by {}",
                deadline.at.strftime("%H:%M UTC")
            );
            Decision {
                changes: vec![NodeChange {
                    state: Some(NodeState::FirstBoot),
                    ipv4: client_ip,
                    deadline: Some(Some(deadline)),
                    event: Some(transition(NodeState::Rebooting, NodeState::FirstBoot, &reason)),
                    ..NodeChange::default()
                }],
                ..handover
            }
        }
        NodeState::Discovered
        | NodeState::Booting
        | NodeState::Inspecting
        | NodeState::Installing
        | NodeState::Failed => {
            let deadline = Deadline {
                at: later(now, deploy.installer_deadline),
                reason: format!(
                    "network-booted the installer at {} but the installer did not report within {}: it likely \
                     has no driver for the NIC the server booted from, or its network (VLAN, cabling) does not \
                     reach the boot service; its console says which",
                    now.strftime("%H:%M UTC"),
                    for_people(deploy.installer_deadline)
                ),
            };
            Decision {
                changes: vec![NodeChange {
                    state: Some(NodeState::Booting),
                    ipv4: client_ip,
                    failure: Some(None),
                    os: Some(None),
                    deadline: Some(Some(deadline)),
                    event: Some(transition(record.state, NodeState::Booting, "PXE boot: installer script served")),
                    ..forget_credentials()
                }],
                mint: Some(Credential::NodeToken),
                script: Some(Script::Installer),
            }
        }
    }
}

/// The node's deadline, if it waits on its server and the deadline has passed at `now`.
pub fn expired(record: &NodeRecord, now: Timestamp) -> Option<&Deadline> {
    record.deadline.as_ref().filter(|d| record.state.waits_on_server() && d.at <= now)
}

/// The location to store from what the NICs heard, and what to say about it in the node's history: a
/// registered location is kept (a disagreeing switch port is said), a cabling conflict is said.
fn locate(record: &NodeRecord, located: Located) -> (Option<Location>, Option<String>) {
    match (located, &record.location) {
        (Located::At(heard), None) => {
            let said = format!("located at {heard} by its switch ports");
            (Some(heard), Some(said))
        }
        (Located::At(heard), Some(registered)) if heard != *registered => (
            None,
            Some(format!("its switch ports say {heard}, but it was registered at {registered}: check which is right")),
        ),
        (Located::Conflict(why), _) => (None, Some(why)),
        _ => (None, None),
    }
}

/// `GET /deploy` (node token): how the installer configures the installed OS.
pub fn deploy_settings(node: &StoredNode, token: &str, deploy: &DeployConfig) -> Result<DeploySettings, NodeError> {
    check_node_token(node, token)?;
    let record = &node.record;
    Ok(DeploySettings {
        hostname: record.os_hostname(),
        ssh_authorized_keys: deploy.ssh_authorized_keys.clone(),
        owned_arrays: record.results.iter().flat_map(|r| &r.arrays).map(|a| a.uuid.clone()).collect(),
    })
}

/// The node is in a state that takes the installer's token, and `presented` is that token.
fn check_node_token(node: &StoredNode, presented: &str) -> Result<(), NodeError> {
    let valid = node.record.state.accepts_node_token() && matches_hash(presented, &node.token_hash);
    if valid { Ok(()) } else { Err(NodeError::Unauthorized) }
}

fn matches_hash(presented: &str, stored: &Option<String>) -> bool {
    stored.as_deref().is_some_and(|hash| token::token_matches_hash(presented, hash))
}

/// A change that ends every credential the node holds and its deadline (it stops waiting).
fn forget_credentials() -> NodeChange {
    NodeChange {
        token_hash: Some(None),
        deploy_hash: Some(None),
        agent_hash: Some(None),
        deadline: Some(None),
        ..NodeChange::default()
    }
}

fn check(record: &NodeRecord, to: NodeState) -> Result<NodeState, NodeError> {
    record.state.transition(to).map_err(|source| NodeError::Transition { node: record.id, source })
}

fn transition(from: NodeState, to: NodeState, reason: &str) -> EventKind {
    EventKind::Transition { from: Some(from), to, reason: Some(reason.into()) }
}

/// While its installer works (inspecting, installing) a node waits on it to keep reporting: each report
/// moves the deadline to `installer_deadline` after it, so a hung installer, a frozen server or a lost
/// network fails the node naming what the installer last said, instead of leaving it working for ever.
fn silence_deadline(now: Timestamp, deploy: &DeployConfig, last: &str) -> Deadline {
    Deadline {
        at: later(now, deploy.installer_deadline),
        reason: format!(
            "the installer last reported at {} ({last}) and then said nothing for {}: the server may have hung \
             or lost its network; its console shows where it stopped. Restart it to install again",
            now.strftime("%H:%M UTC"),
            for_people(deploy.installer_deadline)
        ),
    }
}

/// `image running, 40 %`, `raid md0 started`: a progress report as the silence deadline names it.
fn describe_step(report: &ProgressReport) -> String {
    let status = match report.status {
        StepStatus::Started => "started",
        StepStatus::Running => "running",
        StepStatus::Done => "done",
        StepStatus::Failed => "failed",
    };
    let percent = match (report.done, report.total) {
        (Some(done), Some(total)) if total > 0 => format!(", {} %", u128::from(done) * 100 / u128::from(total)),
        _ => String::new(),
    };
    format!("step {} {status}{percent}", report.step)
}

fn later(now: Timestamp, after: Duration) -> Timestamp {
    now.checked_add(after).unwrap_or(Timestamp::MAX)
}

/// `5 min`, `90 s`, `2 h`: a configured wait as a technician reads it.
pub fn for_people(duration: Duration) -> String {
    match duration.as_secs() {
        secs if secs >= 3600 && secs.is_multiple_of(3600) => format!("{} h", secs / 3600),
        secs if secs >= 60 && secs.is_multiple_of(60) => format!("{} min", secs / 60),
        secs => format!("{secs} s"),
    }
}

pub mod health;
#[cfg(test)]
mod tests;
