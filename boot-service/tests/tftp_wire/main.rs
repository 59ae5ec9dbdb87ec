//! The TFTP server over real loopback sockets, spoken to byte for byte (no normalising client): the caps
//! on transfers (`limits`), path traversal and planted links (`traversal`), malformed datagrams (`fuzz`).
//! 127.0.0.0/8 is all loopback on Linux, so 127.0.0.2 is a second source address with no setup.
//!
//! The tests run one at a time (`serial`): one of them counts this process's open file descriptors.

mod fuzz;
mod limits;
mod traversal;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use boot_service::config::TftpConfig;
use boot_service::tftp;
use prometheus_client::metrics::family::Family;
use tokio_util::sync::CancellationToken;

pub const BLKSIZE: usize = 1468;
/// The thread the server runs its transfers on (async-tftp's executor lives inside `serve`).
pub const SERVER_THREAD: &str = "tftp-server";
/// How long a client waits for one datagram before it calls the server silent. Only a failing test waits
/// this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A file of `len` bytes that differ from block to block.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((i.wrapping_mul(2_654_435_761) >> 13) % 256).unwrap()).collect()
}

/// Short timeouts and roomy caps; each test tightens what it is about.
pub fn test_config(root: &Path) -> TftpConfig {
    TftpConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        root: root.to_owned(),
        max_window_size: 64,
        max_block_size: u16::try_from(BLKSIZE).unwrap(),
        timeout: Duration::from_millis(200),
        max_retries: 2,
        max_transfers: 64,
        max_transfers_per_source: 8,
    }
}

/// `tftp::serve` on its own thread, as the service runs it.
pub struct Server {
    pub addr: SocketAddr,
    stop: CancellationToken,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub fn start(config: TftpConfig) -> Server {
        let socket = tftp::bind(&config).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let thread = std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || async_io::block_on(tftp::serve(socket, &config, Family::default(), shutdown)))
            .unwrap();
        Server { addr, stop, thread: Some(thread) }
    }

    /// Whether the serving thread is still up (it ends only on a panic or an error).
    pub fn running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop serving; every open transfer is dropped with the server.
    pub fn stop(mut self) {
        self.stop.cancel();
        let result = self.thread.take().unwrap().join().expect("the TFTP server panicked");
        result.expect("the TFTP server failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A datagram from the server, decoded as far as these tests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Data(u16, Vec<u8>),
    Error(u16, String),
    OAck(Vec<(String, String)>),
    Other(Vec<u8>),
}

impl Reply {
    fn decode(bytes: &[u8]) -> Reply {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match bytes {
            [0, 3, hi, lo, data @ ..] => Reply::Data(u16::from_be_bytes([*hi, *lo]), data.to_vec()),
            [0, 5, hi, lo, message @ ..] => {
                Reply::Error(u16::from_be_bytes([*hi, *lo]), text(message).trim_end_matches('\0').to_owned())
            }
            [0, 6, opts @ ..] => {
                let fields: Vec<String> = opts.split(|&b| b == 0).map(text).collect();
                Reply::OAck(fields.chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect())
            }
            other => Reply::Other(other.to_vec()),
        }
    }

    pub fn is_busy(&self) -> bool {
        matches!(self, Reply::Error(0, message) if message.contains("busy"))
    }
}

/// An RRQ (octet) for the literal bytes `path`, with RFC 2347 options.
pub fn rrq(path: &[u8], opts: &[(&str, &str)]) -> Vec<u8> {
    let mut packet = vec![0, 1];
    packet.extend(path);
    packet.extend(b"\0octet\0");
    for (key, value) in opts {
        packet.extend(key.as_bytes());
        packet.push(0);
        packet.extend(value.as_bytes());
        packet.push(0);
    }
    packet
}

pub fn ack(block: u16) -> [u8; 4] {
    let [hi, lo] = block.to_be_bytes();
    [0, 4, hi, lo]
}

/// One client port on a loopback address.
pub struct Client {
    pub socket: UdpSocket,
}

impl Client {
    pub fn on(ip: Ipv4Addr) -> Client {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        Client { socket }
    }

    pub fn send(&self, to: SocketAddr, bytes: &[u8]) {
        self.socket.send_to(bytes, to).unwrap();
    }

    /// The next datagram with its sender (a transfer answers from a port of its own), or `None` after
    /// the socket's read timeout.
    pub fn recv_raw(&self) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 70_000];
        let (len, from) = self.socket.recv_from(&mut buf).ok()?;
        buf.truncate(len);
        Some((buf, from))
    }

    pub fn recv(&self) -> Option<(Reply, SocketAddr)> {
        self.recv_raw().map(|(bytes, from)| (Reply::decode(&bytes), from))
    }

    /// Send `request` to the server and return its first answer. The request is sent again each second
    /// as real clients do: UDP may drop it, and does when a flood has filled the server's socket buffer.
    /// (The server ignores a repeat from a port whose request it is serving.)
    pub fn ask(&self, server: SocketAddr, request: &[u8]) -> (Reply, SocketAddr) {
        self.socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let answer = (0..PATIENCE.as_secs()).find_map(|_| {
            self.send(server, request);
            self.recv()
        });
        self.socket.set_read_timeout(Some(PATIENCE)).unwrap();
        answer.expect("the server did not answer")
    }
}

/// A whole file, lock-step with blksize 1468; the server's first answer instead if that is not an OACK.
pub fn fetch(ip: Ipv4Addr, server: SocketAddr, path: &str) -> Result<Vec<u8>, Reply> {
    let client = Client::on(ip);
    let (first, transfer) = client.ask(server, &rrq(path.as_bytes(), &[("blksize", "1468")]));
    if !matches!(first, Reply::OAck(_)) {
        return Err(first);
    }
    client.send(transfer, &ack(0));
    let mut file = Vec::new();
    let mut expected: u16 = 1;
    loop {
        match client.recv().expect("the transfer stalled").0 {
            Reply::Data(block, data) if block == expected => {
                file.extend(&data);
                client.send(transfer, &ack(block));
                if data.len() < BLKSIZE {
                    return Ok(file);
                }
                expected = expected.wrapping_add(1);
            }
            // A resent block we already have, or the answer to a repeated request.
            Reply::Data(..) | Reply::OAck(_) => {}
            other => return Err(other),
        }
    }
}

/// This process's open file descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
