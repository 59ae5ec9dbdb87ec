//! Hardware beyond the standard lab server: the second model (NVMe SSDs in PCIe slots, SATA HDDs on AHCI
//! ports, vmxnet3 + PCnet) installed to ready with every bay right; and a server whose NICs the installer
//! has no driver for, which network-boots but can never report, failed at the installer's deadline with
//! the likely causes.

use rackhand_api::EventKind;
use rackhand_lab::server::Model;

use super::*;

#[test]
fn the_nvme_and_sata_model_installs_to_ready_with_every_bay_right() {
    let Some(env) = lab_env() else { return };
    let spec = ServerSpec::of_model(Model::NvmeSata, "nvme-sata", 12);
    let Installed { lab, server, node, _slot } = install(&env, &spec, &env.images);
    assert_ready(&node, &server, &lab);
    assert_eq!(node.profile.as_deref(), Some(Model::NvmeSata.name()), "chosen by its SMBIOS product name");

    let inventory = node.inventory.as_ref().expect("inventory posted");
    let mut drivers: Vec<&str> = inventory.nics.iter().filter_map(|n| n.driver.as_deref()).collect();
    drivers.sort();
    assert_eq!(drivers, ["pcnet32", "vmxnet3"], "{:#?}", inventory.nics);
    for disk in &inventory.disks {
        let expected = match disk.class {
            DiskClass::Ssd => "nvme",
            DiskClass::Hdd => "sata",
        };
        assert_eq!(disk.transport.as_deref(), Some(expected), "{disk:#?}");
    }
    let bays = |class| {
        let mut bays: Vec<u32> = inventory.disks.iter().filter(|d| d.class == class).filter_map(|d| d.bay).collect();
        bays.sort();
        bays
    };
    assert_eq!((bays(DiskClass::Ssd), bays(DiskClass::Hdd)), (vec![0, 1], vec![2, 3]), "{:#?}", inventory.disks);
    // Each bay holds the disk the lab put there (its serial says which), not merely some disk of its class.
    for disk in &inventory.disks {
        let bay = disk.bay.expect("every disk in a bay");
        let serial = spec.disk_serial(u8::try_from(bay).unwrap()).unwrap();
        assert_eq!(disk.serial.as_deref(), Some(serial.as_str()), "bay {bay}: {disk:#?}");
    }

    // The installed OS, booted from its NVMe RAID1, says the same of its arrays.
    let os = node.os.as_ref().expect("the installed OS's report");
    assert!(os.problems.is_empty(), "{:#?}", os.problems);
    let member_bays = |i: usize| os.arrays[i].members.iter().filter_map(|m| m.bay).collect::<Vec<_>>();
    assert_eq!((member_bays(0), member_bays(1)), (vec![0, 1], vec![2, 3]), "{:#?}", os.arrays);
    assert!(os.arrays.iter().all(|a| !a.degraded), "{:#?}", os.arrays);
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
}
