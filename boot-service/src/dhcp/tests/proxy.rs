//! proxyDHCP mode: only PXE clients, address-less offers on the server port, ACKs on 4011.

use super::*;

fn client_at() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 150), 68)
}

#[test]
fn non_pxe_clients_are_ignored() {
    let lab = Lab::new(DhcpMode::Proxy);
    for t in [MessageType::Discover, MessageType::Request] {
        let outcome = lab.ask(Client::new(mac(1), t));
        assert_eq!((outcome.reply, outcome.drop), (None, Some(DropReason::NotPxe)));
    }
    let on_4011 = lab.ask(Client::new(mac(1), MessageType::Request).via_proxy_port(client_at()));
    assert_eq!((on_4011.reply, on_4011.drop), (None, Some(DropReason::NotPxe)));
}

#[test]
fn pxe_discover_gets_an_addressless_proxy_offer() {
    let lab = Lab::new(DhcpMode::Proxy);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(7));
    let offer = reply(&outcome);
    assert_eq!(msg_type(&offer), MessageType::Offer);
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.siaddr(), SERVER);
    assert_eq!(opt(&offer, 54), Some(&DhcpOption::ServerIdentifier(SERVER)));
    assert_eq!(vendor_class(&offer), Some(&b"PXEClient"[..]));
    assert_eq!(opt(&offer, 97), Some(&DhcpOption::ClientMachineIdentifier(UUID.to_vec())));
    assert_eq!(raw_option(&offer, 43), Some(vec![6, 1, 8, 255]));
    assert_eq!(bootfile(&offer).as_deref(), Some("ipxe.efi"));
    assert_eq!(offer.fname_str().and_then(Result::ok), Some("ipxe.efi"));
    // No addresses: no lease options, no lease change.
    assert_eq!(opt(&offer, 51), None);
    assert_eq!(opt(&offer, 1), None);
    assert_eq!(outcome.lease, None);
    assert_eq!(outcome.reply.as_ref().unwrap().to, Destination::Broadcast);
    let enrolled = outcome.enroll.map(|(client, within)| (client, within.subnet.to_string()));
    assert_eq!(enrolled, Some((MacAddr::new(mac(1)), "10.77.0.0/24".to_owned())), "in its own subnet");
}

#[test]
fn ipxe_gets_its_script_from_the_proxy_offer() {
    let lab = Lab::new(DhcpMode::Proxy);
    let offer = reply(&lab.ask(Client::new(mac(1), MessageType::Discover).ipxe()));
    assert_eq!(bootfile(&offer).as_deref(), Some("http://10.77.0.1:8080/boot/52-54-00-aa-00-01.ipxe"));
    assert_eq!(raw_option(&offer, 175), Some(vec![176, 1, 1]));
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn requests_on_the_server_port_belong_to_the_real_dhcp_server() {
    let lab = Lab::new(DhcpMode::Proxy);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Request).pxe(0).requested(Ipv4Addr::new(10, 77, 0, 150)));
    assert_eq!((outcome.reply, outcome.drop), (None, Some(DropReason::NotOurs)));
}

#[test]
fn request_on_4011_is_acked_with_the_boot_file_unicast_to_the_sender() {
    let lab = Lab::new(DhcpMode::Proxy);
    let from = client_at();
    let outcome = lab.ask(Client::new(mac(1), MessageType::Request).pxe(0).ciaddr(*from.ip()).via_proxy_port(from));
    let ack = reply(&outcome);
    assert_eq!(msg_type(&ack), MessageType::Ack);
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.ciaddr(), *from.ip());
    assert_eq!(bootfile(&ack).as_deref(), Some("undionly.kpxe"));
    assert_eq!(opt(&ack, 54), Some(&DhcpOption::ServerIdentifier(SERVER)));
    assert_eq!(outcome.reply.as_ref().unwrap().to, Destination::Unicast(from));
    // Anything but a REQUEST has no business on 4011.
    let discover = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0).via_proxy_port(from));
    assert_eq!((discover.reply, discover.drop), (None, Some(DropReason::WrongPort)));
}

#[test]
fn proxy_offer_is_relayed_back_to_the_relay() {
    let mut lab = Lab::new(DhcpMode::Proxy);
    lab.register(mac(1));
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(11).relayed_by(RELAY));
    assert_eq!(bootfile(&reply(&outcome)).as_deref(), Some("ipxe-arm64.efi"));
    let to = outcome.reply.unwrap().to;
    assert_eq!(to, Destination::Unicast(SocketAddrV4::new(RELAY, 67)));
}

#[test]
fn registered_only_subnet_ignores_unregistered_pxe_clients_in_proxy_mode_too() {
    let lab = Lab::new(DhcpMode::Proxy);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0).relayed_by(RELAY));
    assert_eq!((outcome.reply, outcome.drop), (None, Some(DropReason::NotRegistered)));
}

#[test]
fn unknown_arch_gets_no_proxy_offer() {
    let lab = Lab::new(DhcpMode::Proxy);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(2));
    assert_eq!(outcome.reply, None);
    assert_eq!(outcome.drop, Some(DropReason::UnknownArch));
    assert_eq!(outcome.unknown_arch, Some(2));
}

#[test]
fn http_boot_proxy_offer_says_httpclient_not_pxeclient() {
    let lab = Lab::new(DhcpMode::Proxy);
    let offer = reply(&lab.ask(Client::new(mac(1), MessageType::Discover).http_boot(16)));
    assert_eq!(vendor_class(&offer), Some(&b"HTTPClient"[..]));
    assert_eq!(raw_option(&offer, 43), None);
    assert_eq!(bootfile(&offer).as_deref(), Some("http://10.77.0.1:8080/assets/ipxe.efi"));
}
