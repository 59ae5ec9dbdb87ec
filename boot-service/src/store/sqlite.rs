//! The embedded store: one SQLite file in WAL mode, schema managed by `rusqlite_migration`.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use rackhand_api::{Deadline, Event, EventKind, MacAddr, NodeId, NodeRecord, NodeState};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    Decide, EnrolmentRefused, Lease, LeaseWrite, NewNode, NodeChange, NodeKey, Quarantine, Store, StoreError,
    StoredNode,
};
use crate::config::EnrolIn;

const MIGRATIONS: &[M<'static>] = &[
    M::up(
        "CREATE TABLE nodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL,
        hostname TEXT,
        profile TEXT,
        ipv4 TEXT,
        inventory TEXT,
        failure TEXT,
        results TEXT,
        token_hash TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE node_macs (
        mac TEXT PRIMARY KEY,
        node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE
    );
    CREATE INDEX node_macs_by_node ON node_macs(node_id);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_by_node ON events(node_id, id);
    CREATE TABLE leases (
        ip TEXT PRIMARY KEY,
        mac TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        hostname TEXT
    );",
    ),
    // Ready means booted: the installed OS's report, the deadline of a node that waits on its server, and
    // the hashes of the deploy credential and the agent token.
    M::up(
        "ALTER TABLE nodes ADD COLUMN os TEXT;
        ALTER TABLE nodes ADD COLUMN deadline_at TEXT;
        ALTER TABLE nodes ADD COLUMN deadline_reason TEXT;
        ALTER TABLE nodes ADD COLUMN deploy_hash TEXT;
        ALTER TABLE nodes ADD COLUMN agent_hash TEXT;",
    ),
    // Servers named as technicians name them: rack and unit, as JSON. Nodes that enrolled themselves
    // (bounded, and forgotten when they never boot) apart from registered ones.
    M::up(
        "ALTER TABLE nodes ADD COLUMN location TEXT;
        ALTER TABLE nodes ADD COLUMN self_enrolled INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX nodes_waiting_self_enrolled ON nodes(state, self_enrolled, updated_at);",
    ),
    // A declined address stays quarantined across a restart: kept beside the leases, not among them.
    M::up(
        "CREATE TABLE quarantine (
        ip TEXT PRIMARY KEY,
        mac TEXT NOT NULL,
        until INTEGER NOT NULL
    );",
    ),
    // Auto-enrolment is capped per subnet: the subnet a node enrolled itself in (NULL when registered,
    // and for nodes that enrolled themselves before this; those count against no subnet).
    M::up(
        "ALTER TABLE nodes ADD COLUMN enrolled_in TEXT;
        CREATE INDEX nodes_waiting_by_subnet ON nodes(enrolled_in, state);",
    ),
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on stable storage when it returns, so a lease whose ACK left survives a power
        // cut too (NORMAL survives only a process crash). The DHCP group commit pays one sync per burst.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back).
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

const NODE_COLUMNS: &str = "id, state, hostname, profile, ipv4, inventory, failure, results, token_hash, created_at, \
     updated_at, os, deadline_at, deadline_reason, deploy_hash, agent_hash, location";

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("wire types always serialize")
}

fn from_json<T: DeserializeOwned>(
    node: i64,
    what: &'static str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt { node, what, message: e.to_string() }))
        .transpose()
}

fn parse<T: std::str::FromStr>(node: i64, what: &'static str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::Corrupt { node, what, message: e.to_string() })
}

struct RawNode {
    id: i64,
    state: String,
    hostname: Option<String>,
    profile: Option<String>,
    ipv4: Option<String>,
    inventory: Option<String>,
    failure: Option<String>,
    results: Option<String>,
    token_hash: Option<String>,
    created_at: String,
    updated_at: String,
    os: Option<String>,
    deadline_at: Option<String>,
    deadline_reason: Option<String>,
    deploy_hash: Option<String>,
    agent_hash: Option<String>,
    location: Option<String>,
}

