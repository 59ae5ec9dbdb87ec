//! Two real `boot-service` instances on one segment and one PostgreSQL, naming each other as peers, each
//! in a namespace of its own cabled to one switch (a bridge), with busybox `udhcpc` clients cabled to the
//! same switch: each client is answered by one instance only (its MAC's owner, RFC 3074); SIGKILL one
//! instance and the other answers its clients within seconds with the addresses they had; restarted, it
//! takes them back. And two clients racing for a pool's last address through the two instances: one
//! gets it, the other none.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use boot_service::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};
use boot_service::dhcp::{BEAT_EVERY, Live, Members, SILENT_AFTER};
use rackhand_api::MacAddr;
use rackhand_netns::client::{DhcpClient, FIRMWARE};
use rackhand_netns::service::start_until_up;
use rackhand_netns::{Netns, require_netns, veth_pair};

const BRIDGE: &str = "br0";
const ADDRESSES: [&str; 2] = ["10.77.0.1", "10.77.0.2"];

fn url(i: usize) -> String {
    format!("http://{}:8080", ADDRESSES[i])
}

/// One instance: its namespace, cabled to the switch as `eth0`.
struct Instance {
    ns: Netns,
    dir: tempfile::TempDir,
    child: Option<Child>,
    address: &'static str,
}

