//! The system of record: nodes, their events, and DHCP leases.
//!
//! [`Store`] is deliberately small and synchronous (every caller runs on a blocking thread). Two
//! backends: the embedded SQLite file, [`SqliteStore`] (the default), and [`PostgresStore`], which several
//! boot-service instances share. Both store the same columns and read nodes through one decoder
//! (`row.rs`); the store test suite (`suite.rs`) runs against both. Lifecycle rules are not here but in `nodes.rs`: the store
//! only persists what it is told, each change with its event in one transaction.

mod postgres;
mod row;
mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

use std::net::Ipv4Addr;

use jiff::Timestamp;
use rackhand_api::{
    BmcHealth, Deadline, EventKind, FailedReport, Inventory, Location, MacAddr, NodeId, NodeRecord, NodeState,
    OsReport, PlanResults,
};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::config::EnrolIn;
use crate::power::BmcLogin;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("store: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("store: no PostgreSQL connection: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("store migration: {0}")]
    PostgresMigration(#[from] refinery::Error),
    #[error("store: corrupt {what} for node {node}: {message}")]
    Corrupt { node: i64, what: &'static str, message: String },
    #[error("store: MAC {0} already belongs to a node")]
    DuplicateMac(MacAddr),
    #[error("store: no node {0}")]
    NoSuchNode(NodeId),
}

/// A node as stored: its record (without events) and the hashes of the credentials it holds now (never
/// the credentials themselves): the installer's one-time node token, the installed OS's one-time deploy
/// credential, and the agent token of the running OS.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNode {
    pub record: NodeRecord,
    pub token_hash: Option<String>,
    pub deploy_hash: Option<String>,
    pub agent_hash: Option<String>,
    /// How to log in to its BMC (the record says only where it is).
    pub bmc: Option<BmcLogin>,
}

/// Which node a change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKey {
    Id(NodeId),
    Mac(MacAddr),
}

/// What [`Store::change_node`] asks: given the node as committed, the changes to write (`None`: none).
pub type Decide<'a> = &'a mut dyn FnMut(&StoredNode) -> Option<Vec<NodeChange>>;

/// A new node: first seen by DHCP/HTTP (`discovered`) or pre-registered by an admin.
#[derive(Debug, Clone)]
pub struct NewNode {
    pub mac: MacAddr,
    pub profile: Option<String>,
    pub hostname: Option<String>,
    pub location: Option<Location>,
    /// The auto-enrolment subnet it enrolled itself in by its own network boot; `None` when an admin
    /// registered it.
    pub enrolled_in: Option<ipnet::Ipv4Net>,
    pub reason: String,
}

impl NewNode {
    /// A server that enrols itself by its own network boot (`how`: "DHCP", "iPXE script request") in
    /// `within`'s subnet: what [`Store::enroll_node`] and a [`LeaseWrite::Enrol`] create.
    pub fn self_enrolled(mac: MacAddr, within: EnrolIn, how: &str) -> NewNode {
        let subnet = within.subnet;
        NewNode {
            mac,
            profile: None,
            hostname: None,
            location: None,
            enrolled_in: Some(subnet),
            reason: format!("enrolled automatically in {subnet} ({how})"),
        }
    }
}

/// What to change on a node; `None` fields stay as they are. Applied with its event atomically.
#[derive(Debug, Clone, Default)]
pub struct NodeChange {
    pub state: Option<NodeState>,
    pub profile: Option<String>,
    pub location: Option<Location>,
    pub ipv4: Option<Ipv4Addr>,
    pub inventory: Option<Inventory>,
    pub failure: Option<Option<FailedReport>>,
    pub results: Option<PlanResults>,
    pub os: Option<Option<OsReport>>,
    pub deadline: Option<Option<Deadline>>,
    pub token_hash: Option<Option<String>>,
    pub deploy_hash: Option<Option<String>>,
    pub agent_hash: Option<Option<String>>,
    /// Set (`Some(Some)`) or remove (`Some(None)`) the node's BMC.
    pub bmc: Option<Option<BmcLogin>>,
    /// Set or clear what the node's BMC last said of its health.
    pub bmc_health: Option<Option<BmcHealth>>,
    /// MACs to add to the node (its other NICs, once its inventory names them); a MAC that already
    /// belongs to a node stays where it is.
    pub add_macs: Vec<MacAddr>,
    pub event: Option<EventKind>,
}

/// A bound DHCP lease. Offers are not persisted; they live only in the DHCP server's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// Unix seconds.
    pub expires_at: i64,
    pub hostname: Option<String>,
}