impl RawNode {
    fn from_row(row: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            state: row.get(1)?,
            hostname: row.get(2)?,
            profile: row.get(3)?,
            ipv4: row.get(4)?,
            inventory: row.get(5)?,
            failure: row.get(6)?,
            results: row.get(7)?,
            token_hash: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
            os: row.get(11)?,
            deadline_at: row.get(12)?,
            deadline_reason: row.get(13)?,
            deploy_hash: row.get(14)?,
            agent_hash: row.get(15)?,
            location: row.get(16)?,
        })
    }

    fn decode(self, conn: &Connection) -> Result<StoredNode, StoreError> {
        let id = self.id;
        let mut stmt = conn.prepare_cached("SELECT mac FROM node_macs WHERE node_id = ?1 ORDER BY mac")?;
        let macs = stmt
            .query_map([id], |row| row.get::<_, String>(0))?
            .map(|mac| parse::<MacAddr>(id, "mac", &mac?))
            .collect::<Result<Vec<_>, _>>()?;
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
            events: Vec::new(),
        };
        Ok(StoredNode {
            record,
            token_hash: self.token_hash,
            deploy_hash: self.deploy_hash,
            agent_hash: self.agent_hash,
        })
    }
}

fn node_where(conn: &Connection, clause: &str, param: &dyn rusqlite::ToSql) -> Result<Option<StoredNode>, StoreError> {
    let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE {clause}");
    let raw = conn.prepare_cached(&sql)?.query_row([param], RawNode::from_row).optional()?;
    raw.map(|raw| raw.decode(conn)).transpose()
}

fn nodes_where(conn: &Connection, clause: &str) -> Result<Vec<StoredNode>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE {clause} ORDER BY id"))?;
    let raws = stmt.query_map([], RawNode::from_row)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(|raw| raw.decode(conn)).collect()
}

fn insert_event(conn: &Connection, node: i64, at: Timestamp, kind: &EventKind) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO events (node_id, at, body) VALUES (?1, ?2, ?3)")?.execute(params![
        node,
        at.to_string(),
        to_json(kind)
    ])?;
    Ok(())
}

