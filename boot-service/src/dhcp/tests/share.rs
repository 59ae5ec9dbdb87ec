//! Who answers a client when several instances share a segment (`share.rs`).

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::*;
use crate::store::Heartbeat;

const A: &str = "http://10.77.0.1";
const B: &str = "http://10.77.0.2";
const C: &str = "http://10.77.0.3";

fn members(me: &str, all: &[&str]) -> Members {
    let peers: Vec<String> = all.iter().filter(|u| **u != me).map(|u| u.to_string()).collect();
    Members::new(me, &peers)
}

fn macs() -> impl Iterator<Item = MacAddr> {
    (0..2000u32).map(|i| {
        let b = i.to_be_bytes();
        MacAddr::new([0x52, 0x54, 0, b[1], b[2], b[3]])
    })
}

const ALL: Live = Live(u64::MAX);

#[test]
fn the_mixing_table_is_a_permutation_of_every_byte() {
    // A mistyped entry would repeat one value and lose another.
    let mut hashes: Vec<u8> = (0..=255u8).map(|b| rfc3074_hash(&[b ^ 1])).collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 256, "a one-byte key hashes through one table lookup: every value once");
}

#[test]
fn every_instance_orders_the_members_alike_and_each_client_has_one_owner() {
    let views = [members(A, &[A, B, C]), members(B, &[C, A, B]), members(C, &[B, C, A])];
    assert!(views.iter().all(|v| v.urls() == views[0].urls()), "one order whatever the config's");
    assert_eq!(views.iter().map(Members::me).collect::<Vec<_>>(), [0, 1, 2]);
    let mut per_member = [0usize; 3];
    for mac in macs() {
        let owners: Vec<usize> = views.iter().map(|v| v.owner(mac, ALL)).collect();
        assert!(owners.iter().all(|&o| o == owners[0]), "{mac}: every instance agrees on its owner");
        per_member[owners[0]] += 1;
    }
    for count in per_member {
        assert!((500..=830).contains(&count), "about a third each of 2000 clients: {per_member:?}");
    }
}

#[test]
fn a_silent_instance_s_clients_go_to_the_next_live_one_and_no_other_client_moves() {
    let view = members(A, &[A, B, C]);
    let without_b = Live(0b101);
    let mut moved = 0;
    for mac in macs() {
        let (before, after) = (view.owner(mac, ALL), view.owner(mac, without_b));
        if before == 1 {
            assert_eq!(after, 2, "{mac}: B's client goes to the next live instance, C");
            moved += 1;
        } else {
            assert_eq!(after, before, "{mac}: a live instance's client stays with it");
        }
    }
    assert!(moved > 0);
    // The last one wraps round to the first; and an instance alone answers everyone.
    assert!(macs().filter(|m| view.owner(*m, ALL) == 2).all(|m| view.owner(m, Live(0b011)) == 0));
    assert!(macs().all(|m| view.owner(m, Live(0)) == view.me()), "everyone else silent: all mine");
    assert!(members(A, &[A]).alone() && !view.alone());
    assert_eq!(members(A, &[A]).pool_slice(), None, "alone: the whole pool, lowest first");
    assert_eq!(members(C, &[A, B, C]).pool_slice(), Some(PoolSlice { index: 2, of: 3 }));
}

#[test]
fn an_instance_answers_its_share_and_requests_addressed_to_it() {
    let view = members(A, &[A, B]);
    let owned_by = |member| macs().find(|m| view.owner(*m, ALL) == member).unwrap().octets();
    let (mine, theirs) = (owned_by(0), owned_by(1));
    let discover = |mac| Client::new(mac, MessageType::Discover).pxe(0).build();
    assert!(view.answers(&discover(mine), SERVER, ALL));
    assert!(!view.answers(&discover(theirs), SERVER, ALL), "B's client, B alive: B answers");
    assert!(view.answers(&discover(theirs), SERVER, Live(0b01)), "B silent: A answers");

    let selecting =
        |server| Client::new(theirs, MessageType::Request).server_id(server).requested(Ipv4Addr::new(10, 77, 0, 100));
    let selecting = |server| selecting(server).build();
    assert!(view.answers(&selecting(SERVER), SERVER, ALL), "a REQUEST for A's own offer is A's to answer");
    assert!(!view.answers(&selecting(Ipv4Addr::new(10, 77, 0, 2)), SERVER, ALL));
    assert!(
        view.answers(
            &Client::new(theirs, MessageType::Request)
                .pxe(0)
                .via_proxy_port(SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 100), 68))
                .build(),
            SERVER,
            ALL
        )
    );
    assert!(members(A, &[A]).answers(&discover(theirs), SERVER, Live(0)), "alone: everyone");
}

fn beat(instance: &str, beats: i64) -> Heartbeat {
    Heartbeat { instance: instance.into(), beats, at: Timestamp::UNIX_EPOCH }
}

#[test]
fn a_peer_is_alive_while_its_count_changes_and_silent_after_it_stops() {
    let silent_after = Duration::from_secs(5);
    let mut watch = PeerWatch::new(members(A, &[A, B, C]), silent_after);
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    assert_eq!(watch.observe(&[], at(0)), Live(0b001), "no rows: only this instance");
    let rows = |b: i64| [beat(A, 7), beat(B, b), beat("http://gone", 1)];
    assert_eq!(watch.observe(&rows(1), at(0)), Live(0b011), "B first seen: alive, C has no row");
    assert_eq!(watch.observe(&rows(2), at(3)), Live(0b011));
    assert_eq!(watch.observe(&rows(2), at(7)), Live(0b011), "unchanged for 4 s: still alive");
    assert_eq!(watch.observe(&rows(2), at(8)), Live(0b001), "unchanged for 5 s: silent");
    assert_eq!(watch.observe(&rows(3), at(20)), Live(0b011), "counting again: back");
    assert_eq!(watch.observe(&[beat(C, 1)], at(21)), Live(0b111));
    assert_eq!(watch.observe(&[], at(26)), Live(0b001), "rows gone, counts unchanged: silent");
}
