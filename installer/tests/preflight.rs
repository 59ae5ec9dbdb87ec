//! The technician preflight end to end: a fixture tree per model and per fault → observe → judge.
//! Each fault yields exactly the expected problem and fix.

mod support;

use std::path::Path;

use hardware_profiles::{Profile, load_file, shipped_profiles_dir};
use installer::judge::judge;
use rackhand_api::{BaySource, DiskClass, Problem, Severity, Source, Verdict};
use support::{DiskAt, PciSpec, ServerSpec, edge_1u, qemu_lab, qemu_lab_nvme, storage_2u, write_pci_ids};

fn profile(name: &str) -> Profile {
    load_file(&shipped_profiles_dir().join(format!("{name}.toml"))).unwrap()
}

fn verdict(spec: &ServerSpec, profile_name: &str) -> Verdict {
    let profile = profile(profile_name);
    let inventory = spec.write().observe(Some(&profile));
    judge(&inventory, &profile)
}

fn assert_only(spec: &ServerSpec, profile_name: &str, want: Problem) {
    let verdict = verdict(spec, profile_name);
    assert_eq!(verdict.problems, vec![want]);
}

#[test]
fn lab_fixture_observes_like_the_lab() {
    let lab = profile("qemu-lab");
    let inv = qemu_lab().write().observe(Some(&lab));
    assert_eq!(inv.system.vendor.as_deref(), Some("QEMU"));
    assert_eq!(inv.system.uuid.as_deref(), Some("0b5b3a2e-7c61-4e0a-9c8d-3f1a2b4c5d6e"));
    assert_eq!(inv.psus.len(), 2);
    assert!(inv.psus.iter().all(|p| p.present && p.powered && p.source == Source::Smbios));
    assert_eq!(inv.psus[1].location.as_deref(), Some("PSU2"));
    assert_eq!(inv.psus[1].max_power_watts, Some(500));

    let eth0 = &inv.nics[0];
    assert_eq!((eth0.name.as_str(), eth0.pci_vendor, eth0.pci_device), ("eth0", Some(0x8086), Some(0x10d3)));
    assert_eq!(eth0.vendor_name.as_deref(), Some("Intel"));
    assert_eq!(eth0.driver.as_deref(), Some("e1000e"));
    assert_eq!(eth0.pci_address.as_deref(), Some("0000:00:02.0"));
    assert_eq!(eth0.mac.to_string(), "52:54:00:00:01:01");
    assert!(eth0.carrier);
    assert_eq!(eth0.speed_mbps, Some(1000));
    assert_eq!(eth0.lldp.as_ref().unwrap().system_name.as_deref(), Some("sw-a"));
    let eth1 = &inv.nics[1];
    assert_eq!((eth1.vendor_name.as_deref(), eth1.driver.as_deref()), (Some("Realtek"), Some("8139cp")));

    let bays: Vec<_> = inv.disks.iter().map(|d| (d.name.as_str(), d.class, d.bay, d.hctl.as_deref())).collect();
    assert_eq!(
        bays,
        [
            ("sda", DiskClass::Ssd, Some(0), Some("0:0:0:0")),
            ("sdb", DiskClass::Ssd, Some(1), Some("0:0:1:0")),
            ("sdc", DiskClass::Hdd, Some(2), Some("0:0:2:0")),
            ("sdd", DiskClass::Hdd, Some(3), Some("0:0:3:0")),
        ]
    );
    let sda = &inv.disks[0];
    assert_eq!(sda.size_bytes, 20_000_000_000);
    assert_eq!(sda.serial.as_deref(), Some("SN-sda"));
    assert_eq!(sda.model.as_deref(), Some("QEMU HARDDISK"));
    assert!(sda.wwn.as_deref().unwrap().starts_with("0x5000c500"));
    assert_eq!(sda.transport.as_deref(), Some("virtio-scsi"));
    let hba = sda.controller.as_ref().unwrap();
    assert_eq!(
        (hba.pci_address.as_str(), hba.pci_vendor, hba.driver.as_deref()),
        ("0000:00:05.0", Some(0x1af4), Some("virtio-pci"))
    );
    assert_eq!((sda.bay_source, sda.hot_swap), (Some(BaySource::ScsiAddress), false));
}

