//! The lease table: allocation order, expiry, and surviving a restart through the store.

use super::*;
use crate::store::{Lease, LeaseWrite, SqliteStore, Store};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

#[test]
fn allocation_order_is_reservation_own_requested_then_lowest_free() {
    let mut lab = Lab::new(DhcpMode::Full);
    let m = |i| MacAddr::new(mac(i));
    // Reservation beats everything, even a requested pool address.
    assert_eq!(lab.table.allocate(0, MacAddr::new(RESERVED), Some(ip(101)), NOW), Some(ip(10)));
    // A requested free pool address is honoured; reserved or out-of-pool ones are not.
    assert_eq!(lab.table.allocate(0, m(1), Some(ip(102)), NOW), Some(ip(102)));
    assert_eq!(lab.table.allocate(0, m(1), Some(ip(10)), NOW), Some(ip(100)));
    assert_eq!(lab.table.allocate(0, m(1), Some(ip(50)), NOW), Some(ip(100)));
    // The client's own address beats the requested one.
    lab.table.apply(&LeaseChange::Offer { ip: ip(101), mac: m(1) }, NOW);
    assert_eq!(lab.table.allocate(0, m(1), Some(ip(102)), NOW), Some(ip(101)));
    // Others skip the held address.
    assert_eq!(lab.table.allocate(0, m(2), Some(ip(101)), NOW), Some(ip(100)));
}

#[test]
fn expired_leases_go_back_to_their_client_and_then_to_anyone() {
    let mut lab = Lab::new(DhcpMode::Full);
    let leased: Vec<_> = (1..=3).map(|i| lab.lease(mac(i))).collect();
    assert_eq!(lab.table.bound_leases(), 3);
    assert_eq!(lab.ask(Client::new(mac(4), MessageType::Discover)).drop, Some(DropReason::PoolExhausted));

    lab.now += 3600;
    lab.table.tick(lab.now);
    assert_eq!(lab.table.bound_leases(), 0);
    // Its own expired address for a returning client...
    assert_eq!(reply(&lab.ask(Client::new(mac(2), MessageType::Discover))).yiaddr(), leased[1]);
    // ...and the lowest expired one for a newcomer when nothing was never used.
    assert_eq!(reply(&lab.exchange(Client::new(mac(4), MessageType::Discover))).yiaddr(), leased[0]);
    // Once it is taken, its old client gets another address, not a conflict.
    let back = reply(&lab.ask(Client::new(mac(1), MessageType::Discover)));
    assert_ne!(back.yiaddr(), leased[0]);
}

#[test]
fn expired_entries_are_found_without_a_tick() {
    let mut lab = Lab::new(DhcpMode::Full);
    for i in 1..=3 {
        lab.lease(mac(i));
    }
    lab.now += 3601;
    let offer = reply(&lab.ask(Client::new(mac(9), MessageType::Discover)));
    assert_eq!(offer.yiaddr(), ip(100));
}

#[test]
fn a_restarted_table_from_the_store_gives_the_same_addresses_back() {
    let mut lab = Lab::new(DhcpMode::Full);
    let store = SqliteStore::in_memory().unwrap();
    let mut bound = Vec::new();
    for i in 1..=2 {
        let ip = lab.lease(mac(i));
        bound.push(ip);
    }
    // What the loop persisted.
    for (i, ip) in (1..).zip(&bound) {
        let mac = MacAddr::new(mac(i));
        let lease = Lease { ip: *ip, mac, expires_at: NOW + 3600, hostname: None };
        store.write_leases(&[LeaseWrite::Put { lease, now: NOW }]).unwrap();
    }

    let later = NOW + 600;
    let restarted = LeaseTable::new(&lab.config.dhcp, store.leases().unwrap(), later);
    assert_eq!(restarted.bound_leases(), 2);
    let lab = Lab { table: restarted, now: later, ..lab };
    // Reversed order: addresses follow the MAC, not the order of asking.
    assert_eq!(reply(&lab.ask(Client::new(mac(2), MessageType::Discover))).yiaddr(), bound[1]);
    assert_eq!(reply(&lab.ask(Client::new(mac(1), MessageType::Discover))).yiaddr(), bound[0]);
    let renew = lab.ask(Client::new(mac(1), MessageType::Request).ciaddr(bound[0]));
    assert_eq!(msg_type(&reply(&renew)), MessageType::Ack);
    let newcomer = reply(&lab.ask(Client::new(mac(3), MessageType::Discover)));
    assert!(!bound.contains(&newcomer.yiaddr()));
    let thief = lab.ask(Client::new(mac(3), MessageType::Request).requested(bound[0]));
    assert_eq!(msg_type(&reply(&thief)), MessageType::Nak);
}

