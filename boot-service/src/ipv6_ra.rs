//! IPv6 "no router here" advertisements on the served interfaces.
//!
//! iPXE (and most installers' network stacks) configure IPv6 alongside DHCPv4 and wait 13–16 s for a
//! router advertisement before giving up. On a provisioning network without IPv6 that wait happens on
//! every boot. An advertisement with router lifetime 0, no flags and no prefixes says "there is no IPv6
//! router and no DHCPv6", so clients finish at once. Sent unsolicited every second, which also covers
//! clients whose router solicitation came before we were listening.
//!
//! The sockets are raw ICMPv6 sockets, which need `CAP_NET_RAW`: they are opened with the other listeners,
//! before the service reports ready, and a refusal fails start-up naming the capability ([`open`]).

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How often the advertisement is sent.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// An ICMPv6 Router Advertisement (RFC 4861 §4.2) with router lifetime 0 and no options. The kernel
/// fills in the checksum for ICMPv6 raw sockets.
pub fn null_router_advertisement() -> [u8; 16] {
    [
        134, 0, // type: router advertisement, code 0
        0, 0,  // checksum (kernel)
        64, // current hop limit
        0,  // flags: no managed, no other configuration
        0, 0, // router lifetime 0: not a default router
        0, 0, 0, 0, // reachable time: unspecified
        0, 0, 0, 0, // retransmit timer: unspecified
    ]
}

fn open_one(iface: &str) -> std::io::Result<(Socket, u32)> {
    let index = nix::net::if_::if_nametoindex(iface).map_err(std::io::Error::from)?;
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    socket.bind_device(Some(iface.as_bytes()))?;
    // Neighbour discovery messages must leave with hop limit 255 or receivers drop them.
    socket.set_multicast_hops_v6(255)?;
    socket.set_multicast_if_v6(index)?;
    socket.set_nonblocking(true)?;
    Ok((socket, index))
}

/// A raw ICMPv6 socket was refused: the process lacks `CAP_NET_RAW`.
#[derive(Debug, thiserror::Error)]
#[error(
    "[dhcp] ipv6_null_router_advertisements: opening a raw ICMPv6 socket on `{iface}`: {source} \
     (raw sockets need CAP_NET_RAW)"
)]
pub struct NotPermitted {
    iface: String,
    #[source]
    source: std::io::Error,
}

/// The served interfaces with the socket each advertises on, or none yet.
#[derive(Debug)]
pub struct Advertisers {
    sockets: Vec<(String, Option<(Socket, u32)>)>,
}

/// Open a socket on each interface before the service says it is ready, so a missing privilege fails
/// start-up instead of leaving every client waiting for an advertisement that never comes. Any other
/// failure (IPv6 disabled, no link-local address yet) leaves that interface to be retried by [`serve`].
pub fn open(interfaces: Vec<String>) -> Result<Advertisers, NotPermitted> {
    let mut sockets = Vec::with_capacity(interfaces.len());
    for iface in interfaces {
        let slot = match open_one(&iface) {
            Ok(opened) => Some(opened),
            Err(source) if source.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(NotPermitted { iface, source });
            }
            Err(err) => {
                tracing::debug!(%iface, %err, "ipv6 ra: cannot open socket yet");
                None
            }
        };
        sockets.push((iface, slot));
    }
    Ok(Advertisers { sockets })
}

/// Advertise on each interface every [`INTERVAL`] until `shutdown`. An interface that cannot send
/// (IPv6 disabled, no link-local address yet) is retried quietly; it never stops the service.
pub async fn serve(advertisers: Advertisers, shutdown: impl Future<Output = ()>) {
    let packet = null_router_advertisement();
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut sockets = advertisers.sockets;
    let mut ticker = tokio::time::interval(INTERVAL);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        for (iface, slot) in &mut sockets {
            if slot.is_none() {
                match open_one(iface) {
                    Ok(opened) => *slot = Some(opened),
                    Err(err) => {
                        tracing::debug!(%iface, %err, "ipv6 ra: cannot open socket yet");
                        continue;
                    }
                }
            }
            if let Some((socket, index)) = slot {
                let to = SockAddr::from(SocketAddrV6::new(all_nodes, 0, 0, *index));
                if let Err(err) = socket.send_to(&packet, &to) {
                    tracing::debug!(%iface, %err, "ipv6 ra: send failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_says_no_router_and_no_dhcpv6() {
        let ra = null_router_advertisement();
        assert_eq!(ra[0], 134, "router advertisement");
        assert_eq!(ra[5] & 0xc0, 0, "neither managed nor other-config: no DHCPv6");
        assert_eq!(u16::from_be_bytes([ra[6], ra[7]]), 0, "router lifetime 0: not a default router");
        assert_eq!(ra.len(), 16, "no options, so no prefixes");
    }
}
