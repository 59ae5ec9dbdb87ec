//! The installer's network code in namespaces: DHCP with busybox udhcpc and the installer's script (from
//! a busybox udhcpd on the peer end), and `installer apply-bond` naming a missing leg. Without root or
//! busybox these SKIP with the reason, and fail instead under RACKHAND_REQUIRE_NETNS (a root CI run),
//! where every test runs or fails.
//!
//! A working bond needs the kernel's bonding driver, which the CI machines' kernel lacks: the bond
//! keeping a transfer going when its primary leg drops is tested inside the QEMU lab on Debian's kernel
//! (`tests/lab/tests/e2e.rs`, the Intel link cut mid-download: the image still verifies on both
//! members and the running bond is on the Realtek).

use std::process::Stdio;

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
