use rackhand_api::{ArrayResult, BondResult, Disk, DiskClass, FilesystemResult, LldpNeighbor, Nic};

use super::*;
use crate::plan::{ArrayPlan, FinishAction, ImagePlan};

fn nic(name: &str, last: u8, switch: &str) -> Nic {
    Nic {
        name: name.into(),
        mac: MacAddr::new([0x52, 0x54, 0, 0x7a, 1, last]),
        pci_vendor: None,
        pci_device: None,
        vendor_name: None,
        driver: None,
        carrier: true,
        speed_mbps: None,
        lldp: Some(LldpNeighbor {
            chassis_id: "02:5a:00:00:01:00".into(),
            port_id: "Ethernet1".into(),
            system_name: Some(switch.into()),
            system_description: None,
            port_description: None,
            management_address: None,
        }),
        pci_address: None,
        firmware_version: None,
    }
}

fn disk(name: &str, bay: u32, class: DiskClass) -> Disk {
    let json = serde_json::json!({
        "name": name, "serial": format!("SER{bay}"), "size_bytes": 2u64 << 30, "class": class,
        "bay": bay, "hot_swap": false,
    });
    serde_json::from_value(json).expect("a disk")
}

fn fixture() -> (Plan, PlanResults, Inventory) {
    let boot = |d: &str, bay| BootDisk::new(d, Some(bay), 2 << 30).unwrap();
    let plan = Plan {
        profile: "qemu-lab".into(),
        bond: BondPlan {
            name: "bond0".into(),
            mode: hardware_profiles::BondMode::ActiveBackup,
            legs: vec!["eth0".into(), "eth1".into()],
            primary: Some("eth0".into()),
            miimon_ms: 100,
        },
        arrays: vec![ArrayPlan {
            device: "/dev/md0".into(),
            level: hardware_profiles::RaidLevel::Raid1,
            members: vec!["/dev/sda3".into(), "/dev/sdb3".into()],
            metadata: "1.2".into(),
            filesystem: None,
        }],
        image: ImagePlan { name: "debian-12".into(), device: "/dev/md0".into() },
        boot_disks: vec![boot("/dev/sda", 0), boot("/dev/sdb", 1)],
        data_arrays: vec!["/dev/md1".into()],
        wipe: false,
        finish: FinishAction::Reboot,
        bay_map: [("*:0:0:0".to_owned(), 0), ("*:0:1:0".to_owned(), 1)].into(),
    };
    let array = |device: &str, uuid: &str, members: [&str; 2], fs| ArrayResult {
        device: device.into(),
        level: "raid1".into(),
        uuid: uuid.into(),
        members: members.iter().map(|m| (*m).into()).collect(),
        filesystem: fs,
    };
    let data_fs = FilesystemResult { kind: "ext4".into(), label: Some("data".into()), uuid: "1111-data".into() };
    let results = PlanResults {
        arrays: vec![
            array("/dev/md0", "aaaa:0000", ["/dev/sda3", "/dev/sdb3"], None),
            array("/dev/md1", "bbbb:1111", ["/dev/sdc", "/dev/sdd"], Some(data_fs)),
        ],
        bond: Some(BondResult { name: "bond0".into(), mode: "active-backup".into(), legs: vec![], primary: None }),
        image: None,
    };
    let mut inventory: Inventory = serde_json::from_value(serde_json::json!({
        "system": {}, "psus": [], "nics": [], "disks": []
    }))
    .expect("an empty inventory");
    inventory.nics = vec![nic("eth0", 1, "sw-a"), nic("eth1", 2, "sw-b")];
    inventory.disks = vec![
        disk("sda", 0, DiskClass::Ssd),
        disk("sdb", 1, DiskClass::Ssd),
        disk("sdc", 2, DiskClass::Hdd),
        disk("sdd", 3, DiskClass::Hdd),
    ];
    (plan, results, inventory)
}

fn files() -> Vec<OsFile> {
    let (plan, results, inventory) = fixture();
    let settings = DeploySettings {
        hostname: "rack1-u2".into(),
        ssh_authorized_keys: vec!["ssh-ed25519 AAAAC3Nz ops@site ".into()],
        owned_arrays: vec![],
    };
    let servers = ["http://10.77.0.1:8080".to_owned(), "http://10.77.0.2:8080".to_owned()];
    let deployment = Deployment { settings: &settings, inventory: &inventory, servers: &servers, node: NodeId(7) };
    os_files(&plan, &results, &deployment)
}