pub trait Store: Send + Sync + 'static {
    fn create_node(&self, new: NewNode, at: Timestamp) -> Result<StoredNode, StoreError>;
    fn node(&self, id: NodeId) -> Result<Option<StoredNode>, StoreError>;
    fn node_by_mac(&self, mac: MacAddr) -> Result<Option<StoredNode>, StoreError>;
    fn nodes(&self) -> Result<Vec<StoredNode>, StoreError>;
    /// The nodes that hold a deadline (they wait on their server): what the deadline watch looks at
    /// every few seconds, without reading the whole node table.
    fn nodes_with_deadline(&self) -> Result<Vec<StoredNode>, StoreError>;
    fn events(&self, id: NodeId) -> Result<Vec<rackhand_api::Event>, StoreError>;
    /// Delete the self-enrolled nodes still `discovered` whose last change is before `before`, with
    /// their MACs and events, in one transaction; their ids.
    fn forget_self_enrolled_waiting(&self, before: Timestamp) -> Result<Vec<NodeId>, StoreError>;
    /// Read node `key`, let `decide` say how it changes, and write the changes with their events, all in
    /// one transaction that holds the database's write lock from the read on: no other writer (another
    /// request, or another boot-service instance on the same database) changes the node in between.
    /// `decide` returns `None` to change nothing. The node as it is afterwards; `None` when there is none.
    fn change_node(&self, key: NodeKey, at: Timestamp, decide: Decide<'_>) -> Result<Option<StoredNode>, StoreError>;
    /// The node of `new`'s MAC, created unless it has one already, all in one transaction; `None` when
    /// it would be new and `within` is full (its subnet already holds `max_discovered` self-enrolled
    /// nodes still waiting).
    fn enroll_node(&self, new: NewNode, within: EnrolIn, at: Timestamp) -> Result<Option<StoredNode>, StoreError>;

    fn leases(&self) -> Result<Vec<Lease>, StoreError>;
    /// The declined addresses whose quarantine has not ended at `now` (Unix seconds).
    fn quarantined(&self, now: i64) -> Result<Vec<Quarantine>, StoreError>;
    /// Apply `writes` in order, all or none, in one transaction that holds the database's write lock
    /// from its first read on: the DHCP server commits every lease change and enrolment of a burst of
    /// packets at once before it answers any of them. The enrolments refused because their subnet was
    /// full and the binds whose address another MAC holds (nothing written for them; the rest of the
    /// batch is).
    fn write_leases(&self, writes: &[LeaseWrite]) -> Result<Refused, StoreError>;

    /// Record that `instance` is alive: its heartbeat count goes up by one. Several boot-service
    /// instances on one database watch each other's counts change (`dhcp/share.rs`); no clock is compared.
    fn beat(&self, instance: &str, at: Timestamp) -> Result<(), StoreError>;
    /// Every instance's heartbeat as stored.
    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError>;
}

/// An instance's heartbeat row: how many times it has beaten, and when it last did by its own clock
/// (shown to people; liveness is judged by the count changing, not by comparing clocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub instance: String,
    pub beats: i64,
    pub at: Timestamp,
}

/// One change the DHCP server writes: to the stored leases, or a new boot client's enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseWrite {
    /// Bind `lease.ip` to `lease.mac` (a new lease, or a renewal), unless another MAC holds the address
    /// with a lease that has not ended at `now` (Unix seconds): then nothing is written and the batch
    /// reports it [`Refused::taken`]. The database decides, so two boot-service instances whose lease
    /// tables both thought the address free cannot both bind it.
    Put { lease: Lease, now: i64 },
    /// `mac` released `ip`: its lease ends. Only `mac`'s own: an instance whose table is stale cannot
    /// remove the lease another MAC holds on the address now.
    Remove { ip: Ipv4Addr, mac: MacAddr },
    /// `mac` declined `ip` (someone else answers on it): keep it out of use until `until` (Unix
    /// seconds), across restarts; ends `mac`'s lease on it. Unless another MAC holds the address with a
    /// lease that has not ended at `now`: then that holder is who answers on it, and nothing is written.
    Quarantine { ip: Ipv4Addr, mac: MacAddr, until: i64, now: i64 },
    /// A boot client no node has asked from an auto-enrolment subnet: as [`Store::enroll_node`] with
    /// [`NewNode::self_enrolled`] (by "DHCP"), at `at`. A MAC a node has already changes nothing; a
    /// full subnet refuses it ([`EnrolmentRefused`]), which fails nothing.
    Enrol { mac: MacAddr, within: EnrolIn, at: Timestamp },
}

/// What [`Store::write_leases`] did not write, and why; neither fails the batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Enrolments whose subnet was full.
    pub enrolments: Vec<EnrolmentRefused>,
    /// Binds ([`LeaseWrite::Put`], by their index in the batch) whose address another MAC holds, with
    /// that MAC's lease as stored.
    pub taken: Vec<(usize, Lease)>,
}

/// An enrolment [`Store::write_leases`] refused: `within` already holds its `max_discovered`
/// self-enrolled nodes still waiting. Nothing was written for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentRefused {
    pub mac: MacAddr,
    pub within: EnrolIn,
}

/// A declined address kept out of use until `until` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarantine {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    pub until: i64,
}
