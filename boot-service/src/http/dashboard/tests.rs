//! The pages rendered from fixture records: what a technician must see, in the order they need it.

use jiff::Timestamp;
use rackhand_api::{
    ArrayResult, BondResult, Deadline, Event, EventKind, FailedReport, FilesystemResult, ImageResult, MacAddr, NodeId,
    NodeRecord, NodeState, OsArray, OsArrayMember, OsBond, OsBondSlave, OsReport, PlanResults, Problem, ProgressReport,
    Severity, Stage, StepStatus,
};

use rackhand_api::human_bytes;

use super::render::{NodeView, ago, latest_progress, node_detail, node_list};

const NOW: i64 = 1_790_000_000;

fn at(secs_ago: i64) -> Timestamp {
    Timestamp::from_second(NOW - secs_ago).unwrap()
}

fn node(id: i64, state: NodeState, updated_secs_ago: i64) -> NodeRecord {
    let last = u8::try_from(id).unwrap();
    NodeRecord {
        profile: Some("qemu-lab".into()),
        ipv4: Some(std::net::Ipv4Addr::new(10, 77, 0, 100 + last)),
        updated_at: at(updated_secs_ago),
        ..NodeRecord::new(NodeId(id), vec![MacAddr::new([0x52, 0x54, 0, 0, 0, last])], state, at(3600))
    }
}

fn psu_failure() -> FailedReport {
    FailedReport {
        built: None,
        step: None,
        reason: "hardware does not match profile qemu-lab".into(),
        problems: vec![Problem {
            severity: Severity::Blocking,
            part: "PSU 2".into(),
            message: "PSU 2 present but not receiving power".into(),
            fix: "plug its cord into the B-feed PDU".into(),
        }],
    }
}

fn image_progress(done: u64, total: u64) -> ProgressReport {
    ProgressReport {
        stage: Stage::Install,
        step: "image".into(),
        status: StepStatus::Running,
        message: None,
        done: Some(done),
        total: Some(total),
    }
}

