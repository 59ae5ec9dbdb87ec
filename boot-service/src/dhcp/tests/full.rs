//! Full mode: each message type, reservations, relays, enrolment policy, exhaustion.

use super::*;
use crate::store::Lease;

const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);

#[test]
fn discover_offers_the_lowest_pool_address_with_network_options_and_no_boot_file() {
    let lab = Lab::new(DhcpMode::Full);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover));
    let offer = reply(&outcome);
    assert_eq!(msg_type(&offer), MessageType::Offer);
    assert_eq!(offer.yiaddr(), POOL_START);
    assert_eq!(offer.siaddr(), SERVER);
    assert_eq!(offer.xid(), 0x1234_5678);
    assert_eq!(offer.chaddr(), &mac(1));
    assert_eq!(opt(&offer, 54), Some(&DhcpOption::ServerIdentifier(SERVER)));
    assert_eq!(opt(&offer, 1), Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0))));
    assert_eq!(opt(&offer, 3), Some(&DhcpOption::Router(vec![SERVER])));
    assert_eq!(opt(&offer, 6), Some(&DhcpOption::DomainNameServer(vec![SERVER, Ipv4Addr::new(10, 77, 0, 2)])));
    assert_eq!(opt(&offer, 15), Some(&DhcpOption::DomainName("rack.example".into())));
    assert_eq!(opt(&offer, 51), Some(&DhcpOption::AddressLeaseTime(3600)));
    assert_eq!(opt(&offer, 58), Some(&DhcpOption::Renewal(1800)));
    assert_eq!(opt(&offer, 59), Some(&DhcpOption::Rebinding(3150)));
    // A plain DHCP client (an OS, a BMC): no boot options, not enrolled.
    assert_eq!(bootfile(&offer), None);
    assert_eq!(offer.fname(), None);
    assert_eq!(outcome.enroll, None);
    assert_eq!(outcome.reply.as_ref().unwrap().to, Destination::Broadcast);
    assert_eq!(outcome.lease, Some(LeaseChange::Offer { ip: POOL_START, mac: MacAddr::new(mac(1)) }));
}

#[test]
fn selecting_request_is_acked_and_bound_until_now_plus_lease_time() {
    let mut lab = Lab::new(DhcpMode::Full);
    lab.exchange(Client::new(mac(1), MessageType::Discover));
    let outcome = lab.ask(Client::new(mac(1), MessageType::Request).requested(POOL_START).server_id(SERVER));
    let ack = reply(&outcome);
    assert_eq!(msg_type(&ack), MessageType::Ack);
    assert_eq!(ack.yiaddr(), POOL_START);
    assert_eq!(opt(&ack, 51), Some(&DhcpOption::AddressLeaseTime(3600)));
    assert_eq!(outcome.reply.as_ref().unwrap().to, Destination::Broadcast);
    let lease = Lease { ip: POOL_START, mac: MacAddr::new(mac(1)), expires_at: NOW + 3600, hostname: None };
    assert_eq!(outcome.lease, Some(LeaseChange::Bind(lease)));
}

#[test]
fn selecting_another_server_drops_our_offer_silently() {
    let mut lab = Lab::new(DhcpMode::Full);
    lab.exchange(Client::new(mac(1), MessageType::Discover));
    let held = reply(&lab.ask(Client::new(mac(2), MessageType::Discover).requested(POOL_START)));
    assert_ne!(held.yiaddr(), POOL_START, "offered to mac 1, so held");
    let other = Ipv4Addr::new(10, 77, 0, 254);
    let outcome = lab.exchange(Client::new(mac(1), MessageType::Request).requested(POOL_START).server_id(other));
    assert_eq!(outcome.reply, None);
    assert_eq!(outcome.drop, Some(DropReason::OtherServer));
    assert_eq!(outcome.lease, Some(LeaseChange::ForgetOffer { mac: MacAddr::new(mac(1)) }));
    // The held address is free again for the next client.
    let next = reply(&lab.ask(Client::new(mac(2), MessageType::Discover).requested(POOL_START)));
    assert_eq!(next.yiaddr(), POOL_START);
}

