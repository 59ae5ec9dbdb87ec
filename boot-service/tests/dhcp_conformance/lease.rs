//! Getting a lease (RFC 2131 §3.1, §4.3.1–4.3.2): DORA, a REQUEST for another server's offer, the NAK
//! rules, INIT-REBOOT.

use dhcproto::v4::MessageType;
use rackhand_netns::require_netns;

use super::*;

/// DISCOVER → OFFER → REQUEST → ACK for `mac`: the ACK.
pub fn dora(wire: &Wire, mac: [u8; 6]) -> Reply {
    let offer = wire.ask(&Msg::new(mac, MessageType::Discover));
    assert_eq!(offer.msg_type(), MessageType::Offer);
    let request = Msg::new(mac, MessageType::Request).requested(offer.yiaddr()).server_id(SERVER);
    let ack = wire.ask(&request);
    assert_eq!(ack.msg_type(), MessageType::Ack, "{ack:?}");
    ack
}

/// What every NAK must be (RFC 2131 table 3): from us, no address, no lease, no boot file.
pub fn assert_nak(nak: &Reply) {
    assert_eq!(nak.msg_type(), MessageType::Nak, "{nak:?}");
    assert_eq!(nak.ip_option(54), Some(SERVER));
    assert_eq!((nak.yiaddr(), nak.siaddr()), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
    for code in [51, 58, 59, 1, 3, 67] {
        assert!(!nak.has(code), "a NAK with option {code}: {:?}", nak.options());
    }
}

#[test]
fn dora_offers_a_pool_address_and_acks_it_broadcast_from_port_67() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let discover = Msg::new(mac(1), MessageType::Discover);
    let offer = wire.ask(&discover);
    assert_eq!(offer.msg_type(), MessageType::Offer);
    assert_eq!((offer.xid(), offer.chaddr()), (discover.xid(), mac(1)));
    assert_eq!(offer.yiaddr(), POOL_START);
    assert_eq!(offer.siaddr(), SERVER);
    assert_eq!(offer.from, SocketAddrV4::new(SERVER, 67));
    assert_eq!(offer.to, Ipv4Addr::BROADCAST, "the client has no address yet");
    assert_eq!(offer.ip_option(54), Some(SERVER));
    assert_eq!(offer.u32_option(51), Some(LEASE_SECS));
    assert_eq!(offer.option(1), Some(vec![255, 255, 255, 0]));
    assert_eq!(offer.ip_option(3), Some(SERVER));
    assert_eq!(offer.option(53), Some(vec![2]));

    let request = Msg::new(mac(1), MessageType::Request).requested(POOL_START).server_id(SERVER);
    let ack = wire.ask(&request);
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!(ack.yiaddr(), POOL_START);
    assert_eq!(ack.to, Ipv4Addr::BROADCAST);
    assert_eq!(ack.u32_option(51), Some(LEASE_SECS));
    assert_eq!(ack.u32_option(58), Some(LEASE_SECS / 2));
    assert_eq!(ack.u32_option(59), Some(LEASE_SECS * 7 / 8));
    // Bound: the same client asking again gets the same address.
    assert_eq!(wire.ask(&Msg::new(mac(1), MessageType::Discover)).yiaddr(), POOL_START);
}

#[test]
fn a_request_naming_another_server_is_not_answered_and_frees_our_offer() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover));
    assert_eq!(offer.yiaddr(), POOL_START);
    // While offered to mac 1, the address is held: mac 2 asking for it is offered another.
    let held = wire.ask(&Msg::new(mac(2), MessageType::Discover).requested(POOL_START));
    assert_ne!(held.yiaddr(), POOL_START);

    let elsewhere =
        Msg::new(mac(1), MessageType::Request).requested(POOL_START).server_id(Ipv4Addr::new(10, 77, 0, 254));
    let sentinel = Msg::new(mac(3), MessageType::Discover).requested(POOL_START);
    let next = wire.silent_then(&elsewhere, Wire::broadcast, &sentinel);
    assert_eq!(next.yiaddr(), POOL_START, "the offer mac 1 turned down is free again");
}

#[test]
fn requests_for_an_address_the_client_may_not_have_are_naked_by_broadcast() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let taken = dora(&wire, mac(1)).yiaddr();
    // Another client's address.
    let nak = wire.ask(&Msg::new(mac(2), MessageType::Request).requested(taken).server_id(SERVER));
    assert_nak(&nak);
    assert_eq!(nak.to, Ipv4Addr::BROADCAST);
    // An address on another network (the client moved).
    let nak =
        wire.ask(&Msg::new(mac(2), MessageType::Request).requested(Ipv4Addr::new(192, 168, 7, 9)).server_id(SERVER));
    assert_nak(&nak);
    // An address of the other subnet, asked for on this one.
    let nak = wire.ask(&Msg::new(mac(2), MessageType::Request).requested(Ipv4Addr::new(10, 88, 0, 50)));
    assert_nak(&nak);
}

#[test]
fn init_reboot_confirms_the_clients_own_address_and_naks_a_wrong_one() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let ip = dora(&wire, mac(1)).yiaddr();
    // INIT-REBOOT: option 50, no server id, ciaddr 0, broadcast.
    let ack = wire.ask(&Msg::new(mac(1), MessageType::Request).requested(ip));
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!((ack.yiaddr(), ack.to), (ip, Ipv4Addr::BROADCAST));
    let other = dora(&wire, mac(2)).yiaddr();
    assert_nak(&wire.ask(&Msg::new(mac(1), MessageType::Request).requested(other)));
    assert_nak(&wire.ask(&Msg::new(mac(1), MessageType::Request).requested(Ipv4Addr::new(10, 99, 0, 5))));
}
