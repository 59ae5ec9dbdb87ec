//! What a node's installed OS tells the boot service, and what each side hands the other on the way
//! from "bytes written" to "ready": the installer's deploy settings, the deploy credential that only the
//! installed OS's first report may use, and the agent credential it gets in return for later reports.

use std::net::Ipv4Addr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{MacAddr, Problem};

/// The FAT label of every EFI system partition the installer makes (one per OS disk, all alike), and
/// the loader on it: under UEFI the boot service's handover script chains
/// `file://ESP_LABEL/ESP_LOADER` from whichever disk is left.
pub const ESP_LABEL: &str = "RACKHANDESP";
pub const ESP_LOADER: &str = "EFI/BOOT/BOOTX64.EFI";

/// `GET /api/v1/nodes/{id}/deploy` (node token): how the installer configures the installed OS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySettings {
    /// The installed OS's host name (from the node record, else derived by the boot service).
    pub hostname: String,
    /// OpenSSH public key lines for `root`: the operators' keys from the boot service's config and any
    /// that the node's registration added.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
    /// md array UUIDs that earlier installs of this node built (from its record): the installer may wipe
    /// disks that carry only these, and refuses other data unless its profile says `wipe = true`.
    #[serde(default)]
    pub owned_arrays: Vec<String>,
}

/// The answer to `POST /api/v1/nodes/{id}/installed` (node token, body: `PlanResults`): the node token
/// is spent, the node waits for its installed OS, and this credential is what that OS reports with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// One-time: valid for one `POST /ready` while the node is `rebooting` or `first_boot`.
    pub deploy_credential: String,
}

/// The answer to `POST /api/v1/nodes/{id}/ready` (deploy credential, body: [`OsReport`]): the credential
/// the installed OS's agent uses from now on for `POST /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCredential {
    pub agent_token: String,
}

/// What the running installed OS sees of itself (`POST /ready` on its first boot, `POST /health` later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsReport {
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    #[serde(default)]
    pub arrays: Vec<OsArray>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<OsBond>,
    /// `ED25519 SHA256:…`, as `ssh-keygen -l` prints them.
    #[serde(default)]
    pub ssh_host_keys: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<Ipv4Addr>,
    /// What is wrong with the running system (a degraded array, a bond leg down), with the fix.
    #[serde(default)]
    pub problems: Vec<Problem>,
}

/// One md array as the running OS assembled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsArray {
    /// `/dev/md0` (or `/dev/md127`: names may differ from the installer's, the UUID does not).
    pub device: String,
    pub uuid: String,
    /// `raid1`.
    pub level: String,
    /// md's `array_state`: `clean`, `active`, …
    pub state: String,
    /// Fewer working members than the array was built with.
    pub degraded: bool,
    /// Members the running array has, with the bay each sits in.
    pub members: Vec<OsArrayMember>,
    /// Bays whose disk the array was built with but no longer has.
    #[serde(default)]
    pub missing_bays: Vec<u32>,
    /// How far md has rebuilt a member put in (a replaced disk), while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild_percent: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsArrayMember {
    /// `sdb3`.
    pub device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bay: Option<u32>,
    /// md's member state: `in_sync`, `faulty`, `spare`, …
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsBond {
    pub name: String,
    /// `active-backup`.
    pub mode: String,
    /// The leg carrying traffic now (active-backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    pub slaves: Vec<OsBondSlave>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsBondSlave {
    pub name: String,
    /// The NIC's own (permanent) MAC, which names it in the inventory.
    pub mac: MacAddr,
    pub link_up: bool,
}

/// When a node that waits on its server stops waiting, and what it is then told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadline {
    pub at: Timestamp,
    /// The failure reason the node gets if the server has not been seen by `at`, in a technician's words.
    pub reason: String,
}
