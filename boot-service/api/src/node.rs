use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Deadline, FailedReport, Inventory, Location, MacAddr, OsReport, PlanResults, ProgressReport};

/// A node's identifier, assigned by the boot service when it first sees (or is told about) a MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub i64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a node is on its way from power-on to "ready for customer accounts".
///
/// `discovered → booting → inspecting → installing → rebooting → first_boot → ready`, and `failed` from
/// any step before ready. `rebooting`: the installer is done and restarted the server, which must
/// network-boot again and be handed over to its disk; `first_boot`: it was handed over, and its installed
/// OS must report in (it may also report straight from `rebooting`, when its firmware boots the disk
/// first). Both wait with a deadline. A PXE boot of a failed node is a retry (the technician fixed
/// something and power-cycled it), so `failed → booting` is allowed; `ready → booting` only through an
/// admin's reprovision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Discovered,
    Booting,
    Inspecting,
    Installing,
    Rebooting,
    FirstBoot,
    Ready,
    Failed,
}

impl NodeState {
    pub const ALL: [NodeState; 8] = [
        NodeState::Discovered,
        NodeState::Booting,
        NodeState::Inspecting,
        NodeState::Installing,
        NodeState::Rebooting,
        NodeState::FirstBoot,
        NodeState::Ready,
        NodeState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Discovered => "discovered",
            NodeState::Booting => "booting",
            NodeState::Inspecting => "inspecting",
            NodeState::Installing => "installing",
            NodeState::Rebooting => "rebooting",
            NodeState::FirstBoot => "first_boot",
            NodeState::Ready => "ready",
            NodeState::Failed => "failed",
        }
    }

    /// Whether the node's one-time token may still be used in this state.
    pub fn accepts_node_token(self) -> bool {
        matches!(self, NodeState::Booting | NodeState::Inspecting | NodeState::Installing)
    }

    /// Whether the installed OS's deploy credential may be used in this state.
    pub fn accepts_deploy_credential(self) -> bool {
        matches!(self, NodeState::Rebooting | NodeState::FirstBoot)
    }

    /// Whether the boot service is waiting on the server itself (and so holds a deadline): for its
    /// installer's first report after a network boot and its next one while it works, for its network
    /// boot after the install, for its installed OS's report.
    pub fn waits_on_server(self) -> bool {
        use NodeState::*;
        matches!(self, Booting | Inspecting | Installing | Rebooting | FirstBoot)
    }

    /// Check a transition of the node's own lifecycle (PXE boots and installer reports).
    pub fn transition(self, to: NodeState) -> Result<NodeState, TransitionError> {
        use NodeState::*;
        let allowed = matches!(
            (self, to),
            (Discovered | Booting | Inspecting | Installing | Failed, Booting)
                | (Booting, Inspecting)
                | (Inspecting, Installing)
                | (Installing, Rebooting)
                | (Rebooting, FirstBoot)
                | (Rebooting | FirstBoot, Ready)
                | (Discovered | Booting | Inspecting | Installing | Rebooting | FirstBoot, Failed)
        );
        if allowed { Ok(to) } else { Err(TransitionError { from: self, to }) }
    }
}

