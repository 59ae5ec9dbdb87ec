//! 20 000 malformed and mutated datagrams at the TFTP port and at an open transfer's port: the server
//! neither panics nor stops, serves a clean client afterwards and keeps no descriptor once stopped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const ROUNDS: usize = 20_000;
const SENDERS: usize = 128;

/// Well-formed packets of every opcode, including the requests of the abandoned-transfer report.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        rrq(b"file.bin", &[]),
        rrq(b"file.bin", &[("blksize", "65464"), ("timeout", "255"), ("windowsize", "65535"), ("tsize", "0")]),
        rrq(b"/file.bin", &[("blksize", "8"), ("windowsize", "1")]),
        rrq(b"../file.bin", &[("tsize", "0")]),
        rrq(b"file.bin", &[("blksize", "0"), ("timeout", "0"), ("windowsize", "0"), ("tsize", "99999999999999999999")]),
        [&[0u8, 2][..], b"upload.bin\0octet\0"].concat(),
        [&[0u8, 3, 0, 1][..], &[0x41; 512]].concat(),
        ack(0).to_vec(),
        [&[0u8, 5, 0, 1][..], b"nope\0"].concat(),
        [&[0u8, 6][..], b"blksize\x001468\0"].concat(),
    ]
}

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let seed = &seeds[rng.random_range(0..seeds.len())];
    match rng.random_range(0..4) {
        // Noise of any length up to beyond a block.
        0 => (0..rng.random_range(0..1600)).map(|_| rng.random()).collect(),
        // A real packet with a few bytes changed.
        1 => {
            let mut bytes = seed.clone();
            for _ in 0..rng.random_range(1..5) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            bytes
        }
        // A real packet cut short, or with noise after it.
        2 => {
            let mut bytes = seed[..rng.random_range(0..=seed.len())].to_vec();
            if rng.random() {
                bytes.extend((0..rng.random_range(0..64)).map(|_| rng.random::<u8>()));
            }
            bytes
        }
        // A request with options whose names and values are noise (never NUL, so they stay options).
        _ => {
            let mut noise =
                |len: usize| -> String { (0..len).map(|_| char::from(rng.random_range(1u8..=0x7f))).collect() };
            let (key, value) = (noise(8), noise(12));
            rrq(b"file.bin", &[(key.as_str(), value.as_str())])
        }
    }
}

/// Panics on the server's thread. async-executor catches a request task's panic and drops the task, so
/// the server would carry on with that peer stuck in its in-progress set: a panic is seen only here.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn malformed_datagrams_neither_crash_nor_wedge_the_server() {
    let _serial = serial();
    std::panic::set_hook(Box::new(|info| {
        if std::thread::current().name() == Some(SERVER_THREAD) {
            SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        eprintln!("{info}");
    }));
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("file.bin"), payload(200_000)).unwrap();
    // Transfers the noise happens to start are given up quickly, and the caps leave room for them: a
    // port with a transfer open has its further requests ignored, and a refusal for being busy would
    // keep a request from the handler.
    let config = TftpConfig {
        timeout: Duration::from_millis(100),
        max_retries: 0,
        max_transfers: 2 * SENDERS,
        max_transfers_per_source: 2 * SENDERS,
        ..test_config(root.path())
    };
    let server = Server::start(config);
    // A first transfer starts everything the server keeps for its lifetime (async-io's reactor).
    assert_eq!(fetch(Ipv4Addr::LOCALHOST, server.addr, "file.bin").unwrap(), payload(200_000));
    let before = open_fds();

    // An open transfer whose port gets its share of the noise.
    let victim = Client::on(Ipv4Addr::LOCALHOST);
    let (oack, transfer) = victim.ask(server.addr, &rrq(b"file.bin", &[("windowsize", "4")]));
    assert!(matches!(oack, Reply::OAck(_)), "{oack:?}");

    // The victim's own port sends to its transfer (a transfer ignores other peers); many more ports send
    // to the server's, so that one whose request started a transfer is seldom the one sending.
    let senders: Vec<Client> = (0..SENDERS).map(|_| Client::on(Ipv4Addr::LOCALHOST)).collect();
    for client in senders.iter().chain([&victim]) {
        client.socket.set_nonblocking(true).unwrap();
    }
    let mut rng = StdRng::seed_from_u64(0x7446_7470);
    let seeds = seeds();
    let mut answers = 0;
    for round in 0..ROUNDS {
        let (sender, to): (&Client, SocketAddr) =
            if round % 5 == 0 { (&victim, transfer) } else { (&senders[round % senders.len()], server.addr) };
        let _ = sender.socket.send_to(&mutate(&mut rng, &seeds), to);
        if round % 64 == 0 {
            // Drain the answers so no buffer fills.
            let mut buf = [0u8; 2048];
            for client in senders.iter().chain([&victim]) {
                while client.socket.recv_from(&mut buf).is_ok() {
                    answers += 1;
                }
            }
        }
    }

    // The noise reached the handler (a fuzz whose every datagram is dropped unparsed would prove nothing).
    assert!(answers >= ROUNDS / 100, "only {answers} answers to {ROUNDS} datagrams");
    // Back to the default hook before anything below may panic.
    let _ = std::panic::take_hook();
    assert_eq!(SERVER_PANICS.load(Ordering::SeqCst), 0, "the server panicked on a datagram");
    assert!(server.running(), "the server stopped under the noise");
    let clean = fetch(Ipv4Addr::new(127, 0, 0, 2), server.addr, "file.bin").expect("a clean client is served");
    assert_eq!(clean, payload(200_000));
    drop((victim, senders));
    server.stop();
    assert!(open_fds() <= before, "descriptors left behind once the server stopped");
}
