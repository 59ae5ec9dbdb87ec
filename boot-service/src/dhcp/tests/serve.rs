//! The serve loop over loopback sockets, as a relay agent would talk to it: replies reach the
//! relay, leases and enrolments reach the store before the reply, metrics count, leases survive a
//! restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use super::*;

use crate::store::{SqliteStore, Store};

pub(super) const RELAY_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The node table as the serve loop sees it: a MAC is registered when the store has a node with it (as
/// the node service answers); sightings and refused enrolments are recorded.
pub(super) struct FakeNodes {
    store: Arc<dyn Store>,
    pub(super) sighted: Mutex<Vec<(MacAddr, Ipv4Addr)>>,
    pub(super) refused: Mutex<Vec<(MacAddr, EnrolIn)>>,
}

impl FakeNodes {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Self { store, sighted: Mutex::default(), refused: Mutex::default() }
    }
}

/// Why the node of `mac` was created (its first event's reason); `None` when no node has it.
pub(super) fn created_because(store: &dyn Store, mac: [u8; 6]) -> Option<String> {
    let node = store.node_by_mac(MacAddr::new(mac)).unwrap()?;
    match &store.events(node.record.id).unwrap()[0].kind {
        rackhand_api::EventKind::Transition { from: None, reason, .. } => reason.clone(),
        other => panic!("the first event is the node's creation: {other:?}"),
    }
}

impl NodeDirectory for FakeNodes {
    fn is_registered(&self, mac: MacAddr) -> bool {
        self.store.node_by_mac(mac).unwrap().is_some()
    }
    fn enrolment_refused(&self, mac: MacAddr, within: EnrolIn) {
        self.refused.lock().unwrap().push((mac, within));
    }
    fn saw_booting(&self, mac: MacAddr, address: Ipv4Addr) {
        self.sighted.lock().unwrap().push((mac, address));
    }
}

pub(super) struct Running {
    pub(super) relay: UdpSocket,
    pub(super) server: SocketAddrV4,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub(super) async fn start(store: Arc<dyn Store>, nodes: Arc<FakeNodes>, metrics: DhcpMetrics) -> Running {
    start_configured(store, nodes, metrics, |_| {}).await
}

/// [`start`] with the test config changed by `configure` (the loopback subnet is `dhcp.subnets[2]`).
pub(super) async fn start_configured(
    store: Arc<dyn Store>,
    nodes: Arc<FakeNodes>,
    metrics: DhcpMetrics,
    configure: impl FnOnce(&mut Config),
) -> Running {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = match socket.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    };
    let relay = UdpSocket::bind((RELAY_ADDR, server.port())).await.unwrap();
    let mut config = written(&config_with(DhcpMode::Full, server.port(), lab_subnet(DhcpMode::Full)));
    configure(&mut config);
    let sockets = vec![DhcpSocket::new("lo", None, PortKind::Server, socket)];
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(serve(sockets, Arc::new(config), store, nodes, metrics, async {
        let _ = stopped.await;
    }));
    Running { relay, server, stop, task }
}

impl Running {
    pub(super) async fn ask(&self, client: Client) -> Message {
        let mut msg = client.relayed_by(RELAY_ADDR).msg;
        msg.set_hops(1);
        self.relay.send_to(&msg.to_vec().unwrap(), self.server).await.unwrap();
        let mut buf = [0u8; 1500];
        let (len, _) = tokio::time::timeout(Duration::from_secs(10), self.relay.recv_from(&mut buf))
            .await
            .expect("a reply within 10 s")
            .unwrap();
        <Message as dhcproto::Decodable>::from_bytes(&buf[..len]).unwrap()
    }

    pub(super) async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().expect("serve ends cleanly");
    }
}

