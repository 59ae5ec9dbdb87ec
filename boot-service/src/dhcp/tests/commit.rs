//! Group commit over the serve loop: a burst of REQUESTs is written in fewer transactions than it gets
//! ACKs, only the ACKs whose lease writes were persisted leave, and new boot clients are enrolled in the
//! same transactions as their leases, within their subnet's cap (a store that can fail and be slow).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use prometheus_client::registry::Registry;
use rackhand_api::NodeId;

use super::serve::{FakeNodes, RELAY_ADDR, Running, created_because, start, start_configured};
use super::*;
use crate::store::{Lease, LeaseWrite, NewNode, SqliteStore, Store, StoreError, StoredNode};

/// SQLite, except that any lease write for `poisoned`, and any enrolment of `poisoned_enrolment`, fails as
/// a full disk would; it counts its lease
/// transactions (each `write_leases` call is one) and what each carried, and the enrolments made on
/// their own (`enroll_node`); while `held` lease transactions wait, as on a slow disk.
#[derive(Default)]
struct PoisonedStore {
    inner: Option<SqliteStore>,
    poisoned: std::sync::Mutex<Option<MacAddr>>,
    poisoned_enrolment: std::sync::Mutex<Option<MacAddr>>,
    transactions: AtomicUsize,
    /// Each `write_leases` call's (lease writes, enrolments), in order.
    carried: std::sync::Mutex<Vec<(usize, usize)>>,
    enrolled_alone: AtomicUsize,
    held: (std::sync::Mutex<bool>, std::sync::Condvar),
}

impl PoisonedStore {
    fn new() -> Self {
        Self { inner: Some(SqliteStore::in_memory().unwrap()), ..Self::default() }
    }

    fn inner(&self) -> &SqliteStore {
        self.inner.as_ref().expect("made by new()")
    }