#[test]
fn offered_address_is_held_for_its_client_only() {
    let mut lab = Lab::new(DhcpMode::Full);
    lab.exchange(Client::new(mac(1), MessageType::Discover));
    let second = reply(&lab.exchange(Client::new(mac(2), MessageType::Discover)));
    assert_eq!(second.yiaddr(), Ipv4Addr::new(10, 77, 0, 101));
    // After the hold runs out, a client still gets its own last address back...
    lab.now += OFFER_HOLD_SECS + 1;
    let again = reply(&lab.exchange(Client::new(mac(2), MessageType::Discover)));
    assert_eq!(again.yiaddr(), Ipv4Addr::new(10, 77, 0, 101));
    // ...and a newcomer gets a never-used address before anyone's expired one.
    let third = reply(&lab.ask(Client::new(mac(3), MessageType::Discover)));
    assert_eq!(third.yiaddr(), Ipv4Addr::new(10, 77, 0, 102));
}

#[test]
fn init_reboot_acks_own_address_and_naks_others_and_foreign_ones() {
    let mut lab = Lab::new(DhcpMode::Full);
    let ip = lab.lease(mac(1));
    let own = lab.ask(Client::new(mac(1), MessageType::Request).requested(ip));
    assert_eq!(msg_type(&reply(&own)), MessageType::Ack);

    let taken = lab.ask(Client::new(mac(2), MessageType::Request).requested(ip));
    let nak = reply(&taken);
    assert_eq!(msg_type(&nak), MessageType::Nak);
    assert_eq!(nak.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(opt(&nak, 54), Some(&DhcpOption::ServerIdentifier(SERVER)));
    assert_eq!(opt(&nak, 51), None);
    assert_eq!(taken.lease, None);
    assert_eq!(taken.reply.as_ref().unwrap().to, Destination::Broadcast);

    // An address from another network (the client moved): NAK so it starts over.
    let foreign = lab.ask(Client::new(mac(2), MessageType::Request).requested(Ipv4Addr::new(192, 168, 1, 5)));
    assert_eq!(msg_type(&reply(&foreign)), MessageType::Nak);
    // In the subnet but outside every pool.
    let unpooled = lab.ask(Client::new(mac(2), MessageType::Request).requested(Ipv4Addr::new(10, 77, 0, 50)));
    assert_eq!(msg_type(&reply(&unpooled)), MessageType::Nak);
    // A client with a live lease asking for a different (free) address is NAKed back to its own.
    let other = lab.ask(Client::new(mac(1), MessageType::Request).requested(Ipv4Addr::new(10, 77, 0, 102)));
    assert_eq!(msg_type(&reply(&other)), MessageType::Nak);
}

#[test]
fn renewing_is_acked_unicast_to_ciaddr_and_extends_the_lease() {
    let mut lab = Lab::new(DhcpMode::Full);
    let ip = lab.lease(mac(1));
    lab.now += 1800;
    let outcome = lab.ask(Client::new(mac(1), MessageType::Request).ciaddr(ip));
    let ack = reply(&outcome);
    assert_eq!(msg_type(&ack), MessageType::Ack);
    assert_eq!(ack.yiaddr(), ip);
    assert_eq!(ack.ciaddr(), ip);
    let to = outcome.reply.as_ref().unwrap().to;
    assert_eq!(to, Destination::Unicast(SocketAddrV4::new(ip, 68)));
    match outcome.lease {
        Some(LeaseChange::Bind(lease)) => assert_eq!(lease.expires_at, NOW + 1800 + 3600),
        other => panic!("expected a bind, got {other:?}"),
    }
}

#[test]
fn request_without_any_address_is_dropped() {
    let lab = Lab::new(DhcpMode::Full);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Request));
    assert_eq!((outcome.reply, outcome.drop), (None, Some(DropReason::NoAddress)));
}