#[test]
fn inventory_without_profile_has_no_mapped_bays() {
    let inv = qemu_lab().write().observe(None);
    assert!(inv.disks.iter().all(|d| d.bay.is_none() && d.bay_source.is_none()));
}

#[test]
fn ses_enclosure_places_disks_and_sas_is_recognised() {
    let inv = storage_2u().write().observe(Some(&profile("storage-2u")));
    let sdg = inv.disks.iter().find(|d| d.name == "sdg").unwrap();
    assert_eq!((sdg.bay, sdg.bay_source, sdg.hot_swap), (Some(4), Some(BaySource::Ses), true));
    assert_eq!(sdg.transport.as_deref(), Some("sas"));
    let hba = sdg.controller.as_ref().unwrap();
    let id = (hba.pci_address.as_str(), hba.pci_vendor, hba.pci_device, hba.driver.as_deref());
    assert_eq!(id, ("0000:18:00.0", Some(0x1000), Some(0x0097), Some("mpt3sas")));
    let sda = &inv.disks[0];
    assert_eq!((sda.bay, sda.bay_source), (Some(8), Some(BaySource::ScsiAddress)));
}

#[test]
fn bmc_sensors_are_attached_to_their_supplies() {
    let inv = edge_1u().write().observe(None);
    let reading = inv.psus[1].bmc.as_ref().unwrap();
    assert_eq!(reading.sensor, "PS2 Status");
    assert_eq!(inv.psus[1].source, Source::Smbios);
    assert_eq!(inv.disks[1].transport.as_deref(), Some("sata"));
}

#[test]
fn ahci_disks_are_placed_by_port_whatever_their_scsi_host() {
    let edge = profile("edge-1u");
    let inv = edge_1u().write().observe(Some(&edge));
    let sdb = &inv.disks[1];
    assert_eq!((sdb.bay, sdb.bay_source, sdb.hctl.as_deref()), (Some(1), Some(BaySource::AtaPort), Some("1:0:0:0")));
    let ahci = sdb.controller.as_ref().unwrap();
    assert_eq!((ahci.pci_address.as_str(), ahci.driver.as_deref()), ("0000:00:17.0", Some("ahci")));
    // An HBA probed before ahci takes SCSI hosts 0 and 1: the ports, and so the bays, stay.
    let mut spec = edge_1u();
    for (disk, host) in spec.disks.iter_mut().zip([2, 3]) {
        let DiskAt::Ahci { host: h, .. } = &mut disk.at else { panic!("edge-1u's disks are on AHCI") };
        *h = host;
    }
    let inv = spec.write().observe(Some(&edge));
    let placed: Vec<_> = inv.disks.iter().map(|d| (d.hctl.as_deref(), d.bay)).collect();
    assert_eq!(placed, [(Some("2:0:0:0"), Some(0)), (Some("3:0:0:0"), Some(1))]);
}

#[test]
fn nvme_lab_model_places_nvme_by_slot_and_sata_by_port() {
    let nvme = profile("qemu-lab-nvme");
    let inv = qemu_lab_nvme().write().observe(Some(&nvme));
    let seen: Vec<_> = inv
        .disks
        .iter()
        .map(|d| (d.name.as_str(), d.class, d.bay, d.bay_source, d.transport.as_deref(), d.hctl.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("nvme0n1", DiskClass::Ssd, Some(0), Some(BaySource::PcieSlot), Some("nvme"), None),
            ("nvme1n1", DiskClass::Ssd, Some(1), Some(BaySource::PcieSlot), Some("nvme"), None),
            ("sda", DiskClass::Hdd, Some(2), Some(BaySource::AtaPort), Some("sata"), Some("2:0:0:0")),
            ("sdb", DiskClass::Hdd, Some(3), Some(BaySource::AtaPort), Some("sata"), Some("3:0:0:0")),
        ]
    );
    let controller = |name: &str| {
        let c = inv.disks.iter().find(|d| d.name == name).unwrap().controller.clone().unwrap();
        (c.pci_address, c.pci_vendor, c.pci_device, c.driver)
    };
    assert_eq!(controller("nvme1n1"), ("0000:02:00.0".into(), Some(0x1b36), Some(0x0010), Some("nvme".into())));
    assert_eq!(controller("sdb"), ("0000:00:1f.2".into(), Some(0x8086), Some(0x2922), Some("ahci".into())));
    let nics: Vec<_> = inv.nics.iter().map(|n| (n.vendor_name.as_deref(), n.driver.as_deref())).collect();
    assert_eq!(nics, [(Some("VMware"), Some("vmxnet3")), (Some("AMD"), Some("pcnet32"))]);
    let verdict = judge(&inv, &nvme);
    assert!(verdict.matched);
    assert_eq!(verdict.problems, []);
}

