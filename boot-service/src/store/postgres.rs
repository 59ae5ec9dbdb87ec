//! The shared store: PostgreSQL, for several boot-service instances on one database.
//!
//! Driver: `postgres` (rust-postgres's blocking client; the [`Store`] trait is synchronous and every
//! caller already runs on a blocking thread), pooled by `r2d2_postgres`, which replaces a connection the
//! server dropped. Schema: `refinery`, from `boot-service/migrations/postgres/`, run under an advisory
//! lock so instances starting together migrate once.
//!
//! Concurrency, decided by the database and not by any instance's memory:
//! - a node change reads its row `FOR UPDATE`, so a second writer (another request, another instance)
//!   waits and then decides on the committed row (READ COMMITTED reads it afresh);
//! - node creation, self-enrolment and forgetting take one transaction-scoped advisory lock
//!   ([`ENROL_LOCK`]), so a subnet's count of waiting strangers cannot be read stale by two instances;
//! - a MAC belongs to one node and an address to one lease by primary key.

mod write;

use std::time::Duration;

use jiff::Timestamp;
use postgres::{GenericClient, NoTls, Row};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use rackhand_api::{Event, MacAddr, NodeId};

use super::row::{BEAT, HEARTBEATS, NODE_COLUMNS, RawNode, from_json, parse};
use super::{
    Decide, Heartbeat, Lease, LeaseWrite, NewNode, NodeKey, Quarantine, Refused, Store, StoreError, StoredNode,
};
use crate::config::EnrolIn;

refinery::embed_migrations!("migrations/postgres");

/// Advisory lock key of schema migrations ("rackhand" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x7261_636b_6861_6e01;
/// Advisory lock key held by every transaction that creates or forgets nodes.
const ENROL_LOCK: i64 = 0x7261_636b_6861_6e02;
/// Connections per instance: the DHCP worker, the deadline watch, and HTTP requests.
const POOL_SIZE: u32 = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    /// Always `Some` but in [`Drop`], which takes it.
    pool: Option<Pool<PostgresConnectionManager<NoTls>>>,
}

/// The `postgres` crate's synchronous client closes its connection with a `block_on` of its own, which
/// panics on a thread that drives a tokio runtime, and the boot service's last reference to its store may
/// go there at shutdown (seen: a SIGTERM ended in that panic). The pool, with its connections, is
/// dropped on a thread of its own.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let closed = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(pool));
            if let Ok(thread) = closed {
                let _ = thread.join();
            }
        }
    }
}

impl PostgresStore {
    /// Connect to `config` (libpq's URL or `key=value` form), bring the schema up to date, and keep a pool.
    pub fn open(config: &str) -> Result<Self, StoreError> {
        let config: postgres::Config = config.parse()?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = Pool::builder().max_size(POOL_SIZE).connection_timeout(CONNECT_TIMEOUT).build(manager)?;
        let store = Self { pool: Some(pool) };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
        let migrated = migrations::runner().run(&mut *conn).map(drop);
        conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
        Ok(migrated?)
    }

    fn conn(&self) -> Result<PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        Ok(self.pool.as_ref().expect("taken only when dropped").get()?)
    }
}

fn raw_node(row: &Row) -> Result<RawNode, postgres::Error> {
    Ok(RawNode {
        id: row.try_get(0)?,
        state: row.try_get(1)?,
        hostname: row.try_get(2)?,
        profile: row.try_get(3)?,
        ipv4: row.try_get(4)?,
        inventory: row.try_get(5)?,
        failure: row.try_get(6)?,
        results: row.try_get(7)?,
        token_hash: row.try_get(8)?,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
        os: row.try_get(11)?,
        deadline_at: row.try_get(12)?,
        deadline_reason: row.try_get(13)?,
        deploy_hash: row.try_get(14)?,
        agent_hash: row.try_get(15)?,
        location: row.try_get(16)?,
        bmc: row.try_get(17)?,
        bmc_health: row.try_get(18)?,
    })
}

