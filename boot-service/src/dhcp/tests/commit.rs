//! Group commit over the serve loop: a burst of REQUESTs is written in fewer transactions than it gets
//! ACKs, and only the ACKs whose lease writes were persisted leave (a store that can fail and be slow).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use prometheus_client::registry::Registry;
use rackhand_api::NodeId;

use super::serve::{RELAY_ADDR, Running, start};
use super::*;
use crate::store::{Lease, LeaseWrite, NewNode, SqliteStore, Store, StoreError, StoredNode};

/// SQLite, except that any lease write for `poisoned` fails as a full disk would; it counts its lease
/// transactions (each `write_leases` call is one), and while `held` they wait, as on a slow disk.
#[derive(Default)]
struct PoisonedStore {
    inner: Option<SqliteStore>,
    poisoned: std::sync::Mutex<Option<MacAddr>>,
    transactions: AtomicUsize,
    held: (std::sync::Mutex<bool>, std::sync::Condvar),
}

impl PoisonedStore {
    fn new() -> Self {
        Self { inner: Some(SqliteStore::in_memory().unwrap()), ..Self::default() }
    }

    fn inner(&self) -> &SqliteStore {
        self.inner.as_ref().expect("made by new()")
    }
}

impl Store for PoisonedStore {
    fn create_node(&self, new: NewNode, at: jiff::Timestamp) -> Result<StoredNode, StoreError> {
        self.inner().create_node(new, at)
    }
    fn node(&self, id: NodeId) -> Result<Option<StoredNode>, StoreError> {
        self.inner().node(id)
    }
    fn node_by_mac(&self, mac: MacAddr) -> Result<Option<StoredNode>, StoreError> {
        self.inner().node_by_mac(mac)
    }
    fn nodes(&self) -> Result<Vec<StoredNode>, StoreError> {
        self.inner().nodes()
    }
    fn nodes_with_deadline(&self) -> Result<Vec<StoredNode>, StoreError> {
        self.inner().nodes_with_deadline()
    }
    fn events(&self, id: NodeId) -> Result<Vec<rackhand_api::Event>, StoreError> {
        self.inner().events(id)
    }
    fn change_node(
        &self,
        key: crate::store::NodeKey,
        at: jiff::Timestamp,
        decide: crate::store::Decide<'_>,
    ) -> Result<Option<StoredNode>, StoreError> {
        self.inner().change_node(key, at, decide)
    }
    fn enroll_node(
        &self,
        new: NewNode,
        within: crate::config::EnrolIn,
        at: jiff::Timestamp,
    ) -> Result<Option<StoredNode>, StoreError> {
        self.inner().enroll_node(new, within, at)
    }
    fn forget_self_enrolled_waiting(&self, before: jiff::Timestamp) -> Result<Vec<NodeId>, StoreError> {
        self.inner().forget_self_enrolled_waiting(before)
    }
    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.inner().leases()
    }
    fn quarantined(&self, now: i64) -> Result<Vec<crate::store::Quarantine>, StoreError> {
        self.inner().quarantined(now)
    }
    fn write_leases(&self, writes: &[LeaseWrite]) -> Result<(), StoreError> {
        self.transactions.fetch_add(1, SeqCst);
        let (held, released) = &self.held;
        drop(released.wait_while(held.lock().unwrap(), |held| *held).unwrap());
        let poisoned = *self.poisoned.lock().unwrap();
        if writes.iter().any(|w| matches!(w, LeaseWrite::Put(lease) if Some(lease.mac) == poisoned)) {
            let full = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL);
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(full, Some("disk full".into()))));
        }
        self.inner().write_leases(writes)
    }
}

