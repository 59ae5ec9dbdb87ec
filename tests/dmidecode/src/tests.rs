use rackhand_api::Source;

use super::*;

/// What dmidecode 3.4 printed for the two supplies of a Dell PowerEdge R630 (the installer's fixture,
/// `installer/tests/smbios_dmidecode.rs`), first lines and all: note the name's trailing spaces.
const R630: &str = "# dmidecode 3.4
Reading SMBIOS/DMI data from file r630.dump.
SMBIOS 3.0.0 present.

Handle 0x2700, DMI type 39, 22 bytes
System Power Supply
\tLocation: Not Specified
\tName: PWR SPLY,750W,RDNT,EMSN       
\tManufacturer: DELL
\tSerial Number: PH1629861A00DA
\tAsset Tag: Not Specified
\tModel Part Number: 00XW8WA01
\tRevision: Not Specified
\tMax Power Capacity: 750 W
\tStatus: Present, Unknown
\tType: Unknown
\tInput Voltage Range Switching: Unknown
\tPlugged: Yes
\tHot Replaceable: Yes

Handle 0x2701, DMI type 39, 22 bytes
System Power Supply
\tLocation: Not Specified
\tName: PWR SPLY,750W,RDNT,EMSN       
\tManufacturer: DELL
\tSerial Number: PH1629861A00D8
\tAsset Tag: Not Specified
\tModel Part Number: 00XW8WA01
\tRevision: Not Specified
\tMax Power Capacity: 750 W
\tStatus: Present, Unknown
\tType: Unknown
\tInput Voltage Range Switching: Unknown
\tPlugged: Yes
\tHot Replaceable: Yes

";

fn first_r630_supply() -> PowerSupply {
    PowerSupply {
        index: 1,
        location: None,
        name: Some("PWR SPLY,750W,RDNT,EMSN".into()),
        manufacturer: Some("DELL".into()),
        serial: Some("PH1629861A00DA".into()),
        model: Some("00XW8WA01".into()),
        max_power_watts: Some(750),
        present: true,
        powered: true,
        status: PsuStatus::Unknown,
        hot_replaceable: true,
        source: Source::Smbios,
        bmc: None,
    }
}

#[test]
fn the_dump_is_an_smbios3_entry_point_pointing_at_the_table_at_0x20() {
    let table = table(&[vec![39, 4, 0x00, 0x27, 0, 0]]);
    let dump = dump_bin(&table);
    assert_eq!(&dump[..5], b"_SM3_");
    assert_eq!(dump[6], 0x18, "entry point length");
    let checksum = dump[..0x18].iter().fold(0u8, |sum, b| sum.wrapping_add(*b));
    assert_eq!(checksum, 0, "the entry point's bytes sum to zero");
    assert_eq!(u32::from_le_bytes(dump[0x0c..0x10].try_into().unwrap()), 12, "the table's size");
    assert_eq!(u64::from_le_bytes(dump[0x10..0x18].try_into().unwrap()), 0x20, "the table's address");
    assert_eq!(&dump[TABLE_OFFSET..], &table[..]);
    assert_eq!(&table[6..], &[127, 4, 0xfe, 0xff, 0, 0], "end of table");
}

#[test]
fn parses_what_dmidecode_prints() {
    let records = parse(R630);
    assert_eq!(records.iter().map(|r| r.handle).collect::<Vec<_>>(), [0x2700, 0x2701]);
    assert_eq!(records[0].get("Name"), Some("PWR SPLY,750W,RDNT,EMSN       "), "printed as stored");
    assert_eq!(records[1].get("Serial Number"), Some("PH1629861A00D8"));
    assert_eq!(records[0].attributes.len(), 13);
}

#[test]
fn agreement_is_field_by_field() {
    let dmi = &parse(R630)[0];
    assert_eq!(disagreements(dmi, &first_r630_supply()), Vec::<String>::new());
    let mut wrong = first_r630_supply();
    wrong.serial = Some("PH1629861A00D8".into());
    wrong.powered = false;
    wrong.status = PsuStatus::Ok;
    assert_eq!(
        disagreements(dmi, &wrong),
        [
            r#"handle 0x2700 Serial Number: dmidecode says Some("PH1629861A00DA"), the installer Some("PH1629861A00D8")"#,
            "handle 0x2700 Status: dmidecode says Some(Unknown), the installer Some(Ok)",
            r#"handle 0x2700 Plugged: dmidecode says Some("Yes"), the installer Some("No")"#,
        ]
    );
}

#[test]
fn an_absent_supply_is_compared_on_presence_only() {
    let output = "Handle 0x0028, DMI type 39, 22 bytes\nSystem Power Supply\n\tStatus: Not Present\n\tPlugged: Yes\n\tHot Replaceable: No\n";
    let absent = PowerSupply {
        present: false,
        powered: false,
        hot_replaceable: false,
        name: None,
        manufacturer: None,
        serial: None,
        model: None,
        max_power_watts: None,
        ..first_r630_supply()
    };
    assert_eq!(disagreements(&parse(output)[0], &absent), Vec::<String>::new());
    let present = PowerSupply { present: true, ..absent };
    assert_eq!(disagreements(&parse(output)[0], &present).len(), 1);
}