#[tokio::test]
async fn serve_answers_relayed_clients_persists_leases_and_counts() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let nodes = Arc::new(FakeNodes::new(store.clone()));
    let mut registry = Registry::default();
    let metrics = DhcpMetrics::register(&mut registry);
    let lab = start(store.clone(), nodes.clone(), metrics).await;

    lab.relay.send_to(b"not dhcp at all", lab.server).await.unwrap();
    let offer = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0)).await;
    assert_eq!(msg_type(&offer), MessageType::Offer);
    let ip = offer.yiaddr();
    assert_eq!(ip, Ipv4Addr::new(127, 0, 0, 100));
    assert_eq!(bootfile(&offer).as_deref(), Some("undionly.kpxe"));
    let ack = lab.ask(Client::new(mac(1), MessageType::Request).pxe(0).requested(ip).server_id(SERVER)).await;
    assert_eq!(msg_type(&ack), MessageType::Ack);

    let stored = store.leases().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].ip, stored[0].mac), (ip, MacAddr::new(mac(1))));
    // The PXE client was enrolled, in its own subnet, with its lease, before the ACK left.
    let enrolled = created_because(&*store, mac(1));
    assert_eq!(enrolled.as_deref(), Some("enrolled automatically in 127.0.0.0/8 (DHCP)"));
    assert_eq!(store.nodes().unwrap().len(), 1);
    // Its script may be asked for from the address the ACK gave, as soon as the ACK arrives: the sighting
    // is noted before the send (iPXE asks within a millisecond), so no waiting here.
    assert_eq!(*nodes.sighted.lock().unwrap(), [(MacAddr::new(mac(1)), ip)]);

    // Replies are counted right after they are sent: give the last one a moment.
    let expected = [
        r#"rackhand_dhcp_received_total{msg_type="discover"} 1"#,
        r#"rackhand_dhcp_received_total{msg_type="request"} 1"#,
        r#"rackhand_dhcp_replies_total{msg_type="offer"} 1"#,
        r#"rackhand_dhcp_replies_total{msg_type="ack"} 1"#,
        r#"rackhand_dhcp_dropped_total{reason="malformed"} 1"#,
        "rackhand_dhcp_bound_leases 1",
    ];
    let mut text = String::new();
    for _ in 0..100 {
        text.clear();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        if expected.iter().all(|line| text.contains(line)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for line in expected {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    lab.stop().await;

    // Restarted on the same store: the lease is still there.
    let lab = start(store.clone(), nodes, DhcpMetrics::default()).await;
    let other = lab.ask(Client::new(mac(2), MessageType::Discover)).await;
    assert_eq!(other.yiaddr(), Ipv4Addr::new(127, 0, 0, 101), ".100 is still bound");
    let again = lab.ask(Client::new(mac(1), MessageType::Discover)).await;
    assert_eq!(again.yiaddr(), ip);
    // RELEASE removes it from the store (no reply: check after the next ACK, which follows its commit; an
    // OFFER may leave before it).
    let release = Client::new(mac(1), MessageType::Release).ciaddr(ip).relayed_by(RELAY_ADDR).msg;
    lab.relay.send_to(&release.to_vec().unwrap(), lab.server).await.unwrap();
    let offer = lab.ask(Client::new(mac(3), MessageType::Discover)).await;
    let ack = lab.ask(Client::new(mac(3), MessageType::Request).requested(offer.yiaddr()).server_id(SERVER)).await;
    assert_eq!(msg_type(&ack), MessageType::Ack);
    let stored: Vec<MacAddr> = store.leases().unwrap().iter().map(|l| l.mac).collect();
    assert_eq!(stored, [MacAddr::new(mac(3))], "mac 1's lease released");
    lab.stop().await;
}

#[tokio::test]
async fn a_declined_address_stays_quarantined_across_a_restart() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let nodes = Arc::new(FakeNodes::new(store.clone()));
    let lab = start(store.clone(), nodes.clone(), DhcpMetrics::default()).await;
    let ip = lab.ask(Client::new(mac(1), MessageType::Discover)).await.yiaddr();
    lab.ask(Client::new(mac(1), MessageType::Request).requested(ip).server_id(SERVER)).await;
    // Someone else answers on it: the client declines it (no reply; the next answered packet orders it).
    let decline = Client::new(mac(1), MessageType::Decline).requested(ip).server_id(SERVER).relayed_by(RELAY_ADDR).msg;
    lab.relay.send_to(&decline.to_vec().unwrap(), lab.server).await.unwrap();
    assert_ne!(lab.ask(Client::new(mac(2), MessageType::Discover)).await.yiaddr(), ip);
    lab.stop().await;
    assert!(store.leases().unwrap().is_empty(), "the declined lease is no lease");
    assert_eq!(store.quarantined(0).unwrap().iter().map(|q| q.ip).collect::<Vec<_>>(), [ip]);

    // Restarted: nobody is offered the declined address, not even its last holder.
    let lab = start(store.clone(), nodes, DhcpMetrics::default()).await;
    for client in [mac(3), mac(1)] {
        let offer = lab.ask(Client::new(client, MessageType::Discover)).await;
        assert_ne!(offer.yiaddr(), ip, "{client:02x?} was offered the quarantined {ip}");
    }
    lab.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_store_never_give_one_address_to_two_clients() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let nodes = Arc::new(FakeNodes::new(store.clone()));
    let mut registry = Registry::default();
    let metrics = DhcpMetrics::register(&mut registry);
    // Two servers, each with its own lease table, on one database: neither knows the other's offers.
    let a = start(store.clone(), nodes.clone(), DhcpMetrics::default()).await;
    let b = start(store.clone(), nodes.clone(), metrics).await;
    let (x, y) = (mac(1), mac(2));
    let for_x = a.ask(Client::new(x, MessageType::Discover)).await.yiaddr();
    let for_y = b.ask(Client::new(y, MessageType::Discover)).await.yiaddr();
    assert_eq!(for_x, for_y, "both tables offer the first free address");
    let ack = a.ask(Client::new(x, MessageType::Request).requested(for_x).server_id(SERVER)).await;
    assert_eq!(msg_type(&ack), MessageType::Ack);

    // Y asks B for the same address: B's table binds it, the store refuses, no ACK leaves (counted).
    let request = Client::new(y, MessageType::Request).requested(for_y).server_id(SERVER).relayed_by(RELAY_ADDR).msg;
    b.relay.send_to(&request.to_vec().unwrap(), b.server).await.unwrap();
    let taken = r#"rackhand_dhcp_dropped_total{reason="address_taken"} 1"#;
    let mut text = String::new();
    for _ in 0..250 {
        text.clear();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        if text.contains(taken) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(text.contains(taken), "B withheld its ACK: {text}");
    assert!(!text.contains(r#"rackhand_dhcp_replies_total{msg_type="ack"}"#), "B sent no ACK: {text}");
    // Y asks again (clients retry): B has learnt that X holds the address.
    let again = b.ask(Client::new(y, MessageType::Request).requested(for_y).server_id(SERVER)).await;
    assert_eq!(msg_type(&again), MessageType::Nak, "B learnt that X holds {for_y}");
    let stored: Vec<(Ipv4Addr, MacAddr)> = store.leases().unwrap().iter().map(|l| (l.ip, l.mac)).collect();
    assert_eq!(stored, [(for_x, MacAddr::new(x))], "one holder");
    // Y starts over at B and gets another address.
    let other = b.ask(Client::new(y, MessageType::Discover)).await.yiaddr();
    assert_ne!(other, for_x);
    a.stop().await;
    b.stop().await;
}