#[tokio::test]
async fn a_burst_is_acked_only_for_leases_that_were_persisted() {
    let store = Arc::new(PoisonedStore::new());
    let poisoned = MacAddr::new(mac(5));
    *store.poisoned.lock().unwrap() = Some(poisoned);
    let mut registry = Registry::default();
    let metrics = DhcpMetrics::register(&mut registry);
    let lab = start(store.clone(), Arc::new(FakeNodes::default()), metrics).await;

    let clients: Vec<u8> = (1..=8).collect();
    let mut offered = std::collections::HashMap::new();
    for &i in &clients {
        offered.insert(MacAddr::new(mac(i)), lab.ask(Client::new(mac(i), MessageType::Discover)).await.yiaddr());
    }
    // All eight REQUESTs back to back, so the server finds them queued together.
    for &i in &clients {
        let ip = offered[&MacAddr::new(mac(i))];
        let request = Client::new(mac(i), MessageType::Request).requested(ip).server_id(SERVER);
        let mut msg = request.relayed_by(RELAY_ADDR).msg;
        msg.set_hops(1);
        lab.relay.send_to(&msg.to_vec().unwrap(), lab.server).await.unwrap();
    }
    let mut acked = acks_at_relay(&lab).await;
    acked.sort();
    let expected: Vec<MacAddr> = clients.iter().map(|&i| MacAddr::new(mac(i))).filter(|m| *m != poisoned).collect();
    assert_eq!(acked, expected, "every ACK but the one whose lease could not be written");
    let mut stored: Vec<MacAddr> = store.leases().unwrap().iter().map(|l| l.mac).collect();
    stored.sort();
    assert_eq!(stored, expected);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains(r#"rackhand_dhcp_dropped_total{reason="store_error"} 1"#), "{text}");

    // The disk has room again: the client's retry is answered and its lease stored.
    *store.poisoned.lock().unwrap() = None;
    let ip = offered[&poisoned];
    let ack = lab.ask(Client::new(mac(5), MessageType::Request).requested(ip).server_id(SERVER)).await;
    assert_eq!((msg_type(&ack), ack.yiaddr()), (MessageType::Ack, ip));
    assert!(store.leases().unwrap().iter().any(|l| l.mac == poisoned && l.ip == ip));
    lab.stop().await;
}

#[tokio::test]
async fn a_burst_of_requests_is_committed_in_fewer_transactions_than_acks() {
    let store = Arc::new(PoisonedStore::new());
    let lab = start(store.clone(), Arc::new(FakeNodes::default()), DhcpMetrics::default()).await;
    let clients: Vec<u8> = (1..=10).collect();
    let mut requests = Vec::new();
    for &i in &clients {
        let ip = lab.ask(Client::new(mac(i), MessageType::Discover)).await.yiaddr();
        let mut msg =
            Client::new(mac(i), MessageType::Request).requested(ip).server_id(SERVER).relayed_by(RELAY_ADDR).msg;
        msg.set_hops(1);
        requests.push(msg.to_vec().unwrap());
    }
    assert_eq!(store.transactions.load(SeqCst), 0, "offers write nothing");

    // A slow disk: the first REQUEST's transaction waits, and the rest of the burst arrives behind it.
    *store.held.0.lock().unwrap() = true;
    lab.relay.send_to(&requests[0], lab.server).await.unwrap();
    for _ in 0..250 {
        if store.transactions.load(SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.transactions.load(SeqCst), 1, "the first ACK's lease is being written");
    for request in &requests[1..] {
        lab.relay.send_to(request, lab.server).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    *store.held.0.lock().unwrap() = false;
    store.held.1.notify_all();

    let acked = acks_at_relay(&lab).await;
    assert_eq!(acked.len(), clients.len(), "every REQUEST is acknowledged: {acked:?}");
    assert_eq!(store.leases().unwrap().len(), clients.len(), "every lease is stored");
    // The nine REQUESTs that queued during the first commit are written together: 2 transactions.
    let transactions = store.transactions.load(SeqCst);
    assert!(transactions < acked.len(), "{transactions} lease transactions for {} ACKs", acked.len());
    assert_eq!(transactions, 2, "one for the first ACK, one for the burst queued behind it");
    lab.stop().await;
}

/// The clients of the ACKs the relay receives until it hears nothing for 1.5 s; every reply is an ACK.
async fn acks_at_relay(lab: &Running) -> Vec<MacAddr> {
    let mut acked = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok(Ok((len, _))) = tokio::time::timeout(Duration::from_millis(1500), lab.relay.recv_from(&mut buf)).await
    {
        let reply = <Message as dhcproto::Decodable>::from_bytes(&buf[..len]).unwrap();
        assert_eq!(msg_type(&reply), MessageType::Ack);
        acked.push(MacAddr::new(reply.chaddr()[..6].try_into().unwrap()));
    }
    acked
}
