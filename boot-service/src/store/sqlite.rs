//! The embedded store: one SQLite file in WAL mode, schema managed by `rusqlite_migration`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::row::{BEAT, END_DECLINED_LEASE, HEARTBEATS, PUT_LEASE, QUARANTINE, REMOVE_LEASE};
use super::row::{NODE_COLUMNS, RawNode, from_json, parse, to_json};
use super::{
    Decide, EnrolmentRefused, Heartbeat, Lease, LeaseWrite, NewNode, NodeChange, NodeKey, Quarantine, Refused, Store,
    StoreError, StoredNode,
};
use crate::config::EnrolIn;
use jiff::Timestamp;
use rackhand_api::{Event, EventKind, MacAddr, NodeId, NodeState};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};

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
    // Instances sharing a database watch each other's heartbeat (`dhcp/share.rs`): the count changing
    // is the sign of life; `at` is the instance's own clock, for people.
    M::up(
        "CREATE TABLE instances (
        name TEXT PRIMARY KEY,
        beats INTEGER NOT NULL,
        at TEXT NOT NULL
    );",
    ),
    // A node's BMC: JSON of its address and login (`power::StoredBmc`).
    M::up("ALTER TABLE nodes ADD COLUMN bmc TEXT;"),
    // What a ready node's BMC last said of its health: JSON of `rackhand_api::BmcHealth`.
    M::up("ALTER TABLE nodes ADD COLUMN bmc_health TEXT;"),
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

fn raw_node(row: &Row) -> rusqlite::Result<RawNode> {
    Ok(RawNode {
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
        bmc: row.get(17)?,
        bmc_health: row.get(18)?,
    })
}

/// `raw` decoded, with its MACs read on `conn`.
fn decode(conn: &Connection, raw: RawNode) -> Result<StoredNode, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT mac FROM node_macs WHERE node_id = ?1 ORDER BY mac")?;
    let macs = stmt.query_map([raw.id], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    raw.decode(macs)
}

fn node_where(conn: &Connection, clause: &str, param: &dyn rusqlite::ToSql) -> Result<Option<StoredNode>, StoreError> {
    let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE {clause}");
    let raw = conn.prepare_cached(&sql)?.query_row([param], raw_node).optional()?;
    raw.map(|raw| decode(conn, raw)).transpose()
}

fn nodes_where(conn: &Connection, clause: &str) -> Result<Vec<StoredNode>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE {clause} ORDER BY id"))?;
    let raws = stmt.query_map([], raw_node)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(|raw| decode(conn, raw)).collect()
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
    if let Some(bmc) = &change.bmc {
        let json = bmc.as_ref().map(|login| to_json(&login.to_stored()));
        tx.execute("UPDATE nodes SET bmc = ?2 WHERE id = ?1", params![id.0, json])?;
    }
    if let Some(health) = &change.bmc_health {
        let json = health.as_ref().map(to_json);
        tx.execute("UPDATE nodes SET bmc_health = ?2 WHERE id = ?1", params![id.0, json])?;
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

    fn write_leases(&self, writes: &[LeaseWrite]) -> Result<Refused, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE, as in `enroll_node`: an enrolment counts its subnet's waiting strangers, then inserts.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut refused = Refused::default();
        {
            let mut put = tx.prepare_cached(PUT_LEASE)?;
            let mut holder = tx.prepare_cached("SELECT mac, expires_at, hostname FROM leases WHERE ip = ?1")?;
            let mut remove = tx.prepare_cached(REMOVE_LEASE)?;
            let mut quarantine = tx.prepare_cached(QUARANTINE)?;
            let mut end_declined = tx.prepare_cached(END_DECLINED_LEASE)?;
            let mut unquarantine = tx.prepare_cached("DELETE FROM quarantine WHERE ip = ?1")?;
            for (index, write) in writes.iter().enumerate() {
                match write {
                    LeaseWrite::Put { lease: l, now } => {
                        let ip = l.ip.to_string();
                        let bound = put
                            .query_row(params![ip, l.mac.to_string(), l.expires_at, l.hostname, now], |_| Ok(()))
                            .optional()?;
                        if bound.is_none() {
                            let (mac, expires_at, hostname) = holder
                                .query_row([&ip], |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?)))?;
                            let mac = parse(0, "lease mac", &mac)?;
                            refused.taken.push((index, Lease { ip: l.ip, mac, expires_at, hostname }));
                            continue;
                        }
                        // Bound again: whatever quarantine it had is over.
                        unquarantine.execute([ip])?;
                    }
                    LeaseWrite::Remove { ip, mac } => {
                        remove.execute([ip.to_string(), mac.to_string()])?;
                    }
                    LeaseWrite::Quarantine { ip, mac, until, now } => {
                        let (ip, mac) = (ip.to_string(), mac.to_string());
                        quarantine.execute(params![ip, mac, until, now])?;
                        end_declined.execute(params![ip, mac, now])?;
                    }
                    LeaseWrite::Enrol { mac, within, at } => {
                        let new = NewNode::self_enrolled(*mac, *within, "DHCP");
                        if enrol(&tx, new, *within, *at)?.is_none() {
                            refused.enrolments.push(EnrolmentRefused { mac: *mac, within: *within });
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(refused)
    }

    fn beat(&self, instance: &str, at: Timestamp) -> Result<(), StoreError> {
        self.conn().prepare_cached(BEAT)?.execute(params![instance, at.to_string()])?;
        Ok(())
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        let conn = self.conn();
        let mut query = conn.prepare_cached(HEARTBEATS)?;
        let rows = query.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get::<_, String>(2)?)))?;
        rows.map(|row| {
            let (instance, beats, at) = row?;
            Ok(Heartbeat { instance, beats, at: parse(0, "heartbeat time", &at)? })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    //! What only the SQLite store has; the store's contract is tested for both backends in `suite.rs`.
    use super::*;

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
}
