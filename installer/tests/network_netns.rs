//! The installer's network code in namespaces: DHCP with busybox udhcpc and the installer's script (from
//! a busybox udhcpd on the peer end), and the active-backup bond built over rtnetlink by
//! `installer apply-bond`, which must keep a TCP transfer going when its primary leg goes down.
//! Without root, busybox or a kernel that can make bonds these SKIP with the reason, and fail instead
//! under RACKHAND_REQUIRE_NETNS (a root CI run), where every test runs or fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rackhand_netns::{Netns, require_netns, veth_pair};

const BIN: &str = env!("CARGO_BIN_EXE_installer");

fn busybox() -> Option<&'static str> {
    ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| std::path::Path::new(p).exists())
}

/// A busybox udhcpd on `iface` inside `ns`, handing out 10.99.5.50-60 with router 10.99.5.1.
fn udhcpd(ns: &Netns, iface: &str, dir: &std::path::Path, busybox: &str) -> std::process::Child {
    let conf = dir.join("udhcpd.conf");
    let leases = dir.join("udhcpd.leases");
    std::fs::write(&leases, "").unwrap();
    let text = format!(
        "start 10.99.5.50\nend 10.99.5.60\ninterface {iface}\nlease_file {}\noption subnet 255.255.255.0\n\
         option router 10.99.5.1\n",
        leases.display()
    );
    std::fs::write(&conf, text).unwrap();
    ns.command(busybox).args(["udhcpd", "-f"]).arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

#[test]
fn dhcp_configures_address_and_default_route_with_the_installer_script() {
    require_netns!();
    let Some(busybox) = busybox() else {
        return rackhand_netns::skip_unless_required("no busybox for udhcpd (apt-get install busybox-static)");
    };
    let server = Netns::create("dhcp-srv").unwrap();
    let node = Netns::create("dhcp-node").unwrap();
    veth_pair(&server, "swp1", &node, "eth0").unwrap();
    server.addr_up("swp1", "10.99.5.1/24").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = udhcpd(&server, "swp1", dir.path(), busybox);
    let state = dir.path().join("node");
    let out = node
        .command(BIN)
        .args(["dhcp", "--iface", "eth0", "--tries", "5", "--dir", state.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // udhcpd picks from its pool by the (random) veth MAC: any of .50 to .60.
    let lease = String::from_utf8_lossy(&out.stdout);
    let address = lease.split('/').next().unwrap_or_default();
    let host: u8 = address.strip_prefix("10.99.5.").and_then(|h| h.parse().ok()).unwrap_or(0);
    assert!((50..=60).contains(&host) && lease.contains("/24 10.99.5.1"), "{lease}");
    let addr = node.ip(&["-4", "addr", "show", "dev", "eth0"]).unwrap();
    assert!(addr.contains(&format!("inet {address}/24")), "{addr}");
    let route = node.ip(&["route", "show", "default"]).unwrap();
    assert!(route.contains("default via 10.99.5.1 dev eth0"), "{route}");
    node.exec("ping", &["-c", "1", "-W", "2", "10.99.5.1"]).unwrap();
}

/// Whether this kernel can make bonds (a throwaway one inside `ns`).
fn bonding_unavailable(ns: &Netns) -> Option<String> {
    let _ = Command::new("modprobe").arg("bonding").output();
    match ns.ip(&["link", "add", "probe0", "type", "bond"]) {
        Ok(_) => {
            let _ = ns.ip(&["link", "del", "probe0"]);
            None
        }
        Err(e) => Some(format!(
            "this kernel cannot make bonds (built without CONFIG_BONDING, or `modprobe bonding` found no module): {e}"
        )),
    }
}

#[test]
fn bond_survives_losing_its_primary_leg_mid_transfer() {
    require_netns!();
    let switch = Netns::create("bond-sw").unwrap();
    let node = Netns::create("bond-node").unwrap();
    if let Some(reason) = bonding_unavailable(&node) {
        return rackhand_netns::skip_unless_required(&reason);
    }
    switch.bridge("br0").unwrap();
    for (sw, leg) in [("swp1", "eth0"), ("swp2", "eth1")] {
        veth_pair(&switch, sw, &node, leg).unwrap();
        switch.ip(&["link", "set", sw, "master", "br0"]).unwrap();
    }
    switch.addr_up("br0", "10.99.6.1/24").unwrap();
    let out = node
        .command(BIN)
        .args(["apply-bond", "--legs", "eth0,eth1", "--mode", "active-backup", "--primary", "eth0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "apply-bond: {}", String::from_utf8_lossy(&out.stderr));
    let details = node.ip(&["-d", "link", "show", "bond0"]).unwrap();
    assert!(details.contains("mode active-backup") && details.contains("miimon 100"), "{details}");
    assert!(details.contains("primary eth0"), "{details}");
    for leg in ["eth0", "eth1"] {
        assert!(node.ip(&["link", "show", leg]).unwrap().contains("master bond0"), "{leg} not enslaved");
    }
    node.addr_up("bond0", "10.99.6.2/24").unwrap();
    node.exec("ping", &["-c", "1", "-W", "3", "10.99.6.1"]).unwrap();

    const CHUNK: usize = 64 << 10;
    const CHUNKS: usize = 80; // 5 MiB over about 2 s
    let receiver = switch
        .spawn_inside(|| {
            let listener = TcpListener::bind("10.99.6.1:5001")?;
            let (mut stream, _) = listener.accept()?;
            let mut total = 0usize;
            let mut buf = vec![0u8; CHUNK];
            loop {
                match stream.read(&mut buf)? {
                    0 => return Ok(total),
                    n => total += n,
                }
            }
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sender = node
        .spawn_inside(|| {
            let mut stream = TcpStream::connect("10.99.6.1:5001")?;
            let chunk = vec![0x5a_u8; CHUNK];
            for _ in 0..CHUNKS {
                stream.write_all(&chunk)?;
                std::thread::sleep(Duration::from_millis(25));
            }
            stream.shutdown(std::net::Shutdown::Write)?;
            Ok(CHUNK * CHUNKS)
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    node.ip(&["link", "set", "eth0", "down"]).unwrap();
    let started = Instant::now();
    let sent = sender.join().unwrap().expect("the sender kept going after eth0 went down");
    let received = receiver.join().unwrap().expect("the receiver got the whole stream");
    assert_eq!(received, sent);
    assert!(started.elapsed() < Duration::from_secs(30));
    let after = node.ip(&["-d", "link", "show", "bond0"]).unwrap();
    assert!(after.contains("active_slave eth1"), "failed over to eth1: {after}");
}

/// Runs on any kernel: the netlink path (runtime, link lookup) fails clearly, naming the missing leg.
#[test]
fn apply_bond_names_a_missing_leg() {
    require_netns!();
    let node = Netns::create("bond-missing").unwrap();
    let out = node.command(BIN).args(["apply-bond", "--legs", "nosuch0,lo", "--primary", "nosuch0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("creating bond0") && err.contains("finding interface nosuch0"), "{err}");
    assert!(!node.ip(&["link", "show"]).unwrap().contains("bond0"), "no half-built bond left behind");
}
