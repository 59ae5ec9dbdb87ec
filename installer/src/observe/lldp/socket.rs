//! Raw AF_PACKET sockets bound to one interface and the LLDP ethertype.

use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rackhand_api::MacAddr;
use socket2::Socket;

use super::frame::{ETH_P_LLDP, LLDP_MULTICAST, LldpFrame, decode_lldp_frame};

/// Wait up to `window` on `iface` for the first valid LLDP frame.
pub fn listen_one(iface: &str, window: Duration) -> io::Result<Option<LldpFrame>> {
    let socket = open(iface)?;
    // A packet socket also sees frames this host sends (an lldpd of its own): skip those.
    let own_mac = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))
        .ok()
        .and_then(|m| m.trim().parse::<MacAddr>().ok());
    let deadline = Instant::now() + window;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match (&socket).read(&mut buf) {
            Ok(n) => {
                if let Ok(frame) = decode_lldp_frame(&buf[..n])
                    && Some(frame.source) != own_mac
                {
                    return Ok(Some(frame));
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn open(iface: &str) -> io::Result<Socket> {
    let index = nix::net::if_::if_nametoindex(iface)
        .map_err(|e| io::Error::new(io::ErrorKind::NotFound, format!("interface {iface}: {e}")))?;
    let index = i32::try_from(index).map_err(io::Error::other)?;
    Ok(Socket::from(packet_socket(index)?))
}

/// An AF_PACKET/SOCK_RAW socket bound to `ifindex` for ETH_P_LLDP, joined to the LLDP multicast group.
#[allow(unsafe_code)]
fn packet_socket(ifindex: i32) -> io::Result<OwnedFd> {
    let protocol = ETH_P_LLDP.to_be();
    // libc has these as c_int; sockaddr_ll and packet_mreq hold them as u16.
    let family = u16::try_from(libc::AF_PACKET).expect("AF_PACKET is 17");
    let multicast = u16::try_from(libc::PACKET_MR_MULTICAST).expect("PACKET_MR_MULTICAST is 0");
    // SAFETY: plain syscalls on a descriptor we own. `addr` and `mreq` are fully initialised (zeroed,
    // then the fields the kernel reads are set) and outlive the calls; their sizes are passed exactly.
    // The descriptor is wrapped in OwnedFd right after creation so every error path closes it.
    unsafe {
        let raw = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(protocol));
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = family;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = ifindex;
        let addr_len = socklen_of::<libc::sockaddr_ll>();
        if libc::bind(raw, (&raw const addr).cast(), addr_len) < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut mreq: libc::packet_mreq = std::mem::zeroed();
        mreq.mr_ifindex = ifindex;
        mreq.mr_type = multicast;
        mreq.mr_alen = 6;
        mreq.mr_address[..6].copy_from_slice(&LLDP_MULTICAST.octets());
        let mreq_len = socklen_of::<libc::packet_mreq>();
        if libc::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, (&raw const mreq).cast(), mreq_len) < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// The size of `T` as socket calls take it: sockaddr_ll is 20 bytes, packet_mreq 16.
fn socklen_of<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).expect("socket structures are a few bytes")
}
