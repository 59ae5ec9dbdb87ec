//! The installed OS's report of itself, and what is wrong with it, from what it observed and what it was
//! built as ([`AgentConfig`]). Pure.

use std::net::Ipv4Addr;

use rackhand_api::{MacAddr, OsArray, OsArrayMember, OsBond, OsBondSlave, OsReport, Problem, Severity};

use super::observe::{SeenArray, SeenBond, bond_mode_name};
use super::replace::{SeenDisk, bay_of};
use crate::apply::raid::same_md_uuid;
use crate::layout::parent_disk;
use crate::os_config::{AgentConfig, ExpectedBond};

/// Everything observed, for [`build_report`].
pub struct Seen {
    pub hostname: String,
    pub kernel: String,
    pub arrays: Vec<SeenArray>,
    /// The whole disks it sees.
    pub disks: Vec<SeenDisk>,
    pub bond: Option<SeenBond>,
    pub ssh_host_keys: Vec<String>,
    pub addresses: Vec<Ipv4Addr>,
}

/// The slave that is `mac` (its name and whether it has link), if the bond has it.
fn slave(bond: &SeenBond, mac: MacAddr) -> Option<(&str, bool)> {
    bond.slaves.iter().find(|(_, m, _)| *m == Some(mac)).map(|(name, _, up)| (name.as_str(), *up))
}

/// Whether every leg the bond was built with is one of its slaves and has link.
pub fn all_legs_up(bond: &SeenBond, expected: &ExpectedBond) -> bool {
    expected.legs.iter().all(|leg| slave(bond, leg.mac).is_some_and(|(_, up)| up))
}

