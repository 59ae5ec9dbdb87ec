use super::*;

/// A type 39 structure written out byte by byte per DSP0134 §7.40, as a Dell-style PSU 2 reports it:
/// present, hot-replaceable, unplugged from the wall, status critical, 750 W.
fn hand_built_psu2() -> Vec<u8> {
    let mut raw = vec![
        39, 0x16, 0x27, 0x00, // type, length, handle 0x0027
        0x01, // power unit group
        1, 2, 3, 4, 0, 5, 6, // location, name, manufacturer, serial, asset tag (none), model, revision
        0xee, 0x02, // max power 750 W
    ];
    // characteristics: type switching (0100) | status critical (101) | range auto (0100) |
    // unplugged | present | hot-replaceable
    let word: u16 = (0b0100 << 10) | (0b101 << 7) | (0b0100 << 3) | 0b111;
    raw.extend_from_slice(&word.to_le_bytes());
    raw.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    for s in ["PSU.Slot.2", "PWR SPLY,750W,RDNT", "DELL", "CN179721A70D2", "0PJMDN", "A01"] {
        raw.extend_from_slice(s.as_bytes());
        raw.push(0);
    }
    raw.push(0);
    raw
}

#[test]
fn decodes_a_structure_built_per_the_spec() {
    let rec = decode_type39(&hand_built_psu2()).unwrap();
    assert_eq!(rec.handle, 0x27);
    assert_eq!(rec.location.as_deref(), Some("PSU.Slot.2"));
    assert_eq!(rec.device_name.as_deref(), Some("PWR SPLY,750W,RDNT"));
    assert_eq!(rec.manufacturer.as_deref(), Some("DELL"));
    assert_eq!(rec.serial.as_deref(), Some("CN179721A70D2"));
    assert_eq!(rec.asset_tag, None);
    assert_eq!(rec.model.as_deref(), Some("0PJMDN"));
    assert_eq!(rec.revision.as_deref(), Some("A01"));
    assert_eq!(rec.max_power_watts, Some(750));
    assert!(rec.present() && rec.unplugged() && rec.hot_replaceable());
    assert_eq!(rec.status(), PsuStatus::Critical);
}

#[test]
fn status_bits_map_to_status() {
    let cases = [
        (0b001, PsuStatus::Other),
        (0b010, PsuStatus::Unknown),
        (0b011, PsuStatus::Ok),
        (0b100, PsuStatus::NonCritical),
        (0b101, PsuStatus::Critical),
        (0b111, PsuStatus::Unknown),
    ];
    for (bits, want) in cases {
        let rec = PowerSupplyRecord { characteristics: bits << 7, ..Default::default() };
        assert_eq!(rec.status(), want, "bits {bits:03b}");
        assert!(!rec.present() && !rec.unplugged() && !rec.hot_replaceable());
    }
}

#[test]
fn presence_and_unplugged_bits_are_independent() {
    for (present, unplugged) in [(true, false), (true, true), (false, false)] {
        let word = characteristics(present, unplugged, PsuStatus::Ok, false);
        let rec = PowerSupplyRecord { characteristics: word, ..Default::default() };
        assert_eq!((rec.present(), rec.unplugged()), (present, unplugged));
        assert_eq!(rec.status(), PsuStatus::Ok);
    }
}

#[test]
fn encoder_matches_hand_built_bytes_and_round_trips() {
    let rec = decode_type39(&hand_built_psu2()).unwrap();
    assert_eq!(encode_type39(&rec), hand_built_psu2());
    let bare =
        PowerSupplyRecord { characteristics: characteristics(true, false, PsuStatus::Ok, true), ..Default::default() };
    let raw = encode_type39(&bare);
    assert_eq!(raw.len(), 0x16 + 2, "no strings: formatted area and a double NUL");
    assert_eq!(decode_type39(&raw).unwrap(), bare);
}

#[test]
fn unknown_max_power_is_none() {
    let mut raw = hand_built_psu2();
    raw[0x0c..0x0e].copy_from_slice(&0x8000u16.to_le_bytes());
    assert_eq!(decode_type39(&raw).unwrap().max_power_watts, None);
}

#[test]
fn rejects_other_types_and_short_structures() {
    let mut raw = hand_built_psu2();
    raw[0] = 17;
    assert_eq!(decode_type39(&raw), Err(SmbiosError::WrongType(17)));
    assert_eq!(decode_type39(&[39, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(SmbiosError::TooShort(0x0c)));
    assert_eq!(decode_type39(&[39]), Err(SmbiosError::Truncated(1)));
}

#[test]
fn walks_a_dmi_table_to_the_end_marker() {
    let bios_type0 = [0u8, 4, 0, 0, b'x', 0, 0];
    let psu = hand_built_psu2();
    let end = [127u8, 4, 0xff, 0xfe, 0, 0];
    let table = [&bios_type0[..], &psu, &end].concat();
    let found = structures(&table);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0], &bios_type0[..]);
    assert_eq!(found[1], &psu[..]);
}