#[test]
fn stored_leases_outside_the_configured_subnets_are_ignored() {
    let lab = Lab::new(DhcpMode::Full);
    let stray =
        Lease { ip: Ipv4Addr::new(192, 168, 7, 7), mac: MacAddr::new(mac(1)), expires_at: NOW + 3600, hostname: None };
    let table = LeaseTable::new(&lab.config.dhcp, [stray], NOW);
    assert_eq!(table.bound_leases(), 0);
    assert_eq!(table.allocate(0, MacAddr::new(mac(1)), None, NOW), Some(ip(100)));
}

#[test]
fn a_large_pool_hands_out_its_lowest_free_address_to_each_of_a_boot_storm() {
    // A /16 pool and a boot storm: 20 000 DISCOVER/REQUEST pairs, each given the lowest free address (from
    // the free set, not a scan). How fast is measured by the boot-storm benchmark, not here.
    let lab = lab_subnet_in(DhcpMode::Full, "10.77.0.0/16", Ipv4Addr::new(10, 77, 255, 254));
    let config = written(&config_with(DhcpMode::Full, 67, lab));
    let mut table = LeaseTable::new(&config.dhcp, [], NOW);
    for i in 0..20_000u32 {
        let b = i.to_be_bytes();
        let m = MacAddr::new([0x02, 0x99, b[0], b[1], b[2], b[3]]);
        let ip = table.allocate(0, m, None, NOW).expect("pool has room");
        assert_eq!(u32::from(ip), u32::from(Ipv4Addr::new(10, 77, 0, 100)) + i, "the lowest free address");
        table.apply(&LeaseChange::Offer { ip, mac: m }, NOW);
        let lease = Lease { ip, mac: m, expires_at: NOW + 3600, hostname: None };
        table.apply(&LeaseChange::Bind(lease), NOW);
    }
    assert_eq!(table.bound_leases(), 20_000);
}

#[test]
fn instances_sharing_a_pool_hand_out_new_addresses_from_their_own_slices_first() {
    let lab = lab_subnet_in(DhcpMode::Full, "10.77.0.0/24", ip(199));
    let config = written(&config_with(DhcpMode::Full, 67, lab));
    let table = |index| LeaseTable::new(&config.dhcp, [], NOW).in_slice(Some(PoolSlice { index, of: 2 }));
    let (mut a, mut b) = (table(0), table(1));
    let bind = |table: &mut LeaseTable, client: u32| {
        let b = client.to_be_bytes();
        let m = MacAddr::new([0x02, 0x98, b[0], b[1], b[2], b[3]]);
        let ip = table.allocate(0, m, None, NOW).expect("room");
        table.apply(&LeaseChange::Bind(Lease { ip, mac: m, expires_at: NOW + 3600, hostname: None }), NOW);
        ip
    };
    let from_a: Vec<Ipv4Addr> = (0..50).map(|i| bind(&mut a, i)).collect();
    let from_b: Vec<Ipv4Addr> = (100..150).map(|i| bind(&mut b, i)).collect();
    assert_eq!(from_a, (100..150).map(ip).collect::<Vec<_>>(), "A: the first half of the pool, lowest first");
    assert_eq!(from_b, (150..200).map(ip).collect::<Vec<_>>(), "B: the second half");
    // A's slice is full: the rest of the pool (the database arbitrates should B hold it).
    assert_eq!(bind(&mut a, 50), ip(150));
    // A client's own address and its reservation still come first.
    assert_eq!(b.allocate(0, MacAddr::new(RESERVED), None, NOW), Some(ip(10)));
    assert_eq!(b.allocate(0, MacAddr::new([0x02, 0x98, 0, 0, 0, 100]), None, NOW), Some(ip(150)));
}