    fn carried(&self) -> Vec<(usize, usize)> {
        self.carried.lock().unwrap().clone()
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
        self.enrolled_alone.fetch_add(1, SeqCst);
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
    fn beat(&self, instance: &str, at: jiff::Timestamp) -> Result<(), StoreError> {
        self.inner().beat(instance, at)
    }
    fn heartbeats(&self) -> Result<Vec<crate::store::Heartbeat>, StoreError> {
        self.inner().heartbeats()
    }
    fn write_leases(&self, writes: &[LeaseWrite]) -> Result<crate::store::Refused, StoreError> {
        self.transactions.fetch_add(1, SeqCst);
        let enrolments = writes.iter().filter(|w| matches!(w, LeaseWrite::Enrol { .. })).count();
        self.carried.lock().unwrap().push((writes.len() - enrolments, enrolments));
        let (held, released) = &self.held;
        drop(released.wait_while(held.lock().unwrap(), |held| *held).unwrap());
        let (poisoned, enrolment) = (*self.poisoned.lock().unwrap(), *self.poisoned_enrolment.lock().unwrap());
        let fails = |write: &LeaseWrite| match write {
            LeaseWrite::Put { lease, .. } => Some(lease.mac) == poisoned,
            LeaseWrite::Enrol { mac, .. } => Some(*mac) == enrolment,
            _ => false,
        };
        if writes.iter().any(fails) {
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
    let lab = start(store.clone(), Arc::new(FakeNodes::new(store.clone())), metrics).await;

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
    let lab = start(store.clone(), Arc::new(FakeNodes::new(store.clone())), DhcpMetrics::default()).await;
    let clients: Vec<u8> = (1..=10).collect();
    let mut requests = Vec::new();
    for &i in &clients {
        let ip = lab.ask(Client::new(mac(i), MessageType::Discover)).await.yiaddr();
        requests.push(Client::new(mac(i), MessageType::Request).requested(ip).server_id(SERVER));
    }
    assert_eq!(store.transactions.load(SeqCst), 0, "offers write nothing");

    burst_behind_a_slow_commit(&lab, &store, requests).await;
    let acked = acks_at_relay(&lab).await;
    assert_eq!(acked.len(), clients.len(), "every REQUEST is acknowledged: {acked:?}");
    assert_eq!(store.leases().unwrap().len(), clients.len(), "every lease is stored");
    // The nine REQUESTs that queued during the first commit are written together: 2 transactions.
    let transactions = store.transactions.load(SeqCst);
    assert!(transactions < acked.len(), "{transactions} lease transactions for {} ACKs", acked.len());
    assert_eq!(transactions, 2, "one for the first ACK, one for the burst queued behind it");
    lab.stop().await;
}

/// Ten new PXE servers in the auto-enrolment subnet each ask for an address at once: every one is
/// enrolled, and each enrolment is committed in the transaction of its lease (the ACK's), none alone.
#[tokio::test]
async fn a_burst_of_new_boot_clients_is_enrolled_in_the_transactions_of_their_leases() {
    let store = Arc::new(PoisonedStore::new());
    let lab = start(store.clone(), Arc::new(FakeNodes::new(store.clone())), DhcpMetrics::default()).await;
    let clients: Vec<u8> = (1..=10).collect();
    burst_behind_a_slow_commit(&lab, &store, clients.iter().map(|&i| new_server(i)).collect()).await;

    let acked = acks_at_relay(&lab).await;
    assert_eq!(acked.len(), clients.len(), "every REQUEST is acknowledged: {acked:?}");
    assert_eq!(store.leases().unwrap().len(), clients.len(), "every lease is stored");
    assert_eq!(store.carried(), [(1, 1), (9, 9)], "(leases, enrolments) per transaction");
    assert_eq!(store.enrolled_alone.load(SeqCst), 0, "no enrolment has a transaction of its own");
    for &i in &clients {
        let why = created_because(&*store, mac(i));
        assert_eq!(why.as_deref(), Some("enrolled automatically in 127.0.0.0/8 (DHCP)"), "client {i}");
    }
    lab.stop().await;
}

/// A new PXE server's DISCOVER costs no commit of its own: its OFFER leaves at once, and its enrolment
/// rides in the transaction of its REQUEST's lease, before the ACK. A DISCOVER no REQUEST follows is
/// still enrolled, alone, once it has waited its hold, or when the service stops before that.
#[tokio::test]
async fn a_new_servers_enrolment_rides_with_its_lease_or_goes_alone_when_none_follows() {
    let store = Arc::new(PoisonedStore::new());
    let lab = start(store.clone(), Arc::new(FakeNodes::new(store.clone())), DhcpMetrics::default()).await;
    let offer = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0)).await;
    assert_eq!(msg_type(&offer), MessageType::Offer);
    assert!(store.carried().is_empty(), "the OFFER waited for no commit: {:?}", store.carried());
    let request = Client::new(mac(1), MessageType::Request).pxe(0).requested(offer.yiaddr()).server_id(SERVER);
    let ack = lab.ask(request).await;
    assert_eq!(msg_type(&ack), MessageType::Ack);
    assert_eq!(store.carried(), [(1, 1)], "(leases, enrolments): one transaction, before the ACK");
    assert_eq!(created_because(&*store, mac(1)).as_deref(), Some("enrolled automatically in 127.0.0.0/8 (DHCP)"));

    let offer = lab.ask(Client::new(mac(2), MessageType::Discover).pxe(0)).await;
    assert_eq!(msg_type(&offer), MessageType::Offer);
    for _ in 0..100 {
        if store.carried().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.carried(), [(1, 1), (0, 1)], "the lone DISCOVER's enrolment, alone once due");
    assert_eq!(created_because(&*store, mac(2)).as_deref(), Some("enrolled automatically in 127.0.0.0/8 (DHCP)"));
    assert_eq!(store.enrolled_alone.load(SeqCst), 0, "both through the DHCP worker's lease transactions");

    // Stopped while an enrolment is held: it is written on the way out, not lost.
    lab.ask(Client::new(mac(3), MessageType::Discover).pxe(0)).await;
    lab.stop().await;
    assert_eq!(store.carried(), [(1, 1), (0, 1), (0, 1)], "the held enrolment, written at shutdown");
    assert_eq!(created_because(&*store, mac(3)).as_deref(), Some("enrolled automatically in 127.0.0.0/8 (DHCP)"));
}

/// An OFFER promises nothing durable, so it does not wait for its batch's commit: behind a slow disk, a
/// DISCOVER queued after a REQUEST gets its OFFER before that REQUEST's ACK, which waits for its lease.
#[tokio::test]
async fn an_offer_leaves_before_its_batchs_commit_and_an_ack_after() {
    let store = Arc::new(PoisonedStore::new());
    let lab = start(store.clone(), Arc::new(FakeNodes::new(store.clone())), DhcpMetrics::default()).await;
    let burst = vec![new_server(1), new_server(2), Client::new(mac(3), MessageType::Discover).pxe(0)];
    burst_behind_a_slow_commit(&lab, &store, burst).await;

    let mut replies = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok(Ok((len, _))) = tokio::time::timeout(Duration::from_millis(1500), lab.relay.recv_from(&mut buf)).await
    {
        let reply = <Message as dhcproto::Decodable>::from_bytes(&buf[..len]).unwrap();
        replies.push((msg_type(&reply), reply.chaddr()[5]));
    }
    let expected = [(MessageType::Ack, 1), (MessageType::Offer, 3), (MessageType::Ack, 2)];
    assert_eq!(replies, expected, "(reply, client) in the order they arrived");
    assert_eq!(store.carried(), [(1, 1), (1, 2)], "the second batch's lease, with both held enrolments");
    lab.stop().await;
}

/// With room for three, five new servers in one burst: three are enrolled (the cap is counted inside the
/// batch's transaction, its own enrolments included), two are refused and told to the node table, and
/// all five get their addresses: an address does not wait on an enrolment.
#[tokio::test]
async fn the_enrolment_cap_holds_within_a_batch_and_every_stranger_is_still_acked() {
    let store = Arc::new(PoisonedStore::new());
    let nodes = Arc::new(FakeNodes::new(store.clone()));
    let configure = |config: &mut Config| config.dhcp.subnets[2].max_discovered = 3;
    let lab = start_configured(store.clone(), nodes.clone(), DhcpMetrics::default(), configure).await;
    let clients: Vec<u8> = (1..=5).collect();
    burst_behind_a_slow_commit(&lab, &store, clients.iter().map(|&i| new_server(i)).collect()).await;

    let mut acked = acks_at_relay(&lab).await;
    acked.sort();
    let all: Vec<MacAddr> = clients.iter().map(|&i| MacAddr::new(mac(i))).collect();
    assert_eq!(acked, all, "every stranger is acknowledged, enrolled or not");
    assert_eq!(store.leases().unwrap().len(), clients.len(), "every lease is stored");
    assert_eq!(store.carried(), [(1, 1), (4, 4)], "one batch met the cap half way");
    let enrolled: Vec<MacAddr> = store.nodes().unwrap().iter().flat_map(|n| n.record.macs.clone()).collect();
    assert_eq!(enrolled, all[..3], "the first three of the burst");
    let within = EnrolIn { subnet: "127.0.0.0/8".parse().unwrap(), max_discovered: 3 };
    let refused = nodes.refused.lock().unwrap().clone();
    assert_eq!(refused, [(all[3], within), (all[4], within)], "the refusals reach the node table");
    lab.stop().await;
}

/// Three new servers in one burst, and the second one's enrolment cannot be written: the batch is
/// written again write by write, every lease is stored and every ACK leaves, the second one's included;
/// the other two are enrolled.
#[tokio::test]
async fn a_failed_enrolment_holds_back_no_ack() {
    let store = Arc::new(PoisonedStore::new());
    *store.poisoned_enrolment.lock().unwrap() = Some(MacAddr::new(mac(2)));
    let lab = start(store.clone(), Arc::new(FakeNodes::new(store.clone())), DhcpMetrics::default()).await;
    let clients: Vec<u8> = (1..=3).collect();
    burst_behind_a_slow_commit(&lab, &store, clients.iter().map(|&i| new_server(i)).collect()).await;

    let mut acked = acks_at_relay(&lab).await;
    acked.sort();
    let all: Vec<MacAddr> = clients.iter().map(|&i| MacAddr::new(mac(i))).collect();
    assert_eq!(acked, all, "every ACK, the one whose enrolment failed too");
    assert_eq!(store.leases().unwrap().len(), clients.len(), "every lease is stored");
    let enrolled: Vec<MacAddr> = store.nodes().unwrap().iter().flat_map(|n| n.record.macs.clone()).collect();
    assert_eq!(enrolled, [all[0], all[2]]);
    // One by one, the leases first: the enrolments ride after the batch's lease writes.
    assert_eq!(store.carried()[1..], [(2, 2), (1, 0), (1, 0), (0, 1), (0, 1)], "the failed batch, then one by one");
    lab.stop().await;
}

/// A PXE server no node has, asking for 127.0.0.(99 + i) (INIT-REBOOT: option 50, no server id).
fn new_server(i: u8) -> Client {
    Client::new(mac(i), MessageType::Request).pxe(0).requested(Ipv4Addr::new(127, 0, 0, 99 + i))
}

/// Sends `requests` (relayed) as one burst behind a slow disk: the first one's transaction waits until
/// the rest are queued behind it, so they are decided and committed together.
async fn burst_behind_a_slow_commit(lab: &Running, store: &PoisonedStore, requests: Vec<Client>) {
    let before = store.transactions.load(SeqCst);
    let requests: Vec<Vec<u8>> = requests
        .into_iter()
        .map(|client| {
            let mut msg = client.relayed_by(RELAY_ADDR).msg;
            msg.set_hops(1);
            msg.to_vec().unwrap()
        })
        .collect();
    *store.held.0.lock().unwrap() = true;
    lab.relay.send_to(&requests[0], lab.server).await.unwrap();
    for _ in 0..250 {
        if store.transactions.load(SeqCst) == before + 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.transactions.load(SeqCst), before + 1, "the first request's writes are being committed");
    for request in &requests[1..] {
        lab.relay.send_to(request, lab.server).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    *store.held.0.lock().unwrap() = false;
    store.held.1.notify_all();
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
