//! A machine on the boot network: a namespace cabled to the service's bridge, and one UDP socket on the
//! DHCP client port (68), or the server port (67) for a relay agent, that sees every datagram for that
//! port together with the address it was sent to.

use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt};
use rackhand_netns::{Netns, veth_pair};
use socket2::{Domain, Protocol, Socket, Type};

use super::{BRIDGE, Msg, RELAY_GIADDR, RELAY_ON_BRIDGE, Reply, SERVER, Service};

/// How long to wait for one reply before asking again, as clients do; and how many times to ask.
const RETRY: Duration = Duration::from_secs(1);
const TRIES: usize = 20;

pub struct Wire {
    pub ns: Netns,
    socket: UdpSocket,
}

impl Wire {
    /// A client machine without an address, as firmware is before its first ACK.
    pub fn client(service: &Service) -> Wire {
        Wire::cable(service, 68)
    }

    /// A relay agent (RFC 1542): on the bridge as 10.77.0.2, serving 10.88.0.0/24 as 10.88.0.1 (giaddr),
    /// listening on the server port as relays do.
    pub fn relay(service: &Service) -> Wire {
        let wire = Wire::cable(service, 67);
        wire.ns.addr_up("eth0", &format!("{RELAY_ON_BRIDGE}/24")).unwrap();
        wire.ns.ip(&["addr", "add", &format!("{RELAY_GIADDR}/32"), "dev", "eth0"]).unwrap();
        wire
    }

    fn cable(service: &Service, port: u16) -> Wire {
        let ns = Netns::create("dhcpw").unwrap();
        let bridge_port = service.next_port();
        veth_pair(&service.ns, &bridge_port, &ns, "eth0").unwrap();
        service.ns.ip(&["link", "set", &bridge_port, "master", BRIDGE]).unwrap();
        let socket = ns.spawn_inside(move || open(port)).unwrap().join().unwrap().expect("client socket");
        Wire { ns, socket }
    }

    /// Give the client `ip` (after an ACK), so unicast to it arrives and it can send unicast itself.
    pub fn configure(&self, ip: Ipv4Addr) {
        self.ns.addr_up("eth0", &format!("{ip}/24")).unwrap();
    }

    pub fn broadcast(&self, msg: &Msg) {
        self.socket.send_to(&msg.bytes(), (Ipv4Addr::BROADCAST, 67)).unwrap();
    }

    pub fn unicast(&self, msg: &Msg) {
        self.socket.send_to(&msg.bytes(), (SERVER, 67)).unwrap();
    }

    /// To the boot server's proxy port, as PXE firmware asks after a proxy offer (PXE 2.1 §2.2.3).
    pub fn to_proxy_port(&self, msg: &Msg) {
        self.socket.send_to(&msg.bytes(), (SERVER, 4011)).unwrap();
    }

    /// Send `msg` with `send` (resent each second) until a reply with its xid arrives.
    pub fn ask_by(&self, msg: &Msg, send: fn(&Wire, &Msg)) -> Reply {
        self.ask_with(msg, send).1
    }

    /// Broadcast `msg` (resent each second, as a client would) until a reply with its xid arrives.
    pub fn ask(&self, msg: &Msg) -> Reply {
        self.ask_with(msg, |w, m| w.broadcast(m)).1
    }

    /// The same, sent unicast to the server (a bound client, or a relay).
    pub fn ask_unicast(&self, msg: &Msg) -> Reply {
        self.ask_with(msg, |w, m| w.unicast(m)).1
    }

    /// Send `msg` once, then ask `sentinel`: the server decides packets in the order they arrive, so any
    /// reply to `msg` would come before the sentinel's. Fails if one does; the sentinel's reply.
    pub fn silent_then(&self, msg: &Msg, send: fn(&Wire, &Msg), sentinel: &Msg) -> Reply {
        send(self, msg);
        let (before, reply) = self.ask_with(sentinel, send);
        let answered: Vec<&Reply> = before.iter().filter(|r| r.xid() == msg.xid()).collect();
        assert!(answered.is_empty(), "expected no reply to xid {:#x}, got {answered:?}", msg.xid());
        reply
    }

    /// Every datagram seen before the reply to `msg`, and that reply.
    fn ask_with(&self, msg: &Msg, send: fn(&Wire, &Msg)) -> (Vec<Reply>, Reply) {
        let mut seen = Vec::new();
        for _ in 0..TRIES {
            send(self, msg);
            while let Some(reply) = self.recv() {
                if reply.xid() == msg.xid() && reply.is_reply() {
                    return (seen, reply);
                }
                seen.push(reply);
            }
        }
        panic!("no reply to xid {:#x} after {TRIES} tries; saw {seen:?}", msg.xid());
    }

    /// The next datagram within [`RETRY`], with its source and destination addresses.
    pub fn recv(&self) -> Option<Reply> {
        let mut buf = vec![0u8; 9000];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
        let msg = recvmsg::<SockaddrIn>(self.socket.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
        let to = msg.cmsgs().ok()?.find_map(|c| match c {
            ControlMessageOwned::Ipv4PacketInfo(info) => Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))),
            _ => None,
        });
        let from = msg.address.map(|a| SocketAddrV4::new(a.ip(), a.port()))?;
        let len = msg.bytes;
        Some(Reply { bytes: buf[..len].to_vec(), from, to: to.expect("IP_PKTINFO on every datagram") })
    }
}

/// 0.0.0.0:`port` on eth0, broadcast allowed, destination addresses reported.
fn open(port: u16) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(b"eth0"))?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    let socket: UdpSocket = socket.into();
    setsockopt(&socket, sockopt::Ipv4PacketInfo, &true).map_err(std::io::Error::from)?;
    socket.set_read_timeout(Some(RETRY))?;
    Ok(socket)
}
