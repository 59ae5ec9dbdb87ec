//! The install plan for each shipped profile, from fixture trees of its model: real interface names for
//! the bond, `/dev/sdX` members in bay order, the OS array as the image target, the end action.

mod support;

use std::process::Command;

use hardware_profiles::{BondMode, FilesystemKind, Profile, RaidLevel, load_file, shipped_profiles_dir};
use installer::judge::judge;
use installer::plan::{FinishAction, Plan, PlanError, plan, plan_text};
use support::{ServerSpec, edge_1u, qemu_lab, storage_2u};

fn profile(name: &str) -> Profile {
    load_file(&shipped_profiles_dir().join(format!("{name}.toml"))).unwrap()
}

fn plan_for(spec: &ServerSpec, profile: &Profile) -> Result<Plan, PlanError> {
    let fixture = spec.write();
    let inventory = fixture.observe(Some(profile));
    plan(&judge(&inventory, profile), profile, &inventory)
}

#[test]
fn qemu_lab_plan() {
    let plan = plan_for(&qemu_lab(), &profile("qemu-lab")).unwrap();
    assert_eq!(plan.bond.name, "bond0");
    assert_eq!(plan.bond.mode, BondMode::ActiveBackup);
    assert_eq!(plan.bond.legs, ["eth0", "eth1"], "the Intel leg (primary vendor) first");
    assert_eq!(plan.bond.primary.as_deref(), Some("eth0"));
    assert_eq!(plan.bond.miimon_ms, 100);
    assert_eq!(plan.arrays.len(), 2);
    assert_eq!(plan.arrays[0].device, "/dev/md0");
    assert_eq!(plan.arrays[0].level, RaidLevel::Raid1);
    assert_eq!(plan.arrays[0].members, ["/dev/sda3", "/dev/sdb3"], "the OS array is built on RAID partitions");
    let boot: Vec<(&str, Option<u32>)> = plan.boot_disks.iter().map(|d| (d.disk.as_str(), d.bay)).collect();
    assert_eq!(boot, [("/dev/sda", Some(0)), ("/dev/sdb", Some(1))], "both OS disks boot, by bay");
    assert_eq!(plan.arrays[1].members, ["/dev/sdc", "/dev/sdd"]);
    assert_eq!(plan.arrays[0].metadata, "1.2");
    assert_eq!((plan.image.name.as_str(), plan.image.device.as_str()), ("debian-12", "/dev/md0"));
    assert_eq!(plan.data_arrays, ["/dev/md1"]);
    assert_eq!(plan.arrays[0].filesystem, None, "the image goes over the OS array");
    let fs = plan.arrays[1].filesystem.as_ref().expect("the data array's filesystem");
    assert_eq!((fs.kind, fs.label.as_deref()), (FilesystemKind::Ext4, Some("data")));
    assert!(plan_text(&plan).contains("data /dev/md1: ext4 labelled data\n"), "{}", plan_text(&plan));
    assert_eq!(plan.finish, FinishAction::Reboot, "the lab reboots into the installed OS");
    assert!(!plan.wipe);
    let map: Vec<(&str, u32)> = plan.bay_map.iter().map(|(k, b)| (k.as_str(), *b)).collect();
    assert_eq!(
        map,
        [("*:0:0:0", 0), ("*:0:1:0", 1), ("*:0:2:0", 2), ("*:0:3:0", 3)],
        "the profile's map, for the agent"
    );
}

#[test]
fn edge_1u_plan_uses_the_cabled_ports_across_vendors() {
    let plan = plan_for(&edge_1u(), &profile("edge-1u")).unwrap();
    assert_eq!(plan.bond.legs, ["ens1f0", "eno1"]);
    assert_eq!(plan.bond.primary.as_deref(), Some("ens1f0"));
    assert_eq!(plan.arrays.len(), 1);
    assert_eq!(plan.arrays[0].members, ["/dev/sda3", "/dev/sdb3"], "the OS array is built on RAID partitions");
    let boot: Vec<(&str, Option<u32>)> = plan.boot_disks.iter().map(|d| (d.disk.as_str(), d.bay)).collect();
    assert_eq!(boot, [("/dev/sda", Some(0)), ("/dev/sdb", Some(1))], "both OS disks boot, by bay");
    assert_eq!(plan.image.device, "/dev/md0");
    assert!(plan.data_arrays.is_empty());
    assert_eq!(plan.finish, FinishAction::Reboot, "reboot is the default");
}

