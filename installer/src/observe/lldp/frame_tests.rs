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
fn decodes_a_real_switch_frame() {
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

#[test]
fn encoder_output_decodes_to_what_was_sent() {
    let src: MacAddr = "02:00:00:00:0a:01".parse().unwrap();
    let raw = encode_lldp_frame(src, "sw-b", "swp7", "sw-b", "Rackhand lab switch", 120);
    assert!(raw.len() >= 60);
    assert_eq!(&raw[..6], &LLDP_MULTICAST.octets());
    let frame = decode_lldp_frame(&raw).unwrap();
    assert_eq!(frame.source, src);
    assert_eq!(frame.ttl_secs, 120);
    assert_eq!(frame.neighbor.chassis_id, "sw-b");
    assert_eq!(frame.neighbor.port_id, "swp7");
    assert_eq!(frame.neighbor.system_name.as_deref(), Some("sw-b"));
    assert_eq!(frame.neighbor.system_description.as_deref(), Some("Rackhand lab switch"));
    let by_mac = encode_lldp_frame(src, "44:4c:a8:12:34:56", "Ethernet1", "", "", 30);
    assert_eq!(&by_mac[14..18], &[0x02, 0x07, 0x04, 0x44]);
    assert_eq!(decode_lldp_frame(&by_mac).unwrap().neighbor.chassis_id, "44:4c:a8:12:34:56");
}