/// A new `discovered` node with its MAC and first event, inside the caller's transaction.
fn insert_node(tx: &Transaction, new: NewNode, at: Timestamp) -> Result<StoredNode, StoreError> {
    let state = NodeState::Discovered;
    tx.execute(
        "INSERT INTO nodes (state, hostname, profile, location, self_enrolled, enrolled_in, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            state.as_str(),
            new.hostname,
            new.profile,
            new.location.as_ref().map(to_json),
            new.enrolled_in.is_some(),
            new.enrolled_in.map(|subnet| subnet.to_string()),
            at.to_string()
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute("INSERT INTO node_macs (mac, node_id) VALUES (?1, ?2)", params![new.mac.to_string(), id])?;
    insert_event(tx, id, at, &EventKind::Transition { from: None, to: state, reason: Some(new.reason) })?;
    node_where(tx, "id = ?1", &id)?.ok_or(StoreError::NoSuchNode(NodeId(id)))
}

/// One change and its event, inside the caller's transaction.
fn write_change(tx: &Transaction, id: NodeId, change: &NodeChange, at: Timestamp) -> Result<(), StoreError> {
    let exists = tx.execute("UPDATE nodes SET updated_at = ?2 WHERE id = ?1", params![id.0, at.to_string()])?;
    if exists == 0 {
        return Err(StoreError::NoSuchNode(id));
    }
    if let Some(state) = change.state {
        tx.execute("UPDATE nodes SET state = ?2 WHERE id = ?1", params![id.0, state.as_str()])?;
    }
    if let Some(profile) = &change.profile {
        tx.execute("UPDATE nodes SET profile = ?2 WHERE id = ?1", params![id.0, profile])?;
    }
    if let Some(location) = &change.location {
        tx.execute("UPDATE nodes SET location = ?2 WHERE id = ?1", params![id.0, to_json(location)])?;
    }
    for mac in &change.add_macs {
        tx.execute("INSERT OR IGNORE INTO node_macs (mac, node_id) VALUES (?1, ?2)", params![mac.to_string(), id.0])?;
    }
    if let Some(ip) = change.ipv4 {
        tx.execute("UPDATE nodes SET ipv4 = ?2 WHERE id = ?1", params![id.0, ip.to_string()])?;
    }
    if let Some(inventory) = &change.inventory {
        tx.execute("UPDATE nodes SET inventory = ?2 WHERE id = ?1", params![id.0, to_json(inventory)])?;
    }
    if let Some(failure) = &change.failure {
        let json = failure.as_ref().map(to_json);
        tx.execute("UPDATE nodes SET failure = ?2 WHERE id = ?1", params![id.0, json])?;
    }
    if let Some(results) = &change.results {
        tx.execute("UPDATE nodes SET results = ?2 WHERE id = ?1", params![id.0, to_json(results)])?;
    }
    if let Some(os) = &change.os {
        let json = os.as_ref().map(to_json);
        tx.execute("UPDATE nodes SET os = ?2 WHERE id = ?1", params![id.0, json])?;
    }
    if let Some(deadline) = &change.deadline {
        let (at, reason) = deadline.as_ref().map(|d| (d.at.to_string(), d.reason.as_str())).unzip();
        tx.execute("UPDATE nodes SET deadline_at = ?2, deadline_reason = ?3 WHERE id = ?1", params![id.0, at, reason])?;
    }
    for (column, hash) in
        [("token_hash", &change.token_hash), ("deploy_hash", &change.deploy_hash), ("agent_hash", &change.agent_hash)]
    {
        if let Some(hash) = hash {
            tx.execute(&format!("UPDATE nodes SET {column} = ?2 WHERE id = ?1"), params![id.0, hash])?;
        }
    }
    if let Some(event) = &change.event {
        insert_event(tx, id.0, at, event)?;
    }
    Ok(())
}

fn node_by_key(conn: &Connection, key: NodeKey) -> Result<Option<StoredNode>, StoreError> {
    match key {
        NodeKey::Id(id) => node_where(conn, "id = ?1", &id.0),
        NodeKey::Mac(mac) => node_where(conn, "id = (SELECT node_id FROM node_macs WHERE mac = ?1)", &mac.to_string()),
    }
}

/// Nodes that enrolled themselves in `subnet` and are still `discovered` (they never booted the installer).
fn count_self_enrolled_waiting(conn: &Connection, subnet: ipnet::Ipv4Net) -> Result<usize, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM nodes WHERE enrolled_in = ?1 AND state = 'discovered'",
        [subnet.to_string()],
        |row| row.get(0),
    )?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// The node of `new`'s MAC, created in `within` unless it has one already; `None` when it would be new
/// and `within` is full. Inside the caller's transaction, which must hold the write lock from before
/// the count (IMMEDIATE), or two writers could both take the last place.
fn enrol(tx: &Transaction, new: NewNode, within: EnrolIn, at: Timestamp) -> Result<Option<StoredNode>, StoreError> {
    if let Some(node) = node_by_key(tx, NodeKey::Mac(new.mac))? {
        return Ok(Some(node));
    }
    if count_self_enrolled_waiting(tx, within.subnet)? >= within.max_discovered {
        return Ok(None);
    }
    let new = NewNode { enrolled_in: Some(within.subnet), ..new };
    insert_node(tx, new, at).map(Some)
}