#[test]
fn release_frees_the_address_but_keeps_it_for_the_same_client() {
    let mut lab = Lab::new(DhcpMode::Full);
    let ip = lab.lease(mac(1));
    assert_eq!(lab.table.bound_leases(), 1);
    let outcome = lab.exchange(Client::new(mac(1), MessageType::Release).ciaddr(ip).server_id(SERVER));
    assert_eq!(outcome.reply, None);
    assert_eq!(outcome.drop, None);
    assert_eq!(outcome.lease, Some(LeaseChange::Release { ip, mac: MacAddr::new(mac(1)) }));
    assert_eq!(lab.table.bound_leases(), 0);
    // Another client may now take it when asking for it; the old client would get it back.
    assert_eq!(reply(&lab.ask(Client::new(mac(1), MessageType::Discover))).yiaddr(), ip);
    let taker = lab.ask(Client::new(mac(2), MessageType::Request).requested(ip));
    assert_eq!(msg_type(&reply(&taker)), MessageType::Ack);

    // Releasing what one does not hold changes nothing.
    let stranger = lab.ask(Client::new(mac(3), MessageType::Release).ciaddr(ip));
    assert_eq!((stranger.lease, stranger.drop), (None, Some(DropReason::UnknownLease)));
}

#[test]
fn decline_quarantines_the_address_for_everyone_for_a_while() {
    let mut lab = Lab::new(DhcpMode::Full);
    let ip = lab.lease(mac(1));
    let outcome = lab.exchange(Client::new(mac(1), MessageType::Decline).requested(ip).server_id(SERVER));
    assert_eq!(outcome.reply, None);
    assert_eq!(outcome.lease, Some(LeaseChange::Decline { ip, mac: MacAddr::new(mac(1)) }));
    for m in [mac(1), mac(2)] {
        let offer = reply(&lab.exchange(Client::new(m, MessageType::Discover).requested(ip)));
        assert_ne!(offer.yiaddr(), ip, "declined address offered again");
    }
    let request = lab.ask(Client::new(mac(3), MessageType::Request).requested(ip));
    assert_eq!(msg_type(&reply(&request)), MessageType::Nak);
    lab.now += DECLINE_QUARANTINE_SECS + OFFER_HOLD_SECS + 1;
    let after = reply(&lab.ask(Client::new(mac(3), MessageType::Discover)));
    assert_eq!(after.yiaddr(), ip, "quarantine over: the lowest address is free again");
}

#[test]
fn inform_gets_options_without_an_address_unicast_to_ciaddr() {
    let lab = Lab::new(DhcpMode::Full);
    let ciaddr = Ipv4Addr::new(10, 77, 0, 42);
    let outcome = lab.ask(Client::new(mac(1), MessageType::Inform).ciaddr(ciaddr));
    let ack = reply(&outcome);
    assert_eq!(msg_type(&ack), MessageType::Ack);
    assert_eq!(ack.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.ciaddr(), ciaddr);
    assert_eq!(opt(&ack, 51), None);
    assert_eq!(opt(&ack, 3), Some(&DhcpOption::Router(vec![SERVER])));
    assert_eq!(outcome.lease, None);
    let to = outcome.reply.as_ref().unwrap().to;
    assert_eq!(to, Destination::Unicast(SocketAddrV4::new(ciaddr, 68)));
}

#[test]
fn server_messages_and_unknown_types_are_not_answered() {
    let lab = Lab::new(DhcpMode::Full);
    for t in [MessageType::Offer, MessageType::Ack, MessageType::LeaseQuery, MessageType::Unknown(99)] {
        let outcome = lab.ask(Client::new(mac(1), t));
        assert_eq!((outcome.reply, outcome.drop), (None, Some(DropReason::Unsupported)), "{t:?}");
    }
}

#[test]
fn reservation_gets_its_address_and_hostname_and_nobody_else_gets_it() {
    let mut lab = Lab::new(DhcpMode::Full);
    let reserved = Ipv4Addr::new(10, 77, 0, 10);
    let offer = reply(&lab.ask(Client::new(RESERVED, MessageType::Discover)));
    assert_eq!(offer.yiaddr(), reserved);
    assert_eq!(opt(&offer, 12), Some(&DhcpOption::Hostname("rack1-u10".into())));
    let ack = lab.exchange(Client::new(RESERVED, MessageType::Request).requested(reserved).server_id(SERVER));
    match ack.lease {
        Some(LeaseChange::Bind(lease)) => assert_eq!(lease.hostname.as_deref(), Some("rack1-u10")),
        other => panic!("expected a bind, got {other:?}"),
    }
    let other = reply(&lab.ask(Client::new(mac(1), MessageType::Discover).requested(reserved)));
    assert_eq!(other.yiaddr(), POOL_START);
    let steal = lab.ask(Client::new(mac(1), MessageType::Request).requested(reserved));
    assert_eq!(msg_type(&reply(&steal)), MessageType::Nak);
    // The reserved client asking for a pool address is sent back to its reservation.
    let wander = lab.ask(Client::new(RESERVED, MessageType::Request).requested(POOL_START));
    assert_eq!(msg_type(&reply(&wander)), MessageType::Nak);
}

