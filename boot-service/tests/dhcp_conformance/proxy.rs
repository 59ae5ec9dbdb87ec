//! proxyDHCP (PXE 2.1 §2.2.3) on the wire: the site's server hands out addresses, this one answers boot
//! clients with an address-less offer on port 67 and their REQUEST on port 4011.
//!
//! EDK2's rule (`PxeBcDhcp4.c`): a proxy offer without option 43 is a "BINL" offer, and the firmware
//! then asks the proxy on port 4011 for its boot file; one with 43 (discovery control 8: boot the file in
//! this offer) is booted from directly. So every proxy offer carries 43 and the boot file, and port 4011
//! answers too, for the firmware that asks there anyway.

use dhcproto::v4::MessageType;
use rackhand_netns::require_netns;

use super::packet::UUID;
use super::*;

const PXE_VENDOR_OPTIONS: [u8; 4] = [6, 1, 8, 255];
/// The address the site's DHCP server gave the client.
const SITE_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 150);

#[test]
fn a_proxy_offer_has_no_address_and_carries_43_so_edk2_boots_its_file() {
    require_netns!();
    let service = Service::start(Setup::Proxy);
    let wire = Wire::client(&service);
    let offer = wire.ask(&Msg::new(mac(1), MessageType::Discover).pxe(7, true));
    assert_eq!(offer.msg_type(), MessageType::Offer);
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED, "a proxy hands out no address");
    assert_eq!(offer.from, SocketAddrV4::new(SERVER, 67));
    assert_eq!(offer.to, Ipv4Addr::BROADCAST);
    assert_eq!(offer.option(60), Some(b"PXEClient".to_vec()));
    assert_eq!(offer.option(43), Some(PXE_VENDOR_OPTIONS.to_vec()), "without 43 EDK2 goes to 4011 first");
    assert_eq!(offer.option(97), Some(UUID.to_vec()));
    assert_eq!(offer.file(), "ipxe.efi");
    assert_eq!(offer.siaddr(), SERVER);
    assert!(!offer.has(51) && !offer.has(1), "no lease time, no netmask: {:?}", offer.options());
}

#[test]
fn port_4011_answers_a_firmware_request_unicast_to_where_it_came_from() {
    require_netns!();
    let service = Service::start(Setup::Proxy);
    let wire = Wire::client(&service);
    // The site's server gave it an address; it asks the boot server on 4011 from there.
    wire.configure(SITE_ADDRESS);
    let request = Msg::new(mac(1), MessageType::Request).pxe(0, true).ciaddr(SITE_ADDRESS);
    let ack = wire.ask_by(&request, Wire::to_proxy_port);
    assert_eq!(ack.msg_type(), MessageType::Ack);
    assert_eq!(ack.from, SocketAddrV4::new(SERVER, 4011), "answered from the proxy port");
    assert_eq!(ack.to, SITE_ADDRESS, "unicast back to the client");
    assert_eq!(ack.ciaddr(), SITE_ADDRESS);
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.file(), "undionly.kpxe");
    assert_eq!(ack.option(60), Some(b"PXEClient".to_vec()));
    assert_eq!(ack.option(43), Some(PXE_VENDOR_OPTIONS.to_vec()));
}

#[test]
fn requests_and_ordinary_clients_on_port_67_are_left_to_the_sites_server() {
    require_netns!();
    let service = Service::start(Setup::Proxy);
    let wire = Wire::client(&service);
    // A boot client's REQUEST to the site's server, then an ordinary client's DISCOVER: neither is ours.
    let to_site = Msg::new(mac(1), MessageType::Request).pxe(0, true).requested(SITE_ADDRESS);
    let ordinary = Msg::new(mac(2), MessageType::Discover);
    // A fresh sentinel (own xid) each time: a late second reply to the first cannot end the second wait.
    let sentinel = |last| Msg::new(mac(last), MessageType::Discover).pxe(0, true);
    wire.silent_then(&to_site, Wire::broadcast, &sentinel(3));
    let reply = wire.silent_then(&ordinary, Wire::broadcast, &sentinel(4));
    assert_eq!(reply.chaddr(), mac(4));
}
