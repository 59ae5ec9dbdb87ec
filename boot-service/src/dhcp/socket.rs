//! Opening the DHCP sockets: one per served interface (and, in proxy mode, one more on 4011), each
//! bound to 0.0.0.0 and to its device so a broadcast reply leaves through the interface the
//! request came in on. The interface's IPv4 address picks the subnet for non-relayed requests.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::PROXY_PORT;
use crate::config::{DhcpConfig, DhcpMode};

/// Which port a socket listens on; decides how its requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// The DHCP server port (`DhcpConfig::port`, 67 in production).
    Server,
    /// The PXE boot-server port, 4011.
    Proxy,
}

/// A bound socket and what it serves.
#[derive(Debug)]
pub struct DhcpSocket {
    pub iface: String,
    /// The interface's address in a configured subnet; `None`: only relayed requests are served.
    pub iface_addr: Option<Ipv4Addr>,
    pub kind: PortKind,
    pub socket: UdpSocket,
}

impl DhcpSocket {
    /// Wrap a socket the caller bound (tests bind to loopback on a free port).
    pub fn new(iface: impl Into<String>, iface_addr: Option<Ipv4Addr>, kind: PortKind, socket: UdpSocket) -> Self {
        DhcpSocket { iface: iface.into(), iface_addr, kind, socket }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("dhcp.interfaces: no network interface named `{0}`")]
    NoSuchInterface(String),
    #[error("listing interface addresses: {0}")]
    Interfaces(#[source] nix::Error),
    #[error(
        "opening the DHCP socket on `{iface}` port {port}: {source} (ports below 1024 need \
         CAP_NET_BIND_SERVICE; SO_BINDTODEVICE needed CAP_NET_RAW before Linux 5.7)"
    )]
    Socket {
        iface: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

/// Open the sockets for `config`. Fails if a named interface does not exist or a socket cannot be
/// bound; an interface without an address in a configured subnet is logged and still bound
/// (relayed requests may arrive on it).
pub fn bind(config: &DhcpConfig) -> Result<Vec<DhcpSocket>, BindError> {
    let mut sockets = Vec::new();
    for iface in &config.interfaces {
        if nix::net::if_::if_nametoindex(iface.as_str()).is_err() {
            return Err(BindError::NoSuchInterface(iface.clone()));
        }
        let iface_addr = interface_address(config, iface)?;
        match iface_addr {
            Some(addr) => tracing::info!(%iface, %addr, port = config.port, "dhcp: serving interface"),
            None => tracing::warn!(
                %iface,
                "dhcp: interface has no IPv4 address in a configured subnet; \
                 serving only relayed requests there"
            ),
        }
        let mut ports = vec![(config.port, PortKind::Server)];
        if config.mode == DhcpMode::Proxy {
            ports.push((PROXY_PORT, PortKind::Proxy));
        }
        for (port, kind) in ports {
            let socket =
                open(iface, port).map_err(|source| BindError::Socket { iface: iface.clone(), port, source })?;
            sockets.push(DhcpSocket::new(iface.clone(), iface_addr, kind, socket));
        }
    }
    Ok(sockets)
}

fn open(iface: &str, port: u16) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(iface.as_bytes()))?;
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The first IPv4 address of `iface` that lies in a configured subnet.
fn interface_address(config: &DhcpConfig, iface: &str) -> Result<Option<Ipv4Addr>, BindError> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(BindError::Interfaces)?;
    Ok(addrs
        .filter(|a| a.interface_name == iface)
        .filter_map(|a| Some(a.address?.as_sockaddr_in()?.ip()))
        .find(|ip| config.subnet_for(*ip).is_some()))
}
