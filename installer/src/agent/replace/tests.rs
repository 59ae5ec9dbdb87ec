//! The replacement plan against a server that lost its bay-0 SSD (md0 on partitions 3, md1 on whole HDDs).

use hardware_profiles::{AtaSite, DiskSite};
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
        bay_map: Default::default(),
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
        site: at_hctl(&format!("0:0:{target}:0")),
        size_bytes: size,
        class,
        holds_data: false,
    }
}

fn at_hctl(hctl: &str) -> DiskSite {
    DiskSite { hctl: Some(hctl.into()), ..DiskSite::default() }
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
    disks.push(SeenDisk { site: at_hctl("6:0:0:0"), ..disk("sdd", "NEW-SERIAL", 0, DiskClass::Ssd, 4 * GIB) });
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

/// The second lab model's map: NVMe SSDs by PCIe slot, SATA HDDs by AHCI port, recorded by the installer.
fn nvme_model() -> AgentConfig {
    let bay_map = [("pcie-slot:1", 0), ("pcie-slot:2", 1), ("ata:3", 2), ("ata:4", 3)];
    AgentConfig { bay_map: bay_map.into_iter().map(|(k, b)| (k.to_owned(), b)).collect(), ..config() }
}

fn nvme(name: &str, serial: &str, slot: &str) -> SeenDisk {
    let site = DiskSite { pcie_slot: Some(slot.into()), ..DiskSite::default() };
    SeenDisk { site, ..disk(name, serial, 0, DiskClass::Ssd, 2 * GIB) }
}

/// Every AHCI disk is `N:0:0:0`: only the port tells them apart.
fn sata(name: &str, serial: &str, port: u32) -> SeenDisk {
    let ata = AtaSite { controller: Some("0000:00:1f.2".into()), port };
    let site = DiskSite { hctl: Some(format!("{}:0:0:0", port - 1)), ata: Some(ata), ..DiskSite::default() };
    SeenDisk { site, ..disk(name, serial, 0, DiskClass::Hdd, 2 * GIB) }
}

#[test]
fn a_new_nvme_ssd_is_placed_by_its_pcie_slot_and_a_new_sata_hdd_by_its_ahci_port() {
    let arrays = vec![array("md127", "AA-BB", &["nvme1n1p3"]), array("md126", "ccdd", &["sda"])];
    let mut disks = vec![nvme("nvme1n1", "S1", "2"), sata("sda", "H2", 3)];
    disks.push(nvme("nvme0n1", "NEW-SSD", "1"));
    disks.push(sata("sdb", "NEW-HDD", 4));
    let plans = plan_replacements(&nvme_model(), &arrays, &disks);
    let ssd = Replacement::Rebuild {
        array: "/dev/md127".into(),
        bay: 0,
        disk: "nvme0n1".into(),
        member: NewMember::Partition { like: "nvme1n1".into(), partition: "nvme0n1p3".into() },
    };
    let hdd = Replacement::Rebuild { array: "/dev/md126".into(), bay: 3, disk: "sdb".into(), member: NewMember::Whole };
    assert_eq!(plans, [ssd, hdd]);
}

#[test]
fn with_a_map_a_disk_on_a_port_the_profile_does_not_name_is_in_no_bay() {
    // Port 1's disk is `0:0:0:0`, the SCSI address bay 0's disk had in the fallback's eyes: the map decides.
    let config = nvme_model();
    assert_eq!(bay_of(&sata("sdc", "STRAY", 1), &config), None);
    assert_eq!(bay_of(&sata("sdc", "STRAY", 4), &config), Some(3));
    assert_eq!(bay_of(&nvme("nvme2n1", "STRAY", "7"), &config), None);
    assert_eq!(bay_of(&sata("sdc", "S1", 1), &config), Some(1), "a known serial wins over where it sits");
}
