//! Which answers note a boot client's address for its script request (`nodes/sightings.rs`): the ACK of
//! full mode, the address a proxyDHCP client asks the site's server for, and the proxy port's client.

use super::*;

fn boot_ack(lab: &mut Lab, client: impl Fn(MessageType) -> Client) -> Outcome {
    let offer = reply(&lab.exchange(client(MessageType::Discover)));
    let ip = offer.yiaddr();
    lab.exchange(client(MessageType::Request).requested(ip).server_id(SERVER))
}

#[test]
fn a_boot_clients_ack_notes_the_address_it_was_given() {
    let mut lab = Lab::new(DhcpMode::Full);
    let ack = boot_ack(&mut lab, |t| Client::new(mac(1), t).ipxe());
    assert_eq!(msg_type(&reply(&ack)), MessageType::Ack);
    assert_eq!(ack.sighting, Some(reply(&ack).yiaddr()));
    let firmware = boot_ack(&mut lab, |t| Client::new(mac(2), t).pxe(7));
    assert_eq!(firmware.sighting, Some(reply(&firmware).yiaddr()));
    // An OFFER is not a boot yet; an ordinary client (an installed OS) never boots a script.
    assert_eq!(lab.ask(Client::new(mac(3), MessageType::Discover).ipxe()).sighting, None);
    let plain = boot_ack(&mut lab, |t| Client::new(mac(4), t));
    assert_eq!((msg_type(&reply(&plain)), plain.sighting), (MessageType::Ack, None));
}

#[test]
fn a_proxy_client_is_noted_at_the_address_it_asks_the_site_server_for() {
    let lab = Lab::new(DhcpMode::Proxy);
    let asked = Ipv4Addr::new(10, 77, 0, 150);
    let request = lab.ask(Client::new(mac(1), MessageType::Request).ipxe().requested(asked));
    assert_eq!((request.reply, request.drop, request.sighting), (None, Some(DropReason::NotOurs), Some(asked)));
    let renewing = lab.ask(Client::new(mac(1), MessageType::Request).ipxe().ciaddr(asked));
    assert_eq!(renewing.sighting, Some(asked));
    let not_pxe = lab.ask(Client::new(mac(2), MessageType::Request).requested(asked));
    assert_eq!(not_pxe.sighting, None);
}

#[test]
fn the_proxy_port_notes_the_client_it_answers() {
    let lab = Lab::new(DhcpMode::Proxy);
    let from = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 151), 68);
    let ack = lab.ask(Client::new(mac(1), MessageType::Request).pxe(7).via_proxy_port(from));
    assert_eq!(msg_type(&reply(&ack)), MessageType::Ack);
    assert_eq!(ack.sighting, Some(*from.ip()), "no ciaddr: the address it sent from");
    let with_ciaddr = Ipv4Addr::new(10, 77, 0, 152);
    let ack = lab.ask(Client::new(mac(1), MessageType::Request).pxe(7).ciaddr(with_ciaddr).via_proxy_port(from));
    assert_eq!(ack.sighting, Some(with_ciaddr));
}