#[test]
fn nvme_drive_in_another_slot_is_named_by_the_bay_it_left() {
    let mut spec = qemu_lab_nvme();
    // The second NVMe drive moved to a root port whose slot the profile does not map.
    spec.pci_slots[1].0 = "7".into();
    let want =
        Problem::blocking("bay 1", "bay 1 empty, profile wants an SSD", "insert an SSD of at least 1 GB into bay 1");
    let verdict = verdict(&spec, "qemu-lab-nvme");
    assert_eq!(verdict.problems[0], want);
    assert_eq!(verdict.problems[1].message, "disk nvme1n1 (QEMU NVMe Ctrl, serial SN-nvme1n1) is in no known bay");
}

#[test]
fn sata_disk_on_the_wrong_port_is_named_by_the_bay_it_left() {
    let mut spec = qemu_lab_nvme();
    let DiskAt::Ahci { print_id, port_no, host, .. } = &mut spec.disk("sdb").at else { panic!("sdb is on AHCI") };
    (*print_id, *port_no, *host) = (6, 6, 5);
    let verdict = verdict(&spec, "qemu-lab-nvme");
    assert_eq!(verdict.problems[0].message, "bay 3 empty, profile wants an HDD");
    assert_eq!(verdict.problems[1].part, "disk sdb");
}

#[test]
fn every_model_passes_its_own_profile() {
    let models = [
        (qemu_lab(), "qemu-lab"),
        (qemu_lab_nvme(), "qemu-lab-nvme"),
        (edge_1u(), "edge-1u"),
        (storage_2u(), "storage-2u"),
    ];
    for (spec, name) in models {
        let verdict = verdict(&spec, name);
        assert!(verdict.matched, "{name}");
        assert_eq!(verdict.problems, [], "{name}");
        assert!(!verdict.must_not_install());
    }
}

