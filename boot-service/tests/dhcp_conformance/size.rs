//! Option 57 (RFC 2131 §2, RFC 2132 §9.10): no reply is larger than the client accepts, 576 octets of IP
//! datagram when it says nothing. A UDP socket sees the DHCP message; the datagram is 28 octets more (a
//! 20-octet IPv4 header without options, 8 of UDP). The service here is configured to overflow 576:
//! 60 DNS servers, a 150-byte domain, a ~170-byte iPXE script URL.

use dhcproto::v4::{DhcpOption, MessageType};
use rackhand_netns::require_netns;

use super::*;

const IP_UDP_HEADERS: usize = 28;

fn datagram_len(reply: &Reply) -> usize {
    reply.bytes.len() + IP_UDP_HEADERS
}

fn dns_servers(reply: &Reply) -> usize {
    reply.option(6).map_or(0, |d| d.len() / 4)
}

/// What a client boots with survives any trimming.
fn assert_bootable(reply: &Reply, file_option: bool) {
    for code in [53, 54, 51, 1, 3] {
        assert!(reply.has(code), "option {code} trimmed: {:?}", reply.options());
    }
    if file_option {
        assert!(reply.has(67), "option 67 trimmed: {:?}", reply.options());
    }
}

#[test]
fn without_option_57_replies_fit_576_octets() {
    require_netns!();
    let service = Service::start(Setup::Big);
    let wire = Wire::client(&service);
    let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover).pxe(0, true));
    assert!(datagram_len(&offer) <= 576, "{} octets", datagram_len(&offer));
    assert_bootable(&offer, true);
    assert_eq!(offer.option(60), Some(b"PXEClient".to_vec()));
    assert_eq!(offer.file(), "undionly.kpxe");
    assert!(dns_servers(&offer) < BIG_DNS_SERVERS, "nothing was trimmed, so nothing was tested");
    let request = Msg::new(mac(1), MessageType::Request).pxe(0, true).requested(offer.yiaddr()).server_id(SERVER);
    let ack = wire.ask(&request);
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert!(datagram_len(&ack) <= 576, "{} octets", datagram_len(&ack));
    assert_bootable(&ack, true);

    // iPXE's script URL (~170 bytes) does not fit the `file` field: option 67 stays, the reply still fits.
    let ipxe = wire.ask(&Msg::new(mac(2), MessageType::Discover).ipxe());
    assert!(datagram_len(&ipxe) <= 576, "{} octets", datagram_len(&ipxe));
    assert_bootable(&ipxe, true);
    assert!(ipxe.option(67).is_some_and(|url| url.len() > 127 && url.ends_with(b".ipxe")));
    assert_eq!(ipxe.option(175), Some(vec![176, 1, 1]));
}

#[test]
fn a_client_accepting_1500_octets_gets_all_options_within_1500() {
    require_netns!();
    let service = Service::start(Setup::Big);
    let wire = Wire::client(&service);
    let discover = Msg::new(mac(1), MessageType::Discover).pxe(0, true).opt(DhcpOption::MaxMessageSize(1500));
    let offer = wire.ask(&discover);
    assert!(datagram_len(&offer) <= 1500, "{} octets", datagram_len(&offer));
    assert!(datagram_len(&offer) > 576, "room was given and not used: {} octets", datagram_len(&offer));
    assert_eq!(dns_servers(&offer), BIG_DNS_SERVERS);
    assert!(offer.option(15).is_some_and(|d| d.len() == 150));
    assert_bootable(&offer, true);
}

#[test]
fn a_maximum_below_576_is_read_as_576_never_as_more() {
    require_netns!();
    let service = Service::start(Setup::Big);
    let wire = Wire::client(&service);
    for size in [0, 300, 576, 577] {
        let discover = Msg::new(mac(1), MessageType::Discover).pxe(0, true).opt(DhcpOption::MaxMessageSize(size));
        let offer = wire.ask(&discover);
        let limit = usize::from(size.max(576));
        assert!(datagram_len(&offer) <= limit, "57 = {size}: {} octets", datagram_len(&offer));
        assert_bootable(&offer, true);
    }
}
