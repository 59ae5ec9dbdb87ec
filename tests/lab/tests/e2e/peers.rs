//! Two boot-service instances on one PostgreSQL: the instance serving a server is killed while the
//! server streams its image; the server finishes through the other, boots its disk and reports ready;
//! both instances show the same history, and the killed one, started again, has lost nothing.

use boot_service::dhcp::{Live, Members};
use boot_service::store::{PostgresStore, Store};
use rackhand_api::EventKind;

use super::*;

#[test]
fn killed_mid_image_the_server_finishes_through_the_other_instance_and_both_show_its_history() {
    let Some(env) = lab_env() else { return };
    rackhand_test_postgres::require_postgres!(postgres);
    let database = postgres.database();
    let _slot = Slot::take();
    let base = rackhand_lab::lab_dir().join("e2e");
    let mut lab = Lab::up_pair(&base, &env.boot_service, &env.assets, &env.images, &database).expect("lab up");
    lab.clean_up_on_success();
    let spec = ServerSpec::standard("two-instances", 11);
    let mac = spec.mac(1);
    // The instance that answers this server's DHCP, and so serves its script, its installer's reports and
    // its image: its MAC's owner.
    let members = Members::new(&lab.instance_url(0), &[lab.instance_url(1)]);
    let (serving, other) = {
        let owner = members.owner(mac, Live(0b11));
        let serving = members.urls()[owner].clone();
        let index = |url: &str| (0..2).find(|&i| lab.instance_url(i) == url).expect("a lab instance");
        (index(&serving), 1 - index(&serving))
    };
    lab.read_from(serving);
    let mut server = VirtualServer::start(&lab, &spec, env.accel).expect("server start");
    server
        .wait_for_serial("rackhand: step image", INSTALL_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", server.serial_tail(80), lab.service_log()));
    // Kill it as soon as the first part of the image has streamed (the installer's first progress report).
    let streaming = |node: &NodeRecord| {
        node.events.iter().any(|e| {
            matches!(&e.kind, EventKind::Progress(p) if p.step == "image" && p.status == rackhand_api::StepStatus::Running)
        })
    };
    let deadline = std::time::Instant::now() + INSTALL_LIMIT;
    let at_kill = loop {
        let node = lab.node_by_mac(&mac.to_string()).unwrap().expect("node known");
        if streaming(&node) {
            break node;
        }
        assert!(std::time::Instant::now() < deadline, "the image never streamed: {node:#?}\n{}", lab.service_log());
        std::thread::sleep(Duration::from_millis(200));
    };
    lab.kill_instance(serving);
    // The kill must land while the image is still streaming, or this test proves nothing.
    let image_done = at_kill.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Progress(p) if p.step == "image" && p.status == rackhand_api::StepStatus::Done)
    });
    assert!(!image_done, "the image finished before the instance was killed");

    lab.read_from(other);
    let node = lab
        .wait_finished(&mac.to_string(), INSTALL_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", server.serial_tail(80), lab.service_log()));
    assert_eq!(node.state, NodeState::Ready, "{:#?}\n{}\n{}", node.failure, server.serial_tail(80), lab.service_log());
    let serial = server.serial_log();
    assert!(serial.contains("resuming the image from the next instance"), "the installer moved on:\n{serial}");
    assert!(node.os.is_some(), "ready on the installed OS's own report");

    // The killed instance starts again on the same database: the same node, the same history, in order.
    lab.start_instance(serving).expect("the killed instance starts again");
    let (from_serving, from_other) =
        (lab.node_from(serving, node.id.0).unwrap(), lab.node_from(other, node.id.0).unwrap());
    assert_eq!(from_serving.state, NodeState::Ready);
    assert_eq!(from_serving.events, from_other.events, "both instances read one history");
    assert!(from_other.events.len() > at_kill.events.len(), "events written before the kill and after it");
    assert_eq!(&from_other.events[..at_kill.events.len()], at_kill.events.as_slice(), "nothing before the kill lost");
    // Both dashboards, as a technician's browser renders them, tell the same story.
    let urls = [serving, other].map(|i| format!("{}/nodes/{}", lab.instance_url(i), node.id.0));
    let pages = rackhand_lab::browser::render(lab.ns(), &urls, &lab.dir.join("dashboard")).unwrap();
    // Rendered a moment apart, "4 s ago" may read "5 s ago" on the second: every other word must agree.
    let absolute = |text: &str| -> String {
        text.lines().map(|line| line.split_once(" ago\t").map_or(line, |(_, rest)| rest)).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(absolute(&pages[0].text), absolute(&pages[1].text), "the node's page from each instance");
    assert!(pages[0].text.contains("discovered → booting") && pages[0].text.contains("first_boot → ready"));
    assert!(pages[0].text.contains("ready"), "{}", pages[0].text);

    // No lease lost: the server's leases are in the database, and the restarted instance loaded them.
    let leases = PostgresStore::open(&database).unwrap().leases().unwrap();
    assert!(leases.iter().any(|l| l.mac == mac), "the server's lease is stored: {leases:?}");
    let metrics = lab.get_from(serving, "/metrics").unwrap();
    let bound = metrics.lines().find_map(|l| l.strip_prefix("rackhand_dhcp_bound_leases ")).unwrap_or("0");
    assert_eq!(bound.trim().parse::<usize>().unwrap(), leases.len(), "the restarted instance holds every lease");
}
