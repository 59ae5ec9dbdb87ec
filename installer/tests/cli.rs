//! The `installer` binary on fixture trees: inventory JSON is the API type, `check` prints problems and
//! exits 0 / 1 / 2.

mod support;

use std::process::{Command, Output};

use hardware_profiles::shipped_profiles_dir;
use support::qemu_lab;

fn installer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_installer")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn inventory_json_parses_as_the_api_inventory() {
    let fixture = qemu_lab().write();
    let root = fixture.root().to_str().unwrap();
    let out = installer(&["inventory", "--root", root, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inv: rackhand_api::Inventory = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inv.nics.len(), 2);
    assert_eq!(inv.disks.len(), 4);
    assert_eq!(inv.psus.len(), 2);
}

#[test]
fn inventory_text_lists_every_part() {
    let fixture = qemu_lab().write();
    let lab = shipped_profiles_dir().join("qemu-lab.toml");
    let out = installer(&["inventory", "--root", fixture.root().to_str().unwrap(), "--profile", lab.to_str().unwrap()]);
    let shown = text(&out.stdout);
    assert!(shown.contains("NIC eth1: 52:54:00:00:01:02, Realtek [10ec:8139], driver 8139cp"), "{shown}");
    assert!(shown.contains("PCI 0000:00:03.0: Ethernet controller (10ec:8139), driver 8139cp"), "{shown}");
    assert!(
        shown.contains(
            "disk sdc: HDD 40 GB, QEMU HARDDISK, SN-sdc, 0x5000c5000000013a, virtio-scsi, 0:0:2:0, controller \
             0000:00:05.0 [1af4:1004] driver virtio-pci, bay 2 (by SCSI address)\n"
        ),
        "{shown}"
    );
    assert!(shown.contains("PSU 2: present, powered"), "{shown}");
}

#[test]
fn check_passes_a_healthy_lab_node() {
    let fixture = qemu_lab().write();
    let lab = shipped_profiles_dir().join("qemu-lab.toml");
    let out = installer(&["check", "--profile", lab.to_str().unwrap(), "--root", fixture.root().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("verdict: ready to install with profile qemu-lab"));
}

#[test]
fn check_fails_with_part_message_and_fix() {
    let mut spec = qemu_lab();
    spec.psus[1].unplugged = true;
    let fixture = spec.write();
    // A directory: the installer selects the matching profile itself.
    let dir = shipped_profiles_dir();
    let out = installer(&["check", "--profile", dir.to_str().unwrap(), "--root", fixture.root().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("PSU 2: PSU 2 present but not receiving power\n  fix: plug its cord into the B-feed PDU\n"),
        "{shown}"
    );
    assert!(text(&out.stderr).contains("selected profile qemu-lab"));
    let json =
        installer(&["check", "--json", "--profile", dir.to_str().unwrap(), "--root", fixture.root().to_str().unwrap()]);
    let verdict: rackhand_api::Verdict = serde_json::from_slice(&json.stdout).unwrap();
    assert!(verdict.must_not_install());
}

#[test]
fn check_with_a_broken_profile_exits_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let lab = std::fs::read_to_string(shipped_profiles_dir().join("qemu-lab.toml")).unwrap();
    std::fs::write(&bad, lab.replace("level = \"raid1\"", "level = \"raid9\"")).unwrap();
    let out = installer(&["check", "--profile", bad.to_str().unwrap(), "--root", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:") && err.contains("`raid[0].level`: unknown level `raid9`"), "{err}");
}