#[test]
fn storage_2u_plan_has_raid6_over_the_enclosure_bays() {
    let plan = plan_for(&storage_2u(), &profile("storage-2u")).unwrap();
    assert_eq!(plan.bond.legs, ["ens4f0", "ens3f0"], "Mellanox is the primary vendor");
    assert_eq!(plan.arrays[0].members, ["/dev/sda3", "/dev/sdb3"], "the OS array is built on RAID partitions");
    let boot: Vec<(&str, Option<u32>)> = plan.boot_disks.iter().map(|d| (d.disk.as_str(), d.bay)).collect();
    assert_eq!(boot, [("/dev/sda", Some(8)), ("/dev/sdb", Some(9))], "the enclosure's OS bays");
    assert_eq!(plan.arrays[1].level, RaidLevel::Raid6);
    let data: Vec<String> = "cdefghij".chars().map(|c| format!("/dev/sd{c}")).collect();
    assert_eq!(plan.arrays[1].members, data);
    assert_eq!(plan.image.name, "rackhand-storage");
    let text = plan_text(&plan);
    assert!(text.contains("array /dev/md1: raid6 of /dev/sdc"), "{text}");
    assert!(text.contains("data /dev/md1: left unformatted for the installed OS"), "{text}");
    assert!(text.contains("bond bond0: active-backup over ens4f0 + ens3f0, primary ens4f0"), "{text}");
}

#[test]
fn a_blocked_verdict_has_no_plan() {
    let mut spec = qemu_lab();
    spec.psus[1].unplugged = true;
    let err = plan_for(&spec, &profile("qemu-lab")).unwrap_err();
    assert!(matches!(&err, PlanError::Blocked(m) if m.contains("PSU 2")), "{err}");
}

#[test]
fn a_verdict_for_another_profile_is_refused() {
    let lab = profile("qemu-lab");
    let fixture = qemu_lab().write();
    let inventory = fixture.observe(Some(&lab));
    let verdict = judge(&inventory, &lab);
    let err = plan(&verdict, &profile("edge-1u"), &inventory).unwrap_err();
    assert!(matches!(err, PlanError::WrongProfile { .. }), "{err}");
}

fn installer(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_installer")).args(args).output().unwrap()
}

#[test]
fn plan_cli_prints_text_and_json_selecting_from_a_directory() {
    let fixture = qemu_lab().write();
    let root = fixture.root().to_str().unwrap();
    let dir = shipped_profiles_dir();
    let dir = dir.to_str().unwrap();
    let out = installer(&["plan", "--profile", dir, "--root", root]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("image debian-12 -> /dev/md0"), "{text}");
    assert!(text.contains("then: reboot"), "{text}");
    let out = installer(&["plan", "--json", "--profile", dir, "--root", root]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["bond"]["legs"], serde_json::json!(["eth0", "eth1"]));
    assert_eq!(json["finish"], "reboot");
    // The plan reads like the profile it came from: the enums by their profile (and kernel) names.
    assert_eq!(
        (json["bond"]["mode"].as_str(), json["arrays"][0]["level"].as_str()),
        (Some("active-backup"), Some("raid1"))
    );
}

#[test]
fn plan_cli_exits_2_naming_the_blocking_problem() {
    let mut spec = qemu_lab();
    spec.disks.pop();
    let fixture = spec.write();
    let lab = shipped_profiles_dir().join("qemu-lab.toml");
    let out = installer(&["plan", "--profile", lab.to_str().unwrap(), "--root", fixture.root().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("planning the install") && err.contains("bay 3"), "{err}");
}
