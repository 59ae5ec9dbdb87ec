//! Relayed requests (RFC 2131 §4.1, RFC 3046 §2.2): the subnet is chosen by giaddr, every reply goes
//! to giaddr on the server port, and each carries the relay's option 82 unchanged as its last option.

use dhcproto::v4::MessageType;
use rackhand_netns::require_netns;

use super::lease::assert_nak;
use super::*;

/// Remote id (2) before circuit id (1), then a sub-option no one defines (0xc8): a server that decodes
/// and re-encodes option 82 would sort these; only a byte-for-byte copy gives them back.
const RELAY_INFO: [u8; 17] = [2, 5, b's', b'w', b'-', b'a', b'7', 1, 4, b'g', b'e', b'0', b'3', 0xc8, 2, 0xbe, 0xef];

/// Option 82 is the last option before END, exactly once, byte for byte.
fn assert_relay_info_last(reply: &Reply) {
    let opts = reply.options();
    assert_eq!(opts.last(), Some(&(82, RELAY_INFO.to_vec())), "82 unchanged and last: {opts:?}");
    assert_eq!(opts.iter().filter(|(code, _)| *code == 82).count(), 1, "{opts:?}");
    let end = 240 + opts.iter().map(|(_, data)| 2 + data.len()).sum::<usize>();
    assert_eq!(reply.bytes.get(end), Some(&255), "END right after option 82");
}

/// Every reply to a relay: to giaddr, port 67, from the server port.
fn assert_to_relay(reply: &Reply) {
    assert_eq!(reply.to, RELAY_GIADDR, "{reply:?}");
    assert_eq!(reply.from, SocketAddrV4::new(SERVER, 67));
    assert_eq!(reply.giaddr(), RELAY_GIADDR);
}

#[test]
fn relayed_dora_goes_to_giaddr_port_67_with_option_82_echoed_last() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let relay = Wire::relay(&service);
    let discover = Msg::new(mac(1), MessageType::Discover).pxe(0, true).relayed(RELAY_GIADDR, &RELAY_INFO);
    let offer = relay.ask_unicast(&discover);
    assert_eq!(offer.msg_type(), MessageType::Offer);
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 88, 0, 50), "the subnet of giaddr");
    assert_eq!(offer.ip_option(3), Some(RELAY_GIADDR));
    assert_to_relay(&offer);
    assert_relay_info_last(&offer);

    let request = Msg::new(mac(1), MessageType::Request)
        .pxe(0, true)
        .requested(offer.yiaddr())
        .server_id(SERVER)
        .relayed(RELAY_GIADDR, &RELAY_INFO);
    let ack = relay.ask_unicast(&request);
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    assert_to_relay(&ack);
    assert_relay_info_last(&ack);
}

#[test]
fn a_relayed_nak_goes_to_giaddr_with_the_broadcast_bit_and_option_82_last() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let relay = Wire::relay(&service);
    // An address of the bridge's subnet, asked for from behind the relay.
    let request = Msg::new(mac(1), MessageType::Request)
        .requested(Ipv4Addr::new(10, 77, 0, 100))
        .server_id(SERVER)
        .relayed(RELAY_GIADDR, &RELAY_INFO);
    let nak = relay.ask_unicast(&request);
    assert_nak(&nak);
    assert_to_relay(&nak);
    assert!(nak.broadcast_flag(), "the relay must broadcast a NAK to the client");
    assert_relay_info_last(&nak);
}

#[test]
fn a_relayed_inform_is_answered_to_the_relay_with_option_82_last() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let relay = Wire::relay(&service);
    let inform =
        Msg::new(mac(1), MessageType::Inform).ciaddr(Ipv4Addr::new(10, 88, 0, 9)).relayed(RELAY_GIADDR, &RELAY_INFO);
    let ack = relay.ask_unicast(&inform);
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_to_relay(&ack);
    assert_relay_info_last(&ack);
}