fn written(files: &[OsFile], wanted: &str) -> String {
    files
        .iter()
        .find_map(|f| match f {
            OsFile::Write { path, contents, .. } | OsFile::Append { path, contents } if path == wanted => {
                Some(contents.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{wanted} is not written: {files:#?}"))
}

#[test]
fn the_bond_takes_the_primary_legs_mac_and_matches_its_legs_by_permanent_mac() {
    let files = files();
    let netdev = written(&files, "/etc/systemd/network/10-bond0.netdev");
    assert!(netdev.contains("Kind=bond\nMACAddress=52:54:00:7a:01:01\n"), "{netdev}");
    assert!(netdev.contains("Mode=active-backup\nMIIMonitorSec=100ms\nPrimaryReselectPolicy=always"), "{netdev}");
    let primary = written(&files, "/etc/systemd/network/11-bond0-5254007a0101.network");
    assert_eq!(primary, "[Match]\nPermanentMACAddress=52:54:00:7a:01:01\n\n[Network]\nBond=bond0\nPrimarySlave=true\n");
    let backup = written(&files, "/etc/systemd/network/11-bond0-5254007a0102.network");
    assert!(!backup.contains("PrimarySlave"), "{backup}");
    let bond = written(&files, "/etc/systemd/network/20-bond0.network");
    assert!(bond.contains("Name=bond0") && bond.contains("DHCP=ipv4") && bond.contains("ClientIdentifier=mac"));
}

#[test]
fn arrays_and_the_data_filesystem_are_named_by_uuid() {
    let files = files();
    let mdadm = written(&files, "/etc/mdadm/mdadm.conf");
    assert!(mdadm.contains("HOMEHOST <ignore>\n"), "{mdadm}");
    assert!(mdadm.contains("ARRAY /dev/md0 metadata=1.2 UUID=aaaa:0000\nARRAY /dev/md1 metadata=1.2 UUID=bbbb:1111\n"));
    assert_eq!(written(&files, "/etc/fstab"), "UUID=1111-data\t/srv/data\text4\tdefaults,nofail\t0\t2\n");
}

#[test]
fn host_name_keys_and_the_agent_are_in_place() {
    let files = files();
    assert_eq!(written(&files, "/etc/hostname"), "rack1-u2\n");
    assert!(written(&files, "/etc/hosts").contains("127.0.1.1\track1-u2 rack1-u2\n"));
    assert_eq!(written(&files, "/root/.ssh/authorized_keys"), "ssh-ed25519 AAAAC3Nz ops@site\n");
    let config: AgentConfig = serde_json::from_str(&written(&files, AGENT_CONFIG)).unwrap();
    assert_eq!((config.server.as_str(), config.node), ("http://10.77.0.1:8080", NodeId(7)));
    assert_eq!(config.peers, ["http://10.77.0.2:8080"], "the agent too may report to another instance");
    assert_eq!(config.arrays[0].bays, [0, 1], "md0's partitions lead back to their bays");
    assert_eq!(config.arrays[1].bays, [2, 3]);
    assert_eq!((config.bays[0].serial.as_str(), config.bays[0].bay, config.bays[0].class.as_str()), ("SER0", 0, "SSD"));
    assert_eq!(config.bay_map.get("*:0:1:0"), Some(&1), "the profile's bay map, to place a disk swapped in");
    let legs = &config.bond.as_ref().unwrap().legs;
    assert_eq!((legs[1].switch.as_deref(), legs[1].port.as_deref()), (Some("sw-b"), Some("Ethernet1")));
    assert!(files.contains(&OsFile::ThisBinary { path: AGENT_BINARY.into() }));
    assert!(written(&files, "/etc/systemd/system/rackhand-agent.service").contains("After=network-online.target"));
    assert!(files.iter().any(|f| matches!(f, OsFile::Link { path, .. } if path.contains("multi-user.target.wants"))));
    // Then again every 30 s: a oneshot that stays active would not run again when its timer fires.
    let service = written(&files, "/etc/systemd/system/rackhand-agent.service");
    assert!(service.contains("Type=oneshot") && !service.contains("RemainAfterExit=yes"), "{service}");
    assert!(written(&files, "/etc/systemd/system/rackhand-agent.timer").contains("OnUnitInactiveSec=30s\n"));
    let timer_enabled = files.iter().any(|f| {
        matches!(f, OsFile::Link { path, target }
            if path == "/etc/systemd/system/timers.target.wants/rackhand-agent.timer" && target.ends_with(".timer"))
    });
    assert!(timer_enabled, "the timer is enabled");
}

#[test]
fn every_os_disk_gets_an_esp_and_grub_for_both_firmwares() {
    let (plan, ..) = fixture();
    let steps = boot_loader_steps(&plan.boot_disks);
    let runs: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            BootStep::Run(args) => Some(args.join(" ")),
            _ => None,
        })
        .collect();
    assert_eq!(runs[0], "mkfs.vfat -F 32 -n RACKHANDESP /dev/sda2");
    assert_eq!(runs[1], "mkfs.vfat -F 32 -n RACKHANDESP /dev/sdb2");
    assert!(runs.iter().any(|r| r.starts_with("ssh-keygen -q -t ed25519")));
    for disk in ["/dev/sda", "/dev/sdb"] {
        assert!(runs.contains(&format!("grub-install --target=i386-pc {disk}")), "{runs:#?}");
    }
    let efi: Vec<usize> =
        steps.iter().enumerate().filter(|(_, s)| matches!(s, BootStep::MountEsp(_))).map(|(i, _)| i).collect();
    assert_eq!(efi.len(), 2, "each disk's ESP gets the UEFI loader");
    for i in efi {
        let BootStep::Run(args) = &steps[i + 1] else { panic!("{steps:#?}") };
        assert!(args.contains(&"--removable".to_owned()) && args.contains(&"--no-nvram".to_owned()));
        assert_eq!(steps[i + 2], BootStep::UnmountEsp);
    }
}
