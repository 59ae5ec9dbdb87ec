//! The installer's SMBIOS power-supply reading against dmidecode's, on a real server's type 39 structures.
//!
//! The fixture: the two System Power Supply structures (at bytes 2248 and 2332 of the 3286-byte table, 71
//! structures) of a Dell PowerEdge R630's raw DMI table (`/sys/firmware/dmi/tables/DMI`), published as test
//! data by siderolabs/go-smbios:
//! https://github.com/siderolabs/go-smbios/blob/e781237bb6d0b04cfb9d380bc36b552f5ee53af2/smbios/testdata/Dell-PowerEdge-R630-Dual-Xeon.dmi
//! (added in commit 3f1e775b7e3ef74be41461417d800ac81671a553). Copied byte for byte: two 750 W Dell supplies,
//! hot-replaceable, present and plugged, with status, type and input range "unknown" (characteristics
//! 0x0913), no location string and a device name padded with spaces.
//! The table is written as `dmidecode --dump-bin` writes one and read by dmidecode and by the installer's
//! own observation (`observe_power_supplies` on a root holding the table).

use installer::observe::ipmi::FixedBmc;
use installer::observe::observe_power_supplies;
use rackhand_api::PsuStatus;
use rackhand_test_dmidecode as dmidecode;

const FORMATTED_0X2700: [u8; 22] = [
    0x27, 0x16, 0x00, 0x27, 0x00, 0x00, 0x01, 0x02, 0x03, 0x00, 0x04, 0x00, 0xee, 0x02, 0x13, 0x09, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff,
];
const STRINGS_0X2700: [&str; 4] = ["PWR SPLY,750W,RDNT,EMSN       ", "DELL", "PH1629861A00DA", "00XW8WA01"];
const FORMATTED_0X2701: [u8; 22] = [
    0x27, 0x16, 0x01, 0x27, 0x00, 0x00, 0x01, 0x02, 0x03, 0x00, 0x04, 0x00, 0xee, 0x02, 0x13, 0x09, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff,
];
const STRINGS_0X2701: [&str; 4] = ["PWR SPLY,750W,RDNT,EMSN       ", "DELL", "PH1629861A00D8", "00XW8WA01"];

/// A structure: its formatted area, then its strings, each NUL-terminated, and the set's closing NUL.
fn structure(formatted: &[u8], strings: &[&str]) -> Vec<u8> {
    let mut out = formatted.to_vec();
    for s in strings {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out.push(0);
    out
}

/// The installer's and dmidecode's reading of `structures`, each as a table of its own.
fn both_readings(structures: &[Vec<u8>]) -> Option<(Vec<rackhand_api::PowerSupply>, Vec<dmidecode::DmiRecord>)> {
    if let Err(why) = dmidecode::available() {
        eprintln!("SKIPPED {}: {why}", std::thread::current().name().unwrap_or("a test"));
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let table = dmidecode::table(structures);
    let tables = dir.path().join("sys/firmware/dmi/tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(tables.join("DMI"), &table).unwrap();
    let dump = dir.path().join("dmi.dump");
    std::fs::write(&dump, dmidecode::dump_bin(&table)).unwrap();
    let installer = observe_power_supplies(dir.path(), &FixedBmc(Vec::new()));
    Some((installer, dmidecode::power_supplies(&dump).unwrap()))
}

#[test]
fn a_dell_r630s_power_supplies_read_alike_by_the_installer_and_dmidecode() {
    let structures = [structure(&FORMATTED_0X2700, &STRINGS_0X2700), structure(&FORMATTED_0X2701, &STRINGS_0X2701)];
    // The first as the file holds it (bytes 2248..2332), to show the fixture is those bytes.
    let file_0x2700 = "271600270000010203000400ee021309ffffffffffff5057522053504c592c373530572c52444e542c454d534e20\
                       2020202020200044454c4c005048313632393836314130304441003030585738574130310000";
    let hex: String = structures[0].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, file_0x2700.replace(' ', ""));
    let Some((installer, dmi)) = both_readings(&structures) else { return };
    assert_eq!(dmi.iter().map(|r| r.handle).collect::<Vec<_>>(), [0x2700, 0x2701], "dmidecode read both");
    assert_eq!(installer.len(), 2, "the installer read both: {installer:#?}");
    for (record, psu) in dmi.iter().zip(&installer) {
        assert_eq!(dmidecode::disagreements(record, psu), Vec::<String>::new(), "{record:#?}\n{psu:#?}");
    }
    // What both read, spelled out: dmidecode prints the padded name as stored, the installer trims it.
    assert_eq!(dmi[0].get("Name"), Some("PWR SPLY,750W,RDNT,EMSN       "));
    assert_eq!(installer[0].name.as_deref(), Some("PWR SPLY,750W,RDNT,EMSN"));
    assert_eq!(dmi[0].get("Status"), Some("Present, Unknown"));
    let psu = &installer[1];
    assert_eq!(
        (psu.index, psu.serial.as_deref(), psu.model.as_deref()),
        (2, Some("PH1629861A00D8"), Some("00XW8WA01"))
    );
    assert_eq!((psu.max_power_watts, psu.status, psu.location.as_deref()), (Some(750), PsuStatus::Unknown, None));
    assert!(psu.present && psu.powered && psu.hot_replaceable, "{psu:#?}");
}
