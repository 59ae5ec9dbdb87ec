//! Observation details on fixture trees: where the sysfs shapes differ from the common case.

mod support;

use rackhand_api::{DiskClass, PsuStatus, Source};
use support::{qemu_lab, write_nvme, write_virtual_nic};

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