#[test]
fn pool_exhaustion_gets_no_reply() {
    let mut lab = Lab::new(DhcpMode::Full);
    let leased: Vec<_> = (1..=3).map(|i| lab.lease(mac(i))).collect();
    assert_eq!(leased, [100, 101, 102].map(|d| Ipv4Addr::new(10, 77, 0, d)));
    let outcome = lab.ask(Client::new(mac(4), MessageType::Discover));
    assert_eq!(outcome.reply, None);
    assert_eq!(outcome.lease, None);
    assert_eq!(outcome.drop, Some(DropReason::PoolExhausted));
    // The reservation still works.
    assert_eq!(reply(&lab.ask(Client::new(RESERVED, MessageType::Discover))).yiaddr(), Ipv4Addr::new(10, 77, 0, 10));
}

#[test]
fn relayed_request_uses_the_relay_subnet_and_is_answered_to_the_relay() {
    let mut lab = Lab::new(DhcpMode::Full);
    lab.register(mac(1));
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0).relayed_by(RELAY));
    let offer = reply(&outcome);
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 88, 0, 50));
    assert_eq!(offer.giaddr(), RELAY);
    assert_eq!(opt(&offer, 3), Some(&DhcpOption::Router(vec![RELAY])));
    let to = outcome.reply.as_ref().unwrap().to;
    assert_eq!(to, Destination::Unicast(SocketAddrV4::new(RELAY, 67)));
    // Even when it arrives on an interface of another subnet.
    let via_lab = lab.ask(Client::new(mac(1), MessageType::Discover).relayed_by(RELAY).on_iface(Some(LAB_IFACE)));
    assert_eq!(reply(&via_lab).yiaddr(), Ipv4Addr::new(10, 88, 0, 50));
    // A relay NAK goes to the relay with the broadcast flag set.
    let nak = lab.ask(Client::new(mac(1), MessageType::Request).requested(POOL_START).relayed_by(RELAY));
    let nak_msg = reply(&nak);
    assert_eq!(msg_type(&nak_msg), MessageType::Nak);
    assert!(nak_msg.flags().broadcast());
    assert_eq!(nak.reply.unwrap().to, Destination::Unicast(SocketAddrV4::new(RELAY, 67)));
}

#[test]
fn unknown_relay_or_interface_without_subnet_is_not_served() {
    let lab = Lab::new(DhcpMode::Full);
    let relay = lab.ask(Client::new(mac(1), MessageType::Discover).relayed_by(Ipv4Addr::new(172, 16, 0, 1)));
    assert_eq!((relay.reply, relay.drop), (None, Some(DropReason::NoSubnet)));
    let bare = lab.ask(Client::new(mac(1), MessageType::Discover).on_iface(None));
    assert_eq!((bare.reply, bare.drop), (None, Some(DropReason::NoSubnet)));
}

#[test]
fn auto_enrolment_asks_to_enroll_unknown_boot_clients_only() {
    let mut lab = Lab::new(DhcpMode::Full);
    let within = EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 1024 };
    let pxe = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(7));
    assert_eq!(pxe.enroll, Some((MacAddr::new(mac(1)), within)), "enrolled in its own subnet");
    let ipxe = lab.ask(Client::new(mac(2), MessageType::Request).ipxe().requested(POOL_START));
    assert_eq!(ipxe.enroll, Some((MacAddr::new(mac(2)), within)));
    let plain = lab.ask(Client::new(mac(3), MessageType::Discover));
    assert_eq!(plain.enroll, None);
    lab.register(mac(4));
    let known = lab.ask(Client::new(mac(4), MessageType::Discover).pxe(0));
    assert_eq!(known.enroll, None);
    assert_eq!(bootfile(&reply(&known)).as_deref(), Some("undionly.kpxe"));
}

