//! A machine on a test's provisioning network: a namespace whose `eth0` is cabled to a bridge in the
//! server's namespace, with busybox's DHCP client, and an ear for IPv6 router advertisements. Used by
//! the boot service's namespace test and the Debian package's test.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{Netns, veth_pair};

/// PXE firmware's DHCP options, as udhcpc arguments: vendor class `PXEClient` and architecture 0 (BIOS).
pub const FIRMWARE: [&str; 4] = ["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"];

pub struct DhcpClient {
    pub ns: Netns,
    script: PathBuf,
    /// Holds the lease script, and room for the test's own files.
    pub dir: tempfile::TempDir,
}

impl DhcpClient {
    /// A new namespace whose `eth0` (with `mac`, if given) is cabled to `bridge` in `server` through the
    /// server-side port `port`.
    pub fn cable(server: &Netns, bridge: &str, port: &str, mac: Option<&str>) -> io::Result<DhcpClient> {
        let ns = Netns::create("dcli")?;
        veth_pair(server, port, &ns, "eth0")?;
        server.ip(&["link", "set", port, "master", bridge])?;
        if let Some(mac) = mac {
            ns.ip(&["link", "set", "eth0", "address", mac])?;
        }
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("udhcpc.sh");
        // udhcpc hands the lease to this script in environment variables; print them and configure eth0.
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = bound ] || exit 0\n\
             echo \"ip=$ip siaddr=$siaddr serverid=$serverid boot_file=$boot_file router=$router lease=$lease\"\n\
             ip addr flush dev \"$interface\"\nip addr add \"$ip/$mask\" dev \"$interface\"\n",
        )?;
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        Ok(DhcpClient { ns, script, dir })
    }

    /// One DHCP exchange (DISCOVER/OFFER/REQUEST/ACK) with the given extra udhcpc options; the lease.
    /// Panics, with udhcpc's words, when it gets none: a test helper.
    pub fn dhcp(&self, extra: &[&str]) -> Lease {
        let script = self.script.to_str().expect("a UTF-8 temporary path");
        let mut args = vec!["udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "2", "-s", script];
        args.extend_from_slice(extra);
        let out = self.ns.exec("busybox", &args).expect("udhcpc got a lease");
        let line = out.lines().find(|l| l.starts_with("ip=")).unwrap_or_else(|| panic!("no lease in: {out}"));
        Lease(line.to_owned())
    }

    /// An ICMPv6 router advertisement heard on `eth0` within `wait`: its bytes.
    pub fn router_advertisement(&self, wait: Duration) -> io::Result<Vec<u8>> {
        self.ns
            .spawn_inside(move || receive_router_advertisement(wait))?
            .join()
            .map_err(|_| io::Error::other("the listener panicked"))?
    }
}

/// The fields udhcpc gave the lease script, as one `key=value ...` line.
pub struct Lease(pub String);

impl Lease {
    /// A field's value; empty when udhcpc gave none.
    pub fn get(&self, key: &str) -> &str {
        self.0.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).unwrap_or("")
    }
}

/// Run inside the listening namespace: the first ICMPv6 router advertisement (type 134) within `wait`.
fn receive_router_advertisement(wait: Duration) -> io::Result<Vec<u8>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        let Ok(len) = io::Read::read(&mut &socket, &mut buf) else { continue };
        if buf[..len].first() == Some(&134) {
            return Ok(buf[..len].to_vec());
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no router advertisement"))
}
