use super::*;

/// An LLDPDU laid out the way an Arista switch sends it, written byte by byte per 802.1AB (not a pcap):
/// chassis ID as MAC, port ID as interface name, TTL 120, port description, system name, system
/// description, capabilities, management address and an 802.1 organisationally specific TLV, then End.
fn arista_frame() -> Vec<u8> {
    let mut f = vec![
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, // destination: nearest bridge
        0x44, 0x4c, 0xa8, 0x12, 0x34, 0x57, // source: the switch port's MAC
        0x88, 0xcc, // ethertype LLDP
        0x02, 0x07, 0x04, 0x44, 0x4c, 0xa8, 0x12, 0x34, 0x56, // chassis ID, MAC subtype
        0x04, 0x0b, 0x05, b'E', b't', b'h', b'e', b'r', b'n', b'e', b't', b'1', b'2', // port ID, ifname
        0x06, 0x02, 0x00, 0x78, // TTL 120 s
    ];
    f.extend_from_slice(&[0x08, 0x0a]); // port description, 10 bytes
    f.extend_from_slice(b"rack7-u12a");
    f.extend_from_slice(&[0x0a, 0x04]); // system name, 4 bytes
    f.extend_from_slice(b"sw-a");
    f.extend_from_slice(&[0x0c, 0x22]); // system description, 34 bytes
    f.extend_from_slice(b"Arista Networks EOS version 4.28.3");
    f.extend_from_slice(&[0x0e, 0x04, 0x00, 0x14, 0x00, 0x14]); // capabilities: bridge+router
    f.extend_from_slice(&[0x10, 0x0c, 0x05, 0x01, 10, 0, 0, 2, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00]); // mgmt address
    f.extend_from_slice(&[0xfe, 0x06, 0x00, 0x80, 0xc2, 0x01, 0x00, 0x64]); // 802.1 PVID 100
    f.extend_from_slice(&[0x00, 0x00]); // End
    f
}

#[test]
fn decodes_a_frame_laid_out_as_an_arista_sends_it() {
    let frame = decode_lldp_frame(&arista_frame()).unwrap();
    assert_eq!(frame.source.to_string(), "44:4c:a8:12:34:57");
    assert_eq!(frame.ttl_secs, 120);
    assert_eq!(
        frame.neighbor,
        LldpNeighbor {
            chassis_id: "44:4c:a8:12:34:56".into(),
            port_id: "Ethernet12".into(),
            system_name: Some("sw-a".into()),
            system_description: Some("Arista Networks EOS version 4.28.3".into()),
            port_description: Some("rack7-u12a".into()),
            management_address: Some("10.0.0.2".into()),
        }
    );
}

#[test]
fn decodes_through_a_vlan_tag() {
    let plain = arista_frame();
    let tagged = [&plain[..12], &[0x81, 0x00, 0x00, 0x64], &plain[12..]].concat();
    assert_eq!(decode_lldp_frame(&tagged).unwrap(), decode_lldp_frame(&plain).unwrap());
}

#[test]
fn rejects_non_lldp_truncated_and_incomplete_frames() {
    let mut ip = arista_frame();
    ip[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(decode_lldp_frame(&ip), Err(LldpError::NotLldp(0x0800)));
    assert_eq!(decode_lldp_frame(&arista_frame()[..20]), Err(LldpError::Truncated(14)));
    let no_ttl: Vec<u8> = [&arista_frame()[..36], &[0x00, 0x00][..]].concat();
    assert_eq!(decode_lldp_frame(&no_ttl), Err(LldpError::Missing("TTL")));
}

/// A frame with the mandatory TLVs (chassis `sw`, port `p1`, TTL 120), then `tlvs`, then End.
fn frame_with(tlvs: &[u8]) -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0, 0, 0, 0, 1, 0x88, 0xcc];
    f.extend_from_slice(&[0x02, 0x03, 0x07, b's', b'w', 0x04, 0x03, 0x05, b'p', b'1', 0x06, 0x02, 0x00, 0x78]);
    f.extend_from_slice(tlvs);
    f.extend_from_slice(&[0x00, 0x00]);
    f
}

