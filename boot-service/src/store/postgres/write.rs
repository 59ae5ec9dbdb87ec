//! The PostgreSQL store's writes, each inside the caller's transaction: a new node, a node change with
//! its event, a self-enrolment under the subnet's cap, and the DHCP server's lease batch.

use jiff::Timestamp;
use postgres::Transaction;
use postgres::types::ToSql;
use rackhand_api::{EventKind, NodeId, NodeState};

use super::{ENROL_LOCK, node_by_key};
use crate::config::EnrolIn;
use crate::store::row::to_json;
use crate::store::row::{END_DECLINED_LEASE, PUT_LEASE, QUARANTINE, REMOVE_LEASE, parse};
use crate::store::{
    EnrolmentRefused, Lease, LeaseWrite, NewNode, NodeChange, NodeKey, Refused, StoreError, StoredNode,
};

fn insert_event(tx: &mut Transaction, node: i64, at: Timestamp, kind: &EventKind) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO events (node_id, at, body) VALUES ($1, $2, $3)",
        &[&node, &at.to_string(), &to_json(kind)],
    )?;
    Ok(())
}

/// A new `discovered` node with its MAC and first event. The caller holds [`ENROL_LOCK`] and has seen
/// that the MAC is free.
pub(super) fn insert_node(tx: &mut Transaction, new: NewNode, at: Timestamp) -> Result<StoredNode, StoreError> {
    let state = NodeState::Discovered;
    let row = tx.query_one(
        "INSERT INTO nodes (state, hostname, profile, location, self_enrolled, enrolled_in, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        &[
            &state.as_str(),
            &new.hostname,
            &new.profile,
            &new.location.as_ref().map(to_json),
            &new.enrolled_in.is_some(),
            &new.enrolled_in.map(|subnet| subnet.to_string()),
            &at.to_string(),
        ],
    )?;
    let id: i64 = row.try_get(0)?;
    tx.execute("INSERT INTO node_macs (mac, node_id) VALUES ($1, $2)", &[&new.mac.to_string(), &id])?;
    insert_event(tx, id, at, &EventKind::Transition { from: None, to: state, reason: Some(new.reason) })?;
    node_by_key(tx, NodeKey::Id(NodeId(id)), "")?.ok_or(StoreError::NoSuchNode(NodeId(id)))
}

/// The node of `new`'s MAC, created unless it has one, or `None` when `within` is full (see
/// [`Store::enroll_node`](crate::store::Store::enroll_node)).
pub(super) fn enroll(
    tx: &mut Transaction,
    new: NewNode,
    within: EnrolIn,
    at: Timestamp,
) -> Result<Option<StoredNode>, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ENROL_LOCK])?;
    if let Some(node) = node_by_key(tx, NodeKey::Mac(new.mac), "")? {
        return Ok(Some(node));
    }
    let waiting: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM nodes WHERE enrolled_in = $1 AND state = 'discovered'",
            &[&within.subnet.to_string()],
        )?
        .try_get(0)?;
    if usize::try_from(waiting).unwrap_or(usize::MAX) >= within.max_discovered {
        return Ok(None);
    }
    let new = NewNode { enrolled_in: Some(within.subnet), ..new };
    insert_node(tx, new, at).map(Some)
}

/// The columns one [`NodeChange`] sets, as one `UPDATE`.
struct Assignments {
    sets: Vec<String>,
    values: Vec<Box<dyn ToSql + Sync>>,
}

impl Assignments {
    fn set(&mut self, column: &str, value: impl ToSql + Sync + 'static) {
        self.values.push(Box::new(value));
        self.sets.push(format!("{column} = ${}", self.values.len()));
    }
}