/// The nodes matching `clause` (with its `$N` bound to `params`), in id order, with their MACs read in
/// one more query (not one per node: each is a round trip to the server); `suffix` such as `FOR UPDATE`
/// is appended.
fn nodes_where(
    conn: &mut impl GenericClient,
    clause: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    suffix: &str,
) -> Result<Vec<StoredNode>, StoreError> {
    let rows = conn.query(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE {clause} ORDER BY id {suffix}"), params)?;
    let raws = rows.iter().map(raw_node).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<i64> = raws.iter().map(|raw| raw.id).collect();
    let mut macs: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for row in conn.query("SELECT node_id, mac FROM node_macs WHERE node_id = ANY($1) ORDER BY mac", &[&ids])? {
        macs.entry(row.try_get(0)?).or_default().push(row.try_get(1)?);
    }
    raws.into_iter()
        .map(|raw| {
            let own = macs.remove(&raw.id).unwrap_or_default();
            raw.decode(own)
        })
        .collect()
}

/// Node `key`, its row locked until the transaction ends when `suffix` is `FOR UPDATE`.
fn node_by_key(conn: &mut impl GenericClient, key: NodeKey, suffix: &str) -> Result<Option<StoredNode>, StoreError> {
    let mut nodes = match key {
        NodeKey::Id(id) => nodes_where(conn, "id = $1", &[&id.0], suffix)?,
        NodeKey::Mac(mac) => {
            nodes_where(conn, "id = (SELECT node_id FROM node_macs WHERE mac = $1)", &[&mac.to_string()], suffix)?
        }
    };
    Ok(nodes.pop())
}

impl Store for PostgresStore {
    fn create_node(&self, new: NewNode, at: Timestamp) -> Result<StoredNode, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ENROL_LOCK])?;
        if node_by_key(&mut tx, NodeKey::Mac(new.mac), "")?.is_some() {
            return Err(StoreError::DuplicateMac(new.mac));
        }
        let node = write::insert_node(&mut tx, new, at)?;
        tx.commit()?;
        Ok(node)
    }

    fn node(&self, id: NodeId) -> Result<Option<StoredNode>, StoreError> {
        node_by_key(&mut *self.conn()?, NodeKey::Id(id), "")
    }

    fn node_by_mac(&self, mac: MacAddr) -> Result<Option<StoredNode>, StoreError> {
        node_by_key(&mut *self.conn()?, NodeKey::Mac(mac), "")
    }

    fn nodes(&self) -> Result<Vec<StoredNode>, StoreError> {
        nodes_where(&mut *self.conn()?, "TRUE", &[], "")
    }

    fn nodes_with_deadline(&self) -> Result<Vec<StoredNode>, StoreError> {
        nodes_where(&mut *self.conn()?, "deadline_at IS NOT NULL", &[], "")
    }

    fn events(&self, id: NodeId) -> Result<Vec<Event>, StoreError> {
        let rows = self.conn()?.query("SELECT at, body FROM events WHERE node_id = $1 ORDER BY id", &[&id.0])?;
        rows.iter()
            .map(|row| {
                let (at, body): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                Ok(Event {
                    at: parse(id.0, "event time", &at)?,
                    kind: from_json(id.0, "event", Some(body))?.expect("Some in, Some out"),
                })
            })
            .collect()
    }

    fn forget_self_enrolled_waiting(&self, before: Timestamp) -> Result<Vec<NodeId>, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ENROL_LOCK])?;
        // Times are text (see row.rs): compared as times here, as the SQLite store does.
        let rows =
            tx.query("SELECT id, updated_at FROM nodes WHERE state = 'discovered' AND self_enrolled FOR UPDATE", &[])?;
        let mut stale = Vec::new();
        for row in &rows {
            let (id, at): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
            if parse::<Timestamp>(id, "updated_at", &at)? < before {
                stale.push(NodeId(id));
            }
        }
        let ids: Vec<i64> = stale.iter().map(|id| id.0).collect();
        tx.execute("DELETE FROM nodes WHERE id = ANY($1)", &[&ids])?;
        tx.commit()?;
        Ok(stale)
    }

    fn change_node(&self, key: NodeKey, at: Timestamp, decide: Decide<'_>) -> Result<Option<StoredNode>, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // FOR UPDATE: another writer of this node waits here, then reads the row as committed.
        let Some(node) = node_by_key(&mut tx, key, "FOR UPDATE")? else { return Ok(None) };
        let Some(changes) = decide(&node) else { return Ok(Some(node)) };
        let id = node.record.id;
        for change in &changes {
            write::write_change(&mut tx, id, change, at)?;
        }
        let node = node_by_key(&mut tx, NodeKey::Id(id), "")?.ok_or(StoreError::NoSuchNode(id))?;
        tx.commit()?;
        Ok(Some(node))
    }

    fn enroll_node(&self, new: NewNode, within: EnrolIn, at: Timestamp) -> Result<Option<StoredNode>, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let node = write::enroll(&mut tx, new, within, at)?;
        tx.commit()?;
        Ok(node)
    }

    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows = self.conn()?.query("SELECT ip, mac, expires_at, hostname FROM leases ORDER BY ip", &[])?;
        rows.iter()
            .map(|row| {
                let (ip, mac): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                Ok(Lease {
                    ip: parse(0, "lease ip", &ip)?,
                    mac: parse(0, "lease mac", &mac)?,
                    expires_at: row.try_get(2)?,
                    hostname: row.try_get(3)?,
                })
            })
            .collect()
    }

    fn quarantined(&self, now: i64) -> Result<Vec<Quarantine>, StoreError> {
        let rows = self.conn()?.query("SELECT ip, mac, until FROM quarantine WHERE until > $1 ORDER BY ip", &[&now])?;
        rows.iter()
            .map(|row| {
                let (ip, mac): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                Ok(Quarantine {
                    ip: parse(0, "quarantined ip", &ip)?,
                    mac: parse(0, "quarantined mac", &mac)?,
                    until: row.try_get(2)?,
                })
            })
            .collect()
    }

    fn write_leases(&self, writes: &[LeaseWrite]) -> Result<Refused, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let refused = write::write_leases(&mut tx, writes)?;
        tx.commit()?;
        Ok(refused)
    }

    fn beat(&self, instance: &str, at: Timestamp) -> Result<(), StoreError> {
        self.conn()?.execute(BEAT, &[&instance, &at.to_string()])?;
        Ok(())
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        let rows = self.conn()?.query(HEARTBEATS, &[])?;
        rows.iter()
            .map(|row| {
                let at: String = row.try_get(2)?;
                Ok(Heartbeat {
                    instance: row.try_get(0)?,
                    beats: row.try_get(1)?,
                    at: parse(0, "heartbeat time", &at)?,
                })
            })
            .collect()
    }
}