#[test]
fn failures_come_first_with_their_fixes() {
    let ready = NodeView { record: node(1, NodeState::Ready, 10), progress: None };
    let mut failed = node(2, NodeState::Failed, 600);
    failed.failure = Some(psu_failure());
    let installing =
        NodeView { record: node(3, NodeState::Installing, 5), progress: Some(image_progress(1 << 29, 1 << 30)) };
    let page = node_list(vec![ready, NodeView { record: failed, progress: None }, installing], at(0)).into_string();

    let position = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("`{needle}` missing from\n{page}"));
    assert!(position("52:54:00:00:00:02") < position("52:54:00:00:00:03"), "failed before installing");
    assert!(position("52:54:00:00:00:03") < position("52:54:00:00:00:01"), "installing before ready");
    for text in ["PSU 2 present but not receiving power", "Fix: plug its cord into the B-feed PDU", "10 min ago"] {
        position(text);
    }
    assert!(page.contains("<title>Rackhand: 1 failed</title>"), "{page}");
    assert!(page.contains("3 servers: 1 failed · 1 installing · 1 ready"), "{page}");
    assert!(page.contains(r#"<meta http-equiv="refresh" content="5">"#), "{page}");
}

#[test]
fn installing_nodes_show_how_far_the_image_got() {
    let view = NodeView { record: node(4, NodeState::Installing, 1), progress: Some(image_progress(3 << 29, 1 << 31)) };
    let page = node_list(vec![view], at(0)).into_string();
    assert!(page.contains("image running 75%"), "{page}");
    assert!(page.contains(r#"<progress value="1610612736" max="2147483648">"#), "{page}");
    assert!(page.contains("1.5 GiB of 2.0 GiB"), "{page}");
}

#[test]
fn ready_nodes_say_what_was_installed() {
    let mut record = node(5, NodeState::Ready, 30);
    let image = ImageResult {
        name: "debian-12".into(),
        version: "2025.1".into(),
        blake3: "ab".repeat(32),
        device: "/dev/md0".into(),
    };
    record.results = Some(PlanResults { image: Some(image), ..PlanResults::default() });
    let page = node_list(vec![NodeView { record, progress: None }], at(0)).into_string();
    assert!(page.contains("installed debian-12 2025.1 on /dev/md0"), "{page}");
}

#[test]
fn the_detail_page_shows_what_was_built_with_the_uuids_to_find_it_by() {
    let mut record = node(5, NodeState::Ready, 30);
    let array = |n: u8, filesystem| ArrayResult {
        device: format!("/dev/md{n}"),
        level: "raid1".into(),
        uuid: format!("md-uuid-{n}"),
        members: vec![format!("/dev/sd{}", (b'a' + 2 * n) as char), format!("/dev/sd{}", (b'b' + 2 * n) as char)],
        filesystem,
    };
    let data_fs = FilesystemResult { kind: "ext4".into(), label: Some("data".into()), uuid: "fs-uuid-1".into() };
    record.results = Some(PlanResults {
        arrays: vec![array(0, None), array(1, Some(data_fs))],
        bond: Some(BondResult {
            name: "bond0".into(),
            mode: "active-backup".into(),
            legs: vec!["eth0".into(), "eth1".into()],
            primary: Some("eth0".into()),
        }),
        image: Some(ImageResult {
            name: "debian-12".into(),
            version: "2025.1".into(),
            blake3: "ab".repeat(32),
            device: "/dev/md0".into(),
        }),
    });
    let page = node_detail(&record, at(0)).into_string();
    let built = &page[page.find("<h2>Built</h2>").expect("a Built section")..];
    for expected in [
        "<th>bond0</th><td>active-backup over eth0 + eth1, primary eth0</td>",
        "<th>/dev/md0</th><td>raid1 of /dev/sda /dev/sdb<br><span class=\"mac\">md UUID md-uuid-0</span></td>",
        "raid1 of /dev/sdc /dev/sdd",
        "ext4 labelled <b>data</b><br><span class=\"mac\">filesystem UUID fs-uuid-1</span>",
        "debian-12 2025.1 on /dev/md0",
    ] {
        assert!(built.contains(expected), "{expected} missing from {built}");
    }
    assert_eq!(built.matches("filesystem UUID").count(), 1, "md0 has no filesystem of its own");
    record.results = None;
    assert!(!node_detail(&record, at(0)).into_string().contains("<h2>Built</h2>"));
}

#[test]
fn what_nodes_report_is_escaped() {
    let mut record = node(6, NodeState::Failed, 1);
    record.hostname = Some("<script>alert(1)</script>".into());
    record.failure =
        Some(FailedReport { reason: "<b>bad</b> & worse".into(), problems: vec![], built: None, step: None });
    let page = node_list(vec![NodeView { record, progress: None }], at(0)).into_string();
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
    assert!(page.contains("&lt;b&gt;bad&lt;/b&gt; &amp; worse"), "{page}");
}

#[test]
fn an_empty_rack_says_how_servers_appear() {
    let page = node_list(vec![], at(0)).into_string();
    assert!(page.contains("0 servers"), "{page}");
    assert!(page.contains("Power one on with network boot"), "{page}");
}

#[test]
fn the_detail_page_tells_the_history_newest_first() {
    let mut record = node(7, NodeState::Failed, 20);
    record.failure = Some(psu_failure());
    let transition =
        |from, to, reason: Option<&str>| EventKind::Transition { from, to, reason: reason.map(Into::into) };
    record.events = vec![
        Event { at: at(120), kind: transition(Some(NodeState::Discovered), NodeState::Booting, None) },
        Event { at: at(60), kind: EventKind::Progress(image_progress(0, 0)) },
        Event { at: at(20), kind: transition(Some(NodeState::Inspecting), NodeState::Failed, Some("PSU 2 unplugged")) },
    ];
    let page = node_detail(&record, at(0)).into_string();
    let failed = page.find("inspecting → failed: PSU 2 unplugged").expect(&page);
    let booting = page.find("discovered → booting").expect(&page);
    assert!(failed < booting, "newest first:\n{page}");
    assert!(page.contains("Fix: plug its cord into the B-feed PDU"), "{page}");
    assert!(page.contains("2 min ago"), "{page}");
    assert!(!page.contains("http-equiv=\"refresh\""), "the detail page does not reload under the reader");
}

#[test]
fn times_and_sizes_read_as_people_say_them() {
    assert_eq!(ago(at(0), at(42)), "42 s ago");
    assert_eq!(ago(at(0), at(3 * 60 + 5)), "3 min ago");
    assert_eq!(ago(at(0), at(5 * 3600)), "5 h ago");
    assert_eq!(ago(at(0), at(3 * 86400)), "3 d ago");
    assert_eq!(ago(at(10), at(0)), "0 s ago", "a clock running ahead is not the future");
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    assert_eq!(human_bytes(48 << 20), "48.0 MiB");
}

#[test]
fn the_detail_page_shows_the_hardware_as_a_technician_checks_it() {
    let mut record = node(8, NodeState::Failed, 5);
    let psu = |index, powered| {
        serde_json::json!({"index": index, "present": true, "powered": powered, "status": if powered { "ok" } else { "critical" },
            "hot_replaceable": true, "source": "smbios", "model": "DPS-800"})
    };
    let inventory = serde_json::json!({
        "system": {"vendor": "QEMU", "product": "Standard PC", "serial": "RH-0008"},
        "psus": [psu(1, true), psu(2, false)],
        "nics": [
            {"name": "eth0", "mac": "52:54:00:7a:08:01", "vendor_name": "Intel", "carrier": true, "speed_mbps": 1000,
             "driver": "i40e", "firmware_version": "8.70 0x8000c40f 1.3179.0",
             "lldp": {"chassis_id": "02:00:00:00:00:0a", "port_id": "swp8", "system_name": "sw-a",
                      "management_address": "192.0.2.10"}},
            {"name": "eth1", "mac": "52:54:00:7a:08:02", "vendor_name": "Realtek", "carrier": false, "driver": "8139cp"}
        ],
        "pci_devices": [
            {"address": "0000:3b:00.0", "vendor": 0x8086, "device": 0x1572, "class": 0x020000, "driver": "i40e"},
            {"address": "0000:5e:00.0", "vendor": 0x8086, "device": 0x1572, "class": 0x020000, "slot": "3",
             "vendor_name": "Intel Corporation", "device_name": "Ethernet Controller X710 for 10GbE SFP+"}
        ],
        "disks": [
            {"name": "sdb", "size_bytes": 2147483648u64, "class": "hdd", "bay": 2, "hot_swap": true},
            {"name": "sda", "size_bytes": 1073741824u64, "class": "ssd", "bay": 0, "hot_swap": true}
        ]
    });
    record.inventory = Some(serde_json::from_value(inventory).unwrap());
    let page = node_detail(&record, at(0)).into_string();
    for text in ["QEMU Standard PC, serial RH-0008", "sw-a port swp8", "up 1000 Mb/s", "<td>SSD</td>", "2.0 GiB"] {
        assert!(page.contains(text), "`{text}` missing:\n{page}");
    }
    let switch = r#"sw-a port swp8<br><span class="mac">managed at 192.0.2.10</span></td>"#;
    assert!(page.contains(switch), "eth0's switch port and where the switch is managed:\n{page}");
    let with_firmware = r#"<td>i40e<br><span class="mac">firmware 8.70 0x8000c40f 1.3179.0</span></td>"#;
    assert!(page.contains(with_firmware), "eth0's driver and firmware:\n{page}");
    assert!(page.contains("<td>Realtek</td><td>8139cp</td>"), "eth1's driver, no firmware reported:\n{page}");
    let driverless = r#"<tr class="failed"><td>Intel Corporation Ethernet Controller X710 for 10GbE SFP+ (8086:1572)</td><td>slot 3</td></tr>"#;
    assert!(page.contains(driverless), "the card without a driver, by its slot:\n{page}");
    assert_eq!(page.matches("(8086:1572)").count(), 1, "the card with a driver is not listed:\n{page}");
    let unpowered = page.find("<td>PSU 2</td>").expect(&page);
    assert!(page[..unpowered].ends_with(r#"<tr class="failed">"#), "the unpowered PSU's row stands out:\n{page}");
    assert!(page.find("<td>sda</td>").unwrap() < page.find("<td>sdb</td>").unwrap(), "disks in bay order");
}

#[test]
fn each_disk_shows_its_bus_its_controller_and_what_placed_it() {
    let mut record = node(10, NodeState::Ready, 5);
    let inventory = serde_json::json!({
        "system": {},
        "disks": [
            {"name": "sda", "size_bytes": 4_000_000_000_000u64, "class": "hdd", "bay": 2, "bay_source": "ata_port",
             "transport": "sata", "hot_swap": false,
             "controller": {"pci_address": "0000:00:1f.2", "pci_vendor": 0x8086, "pci_device": 0x2922, "driver": "ahci"}},
            {"name": "nvme0n1", "size_bytes": 960_000_000_000u64, "class": "ssd", "bay": 0, "bay_source": "pcie_slot",
             "transport": "nvme", "hot_swap": false,
             "controller": {"pci_address": "0000:01:00.0", "pci_vendor": 0x1b36, "pci_device": 0x0010, "driver": "nvme"}},
            {"name": "sdz", "size_bytes": 1u64, "class": "ssd", "hot_swap": false,
             "controller": {"pci_address": "0000:3b:00.0"}}
        ]
    });
    record.inventory = Some(serde_json::from_value(inventory).unwrap());
    let page = node_detail(&record, at(0)).into_string();
    let row = |disk: &str| {
        let start = page.find(&format!("<td>{disk}</td>")).expect(&page);
        let start = page[..start].rfind("<tr>").unwrap();
        page[start..start + page[start..].find("</tr>").unwrap()].to_owned()
    };
    let nvme = row("nvme0n1");
    for text in [
        "0<br><span class=\"mac\">by PCIe slot</span>",
        "<td>NVMe</td>",
        "<td>nvme<br><span class=\"mac\">0000:01:00.0 [1b36:0010]</span></td>",
    ] {
        assert!(nvme.contains(text), "`{text}` missing:\n{nvme}");
    }
    let sata = row("sda");
    for text in [
        "2<br><span class=\"mac\">by AHCI port</span>",
        "<td>SATA</td>",
        "<td>ahci<br><span class=\"mac\">0000:00:1f.2 [8086:2922]</span></td>",
    ] {
        assert!(sata.contains(text), "`{text}` missing:\n{sata}");
    }
    let unknown = row("sdz");
    assert!(unknown.contains("<td>—</td><td>no driver<br><span class=\"mac\">0000:3b:00.0</span></td>"), "{unknown}");
    assert!(page.find("<td>nvme0n1</td>").unwrap() < page.find("<td>sda</td>").unwrap(), "disks in bay order");
}

#[test]
fn an_empty_inventory_says_so_instead_of_empty_tables() {
    let mut record = node(9, NodeState::Inspecting, 5);
    record.inventory = Some(rackhand_api::Inventory::default());
    let page = node_detail(&record, at(0)).into_string();
    assert!(page.contains("reported no power supplies, NICs or disks"), "{page}");
    assert!(!page.contains("<th>Power supply</th>"), "{page}");
}

#[test]
fn the_latest_progress_is_the_last_report_whatever_transitions_follow() {
    let transition =
        EventKind::Transition { from: Some(NodeState::Inspecting), to: NodeState::Installing, reason: None };
    let events = vec![
        Event { at: at(30), kind: EventKind::Progress(image_progress(1, 4)) },
        Event { at: at(20), kind: EventKind::Progress(image_progress(3, 4)) },
        Event { at: at(10), kind: transition },
    ];
    assert_eq!(latest_progress(&events).and_then(|p| p.done), Some(3));
    assert_eq!(latest_progress(&events[2..]), None);
}

fn deadline_in(secs: i64, reason: &str) -> Option<Deadline> {
    Some(Deadline { at: at(-secs), reason: reason.into() })
}

#[test]
fn nodes_waiting_on_their_server_say_for_what_and_until_when() {
    let mut first_boot = node(1, NodeState::FirstBoot, 30);
    first_boot.deadline = deadline_in(600, "the OS did not report");
    let mut rebooting = node(2, NodeState::Rebooting, 10);
    rebooting.deadline = deadline_in(45, "it did not network-boot");
    let mut overdue = node(3, NodeState::Rebooting, 400);
    overdue.deadline = deadline_in(-2, "it did not network-boot");
    let installing = node(4, NodeState::Installing, 1);
    let views = [installing, overdue, rebooting, first_boot.clone()]
        .into_iter()
        .map(|record| NodeView { record, progress: None })
        .collect();
    let page = node_list(views, at(0)).into_string();
    let until = |secs: i64| at(-secs).strftime("%H:%M UTC").to_string();
    for text in [
        format!("handed over to its disk; waiting for the installed OS until {} (10 min left)", until(600)),
        format!("installed; waiting for the server to network-boot again until {} (45 s left)", until(45)),
        format!("until {} (overdue)", until(-2)),
        "4 servers: 1 first_boot · 2 rebooting · 1 installing".to_string(),
    ] {
        assert!(page.contains(&text), "`{text}` missing:\n{page}");
    }
    let position = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("`{needle}` missing from\n{page}"));
    assert!(position("52:54:00:00:00:01") < position("52:54:00:00:00:02"), "first_boot before rebooting");
    assert!(position("52:54:00:00:00:03") < position("52:54:00:00:00:04"), "rebooting before installing");

    let detail = node_detail(&first_boot, at(0)).into_string();
    assert!(detail.contains(&format!("waiting for the installed OS until {} (10 min left)", until(600))), "{detail}");
    assert!(detail.contains("it fails with: the OS did not report"), "{detail}");
}

fn os_report() -> OsReport {
    let member = |device: &str, bay, state: &str| OsArrayMember { device: device.into(), bay, state: state.into() };
    let slave = |name: &str, last, link_up| OsBondSlave {
        name: name.into(),
        mac: MacAddr::new([0x52, 0x54, 0, 0x7a, 5, last]),
        link_up,
    };
    OsReport {
        hostname: "rack1-u2".into(),
        kernel: "6.1.0-28-amd64".into(),
        arrays: vec![OsArray {
            device: "/dev/md127".into(),
            uuid: "md-uuid-0".into(),
            level: "raid1".into(),
            state: "clean".into(),
            degraded: true,
            members: vec![member("sda3", Some(0), "in_sync")],
            missing_bays: vec![1],
            rebuild_percent: None,
        }],
        bond: Some(OsBond {
            name: "bond0".into(),
            mode: "active-backup".into(),
            active: Some("eth1".into()),
            slaves: vec![slave("eth0", 1, false), slave("eth1", 2, true)],
        }),
        ssh_host_keys: vec!["ED25519 SHA256:GtjcdVr/TylDDK47+DldiNkbvk9kKco9lAudib6SpoU".into()],
        addresses: vec![std::net::Ipv4Addr::new(10, 77, 0, 105)],
        problems: vec![Problem {
            severity: Severity::Warning,
            part: "bay 1".into(),
            message: "md127 runs without its disk in bay 1".into(),
            fix: "insert a disk of at least 1 TB in bay 1; it joins the array".into(),
        }],
    }
}

#[test]
fn the_detail_page_shows_the_installed_os_as_it_reports_itself() {
    let mut record = node(5, NodeState::Ready, 30);
    record.os = Some(os_report());
    let page = node_detail(&record, at(0)).into_string();
    let os = &page[page.find("<h2>Installed OS</h2>").expect("an Installed OS section")..];
    for text in [
        "<th>Kernel</th><td>6.1.0-28-amd64</td>",
        "<th>Addresses</th><td>10.77.0.105</td>",
        "raid1, clean, <b>degraded</b><br>bay 0: sda3 in_sync<br>bay 1: <b>missing</b>",
        "md UUID md-uuid-0",
        "active-backup, active leg <b>eth1</b>",
        "eth0 <span class=\"mac\">52:54:00:7a:05:01</span> link <b>down</b>",
        "eth1 <span class=\"mac\">52:54:00:7a:05:02</span> link up",
        "ED25519 SHA256:GtjcdVr/TylDDK47+DldiNkbvk9kKco9lAudib6SpoU",
        "md127 runs without its disk in bay 1",
        "Fix: insert a disk of at least 1 TB in bay 1; it joins the array",
    ] {
        assert!(os.contains(text), "`{text}` missing:\n{os}");
    }
    // A disk swapped in: md rebuilds onto it, and the page says how far.
    let mut rebuilding = record.clone();
    let array = &mut rebuilding.os.as_mut().unwrap().arrays[0];
    (array.missing_bays, array.rebuild_percent) = (vec![], Some(42));
    array.members.push(OsArrayMember { device: "sdb3".into(), bay: Some(1), state: "spare".into() });
    let page = node_detail(&rebuilding, at(0)).into_string();
    assert!(
        page.contains(
            "raid1, clean, <b>degraded</b>, <b>rebuilding: 42 %</b><br>bay 0: sda3 in_sync<br>bay 1: sdb3 spare"
        ),
        "{page}"
    );
    let list = node_list(vec![NodeView { record: record.clone(), progress: None }], at(0)).into_string();
    assert!(
        list.contains("Fix: insert a disk of at least 1 TB in bay 1"),
        "a ready node's problems show on the list: {list}"
    );
    record.os = None;
    assert!(!node_detail(&record, at(0)).into_string().contains("Installed OS"));
}

#[test]
fn servers_are_named_by_rack_and_unit_first() {
    let mut located = node(7, NodeState::Installing, 1);
    located.location = Some(rackhand_api::Location { rack: "rack1".into(), unit: 2 });
    let mut named = node(8, NodeState::Ready, 1);
    named.hostname = Some("web01".into());
    named.location = Some(rackhand_api::Location { rack: "rack1".into(), unit: 3 });
    let unknown = node(9, NodeState::Booting, 1);
    let views = [located.clone(), named, unknown].map(|record| NodeView { record, progress: None });
    let page = node_list(views.to_vec(), at(0)).into_string();
    assert!(page.contains(r#"<a href="/nodes/7">rack1-u2 (node 7)</a>"#), "{page}");
    assert!(
        page.contains(r#"<a href="/nodes/8">web01 (node 8)</a><br><span class="location">at rack1-u3</span>"#),
        "{page}"
    );
    assert!(page.contains(r#"<a href="/nodes/9">node 9</a>"#), "{page}");

    let detail = node_detail(&located, at(0)).into_string();
    assert!(detail.contains("<title>Rackhand: rack1-u2 (node 7)</title>"), "{detail}");
    assert!(detail.contains("<dt>Location</dt><dd>rack rack1, unit 2</dd>"), "{detail}");
    let detail = node_detail(&node(9, NodeState::Booting, 1), at(0)).into_string();
    assert!(detail.contains("not known: register it with --rack and --unit"), "{detail}");
}

#[test]
fn a_failed_server_shows_what_its_failed_install_built_not_the_previous_one() {
    let previous = PlanResults {
        arrays: vec![ArrayResult {
            device: "/dev/md0".into(),
            level: "raid1".into(),
            uuid: "previous-install".into(),
            members: vec!["/dev/sda3".into(), "/dev/sdb3".into()],
            filesystem: None,
        }],
        ..PlanResults::default()
    };
    let mut failed = node(5, NodeState::Failed, 1);
    failed.results = Some(previous.clone());
    failed.failure = Some(psu_failure());
    let page = node_detail(&failed, at(0)).into_string();
    assert!(!page.contains("<h2>Built"), "the previous install's results on a failed server:\n{page}");

    let mut partial = previous.clone();
    partial.arrays[0].uuid = "this-install".into();
    failed.failure = Some(FailedReport { built: Some(partial), ..psu_failure() });
    let page = node_detail(&failed, at(0)).into_string();
    assert!(page.contains("<h2>Built before it failed</h2>") && page.contains("this-install"), "{page}");
    assert!(!page.contains("previous-install"), "{page}");

    let mut reinstalling = node(6, NodeState::Installing, 1);
    reinstalling.results = Some(previous);
    assert!(!node_detail(&reinstalling, at(0)).into_string().contains("<h2>Built"));
}

#[test]
fn the_retry_advice_is_its_own_paragraph_after_the_reason() {
    let mut failed = node(2, NodeState::Failed, 1);
    failed.failure = Some(FailedReport {
        reason: "bay 0 holds data this node did not write: wipe it".into(),
        problems: vec![],
        built: None,
        step: None,
    });
    let page = node_list(vec![NodeView { record: failed, progress: None }], at(0)).into_string();
    assert!(
        page.contains("<strong>bay 0 holds data this node did not write: wipe it</strong><p class=\"hint\">Once what"),
        "{page}"
    );
}

#[test]
fn progress_figures_a_node_sends_cannot_overflow_the_page() {
    for (done, total) in [(u64::MAX - 1, 1 << 30), (u64::MAX, u64::MAX), (u64::MAX / 2, u64::MAX)] {
        let view = NodeView { record: node(4, NodeState::Installing, 1), progress: Some(image_progress(done, total)) };
        let page = node_list(vec![view], at(0)).into_string();
        let pct = (u128::from(done.min(total)) * 100 / u128::from(total)).to_string();
        assert!(page.contains(&format!("image running {pct}%")), "{done}/{total}: {page}");
    }
}