impl NodeState {
    /// An admin's reprovision: only a finished node (ready or failed) goes back to booting.
    pub fn reprovision(self) -> Result<NodeState, TransitionError> {
        match self {
            NodeState::Ready | NodeState::Failed => Ok(NodeState::Booting),
            from => Err(TransitionError { from, to: NodeState::Booting }),
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NodeState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeState::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| format!("unknown node state `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a node cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: NodeState,
    pub to: NodeState,
}

/// One entry of a node's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The node changed state; `reason` is set for failures and admin actions.
    Transition {
        from: Option<NodeState>,
        to: NodeState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A step the installer reported.
    Progress(ProgressReport),
    /// What the node's BMC was asked (`asked`: "power cycle", "next boot: network") and what came of it.
    Bmc { asked: String, answer: String },
    /// What the installed OS reports as wrong changed (`said`: the problems with their fixes, or that
    /// nothing is wrong).
    OsHealth { said: String },
}

/// What `GET /api/v1/nodes/{id}` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: NodeId,
    pub macs: Vec<MacAddr>,
    pub state: NodeState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Rack and unit: registered, or derived from the switch port a NIC is cabled to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A profile pinned by an admin, or the one the installer matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<std::net::Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailedReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<PlanResults>,
    /// The installed OS's latest report of itself (first boot, then health reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsReport>,
    /// Where its BMC is, when an admin set one (its credentials are never in the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<crate::BmcInfo>,
    /// What its BMC last said of its health while ready (power supplies), with what is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc_health: Option<crate::BmcHealth>,
    /// Set while the node waits on its server (`rebooting`, `first_boot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub events: Vec<Event>,
}

impl NodeRecord {
    /// A node known by its MACs and state only, created and last changed `at`: every other field empty.
    pub fn new(id: NodeId, macs: Vec<MacAddr>, state: NodeState, at: Timestamp) -> NodeRecord {
        NodeRecord {
            id,
            macs,
            state,
            hostname: None,
            location: None,
            profile: None,
            ipv4: None,
            inventory: None,
            failure: None,
            results: None,
            os: None,
            bmc: None,
            bmc_health: None,
            deadline: None,
            created_at: at,
            updated_at: at,
            events: Vec::new(),
        }
    }
}

/// Nodes as a table a person reads: name, id, MAC, state, address, profile, and why a failed one failed.
pub fn node_table(nodes: &[NodeRecord]) -> String {
    let width = nodes.iter().filter_map(NodeRecord::name).map(|n| n.chars().count()).max().unwrap_or(0).max(4) + 2;
    let mut out = format!(
        "{:<width$}{:<5}{:<19}{:<12}{:<16}{:<15}{}\n",
        "NAME", "ID", "MAC", "STATE", "IPV4", "PROFILE", "REASON"
    );
    for n in nodes {
        let name = n.name().unwrap_or_else(|| "-".into());
        let mac = n.macs.first().map(ToString::to_string).unwrap_or_else(|| "-".into());
        let ip = n.ipv4.map_or_else(|| "-".into(), |ip| ip.to_string());
        let reason = n.failure.as_ref().map_or("", |f| f.reason.as_str());
        let profile = n.profile.as_deref().unwrap_or("-");
        out.push_str(&format!(
            "{name:<width$}{:<5}{:<19}{:<12}{:<16}{:<15}{reason}\n",
            n.id.0,
            mac,
            n.state.as_str(),
            ip,
            profile
        ));
    }
    out
}

/// `POST /api/v1/nodes` (admin): pre-register a server by MAC, optionally pinning its profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterNode {
    pub mac: MacAddr,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Where the server is racked; without one, the boot service derives it from LLDP when it can.
    #[serde(default)]
    pub location: Option<Location>,
}

impl RegisterNode {
    /// The fields' rules: a profile name as [`is_profile_name`], a hostname as [`is_hostname`], a location
    /// as [`Location::check`].
    pub fn check(&self) -> Result<(), String> {
        if !self.mac.is_unicast() {
            return Err(format!("mac {}: a broadcast, multicast or all-zero address names no NIC", self.mac));
        }
        if let Some(location) = &self.location {
            location.check()?;
        }
        match (&self.profile, &self.hostname) {
            (Some(profile), _) if !is_profile_name(profile) => Err(profile_name_rule(profile)),
            (_, Some(hostname)) if !is_hostname(hostname) => Err(format!(
                "hostname `{}`: labels of letters, digits and hyphens (1 to 63, no hyphen at either end), \
                 253 characters at most",
                hostname.escape_debug()
            )),
            _ => Ok(()),
        }
    }
}

/// Whether `name` can name a hardware profile in a node record: 1 to 128 characters, no control characters.
pub fn is_profile_name(name: &str) -> bool {
    (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control)
}

/// What [`is_profile_name`] asks, for a refusal of `name`.
pub fn profile_name_rule(name: &str) -> String {
    format!("profile `{}`: 1 to 128 printable characters", name.escape_debug())
}

/// Whether `name` is a host name (RFC 1123): dot-separated labels of ASCII letters, digits and hyphens,
/// each 1 to 63 long and not starting or ending with a hyphen, 253 characters in all at most.
pub fn is_hostname(name: &str) -> bool {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    name.len() <= 253 && name.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::NodeState::*;
    use super::*;

    #[test]
    fn profile_names_are_one_to_128_printable_characters() {
        assert!(
            is_profile_name("qemu-lab") && is_profile_name("Dell R650 (2 PSU)") && is_profile_name(&"é".repeat(128))
        );
        for bad in ["", "a\nb", "tab\there", &"x".repeat(129)] {
            assert!(!is_profile_name(bad), "{bad:?}");
        }
        assert_eq!(profile_name_rule("a\nb"), "profile `a\\nb`: 1 to 128 printable characters");
    }

    #[test]
    fn hostnames_follow_rfc_1123() {
        for good in ["rack1-u1", "web01.dc1.example.net", "1u", &format!("{}.b", "a".repeat(63))] {
            assert!(is_hostname(good), "{good}");
        }
        for bad in ["", "-rack", "rack-", "rack_1", "rack 1", "a..b", "trailing.", &"a".repeat(64), &"a.".repeat(127)] {
            assert!(!is_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_registration_names_the_field_it_refuses() {
        let req = |profile: Option<&str>, hostname: Option<&str>| RegisterNode {
            mac: MacAddr::new([0x52, 0x54, 0, 0, 0, 1]),
            profile: profile.map(Into::into),
            hostname: hostname.map(Into::into),
            location: None,
        };
        assert_eq!(req(Some("qemu-lab"), Some("rack1-u1")).check(), Ok(()));
        assert_eq!(req(None, None).check(), Ok(()));
        assert!(req(Some(""), None).check().unwrap_err().starts_with("profile ``"));
        assert!(req(None, Some("rack_1")).check().unwrap_err().starts_with("hostname `rack_1`"));
        let located =
            |rack: &str, unit| RegisterNode { location: Some(Location { rack: rack.into(), unit }), ..req(None, None) };
        assert_eq!(located("rack1", 2).check(), Ok(()));
        assert_eq!(located("rack1", 0).check().unwrap_err(), "unit 0: from 1 to 99");
        let broadcast = RegisterNode { mac: MacAddr::new([0xff; 6]), ..req(None, None) };
        assert!(broadcast.check().unwrap_err().starts_with("mac ff:ff:ff:ff:ff:ff: a broadcast"));
    }

    #[test]
    fn the_node_table_has_one_aligned_row_per_node_and_the_failure_reason() {
        let at = Timestamp::from_second(1_790_000_000).unwrap();
        let node = |id: u8, state, failure: Option<&str>| NodeRecord {
            profile: Some("qemu-lab".into()),
            location: (id == 12).then(|| Location { rack: "rack10".into(), unit: 42 }),
            failure: failure.map(|r| FailedReport { reason: r.into(), problems: vec![], built: None, step: None }),
            ..NodeRecord::new(NodeId(i64::from(id)), vec![MacAddr::new([0x52, 0x54, 0, 0, 0, id])], state, at)
        };
        let table = node_table(&[node(1, Ready, None), node(12, Failed, Some("PSU 2 unplugged"))]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME        ID   MAC"), "{table}");
        assert!(lines[1].starts_with("-           1    52:54:00:00:00:01  ready"), "{table}");
        assert!(
            lines[2].starts_with(
                "rack10-u42  12   52:54:00:00:00:0c  failed      -               qemu-lab       PSU 2 unplugged"
            ),
            "{table}"
        );
        let column = |line: &str| line.find("qemu-lab");
        assert_eq!(column(lines[1]), column(lines[2]), "columns line up:\n{table}");
    }

    #[test]
    fn happy_path_is_allowed() {
        let mut state = Discovered;
        for next in [Booting, Inspecting, Installing, Rebooting, FirstBoot, Ready] {
            state = state.transition(next).unwrap();
        }
        assert_eq!(state, Ready);
    }

    #[test]
    fn ready_only_reboots_into_install_on_reprovision() {
        assert_eq!(Ready.transition(Booting).unwrap_err(), TransitionError { from: Ready, to: Booting });
        assert_eq!(Ready.reprovision(), Ok(Booting));
        assert_eq!(Failed.reprovision(), Ok(Booting));
        assert!(Installing.reprovision().is_err());
        assert!(Ready.transition(Failed).is_err());
    }

    #[test]
    fn skipping_steps_is_refused() {
        assert!(Discovered.transition(Installing).is_err());
        assert!(Booting.transition(Ready).is_err());
        assert!(Failed.transition(Ready).is_err());
        assert!(Inspecting.transition(Ready).is_err());
        assert!(Installing.transition(Ready).is_err(), "bytes written is not ready: the OS must report");
        assert!(Installing.transition(FirstBoot).is_err());
    }

    #[test]
    fn the_installed_os_may_report_before_its_handover_is_seen() {
        assert_eq!(Rebooting.transition(Ready), Ok(Ready));
        assert_eq!(FirstBoot.transition(Ready), Ok(Ready));
        assert!(FirstBoot.transition(Rebooting).is_err());
    }

    #[test]
    fn only_the_waiting_states_take_the_deploy_credential() {
        let valid: Vec<_> = NodeState::ALL.into_iter().filter(|s| s.accepts_deploy_credential()).collect();
        assert_eq!(valid, [Rebooting, FirstBoot]);
        let waiting: Vec<_> = NodeState::ALL.into_iter().filter(|s| s.waits_on_server()).collect();
        assert_eq!(waiting, [Booting, Inspecting, Installing, Rebooting, FirstBoot]);
    }

    #[test]
    fn failed_from_any_step_and_retry_by_pxe() {
        for from in [Discovered, Booting, Inspecting, Installing, Rebooting, FirstBoot] {
            assert_eq!(from.transition(Failed), Ok(Failed));
        }
        assert_eq!(Failed.transition(Booting), Ok(Booting));
    }

    #[test]
    fn token_only_valid_while_working() {
        let valid: Vec<_> = NodeState::ALL.into_iter().filter(|s| s.accepts_node_token()).collect();
        assert_eq!(valid, [Booting, Inspecting, Installing]);
    }

    #[test]
    fn state_names_round_trip() {
        for state in NodeState::ALL {
            assert_eq!(state.as_str().parse::<NodeState>().unwrap(), state);
            assert_eq!(serde_json::to_string(&state).unwrap(), format!("\"{state}\""));
        }
    }
}
