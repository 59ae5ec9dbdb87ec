//! What every reply carries besides the decision (issue 12, points 7–9): a relay's option 82 echoed
//! byte for byte as the last option, the PXE options firmware wants in full mode (and none of them for
//! iPXE), and leases keyed by hardware address whatever client identifier is sent.

use super::*;

/// Remote id (2) before circuit id (1), and a sub-option dhcproto has no type for (9): decoding and
/// re-encoding would sort them, so only a byte-for-byte copy gives these bytes back.
pub const RELAY_INFO: [u8; 15] = [2, 4, b'r', b'e', b'm', b'1', 1, 3, b'c', b'/', b'1', 9, 2, 0xbe, 0xef];

/// The datagram the loop would send for this outcome.
pub fn sent(outcome: &Outcome) -> Vec<u8> {
    outcome.reply.as_ref().unwrap_or_else(|| panic!("no reply: {outcome:?}")).encode().unwrap()
}

/// A datagram's options as (code, data), in wire order, up to END (which must be there).
pub fn wire_options(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut opts = &bytes[240..];
    let mut found = Vec::new();
    loop {
        match opts {
            [255, ..] => return found,
            [0, rest @ ..] => opts = rest,
            [code, len, rest @ ..] => {
                let len = usize::from(*len);
                found.push((*code, rest[..len].to_vec()));
                opts = &rest[len..];
            }
            _ => panic!("options end without END: {bytes:?}"),
        }
    }
}

fn assert_relay_info_last(outcome: &Outcome) {
    let opts = wire_options(&sent(outcome));
    let (code, data) = opts.last().expect("options");
    assert_eq!((*code, data.as_slice()), (82, &RELAY_INFO[..]), "82 unchanged and last: {opts:?}");
    assert_eq!(opts.iter().filter(|(c, _)| *c == 82).count(), 1);
}

#[test]
fn relayed_offer_ack_and_nak_echo_option_82_unchanged_as_the_last_option() {
    let mut lab = Lab::new(DhcpMode::Full);
    let relayed = |msg_type| Client::new(mac(5), msg_type).relayed_by(RELAY).relay_info(&RELAY_INFO);
    lab.register(mac(5));
    let offer = lab.exchange(relayed(MessageType::Discover));
    let ip = reply(&offer).yiaddr();
    assert_eq!(ip, Ipv4Addr::new(10, 88, 0, 50));
    assert_relay_info_last(&offer);
    let ack = lab.exchange(relayed(MessageType::Request).requested(ip).server_id(SERVER));
    assert_eq!(msg_type(&reply(&ack)), MessageType::Ack);
    assert_relay_info_last(&ack);
    let nak = lab.ask(relayed(MessageType::Request).requested(Ipv4Addr::new(10, 77, 0, 100)));
    assert_eq!(msg_type(&reply(&nak)), MessageType::Nak);
    assert_relay_info_last(&nak);
    let inform = lab.ask(relayed(MessageType::Inform).ciaddr(ip));
    assert_eq!(msg_type(&reply(&inform)), MessageType::Ack);
    assert_relay_info_last(&inform);
}

#[test]
fn proxy_offers_through_a_relay_echo_option_82_too() {
    let mut lab = Lab::new(DhcpMode::Proxy);
    lab.register(mac(5));
    let client = Client::new(mac(5), MessageType::Discover).pxe(0).relayed_by(RELAY).relay_info(&RELAY_INFO);
    assert_relay_info_last(&lab.ask(client));
}

#[test]
fn replies_to_requests_without_option_82_carry_none() {
    let lab = Lab::new(DhcpMode::Full);
    let offer = sent(&lab.ask(Client::new(mac(1), MessageType::Discover)));
    assert!(wire_options(&offer).iter().all(|(code, _)| *code != 82));
}