/// A Management Address TLV (type 8) holding `address` of `family` (IANA: 1 IPv4, 2 IPv6, 6 an 802 MAC),
/// interface number 2 by ifIndex, no OID.
fn management_tlv(family: u8, address: &[u8]) -> Vec<u8> {
    let string_len = u8::try_from(address.len() + 1).unwrap();
    let mut value = vec![string_len, family];
    value.extend_from_slice(address);
    value.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x02, 0x00]);
    let mut tlv = vec![0x10, u8::try_from(value.len()).unwrap()];
    tlv.extend_from_slice(&value);
    tlv
}

fn management_address_of(frame: &[u8]) -> Option<String> {
    decode_lldp_frame(frame).unwrap().neighbor.management_address
}

#[test]
fn management_address_ipv4_and_ipv6() {
    assert_eq!(management_address_of(&frame_with(&management_tlv(1, &[192, 0, 2, 7]))).as_deref(), Some("192.0.2.7"));
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07];
    assert_eq!(management_address_of(&frame_with(&management_tlv(2, &v6))).as_deref(), Some("2001:db8::7"));
    assert_eq!(management_address_of(&frame_with(&[])), None, "no TLV, no address");
}

#[test]
fn the_first_ip_management_address_is_kept_and_other_families_are_skipped() {
    let mac = management_tlv(6, &[0x00, 0x01, 0x30, 0xf9, 0xad, 0xa0]);
    assert_eq!(management_address_of(&frame_with(&mac)), None, "an 802 MAC is not an address to reach");
    let tlvs = [mac, management_tlv(1, &[10, 0, 0, 9]), management_tlv(1, &[10, 0, 0, 10])].concat();
    assert_eq!(management_address_of(&frame_with(&tlvs)).as_deref(), Some("10.0.0.9"));
}

#[test]
fn malformed_management_addresses_are_ignored_and_the_rest_of_the_frame_decodes() {
    let cases: [(&str, Vec<u8>); 7] = [
        ("empty TLV", vec![0x10, 0x00]),
        ("only the string length", vec![0x10, 0x01, 0x05]),
        ("string length 0", vec![0x10, 0x02, 0x00, 0x01]),
        ("string length past the TLV", vec![0x10, 0x04, 0x05, 0x01, 10, 0]),
        ("string length 255 past the TLV", vec![0x10, 0x03, 0xff, 0x01, 10]),
        ("IPv4 family with 16 bytes", management_tlv(1, &[0; 16])),
        ("IPv6 family with 4 bytes", management_tlv(2, &[10, 0, 0, 1])),
    ];
    for (what, tlv) in cases {
        let frame = decode_lldp_frame(&frame_with(&tlv)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(frame.neighbor.management_address, None, "{what}");
        assert_eq!((frame.neighbor.chassis_id.as_str(), frame.neighbor.port_id.as_str()), ("sw", "p1"), "{what}");
    }
}

#[test]
fn a_management_tlv_cut_short_by_the_frame_end_is_a_truncated_frame() {
    let whole = frame_with(&management_tlv(1, &[192, 0, 2, 7]));
    let tlv_at = whole.len() - 2 - 14; // before End and the 14-byte management TLV
    // From its header on, a cut leaves the TLV running past the end of the frame.
    for cut in tlv_at + 2..whole.len() - 2 {
        assert_eq!(decode_lldp_frame(&whole[..cut]), Err(LldpError::Truncated(tlv_at)), "cut at {cut}");
    }
}

/// Whatever a frame is cut to or whichever byte is changed, the decoder answers (never panics).
#[test]
fn no_truncation_or_corruption_panics() {
    let frames = [arista_frame(), frame_with(&management_tlv(2, &[0xfe; 16]))];
    for frame in frames {
        for cut in 0..=frame.len() {
            let _ = decode_lldp_frame(&frame[..cut]);
        }
        for at in 0..frame.len() {
            for byte in [0x00, 0x01, 0x10, 0x7f, 0x80, 0xfe, 0xff] {
                let mut bad = frame.clone();
                bad[at] = byte;
                let _ = decode_lldp_frame(&bad);
            }
        }
    }
}
