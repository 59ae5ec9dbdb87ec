//! DHCP conformance on the wire (issue 12, point 14): the real `boot-service` binary in a network
//! namespace with a bridge, and clients in namespaces of their own, cabled by veth, speaking raw UDP from
//! Rust sockets. Requests are built with dhcproto (the codec, not our server logic); replies are read as
//! the bytes that arrived, with the address they were sent to (`IP_PKTINFO`), so option order, size and
//! broadcast-or-unicast are checked as a client or relay sees them.
//!
//! One named test per behaviour (RFC 2131, 3046, 4578, PXE): `lease` (DORA, server-id selection, NAK
//! rules, INIT-REBOOT), `bound` (RENEW, REBIND, RELEASE, DECLINE, INFORM), `relay` (giaddr:67 with option
//! 82 echoed last), `pxe` (iPXE 175/176, option 60/97 for firmware and none for iPXE, client identifier
//! ignored by design), `size` (option 57), `proxy` (proxyDHCP offers, port 4011). Each test has a service of its own, so leases never leak
//! between tests. They need root; under `RACKHAND_REQUIRE_NETNS` they fail rather than skip.

mod bound;
mod lease;
mod packet;
mod proxy;
mod pxe;
mod relay;
mod size;
mod wire;

use std::io::{Read, Write};
use std::net::TcpStream;
pub use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use boot_service::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};
use rackhand_netns::Netns;

pub use packet::{Msg, Reply};
pub use wire::Wire;

pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
/// The relay agent's address in the second subnet (giaddr), routed through its address on the bridge.
pub const RELAY_GIADDR: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
pub const RELAY_ON_BRIDGE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const LEASE_SECS: u32 = 600;
const BRIDGE: &str = "br0";

/// The subnets every service serves; `big` swaps in what overflows 576 octets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Lab,
    /// 60 DNS servers, a 150-byte domain, a public URL that makes the iPXE script URL ~170 bytes.
    Big,
    /// proxyDHCP: another server owns the addresses; this one answers boot clients only.
    Proxy,
}

pub const BIG_DNS_SERVERS: usize = 60;

/// `boot-service serve` inside a namespace of its own, on a bridge that clients are cabled to.
pub struct Service {
    pub ns: Netns,
    dir: tempfile::TempDir,
    child: Child,
    cables: std::cell::Cell<u8>,
}

impl Service {
    pub fn start(setup: Setup) -> Service {
        let ns = Netns::create("dhcpc").expect("server namespace");
        ns.bridge(BRIDGE).unwrap();
        ns.addr_up(BRIDGE, &format!("{SERVER}/24")).unwrap();
        ns.ip(&["route", "add", "10.88.0.0/24", "via", &RELAY_ON_BRIDGE.to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("config.toml"), config(dir.path(), setup)).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = ns
            .command(env!("CARGO_BIN_EXE_boot-service"))
            .args(["serve", "--config"])
            .arg(dir.path().join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting boot-service");
        let service = Service { ns, dir, child, cables: std::cell::Cell::new(0) };
        service.wait_healthy();
        service
    }

    /// `/healthz` answers once every listener is up (asked from a thread inside the namespace).
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.ns.spawn_inside(healthz).unwrap().join().unwrap().unwrap_or(false);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "boot-service did not come up:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A new port on the bridge: its name.
    fn next_port(&self) -> String {
        self.cables.set(self.cables.get() + 1);
        format!("port{}", self.cables.get())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthz() -> std::io::Result<bool> {
    let mut conn = TcpStream::connect_timeout(&(SERVER, 8080).into(), Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.write_all(b"GET /healthz HTTP/1.0\r\nHost: rackhand\r\n\r\n")?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    Ok(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"))
}

fn config(dir: &Path, setup: Setup) -> String {
    // What every service here shares: `[server]` and where HTTP listens.
    let service = |mode| {
        ConfigWriter::new(SERVER, dir, "conformance-admin-token", mode, [BRIDGE])
            .http_listen("0.0.0.0:8080".parse().unwrap())
    };
    let lab = SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto);
    let (dns, domain, url) = match setup {
        Setup::Proxy => return service(DhcpMode::Proxy).subnet(lab).render().unwrap(),
        Setup::Lab => (vec![SERVER], "rack.example".to_owned(), format!("http://{SERVER}:8080")),
        Setup::Big => (
            (1..=u8::try_from(BIG_DNS_SERVERS).unwrap()).map(|i| Ipv4Addr::new(10, 77, 1, i)).collect(),
            format!("{}.example", "d".repeat(142)),
            format!("http://{SERVER}:8080/{}", "u".repeat(120)),
        ),
    };
    let lab = lab
        .router(SERVER)
        .dns(dns)
        .domain(domain)
        .lease_secs(LEASE_SECS)
        .pool(POOL_START, Ipv4Addr::new(10, 77, 0, 120));
    let relayed = SubnetWriter::new("10.88.0.0/24".parse().unwrap(), Enrolment::Auto)
        .router(RELAY_GIADDR)
        .lease_secs(LEASE_SECS)
        .pool(Ipv4Addr::new(10, 88, 0, 50), Ipv4Addr::new(10, 88, 0, 60));
    service(DhcpMode::Full).public_url(url).subnet(lab).subnet(relayed).render().unwrap()
}

/// 52:54:00:c0:00:nn
pub fn mac(last: u8) -> [u8; 6] {
    [0x52, 0x54, 0, 0xc0, 0, last]
}