#[test]
fn full_mode_firmware_offers_carry_pxeclient_43_and_mirror_option_97() {
    let mut lab = Lab::new(DhcpMode::Full);
    let offer = reply(&lab.exchange(Client::new(mac(1), MessageType::Discover).pxe(7)));
    assert_eq!(vendor_class(&offer), Some(&b"PXEClient"[..]));
    assert_eq!(raw_option(&offer, 43).as_deref(), Some(&options::PXE_VENDOR_OPTIONS[..]));
    assert_eq!(raw_option(&offer, 97).as_deref(), Some(&UUID[..]));
    let request = Client::new(mac(1), MessageType::Request).pxe(7).requested(offer.yiaddr()).server_id(SERVER);
    let ack = reply(&lab.exchange(request));
    assert_eq!(vendor_class(&ack), Some(&b"PXEClient"[..]));
    assert_eq!(raw_option(&ack, 97).as_deref(), Some(&UUID[..]));
}

#[test]
fn option_97_is_mirrored_only_when_the_firmware_sent_it() {
    let lab = Lab::new(DhcpMode::Full);
    let client = Client::new(mac(1), MessageType::Discover).vendor_class("PXEClient:Arch:00000:UNDI:002001");
    let offer = reply(&lab.ask(client));
    assert_eq!(vendor_class(&offer), Some(&b"PXEClient"[..]));
    assert_eq!(raw_option(&offer, 97), None);
}

#[test]
fn uefi_http_boot_offers_say_httpclient_and_mirror_option_97() {
    let lab = Lab::new(DhcpMode::Full);
    let client = Client::new(mac(1), MessageType::Discover)
        .http_boot(16)
        .opt(DhcpOption::ClientMachineIdentifier(UUID.to_vec()));
    let offer = reply(&lab.ask(client));
    assert_eq!(vendor_class(&offer), Some(&b"HTTPClient"[..]));
    assert_eq!(raw_option(&offer, 97).as_deref(), Some(&UUID[..]));
}

#[test]
fn ipxe_offers_carry_no_option_60_nor_43_in_full_mode() {
    let lab = Lab::new(DhcpMode::Full);
    let offer = reply(&lab.ask(Client::new(mac(1), MessageType::Discover).ipxe()));
    assert_eq!(raw_option(&offer, 175).as_deref(), Some(&options::IPXE_NO_PXEDHCP[..]));
    assert_eq!(vendor_class(&offer), None, "60 PXEClient would send iPXE looking for a ProxyDHCP server");
    assert_eq!(raw_option(&offer, 43), None);
}

#[test]
fn one_mac_keeps_its_lease_whatever_client_identifier_it_sends() {
    let mut lab = Lab::new(DhcpMode::Full);
    let ip = lab.lease(mac(1));
    // Firmware (type 0 + UUID), iPXE (type 1 + MAC), the installed OS (an RFC 4361 IAID/DUID).
    let ids: [&[u8]; 3] = [&[0, 1, 2, 3, 4], &[1, 0x52, 0x54, 0, 0xaa, 0, 1], &[255, 0, 0, 0, 1, 0, 4, 9, 9]];
    for id in ids {
        let offer = reply(&lab.exchange(Client::new(mac(1), MessageType::Discover).client_id(id)));
        assert_eq!(offer.yiaddr(), ip, "client id {id:?}");
        let request = Client::new(mac(1), MessageType::Request).client_id(id).requested(ip).server_id(SERVER);
        assert_eq!(msg_type(&reply(&lab.exchange(request))), MessageType::Ack, "client id {id:?}");
    }
}

#[test]
fn two_macs_sending_one_client_identifier_get_two_leases() {
    let mut lab = Lab::new(DhcpMode::Full);
    let id = [1, 2, 3, 4, 5];
    let offer = reply(&lab.exchange(Client::new(mac(1), MessageType::Discover).client_id(&id)));
    let request = Client::new(mac(1), MessageType::Request).client_id(&id).requested(offer.yiaddr()).server_id(SERVER);
    assert_eq!(msg_type(&reply(&lab.exchange(request))), MessageType::Ack);
    let other = reply(&lab.exchange(Client::new(mac(2), MessageType::Discover).client_id(&id)));
    assert_ne!(other.yiaddr(), offer.yiaddr());
    // Nor may the second MAC take the first one's address by naming the same identifier.
    let steal = Client::new(mac(2), MessageType::Request).client_id(&id).requested(offer.yiaddr());
    assert_eq!(msg_type(&reply(&lab.ask(steal))), MessageType::Nak);
}
