//! Long and lossy TFTP transfers to a real client: the TFTP server (`tftp::serve`, as the service runs it)
//! inside one namespace, `atftp` inside another, cabled with a veth pair.
//! - Past 65 535 blocks: the 16-bit block number wraps (to 0, as atftp, tftpd-hpa and iPXE count) and the
//!   file still arrives byte for byte.
//! - Loss inside a window: nftables drops every Nth DATA datagram reaching the client and every Mth ACK
//!   reaching the server (this kernel has no netem; `numgen inc` makes the loss the same on every run), and
//!   the windowed transfer still completes byte for byte, by retransmission.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use boot_service::config::TftpConfig;
use boot_service::tftp;
use prometheus_client::metrics::family::Family;
use rackhand_netns::{Netns, require_netns, veth_pair};
use tokio_util::sync::CancellationToken;

const SERVER_IP: &str = "10.78.0.1";
const CLIENT_IP: &str = "10.78.0.2";

/// The server in its namespace and the client in its own, cabled; the server runs until dropped.
struct Cabled {
    server_ns: Netns,
    client_ns: Netns,
    dir: tempfile::TempDir,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Cabled {
    fn start(file: &[u8], timeout: Duration, max_retries: u32) -> Cabled {
        let (server_ns, client_ns) = (Netns::create("tftps").unwrap(), Netns::create("tftpc").unwrap());
        veth_pair(&server_ns, "veth-srv", &client_ns, "veth-cli").unwrap();
        server_ns.addr_up("veth-srv", &format!("{SERVER_IP}/24")).unwrap();
        client_ns.addr_up("veth-cli", &format!("{CLIENT_IP}/24")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("root/file.bin"), file).unwrap();
        let config = TftpConfig {
            listen: SocketAddr::from(([10, 78, 0, 1], 69)),
            root: dir.path().join("root"),
            max_window_size: 64,
            max_block_size: 1468,
            timeout,
            max_retries,
            max_transfers: 8,
            max_transfers_per_source: 8,
        };
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let thread = server_ns
            .spawn_inside(move || {
                let socket = tftp::bind(&config)?;
                async_io::block_on(tftp::serve(socket, &config, Family::default(), shutdown))
                    .map_err(std::io::Error::other)
            })
            .unwrap();
        Cabled { server_ns, client_ns, dir, stop, thread: Some(thread) }
    }

    /// `atftp -g` of the file with `options`; the bytes it wrote, or its output when it failed.
    fn fetch(&self, options: &[&str]) -> Result<Vec<u8>, String> {
        let out = self.dir.path().join("fetched.bin");
        let _ = std::fs::remove_file(&out);
        let mut cmd = self.client_ns.command("atftp");
        for option in options {
            cmd.args(["--option", option]);
        }
        cmd.args(["--tftp-timeout", "1", "-g", "-r", "file.bin", "-l"]).arg(&out).args([SERVER_IP, "69"]);
        let result = cmd.output().expect("atftp runs");
        let said = format!("{}{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
        match std::fs::read(&out) {
            Ok(bytes) if result.status.success() => Ok(bytes),
            _ => Err(format!("atftp failed ({}): {said}", result.status)),
        }
    }

    /// Drops every `nth` UDP datagram arriving in `ns` whose `port` (`sport`/`dport`) is not 69: as the
    /// network loses it, unseen by its sender (a drop on the sender's output would fail its `sendto`).
    fn lose_every(ns: &Netns, nth: u32, port: &str) {
        let rules = format!(
            "add table inet loss; add chain inet loss arriving {{ type filter hook input priority 0; }}; \
             add rule inet loss arriving udp {port} != 69 numgen inc mod {nth} == {} counter drop",
            nth - 1
        );
        ns.exec("nft", &[&rules]).expect("nftables rules in the namespace");
    }

    /// How many datagrams the loss rule of `ns` dropped.
    fn dropped(ns: &Netns) -> u64 {
        let listing = ns.exec("nft", &["list", "chain", "inet", "loss", "arriving"]).unwrap();
        let after = listing.split("counter packets ").nth(1).expect("the rule counts");
        after.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Cabled {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn missing_tools() -> Option<String> {
    let missing: Vec<_> =
        ["atftp", "nft"].into_iter().filter(|tool| Command::new(tool).arg("--version").output().is_err()).collect();
    (!missing.is_empty()).then(|| format!("needs {} (Debian packages atftp, nftables)", missing.join(", ")))
}

/// A file whose every 512-byte block differs from the block 65 536 blocks earlier, so a server that served
/// the first blocks again after the wrap is caught.
fn payload(len: usize) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"rackhand tftp netns test");
    let mut bytes = vec![0; len];
    hasher.finalize_xof().fill(&mut bytes);
    bytes
}

fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {at} (block {} of 512 bytes)", at / 512 + 1);
    }
}

#[test]
fn a_transfer_past_65535_blocks_wraps_the_block_number_and_arrives_whole() {
    require_netns!();
    if let Some(reason) = missing_tools() {
        rackhand_netns::skip_unless_required(&reason);
        return;
    }
    // 70 000 blocks of 512 bytes (and a short last one): the block number wraps once, ~4 500 blocks in.
    let file = payload(70_000 * 512 + 100);
    assert_ne!(file[..512], file[65_536 * 512..65_537 * 512], "block 1 and block 65 537 differ");
    let cabled = Cabled::start(&file, Duration::from_millis(500), 5);
    let start = Instant::now();
    let got = cabled.fetch(&["blksize 512", "windowsize 16"]).unwrap();
    assert_same(&got, &file, "windowed, blksize 512");
    eprintln!("70 001 blocks, windowsize 16, in {:?}", start.elapsed());
}

#[test]
fn loss_inside_windows_is_retransmitted_and_the_file_arrives_whole() {
    require_netns!();
    if let Some(reason) = missing_tools() {
        rackhand_netns::skip_unless_required(&reason);
        return;
    }
    let file = payload(4 << 20);
    let cabled = Cabled::start(&file, Duration::from_millis(100), 8);
    // Every 97th DATA datagram (so somewhere else inside a window of 16 each time) and every 13th ACK.
    Cabled::lose_every(&cabled.client_ns, 97, "sport");
    Cabled::lose_every(&cabled.server_ns, 13, "dport");
    let got = cabled.fetch(&["blksize 1428", "windowsize 16"]).unwrap();
    assert_same(&got, &file, "windowed with loss");
    let (data_lost, acks_lost) = (Cabled::dropped(&cabled.client_ns), Cabled::dropped(&cabled.server_ns));
    assert!(data_lost >= 20 && acks_lost >= 10, "the loss happened: {data_lost} DATA and {acks_lost} ACKs dropped");
}