#[test]
fn psu_unplugged_from_wall() {
    let mut spec = qemu_lab();
    spec.psus[1].unplugged = true;
    spec.psus[1].status = rackhand_api::PsuStatus::Critical;
    let want = Problem::blocking("PSU 2", "PSU 2 present but not receiving power", "plug its cord into the B-feed PDU");
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn psu_without_power_according_to_the_bmc() {
    let mut spec = edge_1u();
    let reading = &mut spec.bmc.as_mut().unwrap()[0];
    reading.input_lost = true;
    reading.events.push("Power Supply AC lost".into());
    // SMBIOS says it is powered: the verdict names the disagreement, and what to do either way.
    let want = Problem::blocking(
        "PSU 1",
        "PSU 1 present but not receiving power according to the BMC, while SMBIOS reports it powered: the two \
         disagree",
        "plug its cord into the A-feed PDU; if its cord is in and its LED is green, the sensor that says \
         otherwise is wrong: reset the BMC or update its firmware",
    );
    assert_only(&spec, "edge-1u", want);
}

#[test]
fn a_failure_only_the_bmc_reports_names_the_disagreement() {
    let mut spec = edge_1u();
    let reading = &mut spec.bmc.as_mut().unwrap()[1];
    reading.failed = true;
    reading.events.push("Failure detected".into());
    let want = Problem::blocking(
        "PSU 2",
        "PSU 2 reports a critical fault according to the BMC, while SMBIOS reports it healthy: the two disagree",
        "replace PSU 2",
    );
    assert_only(&spec, "edge-1u", want);
}

#[test]
fn psu_missing() {
    let mut spec = qemu_lab();
    spec.psus.pop();
    let want = Problem::blocking(
        "PSU 2",
        "PSU 2 is missing",
        "install a power supply in PSU slot 2 and plug it into the B-feed PDU",
    );
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn no_psu_reported_at_all() {
    let mut spec = qemu_lab();
    spec.psus.clear();
    let want = Problem::blocking(
        "PSUs",
        "no power supply is reported (no SMBIOS type 39 structures, no BMC sensors)",
        "check by hand that all 2 PSUs are seated and powered; if this model never reports them, set \
         power.all_powered = false in the profile",
    );
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn psu_critical_fault() {
    let mut spec = storage_2u();
    spec.psus[0].status = rackhand_api::PsuStatus::Critical;
    assert_only(&spec, "storage-2u", Problem::blocking("PSU 1", "PSU 1 reports a critical fault", "replace PSU 1"));
}

#[test]
fn both_nics_cabled_to_the_same_switch() {
    let mut spec = qemu_lab();
    spec.nic("eth1").lldp = Some(("chassis-sw-a".into(), "swp2".into(), "sw-a".into()));
    let want = Problem::blocking("NIC eth1", "both NICs see switch sw-a", "move eth1 to the second switch");
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn both_nics_from_one_vendor() {
    let mut spec = qemu_lab();
    let eth1 = spec.nic("eth1");
    (eth1.vendor, eth1.device, eth1.driver) = (0x8086, 0x10d3, Some("e1000e".into()));
    let want = Problem::blocking(
        "NICs",
        "NICs eth0 and eth1 are both Intel: profile requires two vendors",
        "replace eth1 with a card from Realtek",
    );
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn nic_of_a_vendor_the_profile_does_not_allow() {
    let mut spec = qemu_lab();
    let eth1 = spec.nic("eth1");
    (eth1.vendor, eth1.device, eth1.driver) = (0x14e4, 0x16d8, Some("bnxt_en".into()));
    let want = Problem::blocking(
        "NIC eth1",
        "NIC eth1 is Broadcom, profile allows Intel, Realtek",
        "replace the card behind eth1 (PCI 0000:00:03.0) with a card from Intel or Realtek",
    );
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn bond_leg_without_link() {
    let mut spec = edge_1u();
    spec.nic("ens1f0").carrier = false;
    spec.nic("ens1f0").lldp = None;
    let want = Problem::blocking(
        "NIC ens1f0",
        "NIC ens1f0 has no link",
        "connect ens1f0 to its switch port; check the cable and that the port is enabled",
    );
    assert_only(&spec, "edge-1u", want);
}

#[test]
fn bond_leg_linking_too_slowly() {
    let mut spec = storage_2u();
    spec.nic("ens4f0").speed_mbps = 10000;
    let want = Problem::blocking(
        "NIC ens4f0",
        "NIC ens4f0 links at 10000 Mb/s, profile wants at least 25000 Mb/s",
        "use a cable or optic rated for 25000 Mb/s on ens4f0 and check the switch port's speed",
    );
    assert_only(&spec, "storage-2u", want);
}

#[test]
fn bay_empty_in_the_enclosure() {
    let mut spec = storage_2u();
    spec.disks.retain(|d| d.name != "sdg");
    spec.enclosure.as_mut().unwrap().slots.insert(4, None);
    let want =
        Problem::blocking("bay 4", "bay 4 empty, profile wants an HDD", "insert an HDD of 4000–20000 GB into bay 4");
    assert_only(&spec, "storage-2u", want);
}

#[test]
fn bay_empty_by_scsi_address() {
    let mut spec = qemu_lab();
    spec.disks.retain(|d| d.name != "sdd");
    let want =
        Problem::blocking("bay 3", "bay 3 empty, profile wants an HDD", "insert an HDD of at least 1 GB into bay 3");
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn hdd_where_an_ssd_belongs() {
    let mut spec = qemu_lab();
    spec.disk("sdb").rotational = true;
    let want = Problem::blocking(
        "bay 1",
        "bay 1 holds an HDD where the profile wants an SSD",
        "replace the HDD in bay 1 (QEMU HARDDISK, serial SN-sdb) with an SSD of at least 1 GB",
    );
    assert_only(&spec, "qemu-lab", want);
}

#[test]
fn disk_too_small_for_its_group() {
    let mut spec = edge_1u();
    spec.disk("sda").size_gb = 120;
    let want = Problem::blocking(
        "bay 0",
        "bay 0 holds a 120 GB SSD, profile wants an SSD of 240–4000 GB",
        "replace the disk in bay 0 (SAMSUNG MZ7LH480HAHQ-00005, serial SN-sda) with an SSD of 240–4000 GB",
    );
    assert_only(&spec, "edge-1u", want);
}

#[test]
fn disk_outside_any_bay_is_a_warning_only() {
    let mut spec = qemu_lab();
    let mut extra = spec.disk("sdd").clone();
    (extra.name, extra.at, extra.serial) =
        ("sde".into(), DiskAt::scsi("pci0000:00/0000:00:05.0/virtio1/host0", "0:0:4:0"), "SN-sde".into());
    spec.disks.push(extra);
    let verdict = verdict(&spec, "qemu-lab");
    assert_eq!(verdict.problems.len(), 1);
    let problem = &verdict.problems[0];
    assert_eq!((problem.severity, problem.part.as_str()), (Severity::Warning, "disk sde"));
    assert_eq!(problem.message, "disk sde (QEMU HARDDISK, serial SN-sde) is in no known bay");
    assert!(!verdict.must_not_install());
}

#[test]
fn a_nic_without_a_driver_is_named_by_its_slot_where_the_profile_misses_it() {
    let mut spec = edge_1u();
    for port in ["ens1f0", "ens1f1"] {
        spec.nic(port).driver = None;
    }
    let profile = profile("edge-1u");
    let fixture = spec.write();
    write_pci_ids(fixture.root());
    let verdict = judge(&fixture.observe(Some(&profile)), &profile);
    let want = Problem::blocking(
        "PCI slot 3",
        "Intel Corporation Ethernet Controller X710 for 10GbE SFP+ (8086:1572) in slot 3 has no driver in this \
         installer",
        "add a driver for 8086:1572 to the netboot image's modules and boot it again, or replace the card with one \
         the installer has a driver for",
    );
    assert!(verdict.problems.contains(&want), "{:#?}", verdict.problems);
    let count = verdict.problems.iter().find(|p| p.part == "NICs").unwrap();
    assert_eq!(count.message, "found 2 network interfaces, profile wants 4");
}

#[test]
fn a_sas_controller_without_a_driver_blocks_where_its_disks_are_missing() {
    // Without mpt3sas the HBA's disks and its enclosure are not there at all: only the function is.
    let mut spec = storage_2u();
    spec.disks.clear();
    spec.enclosure = None;
    let profile = profile("storage-2u");
    let hba = spec.pci.iter_mut().find(|p| p.driver.as_deref() == Some("mpt3sas")).expect("storage-2u's HBA");
    *hba = PciSpec::unbound(&hba.path, hba.vendor, hba.device, 0x010700);
    let fixture = spec.write();
    write_pci_ids(fixture.root());
    let verdict = judge(&fixture.observe(Some(&profile)), &profile);
    let want = Problem::blocking(
        "PCI 0000:18:00.0",
        "Broadcom / LSI SAS3008 PCI-Express Fusion-MPT SAS-3 (1000:0097) at PCI 0000:18:00.0 has no driver in this \
         installer",
        "add a driver for 1000:0097 to the netboot image's modules and boot it again: the installer cannot see the \
         disks behind this controller",
    );
    assert_eq!(verdict.problems.last(), Some(&want), "{:#?}", verdict.problems);
    assert!(verdict.problems.iter().any(|p| p.message == "bay 4 empty, profile wants an HDD"));
}

#[test]
fn a_storage_controller_without_a_driver_warns_while_the_profiles_disks_are_all_there() {
    let mut spec = qemu_lab();
    spec.pci.push(PciSpec::unbound("pci0000:00/0000:00:1f.2", 0x8086, 0x2922, 0x010601));
    let lab = profile("qemu-lab");
    let fixture = spec.write();
    let verdict = judge(&fixture.observe(Some(&lab)), &lab);
    let want = Problem::warning(
        "PCI 0000:00:1f.2",
        "SATA controller (8086:2922) at PCI 0000:00:1f.2 has no driver in this installer",
        "the profile's disks are all found; if disks are behind this controller the installer cannot see them: add \
         a driver for 8086:2922 to the netboot image's modules",
    );
    assert_eq!(verdict.problems, [want]);
    assert!(!verdict.must_not_install());
}

#[test]
fn wrong_model_is_not_matched_and_blocks() {
    let verdict = verdict(&qemu_lab(), "edge-1u");
    assert!(!verdict.matched);
    assert!(verdict.must_not_install());
    assert_eq!(verdict.problems[0].part, "system");
    assert_eq!(
        verdict.problems[0].message,
        "system is QEMU Standard PC (Q35 + ICH9, 2009), but profile `edge-1u` is for Supermicro SYS-1029*"
    );
}

#[test]
fn inventory_json_is_the_api_type() {
    let inv = storage_2u().write().observe(Some(&profile("storage-2u")));
    let json = serde_json::to_string(&inv).unwrap();
    let back: rackhand_api::Inventory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, inv);
    assert!(Path::new(&shipped_profiles_dir()).is_dir());
}

/// `pid1::preflight`: the profile, the verdict and the plan decided together, before anything is touched.
mod decided_before_anything_is_touched {
    use installer::pid1::preflight::{Preflight, preflight};

    use super::*;

    #[test]
    fn a_healthy_server_gets_its_plan() {
        let lab = profile("qemu-lab");
        let inventory = qemu_lab().write().observe(Some(&lab));
        let decided = preflight(&inventory, Ok(&lab));
        assert_eq!(decided.stop_reason(), None);
        assert_eq!(decided.plan().map(|p| p.image.device.as_str()), Some("/dev/md0"));
        assert!(decided.into_plan().is_ok());
    }

    #[test]
    fn without_a_profile_nothing_is_judged() {
        let inventory = qemu_lab().write().observe(None);
        let decided = preflight(&inventory, Err("no profile matches this system (Acme Box)"));
        assert_eq!(decided.stop_reason(), Some("no hardware profile: no profile matches this system (Acme Box)"));
        assert_eq!(decided.warnings().count(), 0);
        assert_eq!(
            decided.into_plan(),
            Err(("no hardware profile: no profile matches this system (Acme Box)".into(), vec![]))
        );
    }

    #[test]
    fn a_blocking_problem_stops_it_with_the_whole_verdict() {
        let lab = profile("qemu-lab");
        let mut spec = qemu_lab();
        spec.disks.pop();
        let inventory = spec.write().observe(Some(&lab));
        let verdict = judge(&inventory, &lab);
        let decided = preflight(&inventory, Ok(&lab));
        assert!(matches!(decided, Preflight::Blocked { .. }), "{decided:?}");
        let reason = decided.stop_reason().unwrap().to_owned();
        assert!(reason.starts_with("1 blocking problem(s): the verdict forbids installing: "), "{reason}");
        assert_eq!(decided.plan(), None);
        assert_eq!(decided.into_plan(), Err((reason, verdict.problems)), "reported with every problem found");
    }

    #[test]
    fn a_profile_that_builds_no_array_cannot_be_planned() {
        let mut lab = profile("qemu-lab");
        lab.raid.clear();
        let inventory = qemu_lab().write().observe(Some(&lab));
        let decided = preflight(&inventory, Ok(&lab));
        assert!(matches!(decided, Preflight::Unplannable { .. }), "{decided:?}");
        assert_eq!(
            decided.stop_reason(),
            Some(
                "cannot plan the install: profile `qemu-lab` builds no RAID array, so there is no device to write the image to"
            )
        );
    }
}
