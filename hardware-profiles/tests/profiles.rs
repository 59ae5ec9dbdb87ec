//! The shipped profiles load, broken profiles are rejected with file, line and field, and selection picks
//! the most specific profile.

use std::path::Path;

use hardware_profiles::{
    BondMode, DiskSite, FilesystemKind, ProfileError, RaidLevel, SelectError, load_dir, load_str, select,
    shipped_profiles_dir,
};
use rackhand_api::{BaySource, DiskClass, SystemIdentity};

const LAB: &str = include_str!("../profiles/qemu-lab.toml");

#[test]
fn every_shipped_profile_loads() {
    let profiles = load_dir(&shipped_profiles_dir()).unwrap();
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["edge-1u", "qemu-lab-nvme", "qemu-lab", "storage-2u"]);
    for p in &profiles {
        assert!(!p.disk_groups.is_empty(), "{} has no disks", p.name);
        assert!(!p.raid.is_empty(), "{} builds no array", p.name);
    }
}

#[test]
fn lab_profile_fits_the_lab() {
    let lab = load_str(Path::new("qemu-lab.toml"), LAB).unwrap();
    assert_eq!(lab.recognise.vendor, "QEMU");
    assert_eq!(lab.power.supplies, 2);
    assert_eq!(lab.power.feed_of(2), Some("B"));
    assert_eq!(lab.bond.mode, BondMode::ActiveBackup);
    assert_eq!(lab.bond.primary_vendor.unwrap().id, 0x8086);
    assert!(lab.network.allows(0x10ec));
    let at = |hctl: &str| lab.bays.place(&DiskSite { hctl: Some(hctl.into()), ..DiskSite::default() });
    assert_eq!(at("0:0:0:0"), Some((0, BaySource::ScsiAddress)));
    assert_eq!(at("2:0:3:0"), Some((3, BaySource::ScsiAddress)));
    assert_eq!(at("0:0:4:0"), None);
    let os = lab.disk_group("os").unwrap();
    assert_eq!((os.class, os.count, os.bays.as_slice()), (DiskClass::Ssd, 2, &[0, 1][..]));
    assert_eq!(lab.disk_group("data").unwrap().class, DiskClass::Hdd);
    assert_eq!(lab.raid[0].level, RaidLevel::Raid1);
    assert_eq!(lab.raid[1].metadata, "1.2");
    assert_eq!(lab.raid[0].filesystem, None, "the OS array gets the image");
    let data = lab.raid[1].filesystem.as_ref().expect("the data array gets a filesystem");
    assert_eq!((data.kind, data.label.as_deref()), (FilesystemKind::Ext4, Some("data")));
}

/// Replace `from` with `to` in the lab profile and return the error it now gives.
fn broken(from: &str, to: &str) -> (usize, String, String) {
    assert!(LAB.contains(from), "fixture text `{from}` not in lab profile");
    let text = LAB.replacen(from, to, 1);
    match load_str(Path::new("profiles/bad.toml"), &text) {
        Err(ProfileError::Invalid { file, line, field, message }) => {
            assert_eq!(file, Path::new("profiles/bad.toml"));
            (line, field, message)
        }
        other => panic!("expected an invalid-profile error, got {other:?}"),
    }
}

