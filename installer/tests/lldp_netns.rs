//! The raw-socket LLDP listener and sender, across a veth pair between two network namespaces: the
//! `switch` namespace sends with `installer lldp-send`, the `node` namespace listens.

use std::process::Stdio;
use std::time::Duration;

use installer::observe::lldp::{LldpListener, RawSocketListener};
use rackhand_api::LldpNeighbor;
use rackhand_netns::{Netns, require_netns, veth_pair};

const BIN: &str = env!("CARGO_BIN_EXE_installer");

fn start_switch(switch: &Netns, iface: &str, name: &str) -> std::process::Child {
    switch
        .command(BIN)
        .args(["lldp-send", "--iface", iface, "--chassis", name, "--port", "swp7"])
        .args(["--system-name", name, "--count", "40", "--interval-ms", "100"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn listener_hears_the_frame_sent_from_the_peer_end() {
    require_netns!();
    let switch = Netns::create("lldp-sw").unwrap();
    let node = Netns::create("lldp-node").unwrap();
    veth_pair(&switch, "swp7", &node, "eth0").unwrap();
    let listener = node
        .command(BIN)
        .args(["lldp-listen", "--iface", "eth0", "--wait", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut sender = start_switch(&switch, "swp7", "sw-a");
    let out = listener.wait_with_output().unwrap();
    let _ = sender.kill();
    let _ = sender.wait();
    assert!(out.status.success(), "listener heard nothing");
    let neighbor: LldpNeighbor = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(neighbor.chassis_id, "sw-a");
    assert_eq!(neighbor.port_id, "swp7");
    assert_eq!(neighbor.system_name.as_deref(), Some("sw-a"));
    assert_eq!(neighbor.system_description.as_deref(), Some("Rackhand lab switch"));
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
/// by re-executing this test binary there.
#[test]
fn raw_socket_listener_reports_per_interface() {
    if std::env::var_os("RACKHAND_LLDP_CHILD").is_some() {
        let heard = RawSocketListener.neighbors(&["eth0".into(), "eth1".into()], Duration::from_secs(8));
        println!("{}", serde_json::to_string(&heard).unwrap());
        return;
    }
    require_netns!();
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
    std::thread::sleep(Duration::from_millis(300));
    let mut senders = [start_switch(&sw_a, "swp1", "sw-a"), start_switch(&sw_b, "swp1", "sw-b")];
    let out = child.wait_with_output().unwrap();
    for s in &mut senders {
        let _ = s.kill();
        let _ = s.wait();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness prints `test NAME ... ` before the child's JSON on the same line.
    let line = stdout
        .lines()
        .find_map(|l| l.find('{').map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("child printed no JSON: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let heard: std::collections::BTreeMap<String, LldpNeighbor> = serde_json::from_str(line).unwrap();
    assert_eq!(heard["eth0"].system_name.as_deref(), Some("sw-a"));
    assert_eq!(heard["eth1"].system_name.as_deref(), Some("sw-b"));
}
