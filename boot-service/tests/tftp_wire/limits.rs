//! Abandoned transfers are let go on the server's terms, and the caps on open transfers (total and per
//! source) hold against a flood while other sources are still served.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;

const ONE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const TWO: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const THREE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// What the issue measured: the largest blocks and window, and the client's longest timeout.
fn greedy_rrq() -> Vec<u8> {
    rrq(b"big.bin", &[("blksize", "65464"), ("timeout", "255"), ("windowsize", "65535"), ("tsize", "0")])
}

fn root_with_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), payload(1 << 20)).unwrap();
    std::fs::write(dir.path().join("small.bin"), payload(50_000)).unwrap();
    dir
}

/// Open a transfer from `ip` and leave it unacknowledged; the client is returned so its port stays taken.
fn open_and_abandon(ip: Ipv4Addr, server: SocketAddr) -> (Client, Reply) {
    let client = Client::on(ip);
    let (reply, _) = client.ask(server, &greedy_rrq());
    (client, reply)
}

#[test]
fn a_client_gone_silent_is_let_go_after_the_servers_own_timeout_and_retries() {
    let _serial = serial();
    let root = root_with_files();
    let config = TftpConfig { max_transfers_per_source: 1, max_retries: 2, ..test_config(root.path()) };
    let (window, retries) = (usize::from(config.max_window_size), config.max_retries as usize);
    let server = Server::start(config);

    let silent = Client::on(ONE);
    let (oack, transfer) = silent.ask(server.addr, &greedy_rrq());
    let Reply::OAck(opts) = oack else { panic!("no OACK: {oack:?}") };
    let opt = |key: &str| opts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(opt("blksize"), Some("1468"), "block size capped: {opts:?}");
    assert_eq!(opt("windowsize"), Some("64"), "window capped: {opts:?}");
    assert_eq!(opt("timeout"), None, "the client's timeout is not acknowledged: {opts:?}");
    // Acknowledge the OACK once, then never again.
    silent.send(transfer, &ack(0));

    // The transfer holds this source's only slot.
    assert!(Client::on(ONE).ask(server.addr, &greedy_rrq()).0.is_busy());

    // The server sends the first window once and resends it `retries` times, then gives up with an error.
    let mut data = 0;
    let ended = loop {
        match silent.recv() {
            Some((Reply::Data(block, _), _)) => {
                assert!(usize::from(block) <= window, "block {block} sent without an ACK of the window before");
                data += 1;
            }
            Some((other, _)) => break Some(other),
            None => break None,
        }
    };
    assert!(matches!(ended, Some(Reply::Error(..))), "the abandoned transfer was not ended: {ended:?}");
    assert!(data >= window && data <= window * (1 + retries), "{data} DATA packets for a window of {window}");

    // The slot comes back: a new request from the same source is served (polled: the slot is freed just
    // after the error is sent).
    let mut last = None;
    for _ in 0..100 {
        match fetch(ONE, server.addr, "small.bin") {
            Ok(file) => {
                assert_eq!(file, payload(50_000));
                return server.stop();
            }
            Err(reply) if reply.is_busy() => last = Some(reply),
            Err(reply) => panic!("unexpected answer {reply:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the abandoned transfer's slot never came back: {last:?}");
}

#[test]
fn a_flood_from_one_source_is_refused_while_another_source_is_served() {
    let _serial = serial();
    let root = root_with_files();
    // A long server timeout: the flood's transfers stay open for the whole test.
    let config = TftpConfig {
        max_transfers_per_source: 4,
        timeout: Duration::from_secs(60),
        max_retries: 1,
        ..test_config(root.path())
    };
    let server = Server::start(config);

    let flood: Vec<_> = (0..12).map(|_| open_and_abandon(ONE, server.addr)).collect();
    let accepted = flood.iter().filter(|(_, reply)| matches!(reply, Reply::OAck(_))).count();
    let refused = flood.iter().filter(|(_, reply)| reply.is_busy()).count();
    assert_eq!((accepted, refused), (4, 8), "{:?}", flood.iter().map(|(_, r)| r).collect::<Vec<_>>());

    assert_eq!(fetch(TWO, server.addr, "small.bin").expect("another source is served"), payload(50_000));
    let refused = fetch(ONE, server.addr, "small.bin").expect_err("the flooding source is still at its cap");
    assert!(refused.is_busy(), "{refused:?}");
    server.stop();
}

#[test]
fn the_total_cap_holds_across_sources() {
    let _serial = serial();
    let root = root_with_files();
    let config = TftpConfig {
        max_transfers: 5,
        max_transfers_per_source: 4,
        timeout: Duration::from_secs(60),
        max_retries: 1,
        ..test_config(root.path())
    };
    let server = Server::start(config);

    let mut held = Vec::new();
    for ip in [ONE, ONE, ONE, ONE, TWO] {
        let (client, reply) = open_and_abandon(ip, server.addr);
        assert!(matches!(reply, Reply::OAck(_)), "{ip}: {reply:?}");
        held.push(client);
    }
    for ip in [TWO, THREE] {
        let (_, reply) = open_and_abandon(ip, server.addr);
        assert!(matches!(&reply, Reply::Error(0, m) if m.contains("5 transfers open")), "{ip}: {reply:?}");
    }
    server.stop();
}

#[test]
fn open_descriptors_stay_bounded_under_a_flood() {
    let _serial = serial();
    let root = root_with_files();
    let per_source = 8;
    let config = TftpConfig {
        max_transfers_per_source: per_source,
        max_transfers: 256,
        timeout: Duration::from_secs(60),
        max_retries: 1,
        ..test_config(root.path())
    };
    let server = Server::start(config);
    // A first transfer starts everything the server keeps for its lifetime (async-io's reactor).
    assert_eq!(fetch(TWO, server.addr, "small.bin").unwrap(), payload(50_000));
    let before = open_fds();

    // 300 requests from as many ports. The clients stay open: a port closed and reused by the next
    // client would find its request ignored by async-tftp, which serves one request per peer at a time.
    let mut clients = Vec::new();
    let mut accepted = 0;
    for _ in 0..300 {
        let (client, reply) = open_and_abandon(ONE, server.addr);
        match reply {
            Reply::OAck(_) => accepted += 1,
            other => assert!(other.is_busy(), "{other:?}"),
        }
        clients.push(client);
    }
    let during = open_fds() - clients.len();
    // A transfer holds its file and its socket; a refusal's socket is closed once the error is sent.
    assert!(during <= before + 2 * per_source + 2, "{before} descriptors before the flood, {during} during it");
    assert_eq!(accepted, per_source);
    drop(clients);

    server.stop();
    let after = open_fds();
    assert!(after <= before, "{before} descriptors before the flood, {after} after the server stopped");
}
