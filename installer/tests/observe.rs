//! Observation details on fixture trees: where the sysfs shapes differ from the common case.

mod support;

use rackhand_api::{BaySource, DiskClass, PciDevice, PsuStatus, Source};
use support::{
    PciSpec, edge_1u, qemu_lab, qemu_lab_nvme, write_nvme, write_nvme_multipath, write_pci_function, write_pci_ids,
    write_virtual_nic,
};

#[test]
fn power_supplies_are_read_from_the_dmi_table_when_entries_are_missing() {
    let mut spec = qemu_lab();
    spec.dmi_table_only = true;
    spec.psus[1].status = PsuStatus::NonCritical;
    let inv = spec.write().observe(None);
    assert_eq!(inv.psus.len(), 2);
    assert_eq!(inv.psus[0].location.as_deref(), Some("PSU1"));
    assert_eq!(inv.psus[1].status, PsuStatus::NonCritical);
    assert_eq!(inv.psus[1].source, Source::Smbios);
}

#[test]
fn nvme_namespaces_are_disks_without_scsi_address() {
    let fixture = qemu_lab().write();
    write_nvme(fixture.root(), "SAMSUNG MZQL2960HCJR-00A07", "S64FNE0R801234", 960);
    let inv = fixture.observe(None);
    let nvme = inv.disks.iter().find(|d| d.name == "nvme0n1").unwrap();
    assert_eq!(nvme.class, DiskClass::Ssd);
    assert_eq!(nvme.model.as_deref(), Some("SAMSUNG MZQL2960HCJR-00A07"));
    assert_eq!(nvme.serial.as_deref(), Some("S64FNE0R801234"));
    assert_eq!(nvme.wwn.as_deref(), Some("eui.0025388b71b0a2c1"));
    assert_eq!(nvme.transport.as_deref(), Some("nvme"));
    assert_eq!((nvme.hctl.as_deref(), nvme.size_bytes), (None, 960_000_000_000));
    let own = nvme.controller.as_ref().unwrap();
    assert_eq!(
        (own.pci_address.as_str(), own.pci_vendor, own.driver.as_deref()),
        ("0000:3d:00.0", Some(0x144d), Some("nvme"))
    );
    assert_eq!((nvme.bay, nvme.bay_source), (None, None), "in no slot");
}

#[test]
fn a_multipath_nvme_namespace_is_one_disk_reached_through_its_controller() {
    let fixture = qemu_lab_nvme().write();
    // A dual-port SSD behind a third root port, in slot 3.
    write_nvme_multipath(fixture.root(), "pci0000:00/0000:00:06.0/0000:05:00.0", "S64HNE0T100042");
    std::fs::create_dir_all(fixture.root().join("sys/bus/pci/slots/3")).unwrap();
    std::fs::write(fixture.root().join("sys/bus/pci/slots/3/address"), "0000:05:00\n").unwrap();
    let inv = fixture.observe(None);
    let names: Vec<&str> = inv.disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["nvme0n1", "nvme1n1", "nvme2n1", "sda", "sdb"], "the hidden path nvme2c2n1 is no disk");
    let nvme = &inv.disks[2];
    assert_eq!(
        (nvme.model.as_deref(), nvme.serial.as_deref()),
        (Some("SAMSUNG MZWLJ3T8HBLS-00007"), Some("S64HNE0T100042"))
    );
    assert_eq!((nvme.transport.as_deref(), nvme.size_bytes), (Some("nvme"), 3_840_000_000_000));
    let own = nvme.controller.as_ref().unwrap();
    assert_eq!((own.pci_address.as_str(), own.driver.as_deref()), ("0000:05:00.0", Some("nvme")));
    let mut profile =
        hardware_profiles::load_file(&hardware_profiles::shipped_profiles_dir().join("qemu-lab-nvme.toml")).unwrap();
    profile.bays =
        hardware_profiles::BayMap::new(false, vec![(hardware_profiles::BayKey::parse("pcie-slot:3").unwrap(), 9)]);
    let inv = fixture.observe(Some(&profile));
    assert_eq!((inv.disks[2].bay, inv.disks[2].bay_source), (Some(9), Some(BaySource::PcieSlot)));
}

#[test]
fn the_fixture_links_like_the_kernel() {
    let fixture = qemu_lab_nvme().write();
    let link = |p: &str| std::fs::read_link(fixture.root().join("sys").join(p)).unwrap();
    assert_eq!(
        link("block/nvme0n1").to_str(),
        Some("../devices/pci0000:00/0000:00:02.0/0000:01:00.0/nvme/nvme0/nvme0n1")
    );
    assert_eq!(
        link("devices/pci0000:00/0000:00:02.0/0000:01:00.0/nvme/nvme0/nvme0n1/device").to_str(),
        Some("../../nvme0")
    );
    assert_eq!(
        link("block/sda").to_str(),
        Some("../devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda")
    );
    assert_eq!(link("class/ata_port/ata3").to_str(), Some("../../devices/pci0000:00/0000:00:1f.2/ata3/ata_port/ata3"));
    let port_no = std::fs::read_to_string(fixture.root().join("sys/class/ata_port/ata4/port_no")).unwrap();
    assert_eq!(port_no, "4\n");
}