#[test]
fn registered_only_subnet_ignores_unregistered_macs_entirely() {
    let mut lab = Lab::new(DhcpMode::Full);
    for client in [
        Client::new(mac(1), MessageType::Discover).pxe(0),
        Client::new(mac(1), MessageType::Discover),
        Client::new(mac(1), MessageType::Request).ipxe().requested(Ipv4Addr::new(10, 88, 0, 50)),
    ] {
        let outcome = lab.ask(client.relayed_by(RELAY));
        assert_eq!(outcome.reply, None);
        assert_eq!(outcome.lease, None);
        assert_eq!(outcome.drop, Some(DropReason::NotRegistered));
    }
    lab.register(mac(1));
    let outcome = lab.ask(Client::new(mac(1), MessageType::Discover).pxe(0).relayed_by(RELAY));
    assert_eq!(bootfile(&reply(&outcome)).as_deref(), Some("undionly.kpxe"));
    assert_eq!(outcome.enroll, None, "registered-only never enrolls");
}

#[test]
fn registration_is_data_the_decision_reads() {
    // No node table anywhere: the same request, decided once for a registered MAC and once for a stranger.
    for mode in [DhcpMode::Full, DhcpMode::Proxy] {
        let config = config(mode);
        let table = LeaseTable::new(&config.dhcp, [], NOW);
        let decide =
            |client: Client, registration| respond(&client.build(), &Context::new(&config, registration), &table, NOW);
        let relayed = || Client::new(mac(1), MessageType::Discover).pxe(0).relayed_by(RELAY);
        let known = decide(relayed(), Registration::Registered);
        assert_eq!(bootfile(&reply(&known)).as_deref(), Some("undionly.kpxe"), "{mode:?}: answered");
        assert_eq!((known.drop, known.enroll), (None, None), "{mode:?}");
        let stranger = decide(relayed(), Registration::Unregistered);
        assert_eq!((stranger.reply, stranger.drop), (None, Some(DropReason::NotRegistered)), "{mode:?}: dropped");
        // In the auto-enrolment subnet both are answered; only the stranger is enrolled.
        let in_lab = || Client::new(mac(1), MessageType::Discover).pxe(0);
        assert_eq!(decide(in_lab(), Registration::Registered).enroll, None, "{mode:?}");
        let within = EnrolIn { subnet: "10.77.0.0/24".parse().unwrap(), max_discovered: 1024 };
        let enrol = decide(in_lab(), Registration::Unregistered).enroll;
        assert_eq!(enrol, Some((MacAddr::new(mac(1)), within)), "{mode:?}");
    }
}

#[test]
fn the_loop_asks_for_registration_only_where_the_decision_can_tell_the_answers_apart() {
    let mut lab = Lab::new(DhcpMode::Full);
    let plain = || Client::new(mac(2), MessageType::Discover);
    assert!(!needs_registration(&plain().build(), &lab.config.dhcp), "a plain client in an auto subnet");
    assert!(needs_registration(&plain().pxe(0).build(), &lab.config.dhcp), "a boot client");
    assert!(needs_registration(&plain().relayed_by(RELAY).build(), &lab.config.dhcp), "registered-only");
    // Not asking is safe: for such a request a registered MAC and a stranger get the same answer.
    let stranger = lab.ask(plain());
    lab.register(mac(2));
    assert_eq!(lab.ask(plain()), stranger);
    let request = || Client::new(mac(2), MessageType::Request).requested(reply(&stranger).yiaddr()).server_id(SERVER);
    let registered = lab.ask(request());
    lab.registered.clear();
    assert_eq!(lab.ask(request()), registered);
}

#[test]
fn registered_only_reservation_gets_an_address_but_no_boot_file() {
    let lab = Lab::new(DhcpMode::Full);
    let mac20 = [0x52, 0x54, 0, 0, 0, 0x20];
    let outcome = lab.ask(Client::new(mac20, MessageType::Discover).pxe(0).relayed_by(RELAY));
    let offer = reply(&outcome);
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 88, 0, 20));
    assert_eq!(bootfile(&offer), None);
}
