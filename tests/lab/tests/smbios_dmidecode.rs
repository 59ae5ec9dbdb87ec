//! The power-supply structures the lab gives QEMU (`-smbios file=`, one SMBIOS type 39 structure per PSU:
//! `server::psu_structure`) read alike by dmidecode and by the installer: a powered PSU 1 and an unplugged
//! PSU 2 in one table, written as `dmidecode --dump-bin` writes one, compared field by field (location,
//! name, manufacturer, serial, model, max power, presence, status, plugged, hot-replaceable).

use installer::observe::ipmi::FixedBmc;
use installer::observe::observe_power_supplies;
use rackhand_lab::server::{PsuSpec, psu_structure};
use rackhand_test_dmidecode as dmidecode;

#[test]
fn the_labs_power_supplies_read_alike_by_the_installer_and_dmidecode() {
    if let Err(why) = dmidecode::available() {
        eprintln!("SKIPPED the_labs_power_supplies_read_alike_by_the_installer_and_dmidecode: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table = dmidecode::table(&[psu_structure(1, PsuSpec::Powered), psu_structure(2, PsuSpec::Unplugged)]);
    let tables = dir.path().join("sys/firmware/dmi/tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(tables.join("DMI"), &table).unwrap();
    let dump = dir.path().join("lab.dump");
    std::fs::write(&dump, dmidecode::dump_bin(&table)).unwrap();

    let dmi = dmidecode::power_supplies(&dump).unwrap();
    let installer = observe_power_supplies(dir.path(), &FixedBmc(Vec::new()));
    assert_eq!(dmi.iter().map(|r| r.handle).collect::<Vec<_>>(), [0x3901, 0x3902], "dmidecode read both");
    assert_eq!(installer.len(), 2, "the installer read both: {installer:#?}");
    for (record, psu) in dmi.iter().zip(&installer) {
        assert_eq!(dmidecode::disagreements(record, psu), Vec::<String>::new(), "{record:#?}\n{psu:#?}");
    }
    // What both read, spelled out for the two states the lab makes.
    assert_eq!(dmi[0].get("Location"), Some("PSU1 (feed A)"));
    assert_eq!((dmi[0].get("Status"), dmi[0].get("Plugged")), (Some("Present, OK"), Some("Yes")));
    assert_eq!((dmi[1].get("Status"), dmi[1].get("Plugged")), (Some("Present, OK"), Some("No")));
    assert_eq!(dmi[1].get("Max Power Capacity"), Some("550 W"));
    assert!(installer[0].powered && !installer[1].powered && installer[1].present, "{installer:#?}");
}
