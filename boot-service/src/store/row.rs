//! A node row as both backends store it, column for column (text for times, JSON and addresses), and
//! its decoding into a [`StoredNode`]: one decoder, so SQLite and PostgreSQL cannot read a node
//! differently. A value that does not decode is named with its node and column ([`StoreError::Corrupt`]).

use std::net::Ipv4Addr;

use jiff::Timestamp;
use rackhand_api::{Deadline, MacAddr, NodeId, NodeRecord, NodeState};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StoreError, StoredNode};
use crate::power::{BmcLogin, StoredBmc};

/// The node columns in [`RawNode`]'s order, for `SELECT`s of either backend.
pub(super) const NODE_COLUMNS: &str = "id, state, hostname, profile, ipv4, inventory, failure, results, token_hash, \
     created_at, updated_at, os, deadline_at, deadline_reason, deploy_hash, agent_hash, location, bmc, bmc_health";

/// Bind a lease (`$1` ip, `$2` mac, `$3` expires_at, `$4` hostname) unless another MAC holds the
/// address past `$5` (now): a row comes back when it was written. The same statement in both dialects
/// (SQLite reads `$N` as `?N`), decided by the database in one statement, so it holds between instances.
pub(super) const PUT_LEASE: &str = "INSERT INTO leases (ip, mac, expires_at, hostname) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, expires_at = excluded.expires_at, hostname = excluded.hostname \
     WHERE leases.mac = excluded.mac OR leases.expires_at <= $5 RETURNING ip";

/// End `$2` (mac)'s lease on `$1` (ip), as a RELEASE does; another MAC's lease on it stays.
pub(super) const REMOVE_LEASE: &str = "DELETE FROM leases WHERE ip = $1 AND mac = $2";

/// Quarantine `$1` (ip), declined by `$2` (mac), until `$3`, unless another MAC holds it past `$4` (now).
/// Written before [`END_DECLINED_LEASE`], which it reads.
pub(super) const QUARANTINE: &str = "INSERT INTO quarantine (ip, mac, until) SELECT $1, $2, $3 \
     WHERE NOT EXISTS (SELECT 1 FROM leases WHERE ip = $1 AND mac <> $2 AND expires_at > $4) \
     ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, until = excluded.until";

/// The lease on a declined `$1` (ip) ends: `$2` (mac)'s own, or one that ended by `$3` (now).
pub(super) const END_DECLINED_LEASE: &str = "DELETE FROM leases WHERE ip = $1 AND (mac = $2 OR expires_at <= $3)";

/// Instance `$1` beats once more, at `$2` (its own clock, for people to read).
pub(super) const BEAT: &str = "INSERT INTO instances (name, beats, at) VALUES ($1, 1, $2) \
     ON CONFLICT (name) DO UPDATE SET beats = instances.beats + 1, at = excluded.at";

pub(super) const HEARTBEATS: &str = "SELECT name, beats, at FROM instances ORDER BY name";

pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("wire types always serialize")
}

pub(super) fn from_json<T: DeserializeOwned>(
    node: i64,
    what: &'static str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt { node, what, message: e.to_string() }))
        .transpose()
}

pub(super) fn parse<T: std::str::FromStr>(node: i64, what: &'static str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::Corrupt { node, what, message: e.to_string() })
}

/// The columns of [`NODE_COLUMNS`], as stored.
pub(super) struct RawNode {
    pub id: i64,
    pub state: String,
    pub hostname: Option<String>,
    pub profile: Option<String>,
    pub ipv4: Option<String>,
    pub inventory: Option<String>,
    pub failure: Option<String>,
    pub results: Option<String>,
    pub token_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub os: Option<String>,
    pub deadline_at: Option<String>,
    pub deadline_reason: Option<String>,
    pub deploy_hash: Option<String>,
    pub agent_hash: Option<String>,
    pub location: Option<String>,
    /// JSON of a [`StoredBmc`]: where the BMC is and how to log in to it.
    pub bmc: Option<String>,
    /// JSON of a [`rackhand_api::BmcHealth`].
    pub bmc_health: Option<String>,
}

impl RawNode {
    /// The node, with its MACs (as stored, in order).
    pub(super) fn decode(self, macs: Vec<String>) -> Result<StoredNode, StoreError> {
        let id = self.id;
        let bmc: Option<BmcLogin> = from_json::<StoredBmc>(id, "bmc", self.bmc)?.map(BmcLogin::from);
        let macs = macs.iter().map(|mac| parse::<MacAddr>(id, "mac", mac)).collect::<Result<Vec<_>, _>>()?;
        let record = NodeRecord {
            id: NodeId(id),
            macs,
            state: parse::<NodeState>(id, "state", &self.state)?,
            hostname: self.hostname,
            location: from_json(id, "location", self.location)?,
            profile: self.profile,
            ipv4: self.ipv4.map(|ip| parse::<Ipv4Addr>(id, "ipv4", &ip)).transpose()?,
            inventory: from_json(id, "inventory", self.inventory)?,
            failure: from_json(id, "failure", self.failure)?,
            results: from_json(id, "results", self.results)?,
            os: from_json(id, "os", self.os)?,
            deadline: match (self.deadline_at, self.deadline_reason) {
                (Some(at), Some(reason)) => Some(Deadline { at: parse(id, "deadline", &at)?, reason }),
                _ => None,
            },
            created_at: parse::<Timestamp>(id, "created_at", &self.created_at)?,
            updated_at: parse::<Timestamp>(id, "updated_at", &self.updated_at)?,
            bmc: bmc.as_ref().map(BmcLogin::info),
            bmc_health: from_json(id, "bmc_health", self.bmc_health)?,
            events: Vec::new(),
        };
        Ok(StoredNode {
            record,
            token_hash: self.token_hash,
            deploy_hash: self.deploy_hash,
            agent_hash: self.agent_hash,
            bmc,
        })
    }
}
