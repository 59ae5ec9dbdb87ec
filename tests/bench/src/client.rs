//! Simulated iPXE clients on one UDP socket (port 68, bound to the client veth): DORA for many MACs at
//! once, each retransmitting as iPXE does (after 1 s, doubling to at most 8 s), and a plain HTTP GET from
//! a given address (the storm's fetches are [`crate::fetch`]). Must run on a thread inside the client
//! namespace; threads it spawns inherit the namespace.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dhcproto::v4::MessageType;
use rackhand_bench::configs::CLIENT_IF;
use rackhand_bench::dhcpmsg::{Reply, ipxe_message, parse_reply};
use socket2::{Domain, Protocol, Socket, Type};

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
const RETRANSMIT: Duration = Duration::from_secs(1);
/// iPXE's DHCP retransmission doubles from [`RETRANSMIT`] up to this.
const MAX_RETRANSMIT: Duration = Duration::from_secs(8);
/// New DISCOVERs sent before the replies are read again.
const BURST: usize = 64;

pub fn open_socket() -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).context("DHCP client socket")?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(CLIENT_IF.as_bytes())).context("binding the DHCP client socket to its veth")?;
    socket.set_recv_buffer_size(8 << 20)?;
    socket.bind(&SocketAddr::from(([0, 0, 0, 0], 68)).into()).context("binding UDP port 68")?;
    socket.set_read_timeout(Some(Duration::from_millis(5)))?;
    Ok(socket.into())
}

enum Phase {
    Discovering,
    Requesting { ip: Ipv4Addr, server: Option<Ipv4Addr> },
    Bound,
}

struct Client {
    mac: [u8; 6],
    phase: Phase,
    sent: Option<Instant>,
    /// Sends of the current message so far.
    tries: u32,
}

/// How long a client waits for a reply after its `tries`-th send: 1 s, 2 s, 4 s, then 8 s.
fn backoff(tries: u32) -> Duration {
    RETRANSMIT.saturating_mul(1 << tries.saturating_sub(1).min(3)).min(MAX_RETRANSMIT)
}

/// Full DORA for every MAC in `macs`; calls `bound(index, ack)` as each ACK arrives. Fails after
/// `limit` with the number still unbound.
pub fn dora_all(macs: &[[u8; 6]], limit: Duration, mut bound: impl FnMut(usize, &Reply)) -> anyhow::Result<()> {
    if u32::try_from(macs.len()).is_err() {
        bail!("{} simulated clients are more than there are 32-bit DHCP transaction ids", macs.len());
    }
    let socket = open_socket()?;
    let salt = std::process::id() << 16;
    let xid = |i: usize| salt ^ (u32::try_from(i).expect("below macs.len(), checked above") + 1);
    let by_xid: HashMap<u32, usize> = (0..macs.len()).map(|i| (xid(i), i)).collect();
    let mut clients: Vec<Client> =
        macs.iter().map(|&mac| Client { mac, phase: Phase::Discovering, sent: None, tries: 0 }).collect();
    let mut left = clients.len();
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    while left > 0 {
        if start.elapsed() > limit {
            bail!("{left} of {} simulated clients got no lease within {limit:?}", macs.len());
        }
        let mut fresh = 0;
        for (i, c) in clients.iter_mut().enumerate() {
            let due = match c.sent {
                None => fresh < BURST,
                Some(at) => at.elapsed() > backoff(c.tries),
            };
            if !due || matches!(c.phase, Phase::Bound) {
                continue;
            }
            if c.sent.is_none() {
                fresh += 1;
            }
            send(&socket, c, xid(i))?;
        }
        loop {
            let len = match socket.recv(&mut buf) {
                Ok(len) => len,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) => return Err(e).context("receiving DHCP replies"),
            };
            let Some(reply) = parse_reply(&buf[..len]) else { continue };
            let Some(&i) = by_xid.get(&reply.xid) else { continue };
            let c = &mut clients[i];
            match (&c.phase, reply.msg_type) {
                (Phase::Discovering, MessageType::Offer) => {
                    c.phase = Phase::Requesting { ip: reply.yiaddr, server: reply.server_id };
                    c.tries = 0;
                    send(&socket, c, xid(i))?;
                }
                (Phase::Requesting { ip, .. }, MessageType::Ack) if *ip == reply.yiaddr => {
                    c.phase = Phase::Bound;
                    left -= 1;
                    bound(i, &reply);
                }
                (Phase::Requesting { .. }, MessageType::Nak) => {
                    c.phase = Phase::Discovering;
                    c.tries = 0;
                    send(&socket, c, xid(i))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn send(socket: &UdpSocket, c: &mut Client, xid: u32) -> anyhow::Result<()> {
    let bytes = match c.phase {
        Phase::Discovering => ipxe_message(c.mac, xid, MessageType::Discover, None, None),
        Phase::Requesting { ip, server } => ipxe_message(c.mac, xid, MessageType::Request, Some(ip), server),
        Phase::Bound => return Ok(()),
    };
    socket.send_to(&bytes, SERVER).context("sending a DHCP message")?;
    c.sent = Some(Instant::now());
    c.tries += 1;
    Ok(())
}

/// INIT-REBOOT: `mac` asks for `ip` back (REQUEST without server id); the reply, if any within 5 s.
pub fn request_known(mac: [u8; 6], ip: Ipv4Addr) -> anyhow::Result<Option<Reply>> {
    let socket = open_socket()?;
    let xid = 0x5eed_0001;
    let bytes = ipxe_message(mac, xid, MessageType::Request, Some(ip), None);
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    let mut last_sent: Option<Instant> = None;
    while start.elapsed() < Duration::from_secs(5) {
        if last_sent.is_none_or(|t| t.elapsed() > RETRANSMIT) {
            socket.send_to(&bytes, SERVER).context("sending the REQUEST")?;
            last_sent = Some(Instant::now());
        }
        match socket.recv(&mut buf) {
            Ok(len) => {
                if let Some(reply) = parse_reply(&buf[..len]).filter(|r| r.xid == xid) {
                    return Ok(Some(reply));
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e).context("receiving the reply"),
        }
    }
    Ok(None)
}

/// `GET url` as a client at `source` would send it (a TCP connection from that address: the boot
/// service serves a node's script only to the address DHCP gave it); the status and the body.
pub fn http_get_from(source: Ipv4Addr, url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    use std::io::Write;
    let rest = url.strip_prefix("http://").with_context(|| format!("{url}: not an http:// URL"))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let server: SocketAddr = if host.contains(':') { host.parse()? } else { format!("{host}:80").parse()? };
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).context("HTTP client socket")?;
    socket.bind(&SocketAddr::from((source, 0)).into()).with_context(|| format!("binding {source}"))?;
    socket
        .connect_timeout(&server.into(), Duration::from_secs(30))
        .with_context(|| format!("connecting to {server}"))?;
    let mut stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").with_context(|| format!("GET {url}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).with_context(|| format!("reading {url}"))?;
    let head_end =
        response.windows(4).position(|w| w == b"\r\n\r\n").with_context(|| format!("{url}: no header end"))?;
    let status_line = String::from_utf8_lossy(&response[..head_end]).lines().next().unwrap_or_default().to_owned();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{url}: bad status line `{status_line}`"))?;
    Ok((status, response[head_end + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmission_backs_off_as_ipxe_does() {
        let secs: Vec<u64> = (1..=6).map(|t| backoff(t).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff(u32::MAX), MAX_RETRANSMIT);
    }
}