impl Store for SqliteStore {
    fn create_node(&self, new: NewNode, at: Timestamp) -> Result<StoredNode, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let taken: Option<i64> = tx
            .query_row("SELECT node_id FROM node_macs WHERE mac = ?1", [new.mac.to_string()], |r| r.get(0))
            .optional()?;
        if taken.is_some() {
            return Err(StoreError::DuplicateMac(new.mac));
        }
        let node = insert_node(&tx, new, at)?;
        tx.commit()?;
        Ok(node)
    }

    fn node(&self, id: NodeId) -> Result<Option<StoredNode>, StoreError> {
        node_by_key(&self.conn(), NodeKey::Id(id))
    }

    fn node_by_mac(&self, mac: MacAddr) -> Result<Option<StoredNode>, StoreError> {
        node_by_key(&self.conn(), NodeKey::Mac(mac))
    }

    fn nodes(&self) -> Result<Vec<StoredNode>, StoreError> {
        nodes_where(&self.conn(), "1")
    }

    fn nodes_with_deadline(&self) -> Result<Vec<StoredNode>, StoreError> {
        nodes_where(&self.conn(), "deadline_at IS NOT NULL")
    }

    fn forget_self_enrolled_waiting(&self, before: Timestamp) -> Result<Vec<NodeId>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Timestamps are stored in jiff's RFC 3339 form, which sorts as text only at one precision:
        // compare them as times here instead.
        let mut stale = Vec::new();
        {
            let mut stmt =
                tx.prepare_cached("SELECT id, updated_at FROM nodes WHERE state = 'discovered' AND self_enrolled = 1")?;
            for row in stmt.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))? {
                let (id, at) = row?;
                if parse::<Timestamp>(id, "updated_at", &at)? < before {
                    stale.push(NodeId(id));
                }
            }
        }
        for id in &stale {
            tx.execute("DELETE FROM nodes WHERE id = ?1", [id.0])?;
        }
        tx.commit()?;
        Ok(stale)
    }

    fn events(&self, id: NodeId) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT at, body FROM events WHERE node_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([id.0], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (at, body) = row?;
            Ok(Event {
                at: parse(id.0, "event time", &at)?,
                kind: from_json(id.0, "event", Some(body))?.expect("Some in, Some out"),
            })
        })
        .collect()
    }

    fn change_node(&self, key: NodeKey, at: Timestamp, decide: Decide<'_>) -> Result<Option<StoredNode>, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before the read, so another connection (another boot-service
        // instance on this file) waits instead of deciding from the same old row.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(node) = node_by_key(&tx, key)? else { return Ok(None) };
        let Some(changes) = decide(&node) else { return Ok(Some(node)) };
        let id = node.record.id;
        for change in &changes {
            write_change(&tx, id, change, at)?;
        }
        let node = node_where(&tx, "id = ?1", &id.0)?.ok_or(StoreError::NoSuchNode(id))?;
        tx.commit()?;
        Ok(Some(node))
    }

    fn enroll_node(&self, new: NewNode, within: EnrolIn, at: Timestamp) -> Result<Option<StoredNode>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let node = enrol(&tx, new, within, at)?;
        tx.commit()?;
        Ok(node)
    }

    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT ip, mac, expires_at, hostname FROM leases ORDER BY ip")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (ip, mac, expires_at, hostname) = row?;
            Ok(Lease { ip: parse(0, "lease ip", &ip)?, mac: parse(0, "lease mac", &mac)?, expires_at, hostname })
        })
        .collect()
    }

    fn quarantined(&self, now: i64) -> Result<Vec<Quarantine>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT ip, mac, until FROM quarantine WHERE until > ?1 ORDER BY ip")?;
        let rows = stmt
            .query_map([now], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?)))?;
        rows.map(|row| {
            let (ip, mac, until) = row?;
            Ok(Quarantine { ip: parse(0, "quarantined ip", &ip)?, mac: parse(0, "quarantined mac", &mac)?, until })
        })
        .collect()
    }

    fn write_leases(&self, writes: &[LeaseWrite]) -> Result<Vec<EnrolmentRefused>, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE, as in `enroll_node`: an enrolment counts its subnet's waiting strangers, then inserts.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut refused = Vec::new();
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO leases (ip, mac, expires_at, hostname) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut remove = tx.prepare_cached("DELETE FROM leases WHERE ip = ?1")?;
            let mut quarantine =
                tx.prepare_cached("INSERT OR REPLACE INTO quarantine (ip, mac, until) VALUES (?1, ?2, ?3)")?;
            let mut unquarantine = tx.prepare_cached("DELETE FROM quarantine WHERE ip = ?1")?;
            for write in writes {
                match write {
                    LeaseWrite::Put(l) => {
                        // Bound again: whatever quarantine it had is over.
                        unquarantine.execute([l.ip.to_string()])?;
                        put.execute(params![l.ip.to_string(), l.mac.to_string(), l.expires_at, l.hostname])?;
                    }
                    LeaseWrite::Remove(ip) => {
                        remove.execute([ip.to_string()])?;
                    }
                    LeaseWrite::Quarantine { ip, mac, until } => {
                        remove.execute([ip.to_string()])?;
                        quarantine.execute(params![ip.to_string(), mac.to_string(), until])?;
                    }
                    LeaseWrite::Enrol { mac, within, at } => {
                        let new = NewNode::self_enrolled(*mac, *within, "DHCP");
                        if enrol(&tx, new, *within, *at)?.is_none() {
                            refused.push(EnrolmentRefused { mac: *mac, within: *within });
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackhand_api::{FailedReport, Problem, Severity};

    fn mac(last: u8) -> MacAddr {
        MacAddr::new([0x52, 0x54, 0, 0, 0, last])
    }

    /// `change` written to node `id` as the node service writes: through [`Store::change_node`].
    fn write(store: &SqliteStore, id: NodeId, change: NodeChange, at: Timestamp) -> Option<StoredNode> {
        store.change_node(NodeKey::Id(id), at, &mut |_| Some(vec![change.clone()])).unwrap()
    }

    fn new_node(last: u8) -> NewNode {
        NewNode {
            mac: mac(last),
            profile: None,
            hostname: None,
            location: None,
            enrolled_in: Some("10.77.0.0/24".parse().unwrap()),
            reason: "seen by DHCP".into(),
        }
    }

    #[test]
    fn a_file_store_syncs_every_commit_to_stable_storage() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("rackhand.db")).unwrap();
        let conn = store.conn();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
        let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0)).unwrap();
        assert_eq!((mode.as_str(), synchronous), ("wal", 2), "WAL with synchronous=FULL (2)");
    }

    #[test]
    fn nodes_round_trip_with_events() {
        let store = SqliteStore::in_memory().unwrap();
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let node = store.create_node(new_node(1), t0).unwrap();
        assert_eq!(node.record.state, NodeState::Discovered);
        assert_eq!(node.record.macs, [mac(1)]);
        assert_eq!(store.node_by_mac(mac(1)).unwrap().unwrap(), node);
        assert!(matches!(store.create_node(new_node(1), t0), Err(StoreError::DuplicateMac(m)) if m == mac(1)));

        let failure = FailedReport {
            built: None,
            step: None,
            reason: "PSU 2 unplugged".into(),
            problems: vec![Problem {
                severity: Severity::Blocking,
                part: "PSU 2".into(),
                message: "no power".into(),
                fix: "plug it in".into(),
            }],
        };
        let t1 = Timestamp::from_second(1_700_000_100).unwrap();
        let change = NodeChange {
            state: Some(NodeState::Failed),
            failure: Some(Some(failure.clone())),
            token_hash: Some(Some("abc".into())),
            event: Some(EventKind::Transition {
                from: Some(NodeState::Discovered),
                to: NodeState::Failed,
                reason: Some(failure.reason.clone()),
            }),
            ..NodeChange::default()
        };
        let updated = write(&store, node.record.id, change, t1).unwrap();
        assert_eq!(updated.record.state, NodeState::Failed);
        assert_eq!(updated.record.failure, Some(failure));
        assert_eq!(updated.record.updated_at, t1);
        assert_eq!(updated.token_hash.as_deref(), Some("abc"));

        let events = store.events(node.record.id).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].at, t1);
        assert!(matches!(events[1].kind, EventKind::Transition { to: NodeState::Failed, .. }));
        assert_eq!(write(&store, NodeId(99), NodeChange::default(), t1), None, "no node 99, nothing written");
    }

    #[test]
    fn the_os_report_deadline_and_credential_hashes_round_trip_and_clear() {
        let store = SqliteStore::in_memory().unwrap();
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let id = store.create_node(new_node(4), t0).unwrap().record.id;
        let os = rackhand_api::OsReport {
            hostname: "node1".into(),
            kernel: "6.1.0".into(),
            arrays: vec![],
            bond: None,
            ssh_host_keys: vec!["ED25519 SHA256:x".into()],
            addresses: vec![Ipv4Addr::new(10, 77, 0, 101)],
            problems: vec![],
        };
        let deadline = Deadline { at: t0, reason: "it did not network-boot".into() };
        let change = NodeChange {
            os: Some(Some(os.clone())),
            deadline: Some(Some(deadline.clone())),
            deploy_hash: Some(Some("d".into())),
            agent_hash: Some(Some("a".into())),
            ..NodeChange::default()
        };
        let node = write(&store, id, change, t0).unwrap();
        assert_eq!((node.record.os, node.record.deadline), (Some(os.clone()), Some(deadline)));
        store.create_node(new_node(5), t0).unwrap();
        let waiting: Vec<NodeId> = store.nodes_with_deadline().unwrap().iter().map(|n| n.record.id).collect();
        assert_eq!(waiting, [id], "only the node holding a deadline");
        assert_eq!((node.deploy_hash.as_deref(), node.agent_hash.as_deref()), (Some("d"), Some("a")));

        let change = NodeChange { deadline: Some(None), deploy_hash: Some(None), ..NodeChange::default() };
        let node = write(&store, id, change, t0).unwrap();
        assert_eq!((node.record.deadline, node.deploy_hash), (None, None));
        assert!(store.nodes_with_deadline().unwrap().is_empty());
        assert_eq!((node.record.os, node.agent_hash.as_deref()), (Some(os), Some("a")), "untouched fields stay");
    }

    #[test]
    fn a_store_of_the_first_schema_migrates_with_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rackhand.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            Migrations::from_slice(&MIGRATIONS[..1]).to_latest(&mut conn).unwrap();
            conn.execute(
                "INSERT INTO nodes (state, token_hash, created_at, updated_at) VALUES ('ready', NULL, ?1, ?1)",
                [Timestamp::from_second(1_700_000_000).unwrap().to_string()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let node = store.node(NodeId(1)).unwrap().expect("the old node");
        assert_eq!(node.record.state, NodeState::Ready);
        assert_eq!((node.record.os, node.record.deadline, node.deploy_hash, node.agent_hash), (None, None, None, None));
    }

    #[test]
    fn leases_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rackhand.db");
        let lease = Lease {
            ip: Ipv4Addr::new(10, 77, 0, 100),
            mac: mac(7),
            expires_at: 1_700_003_600,
            hostname: Some("n7".into()),
        };
        {
            let store = SqliteStore::open(&path).unwrap();
            let other = Ipv4Addr::new(10, 77, 0, 101);
            store.write_leases(&[LeaseWrite::Put(lease.clone())]).unwrap();
            store
                .write_leases(&[LeaseWrite::Put(Lease { ip: other, ..lease.clone() }), LeaseWrite::Remove(other)])
                .unwrap();
            store.create_node(new_node(7), Timestamp::now()).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.leases().unwrap(), [lease]);
        assert_eq!(store.nodes().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_rows_are_named() {
        let store = SqliteStore::in_memory().unwrap();
        let node = store.create_node(new_node(3), Timestamp::now()).unwrap();
        store.conn().execute("UPDATE nodes SET inventory = 'not json' WHERE id = ?1", [node.record.id.0]).unwrap();
        let err = store.node(node.record.id).unwrap_err();
        assert!(err.to_string().contains("corrupt inventory for node 1"), "{err}");
    }
}