pub fn build_report(seen: &Seen, config: &AgentConfig) -> OsReport {
    // By serial, or (a disk swapped in) by where it sits, as the profile's bay map says.
    let bay_of = |member: &str| {
        let disk = seen.disks.iter().find(|d| d.name == parent_disk(member))?;
        bay_of(disk, config)
    };
    let class_of = |bay: u32| config.bays.iter().find(|b| b.bay == bay).map_or("disk", |b| b.class.as_str());
    let mut problems = Vec::new();
    let mut arrays = Vec::new();
    for expected in &config.arrays {
        let Some(array) =
            seen.arrays.iter().find(|a| a.uuid.as_deref().is_some_and(|u| same_md_uuid(u, &expected.uuid)))
        else {
            problems.push(Problem {
                severity: Severity::Blocking,
                part: expected.device.clone(),
                message: format!("{} (UUID {}) is not running", expected.device, expected.uuid),
                fix: "check that its disks are seated (bays in the node record), then reboot the server".into(),
            });
            continue;
        };
        let mut members: Vec<OsArrayMember> = array
            .members
            .iter()
            .map(|(device, state)| OsArrayMember { device: device.clone(), bay: bay_of(device), state: state.clone() })
            .collect();
        // In bay order, as a technician reads the front of the server (disk names follow the kernel's scan).
        members.sort_by(|a, b| (a.bay.is_none(), a.bay, &a.device).cmp(&(b.bay.is_none(), b.bay, &b.device)));
        let working = members.iter().filter(|m| m.state.split(',').any(|s| s == "in_sync")).count();
        let missing_bays: Vec<u32> =
            expected.bays.iter().copied().filter(|bay| !members.iter().any(|m| m.bay == Some(*bay))).collect();
        let degraded = working < array.raid_disks as usize || !missing_bays.is_empty();
        let left: Vec<String> = members.iter().filter_map(|m| m.bay).map(|b| format!("bay {b}")).collect();
        // A member md threw out is still listed, so its bay is not missing; it is a problem all the same.
        for member in members.iter().filter(|m| m.state.split(',').any(|s| s == "faulty")) {
            let (part, what) = match member.bay {
                Some(bay) => (format!("bay {bay}"), format!("the {} in bay {bay}", class_of(bay))),
                None => (member.device.clone(), format!("member {}", member.device)),
            };
            problems.push(Problem {
                severity: Severity::Warning,
                part,
                message: format!("{} ({}) is degraded: md marked {what} faulty", expected.device, array.level),
                fix: format!(
                    "replace {what} with a working disk of at least the same size; it is added back by itself"
                ),
            });
        }
        for bay in &missing_bays {
            let class = class_of(*bay);
            problems.push(Problem {
                severity: Severity::Warning,
                part: format!("bay {bay}"),
                message: format!(
                    "{} ({}) is degraded: the {class} in bay {bay} is missing; it runs on {}",
                    expected.device,
                    array.level,
                    if left.is_empty() { "no disk".to_owned() } else { left.join(", ") }
                ),
                fix: format!(
                    "insert a working {class} of at least the same size in bay {bay}, then add it back to the array \
                     (`mdadm {} --add` its RAID partition); until then a second failure loses the array",
                    expected.device
                ),
            });
        }
        let rebuild_percent = array.rebuilding.map(|(done, all)| {
            u8::try_from(u128::from(done.min(all)) * 100 / u128::from(all.max(1))).expect("at most 100")
        });
        if let Some(percent) = rebuild_percent {
            let onto: Vec<String> = members
                .iter()
                .filter(|m| !m.state.split(',').any(|s| s == "in_sync"))
                .map(|m| m.bay.map_or_else(|| m.device.clone(), |bay| format!("bay {bay}")))
                .collect();
            let onto = if onto.is_empty() { "its new member".to_owned() } else { onto.join(", ") };
            let keep: Vec<String> = members
                .iter()
                .filter(|m| m.state.split(',').any(|s| s == "in_sync"))
                .map(|m| m.bay.map_or_else(|| m.device.clone(), |bay| format!("bay {bay}")))
                .collect();
            problems.push(Problem {
                severity: Severity::Warning,
                part: expected.device.clone(),
                message: format!("{} ({}) is rebuilding onto {onto}: {percent} %", expected.device, array.level),
                fix: format!("nothing to do: keep {} in until it is done", keep.join(", ")),
            });
        }
        arrays.push(OsArray {
            device: format!("/dev/{}", array.name),
            uuid: expected.uuid.clone(),
            level: array.level.clone(),
            state: array.state.clone(),
            degraded,
            members,
            missing_bays,
            rebuild_percent,
        });
    }
    let bond = config.bond.as_ref().zip(seen.bond.as_ref()).map(|(expected, bond)| {
        for leg in &expected.legs {
            let slave = slave(bond, leg.mac);
            if slave.is_some_and(|(_, up)| up) {
                continue;
            }
            let name = slave.map_or_else(|| leg.mac.to_string(), |(n, _)| format!("{n} ({})", leg.mac));
            let cable = match (&leg.switch, &leg.port) {
                (Some(switch), Some(port)) => format!("check its cable to switch {switch} port {port}"),
                _ => "check its cable and the switch port".to_owned(),
            };
            problems.push(Problem {
                severity: Severity::Warning,
                part: format!("NIC {name}"),
                message: format!("{} leg {name} has no link: the server has lost network redundancy", expected.name),
                fix: cable,
            });
        }
        OsBond {
            name: expected.name.clone(),
            mode: bond_mode_name(&bond.mode),
            active: bond.active.clone(),
            slaves: bond
                .slaves
                .iter()
                .filter_map(|(name, mac, up)| Some(OsBondSlave { name: name.clone(), mac: (*mac)?, link_up: *up }))
                .collect(),
        }
    });
    OsReport {
        hostname: seen.hostname.clone(),
        kernel: seen.kernel.clone(),
        arrays,
        bond,
        ssh_host_keys: seen.ssh_host_keys.clone(),
        addresses: seen.addresses.clone(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use rackhand_api::NodeId;

    use super::*;
    use crate::os_config::{BayDisk, ExpectedArray, ExpectedBond, ExpectedLeg};

    fn mac(last: u8) -> MacAddr {
        MacAddr::new([0x52, 0x54, 0, 0x7a, 1, last])
    }

    fn config() -> AgentConfig {
        let bay = |serial: &str, bay, class: &str| BayDisk {
            serial: serial.into(),
            bay,
            class: class.into(),
            hctl: Some(format!("0:0:{bay}:0")),
            size_bytes: 2 << 30,
        };
        AgentConfig {
            server: "http://10.77.0.1:8080".into(),
            peers: vec![],
            node: NodeId(7),
            bays: vec![bay("S0", 0, "SSD"), bay("S1", 1, "SSD"), bay("H2", 2, "HDD"), bay("H3", 3, "HDD")],
            bay_map: Default::default(),
            arrays: vec![
                ExpectedArray { uuid: "aa:bb".into(), device: "/dev/md0".into(), bays: vec![0, 1] },
                ExpectedArray { uuid: "cc:dd".into(), device: "/dev/md1".into(), bays: vec![2, 3] },
            ],
            bond: Some(ExpectedBond {
                name: "bond0".into(),
                legs: vec![
                    ExpectedLeg { mac: mac(1), switch: Some("sw-a".into()), port: Some("Ethernet1".into()) },
                    ExpectedLeg { mac: mac(2), switch: Some("sw-b".into()), port: Some("Ethernet1".into()) },
                ],
            }),
        }
    }

    fn array(name: &str, uuid: &str, members: &[&str]) -> SeenArray {
        SeenArray::clean_raid1(name, uuid, members)
    }

    fn seen(os_members: &[&str], disks: &[(&str, &str)], second_leg_up: bool) -> Seen {
        Seen {
            hostname: "rack1-u2".into(),
            kernel: "6.1.0-28-amd64".into(),
            arrays: vec![array("md127", "AA-BB", os_members), array("md126", "ccdd", &["sdc", "sdd"])],
            disks: disks
                .iter()
                .map(|(n, s)| SeenDisk {
                    name: (*n).into(),
                    serial: Some((*s).into()),
                    site: hardware_profiles::DiskSite::default(),
                    size_bytes: 2 << 30,
                    class: rackhand_api::DiskClass::Ssd,
                    holds_data: true,
                })
                .collect(),
            bond: Some(SeenBond {
                mode: "fault-tolerance (active-backup)".into(),
                active: Some("enp0s2".into()),
                slaves: vec![("enp0s2".into(), Some(mac(1)), true), ("enp0s3".into(), Some(mac(2)), second_leg_up)],
            }),
            ssh_host_keys: vec!["ED25519 SHA256:abc".into()],
            addresses: vec![Ipv4Addr::new(10, 77, 0, 101)],
        }
    }

    const ALL_DISKS: [(&str, &str); 4] = [("sda", "S0"), ("sdb", "S1"), ("sdc", "H2"), ("sdd", "H3")];

    #[test]
    fn a_healthy_server_reports_arrays_by_bay_and_both_legs_without_problems() {
        let report = build_report(&seen(&["sda3", "sdb3"], &ALL_DISKS, true), &config());
        assert_eq!(report.problems, []);
        let md0 = &report.arrays[0];
        assert_eq!((md0.device.as_str(), md0.uuid.as_str(), md0.degraded), ("/dev/md127", "aa:bb", false));
        let bays: Vec<Option<u32>> = md0.members.iter().map(|m| m.bay).collect();
        assert_eq!(bays, [Some(0), Some(1)]);
        let bond = report.bond.unwrap();
        assert_eq!(
            (bond.mode.as_str(), bond.active.as_deref(), bond.slaves.len()),
            ("active-backup", Some("enp0s2"), 2)
        );
    }

    #[test]
    fn a_disk_swapped_into_bay_0_is_known_by_its_address_and_its_rebuild_shows() {
        let disks = [("sda", "S1"), ("sdb", "H2"), ("sdc", "H3"), ("sdd", "NEW")];
        let mut seen = seen(&["sda3", "sdd3"], &disks, true);
        seen.disks[3].site.hctl = Some("0:0:0:0".into());
        seen.arrays[0].members[1].1 = "spare".into();
        seen.arrays[0].rebuilding = Some((1_000, 4_000));
        seen.arrays[1].members = vec![("sdb".into(), "in_sync".into()), ("sdc".into(), "in_sync".into())];
        let report = build_report(&seen, &config());
        let md0 = &report.arrays[0];
        assert_eq!((md0.missing_bays.as_slice(), md0.rebuild_percent, md0.degraded), (&[][..], Some(25), true));
        assert_eq!(md0.members.iter().map(|m| m.bay).collect::<Vec<_>>(), [Some(0), Some(1)]);
        let [problem] = report.problems.as_slice() else { panic!("{:#?}", report.problems) };
        assert_eq!(problem.message, "/dev/md0 (raid1) is rebuilding onto bay 0: 25 %");
        assert_eq!(problem.fix, "nothing to do: keep bay 1 in until it is done");
    }

    #[test]
    fn a_member_md_threw_out_is_a_problem_naming_its_bay() {
        let mut seen = seen(&["sda3", "sdb3"], &ALL_DISKS, true);
        seen.arrays[0].members[0].1 = "faulty".into();
        let report = build_report(&seen, &config());
        assert!(report.arrays[0].degraded && report.arrays[0].missing_bays.is_empty());
        let [problem] = report.problems.as_slice() else { panic!("{:#?}", report.problems) };
        assert_eq!(problem.part, "bay 0");
        assert_eq!(problem.message, "/dev/md0 (raid1) is degraded: md marked the SSD in bay 0 faulty");
        assert!(problem.fix.starts_with("replace the SSD in bay 0 with a working disk"), "{}", problem.fix);
    }

    #[test]
    fn members_are_listed_in_bay_order_whatever_the_kernel_named_them() {
        // The kernel's SCSI scan is asynchronous: bay 1's SSD may be `sda` and bay 0's `sdd`.
        let disks = [("sda", "S1"), ("sdb", "H2"), ("sdc", "H3"), ("sdd", "S0")];
        let report = build_report(&seen(&["sda3", "sdd3"], &disks, true), &config());
        let md0: Vec<(Option<u32>, &str)> =
            report.arrays[0].members.iter().map(|m| (m.bay, m.device.as_str())).collect();
        assert_eq!(md0, [(Some(0), "sdd3"), (Some(1), "sda3")]);
    }

    #[test]
    fn a_pulled_ssd_is_named_by_its_bay_with_the_fix() {
        // Bay 0 is gone: the kernel now calls bay 1's SSD `sda`.
        let disks = [("sda", "S1"), ("sdb", "H2"), ("sdc", "H3")];
        let mut seen = seen(&["sda3"], &disks, true);
        seen.arrays[1].members = vec![("sdb".into(), "in_sync".into()), ("sdc".into(), "in_sync".into())];
        let report = build_report(&seen, &config());
        let md0 = &report.arrays[0];
        assert!(md0.degraded);
        assert_eq!(md0.missing_bays, [0]);
        assert_eq!(md0.members[0].bay, Some(1));
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        let problem = &report.problems[0];
        assert_eq!(problem.part, "bay 0");
        assert!(problem.message.contains("the SSD in bay 0 is missing; it runs on bay 1"), "{}", problem.message);
        assert!(problem.fix.starts_with("insert a working SSD"), "{}", problem.fix);
    }

    #[test]
    fn a_bond_leg_without_link_names_its_switch_port() {
        let report = build_report(&seen(&["sda3", "sdb3"], &ALL_DISKS, false), &config());
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].part, "NIC enp0s3 (52:54:00:7a:01:02)");
        assert_eq!(report.problems[0].fix, "check its cable to switch sw-b port Ethernet1");
    }

    #[test]
    fn the_bond_is_whole_when_every_leg_it_was_built_with_has_link() {
        let expected = config().bond.unwrap();
        let up = seen(&["sda3", "sdb3"], &ALL_DISKS, true).bond.unwrap();
        assert!(all_legs_up(&up, &expected));
        let down = seen(&["sda3", "sdb3"], &ALL_DISKS, false).bond.unwrap();
        assert!(!all_legs_up(&down, &expected));
        let one = SeenBond { slaves: up.slaves[..1].to_vec(), ..up };
        assert!(!all_legs_up(&one, &expected), "a leg missing from the bond");
    }

    #[test]
    fn an_array_that_did_not_assemble_is_a_problem() {
        let mut seen = seen(&["sda3", "sdb3"], &ALL_DISKS, true);
        seen.arrays.remove(1);
        let report = build_report(&seen, &config());
        assert_eq!(report.arrays.len(), 1);
        assert_eq!(report.problems[0].part, "/dev/md1");
    }
}
