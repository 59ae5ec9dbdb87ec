//! A client with an address (RFC 2131 §4.3.2, §4.3.4–4.3.5, §4.4.3–4.4.6): RENEW by unicast, REBIND by
//! broadcast, both answered to ciaddr; RELEASE and DECLINE answered by nothing, with their effect seen
//! by the next client; INFORM answered to ciaddr with no lease.

use dhcproto::v4::MessageType;
use rackhand_netns::require_netns;

use super::lease::{assert_nak, dora};
use super::*;

/// A client that took a lease and configured it: its wire and address.
fn bound(service: &Service) -> (Wire, Ipv4Addr) {
    let wire = Wire::client(service);
    let ip = dora(&wire, mac(1)).yiaddr();
    wire.configure(ip);
    (wire, ip)
}

#[test]
fn renewing_by_unicast_is_acked_by_unicast_to_ciaddr() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let (wire, ip) = bound(&service);
    // RENEWING: ciaddr, no 50, no 54, unicast to the server.
    let ack = wire.ask_unicast(&Msg::new(mac(1), MessageType::Request).ciaddr(ip));
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!((ack.yiaddr(), ack.ciaddr()), (ip, ip));
    assert_eq!(ack.to, ip, "unicast to ciaddr");
    assert_eq!(ack.from, SocketAddrV4::new(SERVER, 67));
    assert_eq!(ack.u32_option(51), Some(LEASE_SECS));
}

#[test]
fn rebinding_by_broadcast_is_acked_by_unicast_to_ciaddr() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let (wire, ip) = bound(&service);
    let ack = wire.ask(&Msg::new(mac(1), MessageType::Request).ciaddr(ip));
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!(ack.yiaddr(), ip);
    assert_eq!(ack.to, ip, "a client with ciaddr is answered by unicast (RFC 2131 §4.1)");
}

#[test]
fn renewing_an_address_the_client_does_not_hold_is_naked() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let (wire, ip) = bound(&service);
    // mac 2 claims mac 1's address as its own.
    let nak = wire.ask_unicast(&Msg::new(mac(2), MessageType::Request).ciaddr(ip));
    assert_nak(&nak);
    assert_eq!(nak.to, Ipv4Addr::BROADCAST, "the client may not own ciaddr: NAKs are broadcast");
}

#[test]
fn release_is_not_answered_and_frees_the_address() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let (wire, ip) = bound(&service);
    let claim = || Msg::new(mac(2), MessageType::Request).requested(ip).server_id(SERVER);
    assert_nak(&wire.ask(&claim()));
    let release = Msg::new(mac(1), MessageType::Release).ciaddr(ip).server_id(SERVER);
    let ack = wire.silent_then(&release, Wire::unicast, &claim());
    assert_eq!(ack.msg_type(), MessageType::Ack, "released, so mac 2 may have it: {ack:?}");
    assert_eq!(ack.yiaddr(), ip);
}

#[test]
fn decline_is_not_answered_and_quarantines_the_address() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    let ip = dora(&wire, mac(1)).yiaddr();
    // The client found the address in use (ARP): DECLINE, broadcast, with 50 and 54; it has no address.
    let decline = Msg::new(mac(1), MessageType::Decline).requested(ip).server_id(SERVER);
    let offer = wire.silent_then(&decline, Wire::broadcast, &Msg::new(mac(1), MessageType::Discover));
    assert_eq!(offer.msg_type(), MessageType::Offer);
    assert_ne!(offer.yiaddr(), ip, "the declined address is not offered again");
    assert_nak(&wire.ask(&Msg::new(mac(2), MessageType::Request).requested(ip).server_id(SERVER)));
}

#[test]
fn inform_is_acked_to_ciaddr_with_network_options_and_no_lease() {
    require_netns!();
    let service = Service::start(Setup::Lab);
    let wire = Wire::client(&service);
    // A statically configured machine outside the pool.
    let ip = Ipv4Addr::new(10, 77, 0, 50);
    wire.configure(ip);
    let ack = wire.ask_unicast(&Msg::new(mac(1), MessageType::Inform).ciaddr(ip));
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!(ack.to, ip);
    assert_eq!((ack.yiaddr(), ack.ciaddr()), (Ipv4Addr::UNSPECIFIED, ip));
    assert!(!ack.has(51) && !ack.has(58) && !ack.has(59), "INFORM gets no lease time: {:?}", ack.options());
    assert_eq!(ack.option(1), Some(vec![255, 255, 255, 0]));
    assert_eq!(ack.ip_option(3), Some(SERVER));
    assert_eq!(ack.ip_option(6), Some(SERVER));
    assert_eq!(ack.option(15), Some(b"rack.example".to_vec()));
}
