//! The replacement plan against a server that lost its bay-0 SSD (md0 on partitions 3, md1 on whole HDDs).

use rackhand_api::{DiskClass, NodeId};

use super::*;
use crate::os_config::ExpectedArray;

const GIB: u64 = 1 << 30;

fn config() -> AgentConfig {
    let bay = |serial: &str, bay: u32, class: &str| BayDisk {
        serial: serial.into(),
        bay,
        class: class.into(),
        hctl: Some(format!("0:0:{bay}:0")),
        size_bytes: 2 * GIB,
    };
    AgentConfig {
        server: "http://10.77.0.1:8080".into(),
        peers: vec![],
        node: NodeId(8),
        bays: vec![bay("S0", 0, "SSD"), bay("S1", 1, "SSD"), bay("H2", 2, "HDD"), bay("H3", 3, "HDD")],
        arrays: vec![
            ExpectedArray { uuid: "aa:bb".into(), device: "/dev/md0".into(), bays: vec![0, 1] },
            ExpectedArray { uuid: "cc:dd".into(), device: "/dev/md1".into(), bays: vec![2, 3] },
        ],
        bond: None,
    }
}

fn array(name: &str, uuid: &str, members: &[&str]) -> SeenArray {
    SeenArray::clean_raid1(name, uuid, members)
}

fn disk(name: &str, serial: &str, target: u32, class: DiskClass, size: u64) -> SeenDisk {
    SeenDisk {
        name: name.into(),
        serial: Some(serial.into()),
        hctl: Some(format!("0:0:{target}:0")),
        size_bytes: size,
        class,
        holds_data: false,
    }
}

/// Bay 0's SSD was pulled: md0 runs on bay 1's partition alone; md1 is whole.
fn degraded() -> Vec<SeenArray> {
    vec![array("md127", "AA-BB", &["sda3"]), array("md126", "ccdd", &["sdb", "sdc"])]
}

fn survivors() -> Vec<SeenDisk> {
    vec![
        disk("sda", "S1", 1, DiskClass::Ssd, 2 * GIB),
        disk("sdb", "H2", 2, DiskClass::Hdd, 2 * GIB),
        disk("sdc", "H3", 3, DiskClass::Hdd, 2 * GIB),
    ]
}

#[test]
fn a_blank_ssd_in_bay_0_rebuilds_md0_with_the_survivors_partition_table() {
    let mut disks = survivors();
    // On the installed kernel the HBA is host 6 (AHCI took 0-5); the installer saw it as host 0.
    disks.push(SeenDisk { hctl: Some("6:0:0:0".into()), ..disk("sdd", "NEW-SERIAL", 0, DiskClass::Ssd, 4 * GIB) });
    let plans = plan_replacements(&config(), &degraded(), &disks);
    assert_eq!(
        plans,
        [Replacement::Rebuild {
            array: "/dev/md127".into(),
            bay: 0,
            disk: "sdd".into(),
            member: NewMember::Partition { like: "sda".into(), partition: "sdd3".into() },
        }]
    );
}

#[test]
fn a_whole_disk_array_takes_the_whole_new_disk() {
    let arrays = vec![array("md127", "AA-BB", &["sda3", "sdb3"]), array("md126", "ccdd", &["sdc"])];
    let disks = vec![
        disk("sda", "S0", 0, DiskClass::Ssd, 2 * GIB),
        disk("sdb", "S1", 1, DiskClass::Ssd, 2 * GIB),
        disk("sdc", "H3", 3, DiskClass::Hdd, 2 * GIB),
        disk("sdd", "NEW", 2, DiskClass::Hdd, 2 * GIB),
    ];
    let plans = plan_replacements(&config(), &arrays, &disks);
    let want =
        Replacement::Rebuild { array: "/dev/md126".into(), bay: 2, disk: "sdd".into(), member: NewMember::Whole };
    assert_eq!(plans, [want]);
}

#[test]
fn the_wrong_kind_a_smaller_disk_or_one_holding_data_is_refused_with_why() {
    let refused = |new: SeenDisk| {
        let mut disks = survivors();
        disks.push(new);
        match plan_replacements(&config(), &degraded(), &disks).as_slice() {
            [Replacement::Refused(problem)] => (problem.part.clone(), problem.message.clone(), problem.fix.clone()),
            other => panic!("not refused: {other:?}"),
        }
    };
    let (part, message, fix) = refused(disk("sdd", "N", 0, DiskClass::Hdd, 4 * GIB));
    assert_eq!(part, "bay 0");
    assert_eq!(message, "the HDD (4.0 GiB) inserted in bay 0 cannot rebuild /dev/md0: bay 0 takes an SSD");
    assert_eq!(fix, "replace it with an SSD of at least 2.0 GiB");
    let (_, message, _) = refused(disk("sdd", "N", 0, DiskClass::Ssd, GIB));
    assert!(message.ends_with("it is smaller than the 2.0 GiB it replaces"), "{message}");
    let (_, message, fix) = refused(SeenDisk { holds_data: true, ..disk("sdd", "N", 0, DiskClass::Ssd, 2 * GIB) });
    assert!(message.contains("holds data"), "{message}");
    assert_eq!(fix, "if its data may go, run `wipefs -a /dev/sdd` on the server; it is then added by itself");
}

#[test]
fn nothing_is_planned_for_a_whole_server_or_a_disk_outside_the_lost_bay() {
    let whole = vec![array("md127", "AA-BB", &["sda3", "sdb3"]), array("md126", "ccdd", &["sdc", "sdd"])];
    let disks = vec![
        disk("sda", "S0", 0, DiskClass::Ssd, 2 * GIB),
        disk("sdb", "S1", 1, DiskClass::Ssd, 2 * GIB),
        disk("sdc", "H2", 2, DiskClass::Hdd, 2 * GIB),
        disk("sdd", "H3", 3, DiskClass::Hdd, 2 * GIB),
        disk("sde", "USB", 7, DiskClass::Ssd, 8 * GIB),
    ];
    assert_eq!(plan_replacements(&config(), &whole, &disks), []);
    let mut stray = survivors();
    stray.push(disk("sdd", "USB", 7, DiskClass::Ssd, 8 * GIB));
    assert_eq!(plan_replacements(&config(), &degraded(), &stray), [], "bay 0 is still empty");
}
