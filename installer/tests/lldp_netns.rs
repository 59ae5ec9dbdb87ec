//! The raw-socket LLDP listener against a real LLDP agent: Debian's lldpd runs in a `switch` namespace on
//! the peer end of a veth pair, configured as a switch is (system name, port ID, port description,
//! management address), and the `node` namespace listens.

use std::process::Stdio;
use std::time::Duration;

use installer::observe::lldp::{LldpListener, RawSocketListener};
use rackhand_api::LldpNeighbor;
use rackhand_netns::lldpd::{self, Lldpd};
use rackhand_netns::{Netns, require_netns, skip_unless_required, veth_pair};

const BIN: &str = env!("CARGO_BIN_EXE_installer");

/// Namespaces and lldpd are both here, else the test is skipped (or fails where it must run).
fn lldpd_available() -> bool {
    match lldpd::unavailable_reason() {
        Some(reason) => {
            skip_unless_required(&reason);
            false
        }
        None => true,
    }
}

/// A switch port: `iface` in `switch` gets `addresses`, and an lldpd on it says it is system `name`,
/// port ID the interface's name, port description `description`, reachable at `management` (lldpd's
/// management address pattern), sending every second.
fn start_switch(
    switch: &Netns,
    dir: &tempfile::TempDir,
    iface: &str,
    name: &str,
    description: &str,
    addresses: &[&str],
    management: &str,
) -> Lldpd {
    for address in addresses {
        switch.ip(&["addr", "add", address, "dev", iface, "nodad"]).unwrap();
    }
    let config = [
        format!("configure system hostname {name}"),
        "configure lldp tx-interval 1".into(),
        "configure lldp portidsubtype ifname".into(),
        format!("configure ports {iface} lldp portdescription \"{description}\""),
        format!("configure system ip management pattern {management}"),
    ];
    Lldpd::start(switch, dir.path(), name, iface, &config).unwrap()
}

fn mac_of(ns: &Netns, iface: &str) -> String {
    ns.exec("cat", &[&format!("/sys/class/net/{iface}/address")]).unwrap().trim().to_owned()
}

#[test]
fn listener_hears_lldpd_on_the_peer_end() {
    require_netns!();
    if !lldpd_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let switch = Netns::create("lldp-sw").unwrap();
    let node = Netns::create("lldp-node").unwrap();
    veth_pair(&switch, "swp7", &node, "eth0").unwrap();
    let listener = node
        .command(BIN)
        .args(["lldp-listen", "--iface", "eth0", "--wait", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addresses = ["192.0.2.7/24", "2001:db8::7/64"];
    let _lldpd = start_switch(&switch, &dir, "swp7", "sw-test", "rack7 u12 server", &addresses, "192.0.2.7");
    let out = listener.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "listener heard nothing; lldpd's log: {:?}",
        std::fs::read_to_string(dir.path().join("sw-test.log"))
    );
    let neighbor: LldpNeighbor = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(neighbor.chassis_id, mac_of(&switch, "swp7"), "lldpd's chassis ID: its interface's MAC");
    assert_eq!(neighbor.port_id, "swp7");
    assert_eq!(neighbor.port_description.as_deref(), Some("rack7 u12 server"));
    assert_eq!(neighbor.system_name.as_deref(), Some("sw-test"));
    assert!(neighbor.system_description.as_deref().is_some_and(|d| d.contains("Linux")), "{neighbor:?}");
    assert_eq!(neighbor.management_address.as_deref(), Some("192.0.2.7"));
}

#[test]
fn listener_gives_up_at_its_deadline() {
    require_netns!();
    let switch = Netns::create("lldp-quiet").unwrap();
    let node = Netns::create("lldp-quiet-node").unwrap();
    veth_pair(&switch, "swp1", &node, "eth0").unwrap();
    let started = std::time::Instant::now();
    let out = node.command(BIN).args(["lldp-listen", "--iface", "eth0", "--wait", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The in-process listener (threads per NIC) used by `observe_inventory`, run inside the node namespace
/// by re-executing this test binary there; each NIC is cabled to a switch of its own, the second
/// reachable over IPv6 only.
#[test]
fn raw_socket_listener_reports_per_interface() {
    if std::env::var_os("RACKHAND_LLDP_CHILD").is_some() {
        let heard = RawSocketListener.neighbors(&["eth0".into(), "eth1".into()], Duration::from_secs(8));
        println!("{}", serde_json::to_string(&heard).unwrap());
        return;
    }
    require_netns!();
    if !lldpd_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sw_a = Netns::create("lldp-a").unwrap();
    let sw_b = Netns::create("lldp-b").unwrap();
    let node = Netns::create("lldp-two").unwrap();
    veth_pair(&sw_a, "swp1", &node, "eth0").unwrap();
    veth_pair(&sw_b, "swp1", &node, "eth1").unwrap();
    let me = std::env::current_exe().unwrap();
    let child = node
        .command(me.to_str().unwrap())
        .args(["--exact", "raw_socket_listener_reports_per_interface", "--nocapture", "--test-threads=1"])
        .env("RACKHAND_LLDP_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _switches = [
        start_switch(&sw_a, &dir, "swp1", "sw-a", "server 1 NIC 1", &["192.0.2.1/24"], "192.0.2.1"),
        start_switch(&sw_b, &dir, "swp1", "sw-b", "server 1 NIC 2", &["2001:db8::b/64"], "2001:db8::b"),
    ];
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness prints `test NAME ... ` before the child's JSON on the same line.
    let line = stdout
        .lines()
        .find_map(|l| l.find('{').map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("child printed no JSON: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let heard: std::collections::BTreeMap<String, LldpNeighbor> = serde_json::from_str(line).unwrap();
    assert_eq!(heard["eth0"].system_name.as_deref(), Some("sw-a"));
    assert_eq!(heard["eth0"].management_address.as_deref(), Some("192.0.2.1"));
    assert_eq!(heard["eth1"].system_name.as_deref(), Some("sw-b"));
    assert_eq!(heard["eth1"].port_description.as_deref(), Some("server 1 NIC 2"));
    assert_eq!(heard["eth1"].management_address.as_deref(), Some("2001:db8::b"));
    assert_ne!(heard["eth0"].chassis_id, heard["eth1"].chassis_id);
}
