//! Hardware beyond the standard lab server: the second model (NVMe SSDs in PCIe slots, SATA HDDs on AHCI
//! ports, vmxnet3 + PCnet) installed with every bay right and booted from its disks; and a server whose NICs the installer
//! has no driver for, which network-boots but can never report, failed at the installer's deadline with
//! the likely causes (and, paused by QEMU, shows it at the head of its serial tail).

use rackhand_api::{BaySource, EventKind};
use rackhand_lab::server::Model;

use super::*;

/// Installed with every bay right, booted from its NVMe RAID1, and `ready` on its installed OS's report,
/// whose arrays name their members' bays (the NVMe slots and the AHCI ports) and whose bond has both legs.
#[test]
fn the_nvme_and_sata_model_installs_to_ready_with_every_bay_right() {
    let Some(env) = lab_env() else { return };
    let _slot = Slot::take();
    let base = rackhand_lab::lab_dir().join("e2e");
    let mut lab = Lab::up(&base, &env.boot_service, &env.assets, &env.images).expect("lab up");
    lab.clean_up_on_success();
    let spec = ServerSpec::of_model(Model::NvmeSata, "nvme-sata", 12);
    let server = VirtualServer::start(&lab, &spec, env.accel).expect("server start");
    let mac = spec.mac(1).to_string();
    let node = lab
        .wait_state(&mac, &[NodeState::FirstBoot, NodeState::Failed], INSTALL_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", server.serial_tail(80), lab.service_log()));
    assert_eq!(node.state, NodeState::FirstBoot, "{}\n{}", summary(&node), server.serial_tail(80));
    assert_eq!(node.profile.as_deref(), Some(Model::NvmeSata.name()), "chosen by its SMBIOS product name");

    let inventory = node.inventory.as_ref().expect("inventory posted");
    let mut drivers: Vec<&str> = inventory.nics.iter().filter_map(|n| n.driver.as_deref()).collect();
    drivers.sort();
    assert_eq!(drivers, ["pcnet32", "vmxnet3"], "{:#?}", inventory.nics);
    for disk in &inventory.disks {
        let (transport, driver, source) = match disk.class {
            DiskClass::Ssd => ("nvme", "nvme", BaySource::PcieSlot),
            DiskClass::Hdd => ("sata", "ahci", BaySource::AtaPort),
        };
        assert_eq!(disk.transport.as_deref(), Some(transport), "{disk:#?}");
        let controller = disk.controller.as_ref().expect("the disk's controller");
        assert_eq!(controller.driver.as_deref(), Some(driver), "{disk:#?}");
        assert_eq!(disk.bay_source, Some(source), "{disk:#?}");
        // Each bay holds the disk the lab put there (its serial says which), not merely some disk of its class.
        let bay = disk.bay.expect("every disk in a bay");
        let serial = spec.disk_serial(u8::try_from(bay).unwrap()).unwrap();
        assert_eq!(disk.serial.as_deref(), Some(serial.as_str()), "bay {bay}: {disk:#?}");
    }
    let mut bays: Vec<u32> = inventory.disks.iter().filter_map(|d| d.bay).collect();
    bays.sort();
    assert_eq!(bays, [0, 1, 2, 3], "{:#?}", inventory.disks);
    let results = node.results.as_ref().expect("plan results");
    assert!(results.arrays.iter().all(|a| a.members.len() == 2), "{:#?}", results.arrays);

    // Handed over to its disks (the BIOS handover closes iPXE's NICs first: QEMU's vmxnet3 left running on
    // iPXE's rings ignores the installed OS's driver), the installed Debian reports in.
    let node = lab
        .wait_finished(&mac, INSTALL_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", server.serial_tail(80), lab.service_log()));
    assert_ready(&node, &server, &lab);
    let os = node.os.as_ref().expect("the installed OS's report");
    let member_bays = |i: usize| os.arrays[i].members.iter().filter_map(|m| m.bay).collect::<Vec<_>>();
    assert_eq!((member_bays(0), member_bays(1)), (vec![0, 1], vec![2, 3]), "{:#?}", os.arrays);
    assert!(os.arrays.iter().all(|a| !a.degraded), "{:#?}", os.arrays);
    let bond = os.bond.as_ref().expect("the installed OS's bond");
    let mut legs: Vec<String> = bond.slaves.iter().filter(|l| l.link_up).map(|l| l.mac.to_string()).collect();
    legs.sort();
    assert_eq!(legs, [spec.mac(1).to_string(), spec.mac(2).to_string()], "both legs up: {bond:#?}");
    assert!(server.serial_log().contains("mounted filesystem"), "{}", server.serial_tail(80));
}

#[test]
fn a_server_whose_nics_have_no_driver_in_the_installer_fails_at_the_deadline_naming_the_likely_causes() {
    let Some(env) = lab_env() else { return };
    let _slot = Slot::take();
    let base = rackhand_lab::lab_dir().join("e2e");
    // Long enough for the installer to boot under TCG; it never reports, so nothing moves the deadline.
    let deadlines = Deadlines { installer: Some(Duration::from_secs(4 * 60)), ..Deadlines::default() };
    let mut lab = Lab::up_with_deadlines(&base, &env.boot_service, &env.assets, &env.images, LabDhcp::Full, &deadlines)
        .expect("lab up");
    lab.clean_up_on_success();
    // OVMF and iPXE drive virtio-net themselves, so the server network-boots; the installer carries no
    // virtio_net module, so once Linux runs it has no NIC at all.
    let mut spec = ServerSpec::standard("no-nic-driver", 13);
    spec.firmware = Firmware::Uefi;
    spec.nics = ["virtio-net-pci", "virtio-net-pci"];
    let server = VirtualServer::start(&lab, &spec, env.accel).expect("server start");
    let mac = spec.mac(1).to_string();
    let node = lab
        .wait_finished(&mac, Duration::from_secs(15 * 60))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", server.serial_tail(80), lab.service_log()));
    assert_eq!(node.state, NodeState::Failed, "{}", summary(&node));
    let reason = &node.failure.as_ref().unwrap().reason;
    assert!(reason.contains("the installer did not report within 4 min"), "{reason}");
    assert!(reason.contains("no driver for the NIC the server booted from"), "{reason}");
    assert!(reason.contains("VLAN"), "{reason}");
    let network_booted =
        node.events.iter().any(|e| matches!(&e.kind, EventKind::Transition { to: NodeState::Booting, .. }));
    assert!(network_booted, "the server was seen fetching the installer's script: {}", summary(&node));
    assert!(node.inventory.is_none(), "the installer never reported");
    // The console (what a technician at the crash cart sees) names the cards the installer has no driver for.
    let console = server.serial_log();
    assert!(console.contains("has no driver in this installer"), "{}", server.serial_tail(80));

    // Every failure's serial tail leads with QEMU's run state: a machine QEMU paused (a full host disk
    // pauses it, `werror=enospc`) says so instead of looking like a server that went quiet.
    server.qmp().unwrap().execute("stop", serde_json::json!({})).unwrap();
    let tail = server.serial_tail(5);
    assert!(tail.starts_with("--- QEMU: paused; host disk under "), "{tail}");
}