fn line_of(needle: &str) -> usize {
    LAB.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn unknown_key_names_line_and_field() {
    let (line, field, message) = broken("miimon_ms = 100", "miimon = 100");
    assert_eq!(line, line_of("miimon_ms"));
    assert_eq!(field, "bond.miimon");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn wrong_type_names_line_and_field() {
    let (line, field, _) = broken("supplies = 2", "supplies = \"two\"");
    assert_eq!((line, field.as_str()), (line_of("supplies"), "power.supplies"));
}

#[test]
fn missing_key_names_its_table() {
    let (_, field, message) = broken("supplies = 2\n", "");
    assert_eq!(field, "power.supplies");
    assert!(message.contains("missing field"), "{message}");
}

#[test]
fn raid_naming_a_missing_group_is_rejected_at_its_line() {
    let (line, field, message) = broken("group = \"data\"", "group = \"bulk\"");
    assert_eq!(line, line_of("group = \"data\""));
    assert_eq!(field, "raid[1].group");
    assert!(message.contains("bulk"), "{message}");
}

#[test]
fn semantic_errors_name_their_field() {
    let cases = [
        ("level = \"raid1\"", "level = \"raid7\"", "raid[0].level"),
        ("metadata = \"1.2\"", "metadata = \"2.0\"", "raid[0].metadata"),
        ("mode = \"active-backup\"", "mode = \"round-robin\"", "bond.mode"),
        ("primary_vendor = \"intel\"", "primary_vendor = \"mellanox\"", "bond.primary_vendor"),
        ("vendors = [\"intel\", \"realtek\"]", "vendors = [\"intel\", \"acme\"]", "network.vendors"),
        ("bays = [2, 3]", "bays = [1, 3]", "disks[1].bays"),
        ("bays = [2, 3]", "bays = [2]", "disks[1].bays"),
        ("feeds = [\"A\", \"B\"]", "feeds = [\"A\"]", "power.feeds"),
        ("\"*:0:3:0\" = 3", "\"0:0:3\" = 3", "bays.map"),
        ("filesystem = \"ext4\"", "filesystem = \"zfs\"", "raid[1].filesystem"),
        ("label = \"data\"", "label = \"customer data\"", "raid[1].label"),
        ("label = \"data\"", "label = \"seventeen-letters\"", "raid[1].label"),
    ];
    for (from, to, want_field) in cases {
        let (line, field, message) = broken(from, to);
        assert_eq!(field, want_field, "{to}: {message}");
        assert_eq!(line, line_of(from), "{to}");
    }
}

#[test]
fn the_os_array_takes_no_filesystem_and_a_label_needs_one() {
    let os_array = LAB.replacen("metadata = \"1.2\"\n", "metadata = \"1.2\"\nfilesystem = \"ext4\"\n", 1);
    let err = load_str(Path::new("p.toml"), &os_array).unwrap_err().to_string();
    assert!(err.contains("`raid[0].filesystem`: the first array is the OS array"), "{err}");
    let (_, field, message) = broken("filesystem = \"ext4\"\n", "");
    assert_eq!(field, "raid[1].label");
    assert!(message.contains("needs a `filesystem`"), "{message}");
}

#[test]
fn error_display_reads_file_line_field() {
    let err = load_str(Path::new("p.toml"), &LAB.replacen("level = \"raid1\"", "level = \"raid7\"", 1)).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("p.toml:{}: `raid[0].level`: unknown level `raid7`", line_of("level = \"raid1\""))),
        "{shown}"
    );
}

fn identity(vendor: &str, product: &str) -> SystemIdentity {
    SystemIdentity { vendor: Some(vendor.into()), product: Some(product.into()), ..SystemIdentity::default() }
}

fn variant(name: &str, match_section: &str) -> hardware_profiles::Profile {
    let text = LAB.replacen("name = \"qemu-lab\"", &format!("name = \"{name}\""), 1).replacen(
        "vendor = \"QEMU\"",
        match_section,
        1,
    );
    load_str(Path::new("variant.toml"), &text).unwrap()
}

#[test]
fn most_specific_profile_wins() {
    let profiles = vec![
        variant("any-qemu", "vendor = \"QEMU\""),
        variant("q35", "vendor = \"QEMU\"\nproduct_prefix = \"Standard PC (Q35\""),
        variant("q35-exact", "vendor = \"qemu\"\nproduct = \"Standard PC (Q35 + ICH9, 2009)\""),
    ];
    let q35 = identity("QEMU", "Standard PC (Q35 + ICH9, 2009)");
    assert_eq!(select(&q35, &profiles).unwrap().name, "q35-exact");
    let pc = identity("QEMU", "Standard PC (i440FX + PIIX, 1996)");
    assert_eq!(select(&pc, &profiles).unwrap().name, "any-qemu");
    let dell = identity("Dell Inc.", "PowerEdge R650");
    assert!(matches!(select(&dell, &profiles), Err(SelectError::NoMatch { .. })));
}

#[test]
fn equally_specific_profiles_are_a_tie() {
    let profiles = vec![variant("one", "vendor = \"QEMU\""), variant("two", "vendor = \"QEMU\"")];
    let err = select(&identity("QEMU", "x"), &profiles).unwrap_err();
    assert_eq!(err, SelectError::Tie { names: vec!["one".into(), "two".into()] });
    assert!(err.to_string().contains("one, two"));
}

#[test]
fn shipped_profiles_select_their_models() {
    let profiles = load_dir(&shipped_profiles_dir()).unwrap();
    let pick = |v, p| select(&identity(v, p), &profiles).map(|p| p.name.clone());
    assert_eq!(pick("QEMU", "Standard PC (Q35 + ICH9, 2009)").unwrap(), "qemu-lab");
    assert_eq!(pick("QEMU", "Rackhand Lab NVMe").unwrap(), "qemu-lab-nvme");
    assert_eq!(pick("Supermicro", "SYS-1029U-TRT").unwrap(), "edge-1u");
    assert_eq!(pick("Dell Inc.", "PowerEdge R740xd2").unwrap(), "storage-2u");
}
