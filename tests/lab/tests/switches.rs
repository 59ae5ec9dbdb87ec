//! The lab's switches without QEMU: both lldpds in a lab-like namespace (a bridge, a server's two taps on
//! it), the taps cabled as `VirtualServer::start` cables them, and each tap opened as QEMU opens it
//! (`/dev/net/tun`) to read what its NIC would hear, decoded by the installer's decoder.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use installer::observe::lldp::decode_lldp_frame;
use rackhand_api::LldpNeighbor;
use rackhand_lab::lab::BRIDGE;
use rackhand_lab::switch::{Switches, identity};
use rackhand_netns::{Netns, require_netns, skip_unless_required};

/// Attach to the existing tap `name` as QEMU does and return the first LLDP frame it is sent within `limit`.
fn first_lldp_on_tap(name: &str, limit: Duration) -> std::io::Result<Option<LldpNeighbor>> {
    let tun = File::options().read(true).write(true).custom_flags(libc::O_NONBLOCK).open("/dev/net/tun")?;
    // struct ifreq: the interface's name (16 bytes, NUL-terminated), then the flags (a short).
    let mut ifreq = [0u8; 40];
    ifreq[..name.len()].copy_from_slice(name.as_bytes());
    let flags = i16::try_from(libc::IFF_TAP | libc::IFF_NO_PI).expect("tun flags fit a short");
    ifreq[16..18].copy_from_slice(&flags.to_ne_bytes());
    #[allow(unsafe_code)]
    // SAFETY: TUNSETIFF reads and writes a struct ifreq (40 bytes on Linux); `ifreq` is that many bytes,
    // initialised, and outlives the call; the descriptor is open.
    let rc = unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, ifreq.as_mut_ptr()) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        match (&tun).read(&mut buf) {
            Ok(n) => {
                if let Ok(frame) = decode_lldp_frame(&buf[..n]) {
                    return Ok(Some(frame.neighbor));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[test]
fn a_servers_nics_hear_sw_a_and_sw_b_on_their_taps() {
    require_netns!();
    if let Some(reason) = rackhand_netns::lldpd::unavailable_reason() {
        return skip_unless_required(&reason);
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::create("labsw").unwrap();
    ns.bridge(BRIDGE).unwrap();
    let switches = Switches::start(&ns, dir.path()).unwrap();
    // Server 3's taps, then server 4's cabled through a handle attached later, as a detached lab's is.
    for (switches, index) in [(&switches, 3), (&Switches::attach(dir.path()), 4)] {
        for nic in [1u8, 2] {
            let tap = format!("s{index}n{nic}");
            ns.tap_on_bridge(&tap, BRIDGE).unwrap();
            switches.cable(nic, &tap, &format!("Ethernet{index}")).unwrap();
        }
    }
    for (index, nic) in [(3u8, 1u8), (3, 2), (4, 1), (4, 2)] {
        let tap = format!("s{index}n{nic}");
        let heard = ns.spawn_inside(move || first_lldp_on_tap(&tap, Duration::from_secs(5))).unwrap().join().unwrap();
        let neighbour = heard.unwrap().unwrap_or_else(|| panic!("nothing heard on s{index}n{nic}"));
        let switch = identity(nic);
        assert_eq!(
            neighbour,
            LldpNeighbor {
                chassis_id: switch.chassis_id,
                port_id: format!("Ethernet{index}"),
                system_name: Some(switch.name.into()),
                system_description: Some("Rackhand lab switch".into()),
                port_description: Some(format!("Ethernet{index}")),
                management_address: Some(switch.management_address),
            },
            "s{index}n{nic}"
        );
    }
}