#[test]
fn virtual_interfaces_are_not_nics_and_dead_links_read_as_down() {
    let mut spec = qemu_lab();
    spec.nic("eth1").carrier = false;
    spec.nic("eth1").speed_mbps = -1;
    let fixture = spec.write();
    write_virtual_nic(fixture.root(), "lo");
    write_virtual_nic(fixture.root(), "bond0");
    let inv = fixture.observe(None);
    let names: Vec<&str> = inv.nics.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["eth0", "eth1"]);
    assert!(!inv.nics[1].carrier);
    assert_eq!(inv.nics[1].speed_mbps, None);
}

fn function(pci_path: &str, vendor: u16, device: u16, class: u32, driver: Option<&str>) -> PciSpec {
    PciSpec { path: pci_path.into(), vendor, device, class: Some(class), driver: driver.map(str::to_owned), slot: None }
}

fn summary(devices: &[PciDevice]) -> Vec<(&str, &str, Option<&str>, Option<&str>)> {
    devices.iter().map(|d| (d.address.as_str(), d.class_name(), d.driver.as_deref(), d.slot.as_deref())).collect()
}

#[test]
fn pci_network_and_storage_functions_with_their_drivers_slots_and_names() {
    let fixture = edge_1u().write();
    let root = fixture.root();
    write_pci_ids(root);
    write_pci_function(root, &function("pci0000:00/0000:00:17.0", 0x8086, 0xa182, 0x010601, Some("ahci")));
    // Neither network nor storage: a host bridge and a USB controller are not listed.
    write_pci_function(root, &function("pci0000:00/0000:00:00.0", 0x8086, 0x2020, 0x060000, None));
    write_pci_function(root, &function("pci0000:00/0000:00:14.0", 0x8086, 0xa1af, 0x0c0330, Some("xhci_hcd")));
    let inv = fixture.observe(None);
    assert_eq!(
        summary(&inv.pci_devices),
        [
            ("0000:00:17.0", "SATA controller", Some("ahci"), None),
            ("0000:19:00.0", "Ethernet controller", Some("bnxt_en"), None),
            ("0000:19:00.1", "Ethernet controller", Some("bnxt_en"), None),
            ("0000:3b:00.0", "Ethernet controller", Some("i40e"), Some("3")),
            ("0000:3b:00.1", "Ethernet controller", Some("i40e"), Some("3")),
        ]
    );
    let x710 = &inv.pci_devices[3];
    assert_eq!(x710.label(), "Intel Corporation Ethernet Controller X710 for 10GbE SFP+ (8086:1572)");
    assert_eq!((x710.vendor, x710.device, x710.class), (0x8086, 0x1572, 0x020000));
    assert_eq!(inv.pci_devices[0].label(), "Intel Corporation SATA controller (8086:a182)", "not in the excerpt");
    let ens1f0 = inv.nics.iter().find(|n| n.name == "ens1f0").unwrap();
    assert_eq!(ens1f0.firmware_version.as_deref(), Some("8.70 0x8000c40f 1.3179.0"));
}

#[test]
fn a_card_without_a_driver_has_no_interface_but_is_seen_on_the_bus() {
    let mut spec = edge_1u();
    for port in ["ens1f0", "ens1f1"] {
        spec.nic(port).driver = None;
    }
    let fixture = spec.write();
    let inv = fixture.observe(None);
    let names: Vec<&str> = inv.nics.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["eno1", "eno2"]);
    let x710: Vec<_> = inv.pci_devices.iter().filter(|d| d.device == 0x1572).collect();
    assert_eq!(x710.len(), 2);
    assert!(x710.iter().all(|d| d.driver.is_none() && d.slot.as_deref() == Some("3")));
    // Without pci.ids the card is told by its kind and ids.
    assert_eq!(x710[0].label(), "Ethernet controller (8086:1572)");
}

#[test]
fn a_virtio_function_is_driven_by_its_virtio_child_not_by_virtio_pci() {
    let fixture = qemu_lab().write();
    let root = fixture.root();
    let sys = root.join("sys");
    // The lab's virtio-scsi controller already holds `virtio1` (its disks' SCSI host is below it).
    for (path, device, class, child, child_driver) in [
        ("pci0000:00/0000:00:05.0", 0x1004, 0x010000, "virtio1", Some("virtio_scsi")),
        ("pci0000:00/0000:00:06.0", 0x1000, 0x020000, "virtio2", None),
    ] {
        write_pci_function(root, &function(path, 0x1af4, device, class, Some("virtio-pci")));
        let child = sys.join("devices").join(path).join(child);
        std::fs::create_dir_all(&child).unwrap();
        if let Some(driver) = child_driver {
            std::fs::create_dir_all(sys.join("bus/virtio/drivers").join(driver)).unwrap();
            std::os::unix::fs::symlink(format!("../../../../bus/virtio/drivers/{driver}"), child.join("driver"))
                .unwrap();
        }
    }
    let inv = fixture.observe(None);
    let virtio: Vec<_> = inv.pci_devices.iter().filter(|d| d.vendor == 0x1af4).collect();
    assert_eq!(virtio[0].driver.as_deref(), Some("virtio_scsi"));
    assert_eq!(virtio[1].driver, None, "virtio-pci holds the function, but nothing drives the NIC");
}