/// One change and its event.
pub(super) fn write_change(
    tx: &mut Transaction,
    id: NodeId,
    change: &NodeChange,
    at: Timestamp,
) -> Result<(), StoreError> {
    let mut update = Assignments { sets: Vec::new(), values: vec![Box::new(id.0)] };
    update.set("updated_at", at.to_string());
    if let Some(state) = change.state {
        update.set("state", state.as_str());
    }
    if let Some(profile) = &change.profile {
        update.set("profile", profile.clone());
    }
    if let Some(location) = &change.location {
        update.set("location", to_json(location));
    }
    if let Some(ip) = change.ipv4 {
        update.set("ipv4", ip.to_string());
    }
    if let Some(inventory) = &change.inventory {
        update.set("inventory", to_json(inventory));
    }
    if let Some(failure) = &change.failure {
        update.set("failure", failure.as_ref().map(to_json));
    }
    if let Some(results) = &change.results {
        update.set("results", to_json(results));
    }
    if let Some(os) = &change.os {
        update.set("os", os.as_ref().map(to_json));
    }
    if let Some(deadline) = &change.deadline {
        let (at, reason) = deadline.as_ref().map(|d| (d.at.to_string(), d.reason.clone())).unzip();
        update.set("deadline_at", at);
        update.set("deadline_reason", reason);
    }
    for (column, hash) in
        [("token_hash", &change.token_hash), ("deploy_hash", &change.deploy_hash), ("agent_hash", &change.agent_hash)]
    {
        if let Some(hash) = hash {
            update.set(column, hash.clone());
        }
    }
    if let Some(bmc) = &change.bmc {
        update.set("bmc", bmc.as_ref().map(|login| to_json(&login.to_stored())));
    }
    if let Some(health) = &change.bmc_health {
        update.set("bmc_health", health.as_ref().map(to_json));
    }
    let sql = format!("UPDATE nodes SET {} WHERE id = $1", update.sets.join(", "));
    let params: Vec<&(dyn ToSql + Sync)> = update.values.iter().map(|value| &**value).collect();
    if tx.execute(&sql, &params)? == 0 {
        return Err(StoreError::NoSuchNode(id));
    }
    for mac in &change.add_macs {
        tx.execute(
            "INSERT INTO node_macs (mac, node_id) VALUES ($1, $2) ON CONFLICT (mac) DO NOTHING",
            &[&mac.to_string(), &id.0],
        )?;
    }
    if let Some(event) = &change.event {
        insert_event(tx, id.0, at, event)?;
    }
    Ok(())
}

/// The DHCP server's lease changes and enrolments of one burst, in order; what was refused.
pub(super) fn write_leases(tx: &mut Transaction, writes: &[LeaseWrite]) -> Result<Refused, StoreError> {
    let mut refused = Refused::default();
    // A conflicting insert waits for the other transaction's row, then decides on it as committed.
    let put = tx.prepare(PUT_LEASE)?;
    let holder = tx.prepare("SELECT mac, expires_at, hostname FROM leases WHERE ip = $1")?;
    let remove = tx.prepare(REMOVE_LEASE)?;
    let quarantine = tx.prepare(QUARANTINE)?;
    let end_declined = tx.prepare(END_DECLINED_LEASE)?;
    let unquarantine = tx.prepare("DELETE FROM quarantine WHERE ip = $1")?;
    for (index, write) in writes.iter().enumerate() {
        match write {
            LeaseWrite::Put { lease, now } => {
                let ip = lease.ip.to_string();
                let bound =
                    tx.query_opt(&put, &[&ip, &lease.mac.to_string(), &lease.expires_at, &lease.hostname, now])?;
                if bound.is_none() {
                    let row = tx.query_one(&holder, &[&ip])?;
                    let mac: String = row.try_get(0)?;
                    let (expires_at, hostname) = (row.try_get(1)?, row.try_get(2)?);
                    let mac = parse(0, "lease mac", &mac)?;
                    refused.taken.push((index, Lease { ip: lease.ip, mac, expires_at, hostname }));
                    continue;
                }
                // Bound again: whatever quarantine it had is over.
                tx.execute(&unquarantine, &[&ip])?;
            }
            LeaseWrite::Remove { ip, mac } => {
                tx.execute(&remove, &[&ip.to_string(), &mac.to_string()])?;
            }
            LeaseWrite::Quarantine { ip, mac, until, now } => {
                let (ip, mac) = (ip.to_string(), mac.to_string());
                tx.execute(&quarantine, &[&ip, &mac, until, now])?;
                tx.execute(&end_declined, &[&ip, &mac, now])?;
            }
            LeaseWrite::Enrol { mac, within, at } => {
                let new = NewNode::self_enrolled(*mac, *within, "DHCP");
                if enroll(tx, new, *within, *at)?.is_none() {
                    refused.enrolments.push(EnrolmentRefused { mac: *mac, within: *within });
                }
            }
        }
    }
    Ok(refused)
}
