//! `[bays] map` keys beyond SCSI addresses: the NVMe lab model maps its bays by PCIe slot and AHCI port,
//! and a bad key is refused naming the file, its line and the key.

use std::path::Path;

use hardware_profiles::{AtaSite, DiskSite, ProfileError, SesSite, load_str};
use rackhand_api::{BaySource, DiskClass};

const NVME: &str = include_str!("../profiles/qemu-lab-nvme.toml");

#[test]
fn the_nvme_lab_model_maps_bays_by_pcie_slot_and_ahci_port() {
    let p = load_str(Path::new("qemu-lab-nvme.toml"), NVME).unwrap();
    assert_eq!((p.recognise.vendor.as_str(), p.recognise.product.as_deref()), ("QEMU", Some("Rackhand Lab NVMe")));
    let slot = |name: &str| DiskSite { pcie_slot: Some(name.into()), ..DiskSite::default() };
    assert_eq!(p.bays.place(&slot("1")), Some((0, BaySource::PcieSlot)));
    assert_eq!(p.bays.place(&slot("2")), Some((1, BaySource::PcieSlot)));
    assert_eq!(p.bays.place(&slot("0-1")), None);
    // An AHCI disk on port 3 (ata3, host 2): its SCSI address is no bay of this model.
    let port = |port: u32| DiskSite {
        hctl: Some(format!("{}:0:0:0", port - 1)),
        ata: Some(AtaSite { controller: Some("0000:00:1f.2".into()), port }),
        ..DiskSite::default()
    };
    assert_eq!(p.bays.place(&port(3)), Some((2, BaySource::AtaPort)));
    assert_eq!(p.bays.place(&port(4)), Some((3, BaySource::AtaPort)));
    assert_eq!(p.bays.place(&port(1)), None);
    assert!(!p.bays.maps_enclosures());
    let classes: Vec<_> = p.disk_groups.iter().map(|g| (g.class, g.bays.clone())).collect();
    assert_eq!(classes, [(DiskClass::Ssd, vec![0, 1]), (DiskClass::Hdd, vec![2, 3])]);
    let vendors: Vec<u16> = p.network.vendors.iter().map(|v| v.id).collect();
    assert_eq!(vendors, [0x15ad, 0x1022]);
    assert_eq!(p.bond.primary_vendor.map(|v| v.name), Some("VMware"));
}

#[test]
fn enclosure_slots_can_be_named_by_the_profile() {
    let text = NVME.replace("\"ata:4\" = 3", "\"ses:0x500056b31234abff:7\" = 3\n\"ses:0:0:16:0:1\" = 4");
    let p = load_str(Path::new("p.toml"), &text).unwrap();
    assert!(p.bays.maps_enclosures());
    let held = |enclosure: &str, id: Option<&str>, slot| DiskSite {
        ses: Some(SesSite { enclosure: enclosure.into(), enclosure_id: id.map(Into::into), slot }),
        ..DiskSite::default()
    };
    assert_eq!(p.bays.place(&held("2:0:9:0", Some("0x500056B31234ABFF"), 7)), Some((3, BaySource::Ses)));
    assert_eq!(p.bays.place(&held("0:0:16:0", None, 1)), Some((4, BaySource::Ses)));
    assert_eq!(p.bays.place(&held("1:0:16:0", None, 1)), None);
}

/// Replace `from` with `to` in the NVMe profile: the line the error names, its field and message.
fn broken(from: &str, to: &str) -> (usize, String, String) {
    assert!(NVME.contains(from), "`{from}` is not in the profile");
    let text = NVME.replacen(from, to, 1);
    match load_str(Path::new("profiles/bad.toml"), &text) {
        Err(err @ ProfileError::Invalid { .. }) => {
            let shown = err.to_string();
            let ProfileError::Invalid { line, field, message, .. } = err else { unreachable!() };
            assert!(shown.starts_with(&format!("profiles/bad.toml:{line}: `bays.map`: ")), "{shown}");
            (line, field, message)
        }
        other => panic!("expected an invalid-profile error, got {other:?}"),
    }
}

fn line_of(needle: &str) -> usize {
    NVME.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_bad_bay_key_is_named_with_its_line() {
    let cases = [
        ("\"ata:4\" = 3", "\"ata:four\" = 3", "`ata:four`: AHCI port `four` is not a number"),
        ("\"ata:4\" = 3", "\"ata:0\" = 3", "`ata:0`: AHCI ports count from 1"),
        ("\"ata:4\" = 3", "\"ata:00:1f.2:4\" = 3", "`ata:00:1f.2:4`: `00:1f.2` is not a PCI address"),
        ("\"pcie-slot:2\" = 1", "\"pcie-slot:\" = 1", "`pcie-slot:`: `` is not a slot name"),
        ("\"pcie-slot:2\" = 1", "\"nvme:2\" = 1", "`nvme:2`: not a bay key: write a SCSI address like `*:0:1:0`"),
        ("\"ata:4\" = 3", "\"ses::4\" = 3", "`ses::4`: the enclosure before the slot number is empty"),
        ("\"ata:4\" = 3", "\"ata:03\" = 3", "`ata:03` names the same place as `ata:3`"),
    ];
    for (from, to, want) in cases {
        let (line, field, message) = broken(from, to);
        assert_eq!((line, field.as_str()), (line_of(from), "bays.map"), "{to}");
        assert!(message.starts_with(want), "{to}: {message}");
    }
}

#[test]
fn a_bay_is_reached_by_one_key_of_each_kind() {
    let (line, _, message) = broken("\"ata:4\" = 3", "\"ata:4\" = 2");
    assert_eq!(line, line_of("\"ata:4\" = 3"));
    assert_eq!(message, "bay 2 is mapped twice by AHCI port keys (`ata:3` and `ata:4`)");
    // A bay taking an NVMe or a SATA drive: one key of each kind may name it.
    let universal = NVME.replacen("\"ata:4\" = 3", "\"ata:4\" = 3\n\"ata:1\" = 0", 1);
    assert!(load_str(Path::new("p.toml"), &universal).is_ok());
}
