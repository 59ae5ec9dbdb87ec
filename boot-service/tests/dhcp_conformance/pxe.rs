//! Boot clients in full mode (RFC 4578, PXE 2.1, iPXE): firmware gets its boot file with option 60
//! `PXEClient`, 43 and its own option 97 back; iPXE gets its script URL with 175/176 and no option 60.
//! And the client identifier (option 61) is ignored by design: leases follow the hardware address.

use dhcproto::v4::{DhcpOption, MessageType};
use rackhand_netns::require_netns;

use super::lease::assert_nak;
use super::packet::UUID;
use super::*;

/// PXE discovery control: skip discovery, boot the file in the offer.
const PXE_VENDOR_OPTIONS: [u8; 4] = [6, 1, 8, 255];

#[test]
fn firmware_offers_and_acks_carry_pxeclient_43_and_the_clients_option_97() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover).pxe(0, true));
    let request = Msg::new(mac(1), MessageType::Request).pxe(0, true).requested(offer.yiaddr()).server_id(SERVER);
    let ack = wire.ask(&request);
    for reply in [&offer, &ack] {
        assert_eq!(reply.option(60), Some(b"PXEClient".to_vec()), "{:?}", reply.options());
        assert_eq!(reply.option(43), Some(PXE_VENDOR_OPTIONS.to_vec()));
        assert_eq!(reply.option(97), Some(UUID.to_vec()), "option 97 mirrored");
        assert_eq!(reply.option(67), Some(b"undionly.kpxe".to_vec()));
        assert_eq!(reply.file(), "undionly.kpxe");
        assert_eq!(reply.siaddr(), SERVER);
    }
    // UEFI x64 (arch 7) gets the EFI binary, with the same PXE options.
    let uefi = wire.ask(&Msg::new(mac(2), MessageType::Discover).pxe(7, true));
    assert_eq!(uefi.file(), "ipxe.efi");
    assert_eq!(uefi.option(60), Some(b"PXEClient".to_vec()));
}

#[test]
fn option_97_is_mirrored_only_when_the_firmware_sent_one() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover).pxe(0, false));
    assert_eq!(offer.option(60), Some(b"PXEClient".to_vec()));
    assert_eq!(offer.option(97), None);
}

#[test]
fn ipxe_gets_its_script_url_with_175_176_and_no_option_60() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover).ipxe());
    let request = Msg::new(mac(1), MessageType::Request).ipxe().requested(offer.yiaddr()).server_id(SERVER);
    let ack = wire.ask(&request);
    let url = format!("http://{SERVER}:8080/boot/52-54-00-c0-00-01.ipxe");
    for reply in [&offer, &ack] {
        assert_eq!(reply.option(67), Some(url.clone().into_bytes()));
        // 175 encapsulates 176 (no-pxedhcp) = 1: do not wait for a ProxyDHCP offer.
        assert_eq!(reply.option(175), Some(vec![176, 1, 1]));
        assert_eq!(reply.option(60), None, "60 PXEClient sends iPXE looking for ProxyDHCP: {:?}", reply.options());
        assert_eq!(reply.option(43), None);
    }
}

#[test]
fn the_client_identifier_is_ignored_by_design_leases_follow_the_mac() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let id = |bytes: &[u8]| DhcpOption::ClientIdentifier(bytes.to_vec());
    // One NIC through its life: firmware (UUID), iPXE (type 1 + MAC), the installed OS (RFC 4361 IAID+DUID).
    let ids: [&[u8]; 3] = [&UUID, &[1, 0x52, 0x54, 0, 0xc0, 0, 1], &[255, 0, 0, 0, 1, 0, 4, 0xd0, 0x1d]];
    let mut addresses = Vec::new();
    for client_id in ids {
        let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover).opt(id(client_id)));
        let request =
            Msg::new(mac(1), MessageType::Request).opt(id(client_id)).requested(offer.yiaddr()).server_id(SERVER);
        let ack = wire.ask(&request);
        assert_eq!(ack.msg_type(), MessageType::Ack);
        addresses.push(ack.yiaddr());
    }
    assert_eq!(addresses, [POOL_START; 3], "one MAC, one lease, whatever identifier it sends");

    // Two NICs that send one identifier (cloned firmware settings) get two leases.
    let shared = [1, 2, 3, 4, 5, 6, 7];
    let first = wire.ask(&Msg::new(mac(2), MessageType::Discover).opt(id(&shared)));
    let request = Msg::new(mac(2), MessageType::Request).opt(id(&shared)).requested(first.yiaddr()).server_id(SERVER);
    let bound = wire.ask(&request);
    assert_eq!(bound.msg_type(), MessageType::Ack);
    let other = wire.ask(&Msg::new(mac(4), MessageType::Discover).opt(id(&shared)));
    assert_ne!(other.yiaddr(), bound.yiaddr());
    // Nor can the second take the first one's address by sending the same identifier.
    let steal = Msg::new(mac(4), MessageType::Request).opt(id(&shared)).requested(bound.yiaddr()).server_id(SERVER);
    assert_nak(&wire.ask(&steal));
}