impl Instance {
    fn start(switch: &Netns, i: usize, postgres: &str, pool_end: Ipv4Addr) -> Instance {
        let ns = Netns::create("bpeer").expect("instance namespace");
        veth_pair(switch, &format!("inst{i}"), &ns, "eth0").unwrap();
        switch.ip(&["link", "set", &format!("inst{i}"), "master", BRIDGE]).unwrap();
        ns.addr_up("eth0", &format!("{}/24", ADDRESSES[i])).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("config.toml"), config(dir.path(), i, postgres, pool_end)).unwrap();
        let mut instance = Instance { ns, dir, child: None, address: ADDRESSES[i] };
        instance.spawn();
        instance
    }

    fn spawn(&mut self) {
        let mut command = self.ns.command(env!("CARGO_BIN_EXE_boot-service"));
        command.args(["serve", "--config"]).arg(self.dir.path().join("config.toml"));
        let healthz = format!("http://{}:8080/healthz", self.address);
        let up = || self.ns.exec("curl", &["-sf", &healthz]).is_ok();
        let log = self.dir.path().join("log");
        self.child = Some(start_until_up(command, &log, Duration::from_secs(30), up).expect("boot-service comes up"));
    }

    /// SIGKILL: the instance dies between two instructions; its heartbeat stops with it.
    fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A line of the instance's Prometheus metrics starting with `prefix`, its value (0 when absent).
    fn metric(&self, prefix: &str) -> f64 {
        let text = self.ns.exec("curl", &["-sf", &format!("http://{}:8080/metrics", self.address)]).unwrap();
        text.lines().find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok()).unwrap_or(0.0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn config(dir: &Path, i: usize, postgres: &str, pool_end: Ipv4Addr) -> String {
    let me: Ipv4Addr = ADDRESSES[i].parse().unwrap();
    let subnet = SubnetWriter::new("10.77.0.0/24".parse().unwrap(), Enrolment::Auto)
        .router(Ipv4Addr::new(10, 77, 0, 1))
        .lease_secs(600)
        .pool(Ipv4Addr::new(10, 77, 0, 100), pool_end);
    ConfigWriter::new(me, dir, "netns-test-admin-token", DhcpMode::Full, ["eth0"])
        .http_listen("0.0.0.0:8080".parse().unwrap())
        .public_url(url(i))
        .peers([url(1 - i)])
        .store_postgres(postgres)
        .subnet(subnet)
        .render()
        .unwrap()
}

/// The switch and both instances on one fresh database, each having seen the other beat.
fn segment(postgres: &str, pool_end: Ipv4Addr) -> (Netns, [Instance; 2]) {
    let switch = Netns::create("bswitch").expect("switch namespace");
    switch.bridge(BRIDGE).unwrap();
    let instances = [0, 1].map(|i| Instance::start(&switch, i, postgres, pool_end));
    std::thread::sleep(BEAT_EVERY * 3);
    (switch, instances)
}

fn cable(switch: &Netns, port: usize, mac: MacAddr) -> DhcpClient {
    DhcpClient::cable(switch, BRIDGE, &format!("port{port}"), Some(&mac.to_string())).expect("a client cabled")
}

/// The first of many candidate MACs whose owner, with both instances alive, is instance `i`.
fn mac_owned_by(i: usize) -> MacAddr {
    let members = Members::new(&url(0), &[url(1)]);
    (1..=255u8)
        .map(|last| MacAddr::new([0x52, 0x54, 0, 0xbb, 0, last]))
        .find(|mac| members.owner(*mac, Live(0b11)) == i)
        .expect("some MAC of 255 hashes to each instance")
}

const OFFERS: &str = "rackhand_dhcp_replies_total{msg_type=\"offer\"}";
const NOT_MINE: &str = "rackhand_dhcp_dropped_total{reason=\"peer_share\"}";

#[test]
fn two_instances_split_the_clients_and_one_takes_over_when_the_other_is_killed() {
    require_netns!();
    rackhand_test_postgres::require_postgres!(postgres);
    let (switch, [mut a, b]) = segment(&postgres.database(), Ipv4Addr::new(10, 77, 0, 120));
    let clients = [cable(&switch, 1, mac_owned_by(0)), cable(&switch, 2, mac_owned_by(1))];

    let leases: Vec<String> = clients
        .iter()
        .zip([&a, &b])
        .map(|(client, owner)| {
            let lease = client.dhcp(&FIRMWARE);
            assert_eq!(lease.get("serverid"), owner.address, "its owner answered: {}", lease.0);
            lease.get("ip").to_owned()
        })
        .collect();
    assert_ne!(leases[0], leases[1]);
    // Each instance offered to its own client only, and heard (and left) the other's.
    for (instance, name) in [(&a, "A"), (&b, "B")] {
        assert_eq!(instance.metric(OFFERS), 1.0, "{name} made one offer:\n{}", instance.log());
        assert!(instance.metric(NOT_MINE) >= 2.0, "{name} left the other's DISCOVER and REQUEST alone");
    }

    // A dies. Within SILENT_AFTER and a beat or two, B answers A's client, with the address it had.
    a.kill();
    let killed = Instant::now();
    std::thread::sleep(SILENT_AFTER + BEAT_EVERY * 2);
    let lease = clients[0].dhcp(&FIRMWARE);
    assert_eq!((lease.get("serverid"), lease.get("ip")), (b.address, leases[0].as_str()), "{}", lease.0);
    eprintln!("B answered A's client {:.1} s after A was killed", killed.elapsed().as_secs_f64());
    assert!(b.log().contains("instance silent"), "B said it took over:\n{}", b.log());

    // A comes back: it answers its client again, still with the same address.
    a.spawn();
    std::thread::sleep(BEAT_EVERY * 3);
    let lease = clients[0].dhcp(&FIRMWARE);
    assert_eq!((lease.get("serverid"), lease.get("ip")), (a.address, leases[0].as_str()), "{}", lease.0);
    let lease = clients[1].dhcp(&FIRMWARE);
    assert_eq!((lease.get("serverid"), lease.get("ip")), (b.address, leases[1].as_str()), "{}", lease.0);
}

#[test]
fn two_clients_racing_for_the_last_address_through_two_instances_one_gets_it() {
    require_netns!();
    rackhand_test_postgres::require_postgres!(postgres);
    let database = postgres.database();
    // A pool of one address: both instances offer it (A's slice of it is empty, so A uses the pool's).
    let (switch, [a, b]) = segment(&database, Ipv4Addr::new(10, 77, 0, 100));
    let clients = [cable(&switch, 1, mac_owned_by(0)), cable(&switch, 2, mac_owned_by(1))];
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let racing: Vec<_> = clients
            .iter()
            .map(|client| {
                scope.spawn(move || {
                    let script = client.dir.path().join("udhcpc.sh");
                    let script = script.to_str().unwrap();
                    let args = ["udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "2", "-s", script];
                    client.ns.exec("busybox", &args).map_err(|e| e.to_string())
                })
            })
            .collect();
        racing.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "exactly one client got the last address: {results:?}");
    assert!(won[0].contains("ip=10.77.0.100"), "{}", won[0]);
    let store = boot_service::store::PostgresStore::open(&database).unwrap();
    let stored = boot_service::store::Store::leases(&store).unwrap();
    assert_eq!(stored.len(), 1, "one lease in the database: {stored:?}");
    drop((a, b));
}
