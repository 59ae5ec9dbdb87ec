//! Two instances naming each other as peers, on one store, each sent every request (as a relay with both
//! as helper addresses sends them): each client is answered by one instance only; when one stops, the
//! other answers its clients after [`SILENT_AFTER`] with the addresses they had; when it comes back it
//! answers them again.

use std::sync::Arc;
use std::time::Duration;

use super::serve::{FakeNodes, Running, start_configured};
use super::*;
use crate::store::{SqliteStore, Store};

const URLS: [&str; 2] = ["http://10.77.0.1", "http://10.77.0.2"];
const ADDRESSES: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2)];

/// Instance `i` (0: A, 1: B) of the pair, on `store`.
async fn instance(i: usize, store: &Arc<dyn Store>) -> Running {
    let nodes = Arc::new(FakeNodes::new(store.clone()));
    start_configured(store.clone(), nodes, DhcpMetrics::default(), |config| {
        config.http.public_url = URLS[i].into();
        config.http.peers = vec![URLS[1 - i].into()];
        config.advertise = ADDRESSES[i];
    })
    .await
}

/// `client`'s request sent to each running instance: each one's reply, if any within half a second.
async fn ask_each(instances: [Option<&Running>; 2], client: impl Fn() -> Client) -> [Option<Message>; 2] {
    let encoded = || {
        let mut msg = client().relayed_by(serve::RELAY_ADDR).msg;
        msg.set_hops(1);
        msg.to_vec().unwrap()
    };
    let (a, b) = tokio::join!(ask(instances[0], encoded()), ask(instances[1], encoded()));
    [a, b]
}

async fn ask(running: Option<&Running>, datagram: Vec<u8>) -> Option<Message> {
    let running = running?;
    running.relay.send_to(&datagram, running.server).await.unwrap();
    let mut buf = [0u8; 1500];
    let received = tokio::time::timeout(Duration::from_millis(500), running.relay.recv_from(&mut buf)).await;
    let (len, _) = received.ok()?.unwrap();
    Some(<Message as dhcproto::Decodable>::from_bytes(&buf[..len]).unwrap())
}

/// Which instance answered (exactly one must have), and with what.
fn one_answer(replies: [Option<Message>; 2], what: &str) -> (usize, Message) {
    match replies {
        [Some(reply), None] => (0, reply),
        [None, Some(reply)] => (1, reply),
        [a, b] => panic!("{what}: answered by A {} and by B {}", a.is_some(), b.is_some()),
    }
}

#[tokio::test]
async fn peers_split_the_clients_and_take_over_a_silent_one_s_with_their_addresses() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let a = instance(0, &store).await;
    let b = instance(1, &store).await;
    // Each sees the other's heartbeat change within a beat or two.
    tokio::time::sleep(BEAT_EVERY * 2 + Duration::from_millis(500)).await;

    let members = Members::new(URLS[0], &[URLS[1].to_string()]);
    let everyone = Live(0b11);
    let clients: Vec<[u8; 6]> = (1..=40).map(mac).collect();
    let owned = |who: usize| -> Vec<[u8; 6]> {
        clients.iter().copied().filter(|m| members.owner(MacAddr::new(*m), everyone) == who).take(3).collect()
    };
    let (of_a, of_b) = (owned(0), owned(1));
    assert!(of_a.len() == 3 && of_b.len() == 3, "both instances own some of 40 clients");

    let mut leased = Vec::new();
    for client in of_a.iter().chain(&of_b) {
        let discover = || Client::new(*client, MessageType::Discover).pxe(0);
        let (by, offer) = one_answer(ask_each([Some(&a), Some(&b)], discover).await, "DISCOVER");
        assert_eq!(by, members.owner(MacAddr::new(*client), everyone), "{client:02x?}: its owner answers");
        assert_eq!(msg_type(&offer), MessageType::Offer);
        let ip = offer.yiaddr();
        let request = || Client::new(*client, MessageType::Request).pxe(0).requested(ip).server_id(ADDRESSES[by]);
        let (again, ack) = one_answer(ask_each([Some(&a), Some(&b)], request).await, "REQUEST");
        assert_eq!((again, msg_type(&ack), ack.yiaddr()), (by, MessageType::Ack, ip));
        leased.push((*client, by, ip));
    }
    let addresses: std::collections::HashSet<Ipv4Addr> = leased.iter().map(|(_, _, ip)| *ip).collect();
    assert_eq!(addresses.len(), leased.len(), "six clients, six addresses: {leased:?}");

    // A stops: B answers nobody of A's until A has been silent for SILENT_AFTER, then all of them.
    a.stop().await;
    let (a_client, _, a_ip) = leased[0];
    let discover = || Client::new(a_client, MessageType::Discover).pxe(0);
    assert_eq!(ask_each([None, Some(&b)], discover).await, [None, None], "A was alive a moment ago");
    tokio::time::sleep(SILENT_AFTER + BEAT_EVERY * 2).await;
    for &(client, by, ip) in &leased {
        // Starting over (B has never seen this client of A's: it knows its lease from the store).
        let discover = || Client::new(client, MessageType::Discover).pxe(0);
        let (_, offer) = one_answer(ask_each([None, Some(&b)], discover).await, "DISCOVER");
        assert_eq!(offer.yiaddr(), ip, "{client:02x?} of {by} starting over is offered its address again");
        let rebinding = || Client::new(client, MessageType::Request).pxe(0).ciaddr(ip);
        let (_, ack) = one_answer(ask_each([None, Some(&b)], rebinding).await, "REBINDING REQUEST");
        assert_eq!((msg_type(&ack), ack.yiaddr()), (MessageType::Ack, ip), "{client:02x?} of {by} keeps {ip}");
    }

    // A comes back: it answers its clients again (with their addresses), and B leaves them to it.
    let a = instance(0, &store).await;
    tokio::time::sleep(BEAT_EVERY * 2 + Duration::from_millis(500)).await;
    let (by, offer) = one_answer(ask_each([Some(&a), Some(&b)], discover).await, "DISCOVER after A's return");
    assert_eq!((by, offer.yiaddr()), (0, a_ip));
    a.stop().await;
    b.stop().await;
}
